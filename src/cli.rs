//! The command line: every subcommand and flag with its help text, in one place (clap definitions only; the
//! commands are in `src/cmd/`). Man pages and shell completions are generated from this definition.

use camino::Utf8PathBuf;
use clap::{Args, Parser, Subcommand, ValueEnum};

/// ZFS replication for people who run servers.
///
/// A stateless one-shot CLI: each run reads live ZFS state on both sides, plans, sends snapshots to a
/// `zreplrs recv-agent` on the receiver, keeps its bookkeeping (cursor bookmarks, holds) in ZFS and exits
/// with a JSON result, a Prometheus textfile and an exit code: 0 ok or nothing to do, 1 some filesystems
/// failed, 2 usage or config error, 3 the run failed as a whole, 4 another run of the job holds the lock,
/// 5 the replicate pre-hook failed and the run was skipped.
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
    /// Compare sender snapshots with their received copies: GUIDs, and with --content the files.
    Verify(VerifyArgs),
    /// Bring a filesystem back from a job's receiver, in place or to a new name, at the newest or a named
    /// snapshot: incremental from the newest snapshot both sides share (a full send only with
    /// --allow-full), with step holds, resume and retries; from a bucket (an s3:// target), its chain
    /// downloaded and checked part by part.
    Restore(RestoreArgs),
    /// Make a job's replicas the writable primaries: a last replication, the originals read-only, the
    /// bookkeeping moved (cursors on the replicas, last-received holds on the originals), the replicas
    /// writable; from then on `replicate` sends from the replicas back to the originals. Every root
    /// filesystem of the job at once; run where the job runs (a push job on its sending host, a pull job
    /// on its backup host, reaching production through [jobs.restore]).
    Failover(FailoverArgs),
    /// Undo a failover: a last run back from the replicas (a divergence is refused unless --rotate), the
    /// forward bookkeeping back in place, the replicas read-only, the originals writable again.
    Failback(FailbackArgs),
    /// A monitoring-plugin check for Nagios, Icinga or Checkmk: one status line with performance data, and
    /// exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN.
    Check(CheckArgs),
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
    /// The source side of a pull job; run by the backup host over SSH (as a forced command) or as a local
    /// child. It lists, sends, and manages its job's step holds and cursor bookmarks; nothing else.
    SendAgent(SendAgentArgs),
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

/// `--format`, on every command that prints a result.
#[derive(Debug, Clone, Copy, Default, Args)]
pub struct OutputArgs {
    /// Result format [default: json when stdout is not a terminal, else human].
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// The same as `--format json` (kept for scripts written before `--format`).
    #[arg(long, hide = true, conflicts_with = "format")]
    pub json: bool,
}

impl OutputArgs {
    /// The format asked for, if any.
    pub fn format(&self) -> Option<Format> {
        if self.json {
            Some(Format::Json)
        } else {
            self.format
        }
    }
}

#[derive(Debug, Args)]
pub struct ReplicateArgs {
    /// Name of the job in the configuration.
    #[arg(long)]
    pub job: String,
    /// A copy that diverged from its sender (the receiver has snapshots the sender does not) is set aside
    /// instead of refused: renamed `<name>-rotated-<UTC time>` on the receiver, nothing destroyed, and a new
    /// chain starts from the newest snapshot both still have (else a full send). Not with an
    /// `--append-only` receiver.
    #[arg(long)]
    pub rotate: bool,
    /// Plan and estimate sizes; change nothing on either side.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Write the Prometheus textfile here (overrides the configuration).
    #[arg(long, value_name = "DIR")]
    pub textfile_dir: Option<Utf8PathBuf>,
    /// Directory of the per-job lock file [default: $ZREPLRS_LOCK_DIR, else /run/zreplrs for root, else
    /// $XDG_RUNTIME_DIR/zreplrs].
    #[arg(long, value_name = "DIR")]
    pub lock_dir: Option<Utf8PathBuf>,
    /// No progress bars on stderr.
    #[arg(long, short)]
    pub quiet: bool,
    /// Most bytes per second on the link to the peer, e.g. 50MiB/s (overrides the job's bandwidth_limit).
    #[arg(long, value_name = "RATE")]
    pub bandwidth_limit: Option<crate::config::BandwidthLimit>,
    /// Compression in transit: off, zstd or zstd:LEVEL (overrides the job's compression).
    #[arg(long, value_name = "CODEC")]
    pub compression: Option<crate::config::Compression>,
}

/// `--job`, `--format` and `--textfile-dir`, shared by snapshot and prune.
#[derive(Debug, Args)]
pub struct JobOutputArgs {
    /// Name of the job in the configuration.
    #[arg(long)]
    pub job: String,
    #[command(flatten)]
    pub output: OutputArgs,
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
    pub side: crate::prune::Side,
    /// Show what would be destroyed; destroy nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// A job without `[jobs.prune]` keep rules is skipped (exit 0) instead of being a usage error (exit
    /// 2); the systemd prune unit uses it, so enabling its timer for such a job does nothing.
    #[arg(long)]
    pub if_configured: bool,
    /// Write the Prometheus textfile here (overrides the configuration).
    #[arg(long, value_name = "DIR")]
    pub textfile_dir: Option<Utf8PathBuf>,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["job", "all", "root_fs"])))]
pub struct StatusArgs {
    /// Name of the job in the configuration.
    #[arg(long)]
    pub job: Option<String>,
    /// Every job of the configuration: one table (with a JOB column), or one JSON document with a `jobs` list.
    #[arg(long)]
    pub all: bool,
    /// The backup host's own view: read the received tree on this host (below the job's local target, or
    /// --root-fs), not the sender: per filesystem the newest received snapshot and its age, the last-received
    /// hold, resumable state. Textfile: zreplrs_receiver_<job or root>.prom.
    #[arg(long, conflicts_with = "all")]
    pub receiver: bool,
    /// With --receiver and no job: the receiving root (an agent's --root-fs, or below it).
    #[arg(long, value_name = "DATASET", requires = "receiver")]
    pub root_fs: Option<String>,
    /// With --root-fs: the job whose last-received hold is looked for (default: any job's).
    #[arg(long, value_name = "ID", requires = "root_fs")]
    pub job_id: Option<String>,
    /// Also write each job's status as a Prometheus textfile (zreplrs_status_<job>.prom) here; default: the
    /// configured textfile directory, if any.
    #[arg(long, value_name = "DIR")]
    pub textfile_dir: Option<Utf8PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["job", "root_fs"])))]
pub struct CheckArgs {
    /// The job to check. On the sender (or a pull job's backup host): each filesystem's replication lag
    /// from live ZFS on both sides, conflicts, step holds older than max_step_hold_age, and the last
    /// replicate run's result from its textfile.
    #[arg(long)]
    pub job: Option<String>,
    /// Check the received tree on this host instead (the backup host's view, which needs nothing from the
    /// sender): each copy's newest snapshot age, its last-received hold, resumable state.
    #[arg(long)]
    pub receiver: bool,
    /// With --receiver and no job: the receiving root.
    #[arg(long, value_name = "DATASET", requires = "receiver")]
    pub root_fs: Option<String>,
    /// With --root-fs: the job whose last-received hold is looked for (default: any job's).
    #[arg(long, value_name = "ID", requires = "root_fs")]
    pub job_id: Option<String>,
    /// Age (lag, or of the newest received snapshot) that is a warning, e.g. `90m` [default: the job's
    /// [jobs.check] warning, else 90m].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub warning: Option<std::time::Duration>,
    /// Age that is critical, e.g. `6h` [default: the job's [jobs.check] critical, else 6h].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub critical: Option<std::time::Duration>,
    /// Age of resumable state that is a warning [default: as --warning].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub resumable_warning: Option<std::time::Duration>,
    /// Age of resumable state that is critical [default: as --critical].
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub resumable_critical: Option<std::time::Duration>,
    /// Where the job's replicate textfile is [default: the configured textfile directory; without one the
    /// last run is not checked].
    #[arg(long, value_name = "DIR")]
    pub textfile_dir: Option<Utf8PathBuf>,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Name of the job in the configuration.
    #[arg(long)]
    pub job: String,
    /// Only this sender filesystem.
    #[arg(long, value_name = "DATASET")]
    pub fs: Option<String>,
    /// Which snapshots: `latest` (the newest one the receiver has), `all` (every one both sides have), or
    /// a snapshot name.
    #[arg(long, value_name = "latest|all|NAME", default_value = "latest")]
    pub snapshot: String,
    /// Also compare the files: a SHA-256 over every file's bytes and metadata of both snapshots, read
    /// through `.zfs/snapshot` or a temporary read-only clone (needs root to mount, and the key of an
    /// encrypted copy; a copy that cannot be read is reported, with its GUID still compared).
    #[arg(long)]
    pub content: bool,
    /// A job whose target is a bucket: also restore each checked snapshot into a temporary dataset below
    /// `--scratch`, compare its GUID and files with the sender's, and destroy it (every object is re-read
    /// and checked against its SHA-256 with or without this).
    #[arg(long, requires = "scratch")]
    pub restore: bool,
    /// Where `--restore` creates its temporary dataset (`<DATASET>/zreplrs-verify-<pid>`).
    #[arg(long, value_name = "DATASET")]
    pub scratch: Option<String>,
    /// An `age` identity file, for `--restore` of streams encrypted to the job's `age_recipients`.
    #[arg(long, value_name = "PATH")]
    pub identity_file: Option<Utf8PathBuf>,
    #[command(flatten)]
    pub output: OutputArgs,
    /// Write the Prometheus textfile here (overrides the configuration).
    #[arg(long, value_name = "DIR")]
    pub textfile_dir: Option<Utf8PathBuf>,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// Name of the job in the configuration (a push job: run this on its sending host).
    #[arg(long)]
    pub job: String,
    /// The sender filesystem whose copy is restored, with its children.
    #[arg(long, value_name = "DATASET")]
    pub fs: String,
    /// The snapshot (its name after `@`) [default: the newest the receiver has].
    #[arg(long, value_name = "NAME")]
    pub snapshot: Option<String>,
    /// Where the filesystem comes back [default: its own name]. An existing dataset there is brought
    /// forward incrementally from the newest snapshot it shares with the copy; a new one needs --allow-full.
    /// (A bucket's copy goes to a dataset that does not exist yet, unless an interrupted restore left it.)
    #[arg(long, visible_alias = "target", value_name = "DATASET")]
    pub to: Option<String>,
    /// Allow a full send where the two sides share no snapshot or bookmark (a restore to a new name, or
    /// over a dataset that has nothing in common with the copy is refused without it).
    #[arg(long)]
    pub allow_full: bool,
    /// An `age` identity file, for streams encrypted to the job's `age_recipients`.
    #[arg(long, value_name = "PATH")]
    pub identity_file: Option<Utf8PathBuf>,
    /// Print what would be sent (FULL or INCREMENTAL, the base, the snapshots and their sizes), change
    /// nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct FailoverArgs {
    /// Name of the job in the configuration (its target a ZFS receiver, not a bucket).
    #[arg(long)]
    pub job: String,
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub output: OutputArgs,
}

#[derive(Debug, Args)]
pub struct FailbackArgs {
    /// Name of the job in the configuration.
    #[arg(long)]
    pub job: String,
    /// Where the original was written to after the failover (it has snapshots the replica does not), set
    /// those aside (renamed `<name>-rotated-<UTC time>`) instead of refusing.
    #[arg(long)]
    pub rotate: bool,
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
    #[command(flatten)]
    pub output: OutputArgs,
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
        #[command(flatten)]
        output: OutputArgs,
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
        #[command(flatten)]
        output: OutputArgs,
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
        #[command(flatten)]
        output: OutputArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum TestCommand {
    /// Which datasets the job's filter selects, and by which rule.
    Filesystems {
        /// Name of the job in the configuration.
        #[arg(long)]
        job: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Decode a receive_resume_token and print its fields.
    DecodeResumeToken {
        /// The token, as shown by `zfs get receive_resume_token`.
        token: String,
        #[command(flatten)]
        output: OutputArgs,
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
    /// Take the sent value of a property the agent overrides by default (mountpoint, sharenfs and sharesmb
    /// are inherited, setuid, devices and exec set off); repeatable.
    #[arg(long, value_name = "PROP")]
    pub recv_allow: Vec<String>,
    /// The sender is this host's own zreplrs running a job that sends no properties (how a `local:` target
    /// starts its agent): incremental receives leave out the defaults of --recv-allow, which such a stream
    /// gives nothing to act on and which ZFS applies as two transaction groups per received snapshot.
    /// Receives that create a filesystem keep them; --recv-set and --recv-inherit apply to every receive.
    /// Never give it to an agent that a remote host can reach (behind a forced command, where sshd sets
    /// SSH_ORIGINAL_COMMAND, SSH_CONNECTION or SSH_CLIENT, the agent refuses to start with it).
    #[arg(long)]
    pub own_streams: bool,
    /// Refuse every request that could lose received data: destroying snapshots, releasing last-received
    /// holds, and forced receives over anything but an empty placeholder. Recommended for push jobs: a
    /// compromised sender can then add snapshots but not remove any. Prune on the receiving host itself.
    #[arg(long)]
    pub append_only: bool,
    /// With --append-only, still serve `zreplrs verify --content`: the agent then clones a received
    /// snapshot and reads its files (mounted nosuid, nodev, noexec and read-only in a root-only directory,
    /// for at most an hour). Without this flag an append-only agent refuses that request, since the files
    /// come from the sender it does not trust.
    #[arg(long)]
    pub allow_verify: bool,
    /// Send received data back for `zreplrs restore` (and a failed-over job) run on the sending host: the
    /// peer may then list, send (raw only) and hold (with its job's step hold tag) snapshots below this
    /// agent's root, and nothing else on that connection — no receive, no rename; with --append-only no
    /// bookmark or destroy either (without it, the job's own cursor bookmarks). Without this flag a restore
    /// is refused.
    #[arg(long)]
    pub serve_restores: bool,
    /// Run this program instead of `zfs` (tests and benchmarks; `$ZREPLRS_ZFS` is ignored by the agent).
    #[arg(long, value_name = "PATH", hide = true)]
    pub zfs_program: Option<Utf8PathBuf>,
}

#[derive(Debug, Args)]
pub struct SendAgentArgs {
    /// Root dataset on the source; the agent sends only filesystems at or below it.
    #[arg(long, value_name = "DATASET")]
    pub root_fs: String,
    /// The pull job's name: the only step hold tag and cursor bookmarks the agent creates, releases and
    /// destroys are this job's.
    #[arg(long, value_name = "JOB")]
    pub job_id: String,
    /// Filesystems the agent may send, as a job's `[jobs.filesystems]` key (`pool/fs` or `pool/fs<` for a
    /// subtree); repeatable. Without any, everything at or below the root.
    #[arg(long, value_name = "RULE")]
    pub include: Vec<String>,
    /// Filesystems the agent must not send (same syntax as `--include`); repeatable.
    #[arg(long, value_name = "RULE")]
    pub exclude: Vec<String>,
    /// Send raw only (`zfs send -w`): encrypted filesystems never leave the source decrypted.
    #[arg(long)]
    pub require_raw: bool,
    /// The highest zstd level the backup host may make this host compress a stream at (1..=19); a
    /// higher level asked for is lowered to it. Level 19 costs the source about 31 times the CPU of 3.
    #[arg(long, value_name = "N", default_value_t = crate::config::DEFAULT_ZSTD_LEVEL,
          value_parser = clap::value_parser!(i32).range(1..=19))]
    pub max_zstd_level: i32,
    /// Seconds a stream may make no progress towards the backup host (which stopped reading) before the
    /// agent stops `zfs send` and ends.
    #[arg(long, value_name = "SECONDS", default_value_t = 300, hide = true)]
    pub stall_timeout_secs: u64,
    /// Run this program instead of `zfs` (tests and benchmarks; `$ZREPLRS_ZFS` is ignored by the agent).
    #[arg(long, value_name = "PATH", hide = true)]
    pub zfs_program: Option<Utf8PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Parse and validate the configuration; exit 2 with the reason when it is invalid.
    Check {
        #[command(flatten)]
        output: OutputArgs,
    },
    /// The names of the configured jobs (one per line for people; the shell completions call it).
    Jobs {
        #[command(flatten)]
        output: OutputArgs,
    },
}
