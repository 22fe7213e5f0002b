//! The command line: every subcommand and flag with its help text, in one place. Man pages and shell
//! completions are generated from this definition. `main` maps each outcome to an exit code (SPEC §6).

use std::io::IsTerminal;
use std::process::ExitCode;

use camino::Utf8PathBuf;
use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::config::Config;
use crate::report::exit;

/// ZFS replication for people who run servers.
///
/// A stateless one-shot CLI: each run reads live ZFS state on both sides, plans, sends snapshots to a
/// `zreplrs recv-agent` on the receiver, keeps its bookkeeping (cursor bookmarks, holds) in ZFS and exits
/// with a JSON result, a Prometheus textfile and an exit code: 0 ok or nothing to do, 1 some filesystems
/// failed, 2 usage or config error, 3 the run failed as a whole, 4 another run of the job holds the lock.
#[derive(Debug, Parser)]
#[command(name = "zreplrs", version, about, long_about)]
pub struct Cli {
    /// Configuration file [default: $ZREPLRS_CONFIG or /etc/zreplrs/zreplrs.toml].
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<Utf8PathBuf>,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Replicate a job's filesystems to its receiver (plan, send, protect, report).
    Replicate(ReplicateArgs),
    /// Take the job's snapshots: one atomic `zfs snapshot` per pool, named <prefix><timestamp>.
    Snapshot(SnapshotArgs),
    /// Destroy snapshots that no keep rule of the job keeps (never the incremental base, never held ones).
    Prune(PruneArgs),
    /// Replication state from live ZFS on both sides: lag, pending snapshots and bytes, resumable, conflicts.
    Status(StatusArgs),
    /// List or release the holds and bookmarks zreplrs keeps on ZFS.
    #[command(subcommand)]
    Holds(HoldsCommand),
    /// One-time migrations of on-ZFS bookkeeping.
    #[command(subcommand)]
    Migrate(MigrateCommand),
    /// Read-only checks: the filesystem filter, resume tokens.
    #[command(subcommand)]
    Test(TestCommand),
    /// The receiving side; run by the sender over SSH (as a forced command) or as a local child.
    RecvAgent(RecvAgentArgs),
    /// Configuration commands.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print the version of zreplrs.
    Version,
}

/// Output format of a command's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// Machine-readable JSON on stdout.
    Json,
    /// A summary table for people.
    Human,
}

#[derive(Debug, Args)]
pub struct ReplicateArgs {
    /// Name of the job in the configuration.
    #[arg(long)]
    pub job: String,
    /// Plan and estimate sizes; change nothing on either side.
    #[arg(long)]
    pub dry_run: bool,
    /// Result format [default: json when stdout is not a terminal, else human].
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Write the Prometheus textfile here (overrides the configuration).
    #[arg(long, value_name = "DIR")]
    pub textfile_dir: Option<Utf8PathBuf>,
    /// Directory of the per-job lock file [default: /run/lock, else $XDG_RUNTIME_DIR].
    #[arg(long, value_name = "DIR")]
    pub lock_dir: Option<Utf8PathBuf>,
    /// No progress bars on stderr.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `--job`, `--format` and `--textfile-dir`, shared by snapshot and prune.
#[derive(Debug, Args)]
pub struct JobOutputArgs {
    /// Name of the job in the configuration.
    #[arg(long)]
    pub job: String,
    /// Result format [default: json when stdout is not a terminal, else human].
    #[arg(long, value_enum)]
    pub format: Option<Format>,
}

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    #[command(flatten)]
    pub common: JobOutputArgs,
    /// Show what would be taken (hooks run with ZREPLRS_DRY_RUN=1); take nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Write the Prometheus textfile here (overrides the configuration).
    #[arg(long, value_name = "DIR")]
    pub textfile_dir: Option<Utf8PathBuf>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    #[command(flatten)]
    pub common: JobOutputArgs,
    /// Which side to prune.
    #[arg(long, value_enum, default_value = "both")]
    pub side: crate::prune::exec::Side,
    /// Show what would be destroyed; destroy nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Write the Prometheus textfile here (overrides the configuration).
    #[arg(long, value_name = "DIR")]
    pub textfile_dir: Option<Utf8PathBuf>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Name of the job in the configuration.
    #[arg(long)]
    pub job: String,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum HoldsCommand {
    /// List step holds, last-received holds, cursors, tentative and v1 cursors.
    List {
        /// Only this job [default: every job in the configuration].
        #[arg(long)]
        job: Option<String>,
        /// Only entries of this filesystem (sender or receiver name).
        #[arg(long, value_name = "DATASET")]
        fs: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Release step holds, tentative cursors, superseded cursors and last-received holds that no run needs.
    ReleaseStale {
        /// Name of the job in the configuration.
        #[arg(long)]
        job: String,
        /// Show what would be released; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Directory of the per-job lock file (the job must not be running).
        #[arg(long, value_name = "DIR")]
        lock_dir: Option<Utf8PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub enum MigrateCommand {
    /// Destroy zrepl's v1 cursor `#zrepl_replication_cursor` where a v2 cursor exists; report the rest.
    #[command(name = "replication-cursor:v1-v2")]
    ReplicationCursorV1V2 {
        /// Only this job [default: every job].
        #[arg(long)]
        job: Option<String>,
        /// Show what would be destroyed; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum TestCommand {
    /// Which datasets the job's filter selects, and by which rule.
    Filesystems {
        /// Name of the job in the configuration.
        #[arg(long)]
        job: String,
    },
    /// Decode a receive_resume_token (`zfs send -nvt`) and print its fields as JSON.
    DecodeResumeToken {
        /// The token, as shown by `zfs get receive_resume_token`.
        token: String,
    },
}

#[derive(Debug, Args)]
pub struct RecvAgentArgs {
    /// Root dataset on the receiver; everything received goes strictly below it.
    #[arg(long, value_name = "DATASET")]
    pub root_fs: String,
    /// Sub-directory of the root for this client (e.g. the sender's host name).
    #[arg(long, value_name = "NAME")]
    pub client_identity: Option<String>,
    /// Override a property on every receive (`zfs receive -o PROP=VALUE`); repeatable.
    #[arg(long, value_name = "PROP=VALUE")]
    pub recv_set: Vec<String>,
    /// Inherit a property instead of taking the sent value (`zfs receive -x PROP`); repeatable.
    #[arg(long, value_name = "PROP")]
    pub recv_inherit: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Parse and validate the configuration; exit 2 with the reason when it is invalid.
    Check,
}

/// Parses the process arguments and runs the chosen subcommand.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    ExitCode::from(run(cli))
}

fn load_config(cli_path: Option<&camino::Utf8Path>) -> Result<Config, u8> {
    let path = Config::resolve_path(cli_path);
    Config::load(&path).map_err(|e| {
        eprintln!("zreplrs: {e}");
        exit::USAGE
    })
}

/// Loads the config and finds the job, then runs `f`; config problems are exit 2.
fn with_job(path: Option<&camino::Utf8Path>, name: &str, f: impl FnOnce(&Config, &crate::config::Job) -> u8) -> u8 {
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

fn select_jobs<'a>(config: &'a Config, name: Option<&str>) -> Result<Vec<&'a crate::config::Job>, u8> {
    match name {
        Some(n) => config.job(n).map(|j| vec![j]).map_err(|e| {
            eprintln!("zreplrs: {e}");
            exit::USAGE
        }),
        None => Ok(config.jobs.iter().collect()),
    }
}

fn print_json<T: serde::Serialize>(v: &T) {
    match serde_json::to_string_pretty(v) {
        Ok(s) => println!("{s}"),
        Err(e) => eprintln!("zreplrs: cannot encode the result: {e}"),
    }
}

/// Prints `v` as JSON or the human rendering, by `format` (default: JSON unless stdout is a terminal).
fn emit<T: serde::Serialize>(format: Option<Format>, v: &T, human: impl FnOnce() -> String) {
    let format = format.unwrap_or(if std::io::stdout().is_terminal() {
        Format::Human
    } else {
        Format::Json
    });
    match format {
        Format::Json => print_json(v),
        Format::Human => print!("{}", human()),
    }
}

fn error_line(s: &mut String, e: &Option<crate::report::ErrorReport>) {
    if let Some(e) = e {
        s.push_str(&format!("error ({}): {}\n", e.kind, e.message));
    }
}

fn write_textfile(
    cli_dir: Option<&camino::Utf8Path>,
    config: &Config,
    job: &crate::config::Job,
    what: &str,
    t: &crate::report::metrics::Textfile,
) {
    if let Some(dir) = cli_dir.or_else(|| job.textfile_dir(&config.global)) {
        if let Err(e) = t.write_atomically(dir, &format!("zreplrs_{what}_{}.prom", job.name)) {
            eprintln!("zreplrs: cannot write the metrics textfile in {dir}: {e}");
        }
    }
}

fn run(cli: Cli) -> u8 {
    match cli.command {
        Command::Version => {
            println!("zreplrs {}", env!("CARGO_PKG_VERSION"));
            exit::OK
        }
        Command::Config(ConfigCommand::Check) => match load_config(cli.config.as_deref()) {
            Ok(c) => {
                let names: Vec<String> = c.jobs.iter().map(|j| j.name.to_string()).collect();
                println!("{}: ok ({} jobs: {})", c.path, c.jobs.len(), names.join(", "));
                exit::OK
            }
            Err(code) => code,
        },
        Command::RecvAgent(a) => crate::agent_main::run(&a),
        Command::Snapshot(a) => with_job(cli.config.as_deref(), &a.common.job, |config, job| {
            let r = crate::snapshot::snapshot(job, a.dry_run);
            if !a.dry_run {
                write_textfile(
                    a.textfile_dir.as_deref(),
                    config,
                    job,
                    "snapshot",
                    &crate::snapshot::textfile(&r),
                );
            }
            emit(a.common.format, &r, || {
                let mut s = format!("snapshot {}: {} taken\n", r.snapshot_name, r.snapshots_taken);
                for p in &r.pools {
                    let e = p
                        .error
                        .as_ref()
                        .map(|e| format!(" ({})", e.message))
                        .unwrap_or_default();
                    s.push_str(&format!(
                        "  pool {}: {} snapshot(s){}{e}\n",
                        p.pool,
                        p.snapshots.len(),
                        if p.taken { "" } else { " NOT taken" }
                    ));
                }
                for h in &r.hooks {
                    s.push_str(&format!(
                        "  {}-hook: {}\n",
                        h.hook,
                        if h.success {
                            "ok".to_string()
                        } else {
                            format!("FAILED: {}", h.output)
                        }
                    ));
                }
                error_line(&mut s, &r.error);
                s
            });
            r.exit_code()
        }),
        Command::Prune(a) => with_job(cli.config.as_deref(), &a.common.job, |config, job| {
            if job.prune.is_none() {
                eprintln!(
                    "zreplrs: job {} has no [jobs.prune] keep rules; add them to prune",
                    job.name
                );
                return exit::USAGE;
            }
            let r = crate::prune::exec::prune(job, a.side, a.dry_run);
            if !a.dry_run {
                write_textfile(
                    a.textfile_dir.as_deref(),
                    config,
                    job,
                    "prune",
                    &crate::prune::exec::textfile(&r),
                );
            }
            emit(a.common.format, &r, || {
                let mut s = String::new();
                for f in &r.filesystems {
                    s.push_str(&format!(
                        "{:<8} {}: {} {}, {} kept, {} held{}\n",
                        f.side,
                        f.filesystem,
                        f.destroyed.len(),
                        if r.dry_run { "to destroy" } else { "destroyed" },
                        f.kept,
                        f.held.len(),
                        f.error
                            .as_ref()
                            .map(|e| format!(" — error: {}", e.message))
                            .unwrap_or_default()
                    ));
                }
                error_line(&mut s, &r.error);
                s
            });
            r.exit_code()
        }),
        Command::Status(a) => with_job(cli.config.as_deref(), &a.job, |_, job| {
            let r = crate::status::status(job);
            emit(Some(if a.json { Format::Json } else { Format::Human }), &r, || {
                crate::status::table(&r)
            });
            r.exit_code()
        }),
        Command::Holds(HoldsCommand::List { job, fs, json }) => {
            let config = match load_config(cli.config.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let jobs = match select_jobs(&config, job.as_deref()) {
                Ok(j) => j,
                Err(code) => return code,
            };
            let mut entries = Vec::new();
            let mut errors = Vec::new();
            for j in jobs {
                match crate::holds::list_job(j) {
                    Ok(e) => entries.extend(e),
                    Err(e) => errors.push(e.error),
                }
            }
            if let Some(fs) = &fs {
                entries.retain(|e| &e.filesystem == fs);
            }
            let out = serde_json::json!({
                "schema_version": crate::report::SCHEMA_VERSION,
                "command": "holds list",
                "entries": entries,
                "errors": errors,
            });
            emit(Some(if json { Format::Json } else { Format::Human }), &out, || {
                let mut s = format!("{:<8}  {:<18}  {:<14}  NAME\n", "SIDE", "KIND", "JOB");
                for e in &entries {
                    let kind = serde_json::to_value(e.kind)
                        .ok()
                        .and_then(|v| v.as_str().map(String::from))
                        .unwrap_or_default();
                    s.push_str(&format!(
                        "{:<8}  {:<18}  {:<14}  {}\n",
                        e.side,
                        kind,
                        e.job.as_deref().unwrap_or("-"),
                        e.name
                    ));
                }
                for e in &errors {
                    s.push_str(&format!("error ({}): {}\n", e.kind, e.message));
                }
                s
            });
            if errors.is_empty() {
                exit::OK
            } else {
                exit::RUN_FAILED
            }
        }
        Command::Holds(HoldsCommand::ReleaseStale { job, dry_run, lock_dir }) => {
            with_job(cli.config.as_deref(), &job, |config, job| {
                let dir = lock_dir
                    .clone()
                    .or_else(|| config.global.lock_dir.clone())
                    .unwrap_or_else(crate::lock::default_lock_dir);
                let _lock = match crate::lock::lock_job(&dir, &job.name) {
                    Ok(l) => l,
                    Err(e) => {
                        eprintln!("zreplrs: {e}");
                        return if matches!(e, crate::lock::LockError::Held { .. }) {
                            exit::LOCKED
                        } else {
                            exit::RUN_FAILED
                        };
                    }
                };
                let r = crate::holds::release_stale(job, dry_run);
                print_json(&r);
                if r.error.is_some() {
                    exit::RUN_FAILED
                } else {
                    exit::OK
                }
            })
        }
        Command::Migrate(MigrateCommand::ReplicationCursorV1V2 { job, dry_run }) => {
            let config = match load_config(cli.config.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let jobs = match select_jobs(&config, job.as_deref()) {
                Ok(j) => j,
                Err(code) => return code,
            };
            let r = crate::migrate::v1_to_v2(&jobs, dry_run);
            print_json(&r);
            if r.errors.is_empty() {
                exit::OK
            } else {
                exit::SOME_FAILED
            }
        }
        Command::Test(TestCommand::Filesystems { job }) => {
            with_job(
                cli.config.as_deref(),
                &job,
                |_, job| match crate::inspect::filesystems(job) {
                    Ok(entries) => {
                        print_json(&serde_json::json!({ "job": job.name.as_str(), "filesystems": entries }));
                        exit::OK
                    }
                    Err(e) => {
                        eprintln!("zreplrs: {e}");
                        exit::RUN_FAILED
                    }
                },
            )
        }
        Command::Test(TestCommand::DecodeResumeToken { token }) => match crate::inspect::decode_token(&token) {
            Ok(t) => {
                print_json(&t);
                exit::OK
            }
            Err(e) => {
                eprintln!("zreplrs: {e}");
                exit::USAGE
            }
        },
        Command::Replicate(a) => {
            let config = match load_config(cli.config.as_deref()) {
                Ok(c) => c,
                Err(code) => return code,
            };
            let job = match config.job(&a.job) {
                Ok(j) => j,
                Err(e) => {
                    eprintln!("zreplrs: {e}");
                    return exit::USAGE;
                }
            };
            let opts = crate::replicate::Options {
                dry_run: a.dry_run,
                textfile_dir: a.textfile_dir.clone(),
                lock_dir: a.lock_dir.clone(),
                quiet: a.quiet,
            };
            match crate::replicate::run(&config, job, &opts) {
                Ok(report) => {
                    let format = a.format.unwrap_or(if std::io::stdout().is_terminal() {
                        Format::Human
                    } else {
                        Format::Json
                    });
                    match format {
                        Format::Json => match serde_json::to_string_pretty(&report) {
                            Ok(s) => println!("{s}"),
                            Err(e) => eprintln!("zreplrs: cannot encode the result: {e}"),
                        },
                        Format::Human => {
                            print!("{}", crate::report::human::replicate_table(&report))
                        }
                    }
                    report.exit_code()
                }
                Err(e) => {
                    eprintln!("zreplrs: {e}");
                    if matches!(e, crate::lock::LockError::Held { .. }) {
                        exit::LOCKED
                    } else {
                        exit::RUN_FAILED
                    }
                }
            }
        }
    }
}
