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
                    exit::LOCKED
                }
            }
        }
    }
}
