//! The commands wing: one file per subcommand. This module dispatches the parsed command line
//! ([`crate::cli`]), prints each result as JSON or for people ([`crate::report::human`]) and maps it to an
//! exit code (docs/design.md §6). Everything below it is the pipeline the commands drive.

pub mod check;
pub mod config;
pub mod failover;
pub mod holds;
pub mod migrate;
pub mod prune;
pub mod receiver;
pub mod recv_agent;
pub mod replicate;
pub mod restore;
pub mod send_agent;
pub mod snapshot;
pub mod status;
pub mod test;
pub mod verify;

use std::io::IsTerminal;
use std::process::ExitCode;

use camino::Utf8Path;
use clap::Parser;

use crate::cli::{Cli, Command, ConfigCommand, Format, HoldsCommand, MigrateCommand, TestCommand};
use crate::config::{Config, Job};
use crate::lock::LockError;
use crate::report::metrics::Textfile;
use crate::report::{exit, CommandReport};

/// Parses the process arguments and runs the chosen subcommand.
pub fn main() -> ExitCode {
    ExitCode::from(run(Cli::parse()))
}

/// Runs one parsed command line; returns its exit code.
pub fn run(cli: Cli) -> u8 {
    let path = cli.config.as_deref();
    match cli.command {
        Command::Version => {
            println!("zreplrs {}", env!("CARGO_PKG_VERSION"));
            exit::OK
        }
        Command::Config(ConfigCommand::Check { output }) => config::check(path, output.format()),
        Command::Config(ConfigCommand::Jobs { output }) => config::jobs(path, output.format()),
        Command::RecvAgent(a) => recv_agent::run(&a),
        Command::SendAgent(a) => send_agent::run(&a),
        Command::Replicate(a) => replicate::command(path, &a),
        Command::Snapshot(a) => snapshot::command(path, &a),
        Command::Prune(a) => prune::command(path, &a),
        Command::Status(a) => status::command(path, &a),
        Command::Verify(a) => verify::command(path, &a),
        Command::Check(a) => check::command(path, &a),
        Command::Restore(a) => restore::command(path, &a),
        Command::Failover(a) => failover::command(path, &a.job, false, false, a.quiet, a.output.format()),
        Command::Failback(a) => failover::command(path, &a.job, true, a.rotate, a.quiet, a.output.format()),
        Command::Holds(HoldsCommand::List { job, fs, output }) => {
            holds::list_command(path, job.as_deref(), fs.as_deref(), output.format())
        }
        Command::Holds(HoldsCommand::ReleaseStale {
            job,
            dry_run,
            lock_dir,
            output,
        }) => holds::release_command(path, &job, dry_run, lock_dir.as_deref(), output.format()),
        Command::Migrate(MigrateCommand::ReplicationCursorV1V2 { job, dry_run, output }) => {
            migrate::command(path, job.as_deref(), dry_run, output.format())
        }
        Command::Test(TestCommand::Filesystems { job, output }) => {
            test::filesystems_command(path, &job, output.format())
        }
        Command::Test(TestCommand::DecodeResumeToken { token, output }) => {
            test::decode_command(&token, output.format())
        }
    }
}

/// Loads the configuration (`--config`, else `$ZREPLRS_CONFIG`, else the default path); an invalid one is
/// printed and is exit 2.
fn load_config(cli_path: Option<&Utf8Path>) -> Result<Config, u8> {
    let path = Config::resolve_path(cli_path);
    Config::load(&path).map_err(|mut e| {
        if let crate::config::ConfigError::Read { chosen, .. } = &mut e {
            *chosen = cli_path.is_some() || std::env::var_os(crate::config::CONFIG_ENV).is_some_and(|v| !v.is_empty());
        }
        eprintln!("zreplrs: {e}");
        exit::USAGE
    })
}

/// Commands that work on the sender's own filesystems run where they are: for a pull job, on the source.
/// `Some(exit code)` (a usage error, explained) when `job` pulls.
fn sender_side_only(job: &Job, command: &str) -> Option<u8> {
    let source = job.source.as_ref()?;
    eprintln!(
        "zreplrs: job {} pulls from {source}: `zreplrs {command}` works on the sender's filesystems, so it runs on \
         the source, with a config there that has a job of the same name and filesystems (see \
         /usr/share/doc/zreplrs/docs/security.md)",
        job.name
    );
    Some(exit::USAGE)
}

/// Loads the config and finds the job, then runs `f`; config problems are exit 2.
fn with_job(path: Option<&Utf8Path>, name: &str, f: impl FnOnce(&Config, &Job) -> u8) -> u8 {
    let config = match load_config(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match config.job(name) {
        Ok(job) => f(&config, job),
        Err(e) => {
            eprintln!("zreplrs: {e}");
            exit::USAGE
        }
    }
}

/// Loads the config and runs `f` with it; an invalid one is exit 2.
fn with_config(path: Option<&Utf8Path>, f: impl FnOnce(&Config) -> u8) -> u8 {
    match load_config(path) {
        Ok(c) => f(&c),
        Err(code) => code,
    }
}

/// Loads the config and runs `f` for the named job, or for every job; config problems are exit 2.
fn with_jobs(path: Option<&Utf8Path>, name: Option<&str>, f: impl FnOnce(&[&Job]) -> u8) -> u8 {
    let config = match load_config(path) {
        Ok(c) => c,
        Err(code) => return code,
    };
    match name {
        Some(n) => match config.job(n) {
            Ok(j) => f(&[j]),
            Err(e) => {
                eprintln!("zreplrs: {e}");
                exit::USAGE
            }
        },
        None => f(&config.jobs.iter().collect::<Vec<_>>()),
    }
}

fn print_json<T: serde::Serialize + ?Sized>(v: &T) {
    match serde_json::to_string_pretty(v) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("zreplrs: cannot encode the result: {e}"),
    }
}

/// `--format`, else JSON when stdout is not a terminal, else the human rendering.
fn resolve_format(format: Option<Format>) -> Format {
    format.unwrap_or(if std::io::stdout().is_terminal() {
        Format::Human
    } else {
        Format::Json
    })
}

/// Prints a result as JSON or by `human`, and returns its exit code.
fn emit<R: CommandReport>(format: Option<Format>, r: &R, human: impl FnOnce(&R) -> String) -> u8 {
    match resolve_format(format) {
        Format::Json => print_json(r),
        Format::Human => print!("{}", human(r)),
    }
    r.exit_code()
}

/// Writes `zreplrs_<what>_<job>.prom` into `--textfile-dir` or the configured directory, if any.
fn write_textfile(cli_dir: Option<&Utf8Path>, config: &Config, job: &Job, what: &str, t: &Textfile) {
    if let Some(dir) = cli_dir.or_else(|| job.textfile_dir(&config.global)) {
        write_prom(dir, &format!("zreplrs_{what}_{}.prom", job.name), t);
    }
}

/// Writes the textfile `name` into `dir`; a directory that does not exist, or a write that fails, is a
/// warning on stderr that says what to do (the run's result stands).
fn write_prom(dir: &Utf8Path, name: &str, t: &Textfile) {
    if !dir.is_dir() {
        eprintln!(
            "zreplrs: no metrics textfile written: {dir} does not exist; point textfile_dir at the directory \
             node_exporter's textfile collector reads, or remove it from the configuration"
        );
    } else if let Err(e) = t.write_atomically(dir, name) {
        eprintln!("zreplrs: cannot write the metrics textfile in {dir}: {e}");
    }
}

/// A lock that could not be taken: printed; exit 4 when another run holds it, else 3.
fn lock_failure(e: &LockError) -> u8 {
    eprintln!("zreplrs: {e}");
    if matches!(e, LockError::Held { .. }) {
        exit::LOCKED
    } else {
        exit::RUN_FAILED
    }
}

/// An agent's stdin and stdout as `File`s: stdin unbuffered (stream payloads are spliced from the
/// descriptor, past any buffer), stdout `Send` (heartbeats are written from a second thread).
fn agent_stdio(agent: &str) -> Result<(std::fs::File, std::fs::File), u8> {
    use std::os::fd::AsFd;
    let input = std::io::stdin().as_fd().try_clone_to_owned().map_err(|e| {
        eprintln!("zreplrs {agent}: cannot use stdin: {e}");
        crate::report::exit::RUN_FAILED
    })?;
    let output = std::io::stdout().as_fd().try_clone_to_owned().map_err(|e| {
        eprintln!("zreplrs {agent}: cannot use stdout: {e}");
        crate::report::exit::RUN_FAILED
    })?;
    Ok((input.into(), output.into()))
}
