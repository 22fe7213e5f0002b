//! The configuration file: what each job replicates, where to, and how.
//!
//! The file is TOML (default [`DEFAULT_PATH`], overridden by `--config` or `$ZREPLRS_CONFIG`, see
//! [`Config::resolve_path`]) with an optional `[global]` table and one `[[jobs]]` table per job;
//! `examples/zreplrs.toml` shows and explains every option.
//!
//! Loading is strict, so that a typo never silently changes what is replicated: unknown keys are errors, and
//! every value that ends up in a `zfs` command line (job names, dataset names, property names, the client
//! identity) is validated here. Every error names the file and the key path, e.g.
//! `/etc/zreplrs/zreplrs.toml: jobs[1].send.compresed: unknown field ...`, plus the line and column when
//! the TOML parser knows them. Checks that only concern one value run while deserialising (they get a line
//! and column); checks across jobs (duplicate names) run afterwards.
//!
//! Adding a table to a job (e.g. `[jobs.snapshot]`) means: a type deriving `Deserialize` with
//! `#[serde(deny_unknown_fields)]` that validates its own values (use `try_from` a raw struct for checks
//! across its fields), and a `#[serde(default)] pub snapshot: Option<…>` field on [`Job`].

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use serde::de::{self, Deserializer};
use serde::Deserialize;

use crate::zfs::names::{check_component, check_user_property, DatasetName, JobId};
use crate::zfs::send::SendFlags;

/// Where the configuration is read from when neither `--config` nor [`CONFIG_ENV`] is set.
pub const DEFAULT_PATH: &str = "/etc/zreplrs/zreplrs.toml";

/// Environment variable naming the configuration file (used when `--config` is not given).
pub const CONFIG_ENV: &str = "ZREPLRS_CONFIG";

/// SSH port used when an `ssh://` target names none.
pub const DEFAULT_SSH_PORT: u16 = 22;

/// Default of [`Job::retries`].
pub const DEFAULT_RETRIES: u32 = 3;

/// Default of [`Job::retry_timeout`]: 10 minutes.
pub const DEFAULT_RETRY_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// Default of [`Job::stall_timeout`]: 60 seconds.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Default of [`Job::connect_timeout`]: 30 seconds.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Default of [`SshOptions::agent_command`]: the command run on the target host.
pub const DEFAULT_AGENT_COMMAND: [&str; 2] = ["zreplrs", "recv-agent"];

/// The receiver property zreplrs uses to mark placeholder datasets; the configuration may not set or
/// inherit it on received datasets.
const PLACEHOLDER_PROPERTY: &str = "zrepl:placeholder";

/// A position in the configuration file (both 1-based; the column counts characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// Line number, starting at 1.
    pub line: usize,
    /// Column (in characters), starting at 1.
    pub column: usize,
}

impl Location {
    /// The location of byte `offset` in `text` (clamped to the text).
    fn of(text: &str, offset: usize) -> Location {
        let mut end = offset.min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let before = &text[..end];
        let line = before.matches('\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = before[line_start..].chars().count() + 1;
        Location { line, column }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// Why the configuration could not be used. Every message names the configuration file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read (missing, unreadable, not UTF-8).
    #[error("cannot read config {path}: {} (set --config or {CONFIG_ENV})", io_reason(.error))]
    Read {
        /// The configuration file.
        path: Utf8PathBuf,
        /// What went wrong.
        error: std::io::Error,
    },
    /// The file is not valid TOML, has an unknown key, or a value is invalid.
    #[error("{path}: {}{message}{}", key_prefix(.key), location_suffix(.location))]
    Invalid {
        /// The configuration file.
        path: Utf8PathBuf,
        /// The key path of the offending value, e.g. `jobs[0].send.compresed`; empty for the whole file.
        key: String,
        /// What is wrong with it.
        message: String,
        /// Where in the file, when the parser knows.
        location: Option<Location>,
    },
    /// A job name that is not in the configuration.
    #[error("no job named {name:?} in {path}; configured jobs: {}", job_list(.jobs))]
    UnknownJob {
        /// The name asked for.
        name: String,
        /// The configuration file.
        path: Utf8PathBuf,
        /// The names of the configured jobs.
        jobs: Vec<String>,
    },
}

/// An I/O error's message without the trailing " (os error N)".
fn io_reason(error: &std::io::Error) -> String {
    let text = error.to_string();
    match text.rfind(" (os error ") {
        Some(i) if text.ends_with(')') => text[..i].to_string(),
        _ => text,
    }
}

fn key_prefix(key: &str) -> String {
    if key.is_empty() {
        String::new()
    } else {
        format!("{key}: ")
    }
}

fn location_suffix(location: &Option<Location>) -> String {
    location.map_or_else(String::new, |l| format!(" ({l})"))
}

fn job_list(jobs: &[String]) -> String {
    if jobs.is_empty() {
        "(none)".to_string()
    } else {
        jobs.join(", ")
    }
}

/// A loaded and validated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The file it was read from (named in error messages).
    pub path: Utf8PathBuf,
    /// Settings for all jobs (`[global]`).
    pub global: Global,
    /// The jobs (`[[jobs]]`), in file order; at least one, with distinct names.
    pub jobs: Vec<Job>,
}

/// The file's top level as deserialised, before the checks across jobs.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    global: Global,
    #[serde(default)]
    jobs: Vec<Job>,
}

impl Config {
    /// The configuration file to use: `explicit` (`--config`), else `$ZREPLRS_CONFIG` when set and
    /// non-empty, else [`DEFAULT_PATH`].
    pub fn resolve_path(explicit: Option<&Utf8Path>) -> Utf8PathBuf {
        if let Some(path) = explicit {
            return path.to_path_buf();
        }
        match std::env::var(CONFIG_ENV) {
            Ok(path) if !path.is_empty() => Utf8PathBuf::from(path),
            _ => Utf8PathBuf::from(DEFAULT_PATH),
        }
    }

    /// Reads and validates the configuration file at `path`.
    pub fn load(path: &Utf8Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_path_buf(),
            error,
        })?;
        Config::parse(path, &text)
    }

    /// Validates the configuration `text`; `path` is only used in error messages and [`Config::path`].
    pub fn parse(path: &Utf8Path, text: &str) -> Result<Config, ConfigError> {
        let raw: RawConfig = serde_path_to_error::deserialize(toml::Deserializer::new(text)).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            ConfigError::Invalid {
                path: path.to_path_buf(),
                key: if key == "." { String::new() } else { key },
                message: inner
                    .message()
                    .lines()
                    .map(str::trim)
                    .filter(|line| !line.is_empty())
                    .collect::<Vec<_>>()
                    .join(": "),
                location: inner.span().map(|span| Location::of(text, span.start)),
            }
        })?;
        let invalid = |key: String, message: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            key,
            message,
            location: None,
        };
        if raw.jobs.is_empty() {
            return Err(invalid(
                "jobs".to_string(),
                "no jobs configured: add at least one [[jobs]] table".to_string(),
            ));
        }
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, job) in raw.jobs.iter().enumerate() {
            if let Some(first) = seen.insert(job.name.as_str(), i) {
                return Err(invalid(
                    format!("jobs[{i}].name"),
                    format!(
                        "duplicate job name {:?} (already used by jobs[{first}])",
                        job.name.as_str()
                    ),
                ));
            }
        }
        Ok(Config {
            path: path.to_path_buf(),
            global: raw.global,
            jobs: raw.jobs,
        })
    }

    /// The job called `name`, or an error listing the configured jobs.
    pub fn job(&self, name: &str) -> Result<&Job, ConfigError> {
        self.jobs
            .iter()
            .find(|job| job.name.as_str() == name)
            .ok_or_else(|| ConfigError::UnknownJob {
                name: name.to_string(),
                path: self.path.clone(),
                jobs: self.jobs.iter().map(|job| job.name.as_str().to_string()).collect(),
            })
    }
}

/// Settings for all jobs (`[global]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Global {
    /// Directory for the Prometheus textfile (node-exporter's textfile collector); absolute. Jobs may
    /// override it; `--textfile-dir` overrides both. Unset: no textfile is written.
    #[serde(default, deserialize_with = "absolute_path_opt")]
    pub textfile_dir: Option<Utf8PathBuf>,
    /// Directory for the per-job lock files; absolute. Unset: a directory under `/run/lock` (or under
    /// `$XDG_RUNTIME_DIR` for unprivileged users).
    #[serde(default, deserialize_with = "absolute_path_opt")]
    pub lock_dir: Option<Utf8PathBuf>,
}

/// One replication job (`[[jobs]]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    /// The job's name: `--job NAME`, and part of the bookmark and hold names on ZFS (so renaming a job
    /// orphans its cursors and holds).
    pub name: JobId,
    /// Where the filesystems are replicated to.
    pub target: Target,
    /// An extra dataset component below the target's root filesystem, so that several senders can share one
    /// root: received datasets are `<root_fs>/<client_identity>/<sender fs>`. Unset: `<root_fs>/<sender fs>`.
    #[serde(default, deserialize_with = "client_identity")]
    pub client_identity: Option<String>,
    /// Which filesystems are replicated (`[jobs.filesystems]`).
    pub filesystems: Filter,
    /// `zfs send` options (`[jobs.send]`).
    #[serde(default)]
    pub send: SendOptions,
    /// Properties set or inherited on received datasets (`[jobs.recv]`).
    #[serde(default)]
    pub recv: RecvConfig,
    /// What to do for a filesystem that the receiver does not have yet. Default: most recent snapshot.
    #[serde(default)]
    pub initial_replication: InitialReplication,
    /// Which snapshots are protected (holds, bookmarks) while and after replicating.
    #[serde(default)]
    pub protection: Protection,
    /// How many times a run reconnects after a connection error (SSH disconnect, timeout, stall) before it
    /// gives up; 0 disables retrying. Default 3.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// Upper bound of the total time spent retrying, e.g. `"10m"`. Default 10 minutes.
    #[serde(default = "default_retry_timeout", deserialize_with = "duration")]
    pub retry_timeout: Duration,
    /// A transfer that moves no data for this long counts as a connection error, e.g. `"60s"`. Default
    /// 60 seconds.
    #[serde(default = "default_stall_timeout", deserialize_with = "positive_duration")]
    pub stall_timeout: Duration,
    /// Timeout for connecting and the protocol handshake, e.g. `"30s"`. Default 30 seconds.
    #[serde(default = "default_connect_timeout", deserialize_with = "positive_duration")]
    pub connect_timeout: Duration,
    /// SSH settings (`[jobs.ssh]`); only used by `ssh://` targets.
    #[serde(default)]
    pub ssh: SshOptions,
    /// Overrides `[global] textfile_dir` for this job; absolute.
    #[serde(default, deserialize_with = "absolute_path_opt")]
    pub textfile_dir: Option<Utf8PathBuf>,
    /// How `zreplrs snapshot` names snapshots and which hooks it runs (`[jobs.snapshot]`).
    #[serde(default)]
    pub snapshot: SnapshotConfig,
    /// Keep rules of `zreplrs prune` (`[jobs.prune]`); without it, prune refuses to run.
    #[serde(default)]
    pub prune: Option<PruneConfig>,
}

/// `[jobs.snapshot]`: snapshot names are `<prefix><timestamp>`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawSnapshot")]
pub struct SnapshotConfig {
    /// Default `zrepl_` (so zrepl and zreplrs keep rules that match `^zrepl_` agree).
    pub prefix: String,
    pub timestamp_format: crate::snapname::TimestampFormat,
    /// argv run before the snapshot; a failure (or timeout) skips the snapshot.
    pub pre_hook: Option<Vec<String>>,
    /// argv run after the snapshot was taken.
    pub post_hook: Option<Vec<String>>,
    /// Upper bound for each hook. Default 30 seconds.
    pub hook_timeout: Duration,
}

impl Default for SnapshotConfig {
    fn default() -> Self {
        SnapshotConfig {
            prefix: "zrepl_".into(),
            timestamp_format: crate::snapname::TimestampFormat::Dense,
            pre_hook: None,
            post_hook: None,
            hook_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSnapshot {
    #[serde(default)]
    prefix: Option<String>,
    #[serde(default)]
    timestamp_format: crate::snapname::TimestampFormat,
    #[serde(default)]
    pre_hook: Option<Vec<String>>,
    #[serde(default)]
    post_hook: Option<Vec<String>>,
    #[serde(default, deserialize_with = "duration_opt")]
    hook_timeout: Option<Duration>,
}

fn duration_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

impl TryFrom<RawSnapshot> for SnapshotConfig {
    type Error = String;

    fn try_from(raw: RawSnapshot) -> Result<Self, String> {
        let prefix = raw.prefix.unwrap_or_else(|| "zrepl_".into());
        let sample = crate::snapname::snapshot_name(&prefix, raw.timestamp_format, 0);
        check_component("snapshot name", &sample)
            .map_err(|e| format!("prefix {prefix:?} makes invalid snapshot names: {e}"))?;
        for (key, hook) in [("pre_hook", &raw.pre_hook), ("post_hook", &raw.post_hook)] {
            if let Some(argv) = hook {
                if argv.first().is_none_or(|p| p.is_empty()) {
                    return Err(format!(
                        "{key} must be a non-empty argv list, e.g. [\"/usr/local/bin/flush\", \"--fast\"]"
                    ));
                }
            }
        }
        let hook_timeout = raw.hook_timeout.unwrap_or(Duration::from_secs(30));
        if hook_timeout.is_zero() {
            return Err("hook_timeout must be greater than zero".into());
        }
        Ok(SnapshotConfig {
            prefix,
            timestamp_format: raw.timestamp_format,
            pre_hook: raw.pre_hook,
            post_hook: raw.post_hook,
            hook_timeout,
        })
    }
}

/// `[jobs.prune]`: keep rules per side; a snapshot is destroyed only when no rule keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawPrune")]
pub struct PruneConfig {
    pub keep_sender: Vec<crate::prune::rules::KeepRuleConfig>,
    pub keep_receiver: Vec<crate::prune::rules::KeepRuleConfig>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPrune {
    keep_sender: Vec<crate::prune::rules::KeepRuleConfig>,
    keep_receiver: Vec<crate::prune::rules::KeepRuleConfig>,
}

impl TryFrom<RawPrune> for PruneConfig {
    type Error = String;

    fn try_from(raw: RawPrune) -> Result<Self, String> {
        for (side, rules, sender) in [
            ("keep_sender", &raw.keep_sender, true),
            ("keep_receiver", &raw.keep_receiver, false),
        ] {
            if rules.is_empty() {
                return Err(format!(
                    "{side} is empty: with no keep rule every snapshot would be destroyed; \
                                    add e.g. {{ type = \"last_n\", count = 10 }}"
                ));
            }
            crate::prune::rules::validate_side(rules, sender).map_err(|e| format!("{side}: {e}"))?;
            for (i, r) in rules.iter().enumerate() {
                crate::prune::rules::KeepRule::from_config(r).map_err(|e| format!("{side}[{i}]: {e}"))?;
            }
        }
        Ok(PruneConfig {
            keep_sender: raw.keep_sender,
            keep_receiver: raw.keep_receiver,
        })
    }
}

impl Job {
    /// The Prometheus textfile directory of this job: its own `textfile_dir`, else the global one.
    pub fn textfile_dir<'a>(&'a self, global: &'a Global) -> Option<&'a Utf8Path> {
        self.textfile_dir.as_deref().or(global.textfile_dir.as_deref())
    }
}

fn default_retries() -> u32 {
    DEFAULT_RETRIES
}

fn default_retry_timeout() -> Duration {
    DEFAULT_RETRY_TIMEOUT
}

fn default_stall_timeout() -> Duration {
    DEFAULT_STALL_TIMEOUT
}

fn default_connect_timeout() -> Duration {
    DEFAULT_CONNECT_TIMEOUT
}

/// A duration written as a string such as `"30s"`, `"10m"`, `"1h30m"` (humantime syntax).
fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    struct Visitor;
    impl de::Visitor<'_> for Visitor {
        type Value = Duration;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a duration string such as \"30s\", \"10m\" or \"1h30m\"")
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
            humantime::parse_duration(v).map_err(|e| {
                E::custom(format!(
                    "invalid duration {v:?}: {e} (write e.g. \"30s\", \"10m\" or \"1h30m\")"
                ))
            })
        }
    }
    d.deserialize_str(Visitor)
}

/// Like [`duration`], but zero is rejected.
fn positive_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let value = duration(d)?;
    if value.is_zero() {
        return Err(de::Error::custom("must be greater than zero"));
    }
    Ok(value)
}

/// An absolute path.
struct AbsolutePath(Utf8PathBuf);

impl<'de> Deserialize<'de> for AbsolutePath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let path = Utf8PathBuf::deserialize(d)?;
        if !path.is_absolute() {
            return Err(de::Error::custom(format!(
                "path {path:?} must be absolute (start with '/')"
            )));
        }
        Ok(AbsolutePath(path))
    }
}

fn absolute_path_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Utf8PathBuf>, D::Error> {
    Ok(Option::<AbsolutePath>::deserialize(d)?.map(|p| p.0))
}

fn absolute_paths<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Utf8PathBuf>, D::Error> {
    Ok(Vec::<AbsolutePath>::deserialize(d)?.into_iter().map(|p| p.0).collect())
}

fn client_identity<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let identity = String::deserialize(d)?;
    check_component("client identity", &identity).map_err(de::Error::custom)?;
    Ok(Some(identity))
}

/// Where a job replicates to: the receiving pool's root filesystem, locally or on another host.
///
/// Written as `local:backup/hosts` or `ssh://[USER@]HOST[:PORT]/backup/hosts` (the URL path without its
/// leading `/` is the root filesystem; an IPv6 address is written in brackets, `ssh://[::1]/backup`).
/// [`Display`](fmt::Display) gives the canonical form, without the port when it is 22.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// On this host: the receive agent runs as a child process.
    Local {
        /// Received datasets go below this filesystem.
        root_fs: DatasetName,
    },
    /// On another host, over SSH.
    Ssh {
        /// The SSH user; unset: the user running zreplrs.
        user: Option<String>,
        /// Host name or IP address (an IPv6 address without brackets).
        host: String,
        /// The SSH port (default 22).
        port: u16,
        /// Received datasets go below this filesystem.
        root_fs: DatasetName,
    },
}

/// The accepted target syntax, for error messages.
const TARGET_SYNTAX: &str = "\"local:POOL/FS\" or \"ssh://[USER@]HOST[:PORT]/POOL/FS\"";

impl Target {
    /// Parses `local:POOL/FS` or `ssh://[USER@]HOST[:PORT]/POOL/FS`.
    pub fn parse(s: &str) -> Result<Target, String> {
        let bad = |why: String| format!("invalid target {s:?}: {why}");
        let root = |rest: &str, example: &str| {
            if rest.is_empty() {
                return Err(bad(format!("missing root filesystem (e.g. \"{example}backup/hosts\")")));
            }
            DatasetName::new(rest).map_err(|e| bad(format!("root filesystem: {e}")))
        };
        if let Some(rest) = s.strip_prefix("local:") {
            return Ok(Target::Local {
                root_fs: root(rest, "local:")?,
            });
        }
        let Some(rest) = s.strip_prefix("ssh://") else {
            return Err(match s.split_once("://") {
                Some((scheme, _)) => bad(format!("unknown scheme {scheme:?} (expected {TARGET_SYNTAX})")),
                None => bad(format!("expected {TARGET_SYNTAX}")),
            });
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (user, host_port) = match authority.rsplit_once('@') {
            Some((user, host_port)) => (Some(user), host_port),
            None => (None, authority),
        };
        let user = match user {
            None => None,
            Some("") => return Err(bad("empty user name before '@'".to_string())),
            Some(user) if user.contains(':') => {
                return Err(bad(
                    "passwords in the URL are not supported (use [jobs.ssh] identity_files)".to_string(),
                ))
            }
            Some(user) => {
                if let Some(c) = user.chars().find(|c| c.is_control() || c.is_whitespace() || *c == '@') {
                    return Err(bad(format!(
                        "character '{}' is not allowed in the user name",
                        c.escape_debug()
                    )));
                }
                Some(user.to_string())
            }
        };
        let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
            let Some((address, after)) = bracketed.split_once(']') else {
                return Err(bad("missing ']' after the IPv6 address".to_string()));
            };
            if address.parse::<Ipv6Addr>().is_err() {
                return Err(bad(format!("{address:?} is not an IPv6 address")));
            }
            let port = match after {
                "" => None,
                _ => match after.strip_prefix(':') {
                    Some(port) => Some(port),
                    None => return Err(bad(format!("unexpected {after:?} after ']'"))),
                },
            };
            (address.to_string(), port)
        } else {
            if host_port.matches(':').count() > 1 {
                return Err(bad(
                    "write IPv6 addresses in brackets, e.g. ssh://[::1]/backup".to_string()
                ));
            }
            let (host, port) = match host_port.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (host_port, None),
            };
            if host.is_empty() {
                return Err(bad("missing host name".to_string()));
            }
            if let Some(c) = host
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')))
            {
                return Err(bad(format!(
                    "character '{}' is not allowed in the host name (allowed: letters, digits, - . _)",
                    c.escape_debug()
                )));
            }
            if host.starts_with(['-', '.']) {
                return Err(bad(format!("host name {host:?} must not begin with '-' or '.'")));
            }
            (host.to_string(), port)
        };
        let port = match port {
            None => DEFAULT_SSH_PORT,
            Some(port) => match port.parse::<u16>() {
                Ok(n) if n != 0 && port.bytes().all(|b| b.is_ascii_digit()) => n,
                _ => {
                    return Err(bad(format!(
                        "invalid port {port:?} (expected a number from 1 to 65535)"
                    )))
                }
            },
        };
        Ok(Target::Ssh {
            user,
            host,
            port,
            root_fs: root(path, "ssh://host/")?,
        })
    }

    /// The filesystem below which received datasets go.
    pub fn root_fs(&self) -> &DatasetName {
        match self {
            Target::Local { root_fs } | Target::Ssh { root_fs, .. } => root_fs,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Local { root_fs } => write!(f, "local:{root_fs}"),
            Target::Ssh {
                user,
                host,
                port,
                root_fs,
            } => {
                f.write_str("ssh://")?;
                if let Some(user) = user {
                    write!(f, "{user}@")?;
                }
                if host.contains(':') {
                    write!(f, "[{host}]")?;
                } else {
                    f.write_str(host)?;
                }
                if *port != DEFAULT_SSH_PORT {
                    write!(f, ":{port}")?;
                }
                write!(f, "/{root_fs}")
            }
        }
    }
}

impl FromStr for Target {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Target::parse(s)
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Target::parse(&s).map_err(de::Error::custom)
    }
}

/// `zfs send` options of a job (`[jobs.send]`: `encrypted` plus the [`SendFlags`] fields in one table).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(from = "RawSend")]
pub struct SendOptions {
    /// Send only encrypted datasets, raw (`-w`): a dataset that is not encrypted is refused, plaintext of an
    /// encrypted dataset is never sent. Implies `flags.raw`.
    pub encrypted: bool,
    /// The `zfs send` flags (`raw` is always set when `encrypted` is).
    pub flags: SendFlags,
}

/// `[jobs.send]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawSend {
    encrypted: bool,
    raw: bool,
    compressed: bool,
    large_blocks: bool,
    embedded_data: bool,
    properties: bool,
    backup_properties: bool,
}

impl From<RawSend> for SendOptions {
    fn from(raw: RawSend) -> Self {
        SendOptions {
            encrypted: raw.encrypted,
            flags: SendFlags {
                raw: raw.raw || raw.encrypted,
                compressed: raw.compressed,
                large_blocks: raw.large_blocks,
                embedded_data: raw.embedded_data,
                properties: raw.properties,
                backup_properties: raw.backup_properties,
            },
        }
    }
}

/// Properties of received datasets (`[jobs.recv]`), applied by the receiver (`zfs recv -o` / `-x`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawRecv")]
pub struct RecvConfig {
    /// Properties set on received datasets (`-o name=value`), e.g. `canmount = "off"`.
    pub set: BTreeMap<String, String>,
    /// Properties that received datasets inherit instead of taking the sent value (`-x name`), e.g.
    /// `mountpoint`.
    pub inherit: Vec<String>,
}

/// `[jobs.recv]` as written.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
struct RawRecv {
    #[serde(deserialize_with = "recv_set")]
    set: BTreeMap<String, String>,
    #[serde(deserialize_with = "recv_inherit")]
    inherit: Vec<String>,
}

impl TryFrom<RawRecv> for RecvConfig {
    type Error = String;

    fn try_from(raw: RawRecv) -> Result<Self, String> {
        if let Some(name) = raw.inherit.iter().find(|name| raw.set.contains_key(*name)) {
            return Err(format!(
                "property {name:?} is both in set and in inherit; keep it in one of them"
            ));
        }
        Ok(RecvConfig {
            set: raw.set,
            inherit: raw.inherit,
        })
    }
}

/// Accepts a native property name (lowercase letters, digits, `_`) or a valid user property name.
fn check_property_name(name: &str) -> Result<(), String> {
    if name == PLACEHOLDER_PROPERTY {
        return Err(format!(
            "property {name:?} is managed by zreplrs and cannot be configured"
        ));
    }
    if !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Ok(());
    }
    if name.contains(':') {
        return check_user_property(name).map_err(|e| e.to_string());
    }
    Err(format!(
        "invalid property name {name:?}: native properties consist of lowercase letters, digits and '_' \
         (e.g. \"canmount\"), user properties contain ':' (e.g. \"com.example:backup\")"
    ))
}

fn recv_set<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let set = BTreeMap::<String, String>::deserialize(d)?;
    for (name, value) in &set {
        check_property_name(name).map_err(de::Error::custom)?;
        if value.contains('\0') {
            return Err(de::Error::custom(format!(
                "value of property {name:?} contains a NUL character"
            )));
        }
    }
    Ok(set)
}

fn recv_inherit<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let inherit = Vec::<String>::deserialize(d)?;
    let mut seen = BTreeSet::new();
    for name in &inherit {
        check_property_name(name).map_err(de::Error::custom)?;
        if !seen.insert(name) {
            return Err(de::Error::custom(format!("property {name:?} is listed twice")));
        }
    }
    Ok(inherit)
}

/// What a job does for a filesystem that does not exist on the receiver yet.
#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum InitialReplication {
    /// Send a full stream of the most recent snapshot only (`"most_recent"`, the default).
    #[default]
    MostRecent,
    /// Send the oldest snapshot in full, then every later one incrementally (`"all"`).
    All,
    /// Do not replicate it; report a per-filesystem error (`"fail"`).
    Fail,
}

/// Which snapshots a job protects from being destroyed (by pruning or by hand) so that replication can
/// continue.
#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq, Default)]
#[serde(rename_all = "snake_case")]
pub enum Protection {
    /// Hold a step's snapshots while it runs (so an interrupted step can resume) and keep a replication
    /// cursor bookmark and a last-received hold afterwards (`"guarantee_resumability"`, the default).
    #[default]
    GuaranteeResumability,
    /// No step holds; a tentative cursor bookmark keeps incremental replication possible, but an
    /// interrupted step may have to start over (`"guarantee_incremental"`).
    GuaranteeIncremental,
    /// No step holds and no tentative cursor: if the snapshots in between are destroyed, the next run may
    /// need a full send (`"guarantee_nothing"`).
    GuaranteeNothing,
}

/// SSH settings of a job (`[jobs.ssh]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SshOptions {
    /// Private keys to try, in order (absolute paths); none: only the SSH agent (`$SSH_AUTH_SOCK`).
    #[serde(default, deserialize_with = "absolute_paths")]
    pub identity_files: Vec<Utf8PathBuf>,
    /// The known-hosts file used to verify the host key (absolute). Unset: `~/.ssh/known_hosts`.
    #[serde(default, deserialize_with = "absolute_path_opt")]
    pub known_hosts: Option<Utf8PathBuf>,
    /// Trust and record the key of a host that is not in the known-hosts file yet (trust on first use);
    /// a changed key is always refused. Default false.
    #[serde(default)]
    pub accept_new_host_keys: bool,
    /// The command run on the target host (argv; a forced command in `authorized_keys` replaces it).
    /// Default `["zreplrs", "recv-agent"]`.
    #[serde(default = "default_agent_command", deserialize_with = "agent_command")]
    pub agent_command: Vec<String>,
}

impl Default for SshOptions {
    fn default() -> Self {
        SshOptions {
            identity_files: Vec::new(),
            known_hosts: None,
            accept_new_host_keys: false,
            agent_command: default_agent_command(),
        }
    }
}

fn default_agent_command() -> Vec<String> {
    DEFAULT_AGENT_COMMAND.iter().map(|s| s.to_string()).collect()
}

fn agent_command<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let argv = Vec::<String>::deserialize(d)?;
    if argv.first().is_none_or(|program| program.is_empty()) {
        return Err(de::Error::custom(
            "must name a program, e.g. [\"zreplrs\", \"recv-agent\"]",
        ));
    }
    if argv.iter().any(|arg| arg.contains('\0')) {
        return Err(de::Error::custom("arguments must not contain NUL characters"));
    }
    Ok(argv)
}

/// Which filesystems a job replicates: keys "pool/a" (exactly that dataset) or "pool/a<" (the dataset and
/// everything below), values true (include) / false (exclude). Most specific rule wins: an exact rule beats
/// a subtree rule for the same dataset; among subtree rules the deepest one wins.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    rules: Vec<FilterRule>,
}

/// One parsed filter rule.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FilterRule {
    /// The key as written.
    key: String,
    dataset: DatasetName,
    /// `<` rule: the dataset and everything below it.
    subtree: bool,
    include: bool,
}

/// The rule that decided whether a dataset is replicated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterMatch {
    /// The rule's key as written, e.g. `"tank/data<"`.
    pub rule: String,
    /// Whether the rule includes (true) or excludes (false) the dataset.
    pub include: bool,
}

impl Filter {
    /// Parses the rules; invalid dataset names are errors and at least one rule must include.
    pub fn parse(rules: &BTreeMap<String, bool>) -> Result<Filter, String> {
        let mut parsed = Vec::with_capacity(rules.len());
        for (key, &include) in rules {
            let (name, subtree) = match key.strip_suffix('<') {
                Some(name) => (name, true),
                None => (key.as_str(), false),
            };
            let dataset = DatasetName::new(name).map_err(|e| {
                format!("rule {key:?}: {e} (rules are \"pool/fs\" for one dataset or \"pool/fs<\" for a subtree)")
            })?;
            parsed.push(FilterRule {
                key: key.clone(),
                dataset,
                subtree,
                include,
            });
        }
        if !parsed.iter().any(|rule| rule.include) {
            return Err(
                "no rule includes anything: add at least one rule set to true, e.g. \"pool/data<\" = true".to_string(),
            );
        }
        Ok(Filter { rules: parsed })
    }

    /// The most specific rule that applies to `fs`; `None` when no rule does (then `fs` is not included).
    pub fn matches(&self, fs: &DatasetName) -> Option<FilterMatch> {
        let mut best: Option<&FilterRule> = None;
        for rule in &self.rules {
            if rule.dataset == *fs && !rule.subtree {
                best = Some(rule);
                break;
            }
            let applies = rule.subtree && (rule.dataset == *fs || fs.is_strictly_below(&rule.dataset));
            if applies && best.is_none_or(|b| rule.dataset.depth() > b.dataset.depth()) {
                best = Some(rule);
            }
        }
        best.map(|rule| FilterMatch {
            rule: rule.key.clone(),
            include: rule.include,
        })
    }

    /// Whether `fs` is replicated.
    pub fn includes(&self, fs: &DatasetName) -> bool {
        self.matches(fs).is_some_and(|m| m.include)
    }

    /// The datasets to list recursively so that every included dataset is covered: the included rules'
    /// datasets with those below another root removed (sorted).
    pub fn roots(&self) -> Vec<DatasetName> {
        let included: BTreeSet<&DatasetName> = self
            .rules
            .iter()
            .filter(|rule| rule.include)
            .map(|rule| &rule.dataset)
            .collect();
        included
            .iter()
            .filter(|ds| !included.iter().any(|other| ds.is_strictly_below(other)))
            .map(|ds| (*ds).clone())
            .collect()
    }
}

impl<'de> Deserialize<'de> for Filter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let rules = BTreeMap::<String, bool>::deserialize(d)?;
        Filter::parse(&rules).map_err(de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATH: &str = "/etc/zreplrs/zreplrs.toml";

    /// A minimal valid job table (without the leading `[[jobs]]`), followed by `extra` job keys.
    fn job_toml(name: &str, extra: &str) -> String {
        format!(
            "[[jobs]]\nname = \"{name}\"\ntarget = \"local:backup/hosts\"\n{extra}\n\
             [jobs.filesystems]\n\"tank/data<\" = true\n"
        )
    }

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Utf8Path::new(PATH), text)
    }

    fn parse_err(text: &str) -> String {
        match parse(text) {
            Ok(config) => panic!("expected an error, got {config:?}"),
            Err(e) => e.to_string(),
        }
    }

    fn one_job(extra: &str) -> Job {
        parse(&job_toml("j", extra)).unwrap().jobs.remove(0)
    }

    fn ds(s: &str) -> DatasetName {
        DatasetName::new(s).unwrap()
    }

    fn filter(rules: &[(&str, bool)]) -> Filter {
        let map = rules.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        Filter::parse(&map).unwrap()
    }

    #[test]
    fn defaults() {
        let config = parse(&job_toml("j", "")).unwrap();
        assert_eq!(config.path, PATH);
        assert_eq!(config.global, Global::default());
        assert_eq!(config.global.textfile_dir, None);
        assert_eq!(config.global.lock_dir, None);
        let job = &config.jobs[0];
        assert_eq!(job.name.as_str(), "j");
        assert_eq!(
            job.target,
            Target::Local {
                root_fs: ds("backup/hosts")
            }
        );
        assert_eq!(job.client_identity, None);
        assert_eq!(job.send, SendOptions::default());
        assert!(!job.send.encrypted);
        assert_eq!(job.send.flags, SendFlags::default());
        assert_eq!(job.recv, RecvConfig::default());
        assert_eq!(job.initial_replication, InitialReplication::MostRecent);
        assert_eq!(job.protection, Protection::GuaranteeResumability);
        assert_eq!(job.retries, 3);
        assert_eq!(job.retry_timeout, Duration::from_secs(600));
        assert_eq!(job.stall_timeout, Duration::from_secs(60));
        assert_eq!(job.connect_timeout, Duration::from_secs(30));
        assert_eq!(job.ssh, SshOptions::default());
        assert!(job.ssh.identity_files.is_empty());
        assert_eq!(job.ssh.known_hosts, None);
        assert!(!job.ssh.accept_new_host_keys);
        assert_eq!(job.ssh.agent_command, ["zreplrs", "recv-agent"]);
        assert_eq!(job.textfile_dir, None);
        assert_eq!(job.textfile_dir(&config.global), None);
    }

    #[test]
    fn example_config_parses() {
        let config = parse(include_str!("../examples/zreplrs.toml")).unwrap();
        assert_eq!(config.jobs.len(), 2);
        let ssh = config.job("web1_to_backup").unwrap();
        assert_eq!(
            ssh.target,
            Target::Ssh {
                user: Some("zrepl".into()),
                host: "backup.example.com".into(),
                port: 22,
                root_fs: ds("backup/hosts"),
            }
        );
        assert_eq!(ssh.client_identity.as_deref(), Some("web1"));
        assert!(ssh.send.encrypted && ssh.send.flags.raw && ssh.send.flags.compressed);
        assert_eq!(ssh.recv.set.get("canmount").map(String::as_str), Some("off"));
        assert_eq!(ssh.recv.inherit, ["mountpoint"]);
        assert_eq!(ssh.ssh.identity_files, ["/etc/zreplrs/id_ed25519"]);
        assert!(ssh.filesystems.includes(&ds("tank/data/x")));
        assert!(!ssh.filesystems.includes(&ds("tank/data/tmp")));
        assert!(ssh.filesystems.includes(&ds("tank/data/cache/keep")));
        assert_eq!(
            ssh.textfile_dir(&config.global),
            Some(Utf8Path::new("/var/lib/prometheus/node-exporter"))
        );
        let local = config.job("tank_to_usb").unwrap();
        assert_eq!(local.target.to_string(), "local:usb/tank");
        assert_eq!(local.filesystems.roots(), [ds("tank")]);
        assert!(!local.filesystems.includes(&ds("tank/swap")));
    }

    #[test]
    fn full_job() {
        let text = r#"
[global]
textfile_dir = "/var/lib/node"
lock_dir = "/run/zr"

[[jobs]]
name = "web1_to_backup"
target = "ssh://zrepl@backup.example.com:2222/backup/hosts"
client_identity = "web1"
initial_replication = "all"
protection = "guarantee_incremental"
retries = 0
retry_timeout = "1h30m"
stall_timeout = "2m"
connect_timeout = "5s"
textfile_dir = "/srv/metrics"
[jobs.filesystems]
"tank/data<" = true
[jobs.send]
raw = true
large_blocks = true
embedded_data = true
properties = true
backup_properties = true
[jobs.recv]
set = { canmount = "off", "com.example:note" = "x y" }
inherit = ["mountpoint", "com.example:other"]
[jobs.ssh]
identity_files = ["/etc/zreplrs/a", "/etc/zreplrs/b"]
known_hosts = "/etc/zreplrs/known_hosts"
accept_new_host_keys = true
agent_command = ["/usr/local/bin/zreplrs", "recv-agent", "--verbose"]
"#;
        let config = parse(text).unwrap();
        assert_eq!(config.global.lock_dir.as_deref(), Some(Utf8Path::new("/run/zr")));
        let job = &config.jobs[0];
        assert_eq!(job.initial_replication, InitialReplication::All);
        assert_eq!(job.protection, Protection::GuaranteeIncremental);
        assert_eq!(job.retries, 0);
        assert_eq!(job.retry_timeout, Duration::from_secs(5400));
        assert_eq!(job.stall_timeout, Duration::from_secs(120));
        assert_eq!(job.connect_timeout, Duration::from_secs(5));
        assert_eq!(job.textfile_dir(&config.global), Some(Utf8Path::new("/srv/metrics")));
        assert_eq!(
            job.send,
            SendOptions {
                encrypted: false,
                flags: SendFlags {
                    raw: true,
                    compressed: false,
                    large_blocks: true,
                    embedded_data: true,
                    properties: true,
                    backup_properties: true,
                },
            }
        );
        assert_eq!(job.recv.set.len(), 2);
        assert_eq!(job.recv.set["com.example:note"], "x y");
        assert_eq!(job.recv.inherit, ["mountpoint", "com.example:other"]);
        assert_eq!(job.ssh.identity_files.len(), 2);
        assert_eq!(
            job.ssh.known_hosts.as_deref(),
            Some(Utf8Path::new("/etc/zreplrs/known_hosts"))
        );
        assert!(job.ssh.accept_new_host_keys);
        assert_eq!(job.ssh.agent_command[0], "/usr/local/bin/zreplrs");
        assert_eq!(
            job.target,
            Target::Ssh {
                user: Some("zrepl".into()),
                host: "backup.example.com".into(),
                port: 2222,
                root_fs: ds("backup/hosts"),
            }
        );
    }

    #[test]
    fn global_textfile_dir_is_inherited() {
        let config = parse(&format!("[global]\ntextfile_dir = \"/g\"\n{}", job_toml("j", ""))).unwrap();
        assert_eq!(config.jobs[0].textfile_dir(&config.global), Some(Utf8Path::new("/g")));
    }

    #[test]
    fn enum_values() {
        for (text, want) in [
            ("most_recent", InitialReplication::MostRecent),
            ("all", InitialReplication::All),
            ("fail", InitialReplication::Fail),
        ] {
            let job = one_job(&format!("initial_replication = \"{text}\""));
            assert_eq!(job.initial_replication, want);
        }
        for (text, want) in [
            ("guarantee_resumability", Protection::GuaranteeResumability),
            ("guarantee_incremental", Protection::GuaranteeIncremental),
            ("guarantee_nothing", Protection::GuaranteeNothing),
        ] {
            let job = one_job(&format!("protection = \"{text}\""));
            assert_eq!(job.protection, want);
        }
        let e = parse_err(&job_toml("j", "protection = \"guarantee_everything\""));
        assert!(
            e.contains("jobs[0].protection: unknown variant `guarantee_everything`"),
            "{e}"
        );
        let e = parse_err(&job_toml("j", "initial_replication = \"MostRecent\""));
        assert!(e.contains("jobs[0].initial_replication: unknown variant"), "{e}");
    }

    #[test]
    fn unknown_key_top_level() {
        let e = parse_err(&format!("colour = \"blue\"\n{}", job_toml("j", "")));
        assert!(
            e.starts_with("/etc/zreplrs/zreplrs.toml: colour: unknown field `colour`"),
            "{e}"
        );
        assert!(e.ends_with("(line 1, column 1)"), "{e}");
        let e = parse_err(&format!("[global]\ntextfile = \"/x\"\n{}", job_toml("j", "")));
        assert!(e.contains(": global.textfile: unknown field `textfile`"), "{e}");
        assert!(e.contains("(line 2, column 1)"), "{e}");
    }

    #[test]
    fn unknown_key_in_job() {
        let e = parse_err(&job_toml("j", "retry = 3"));
        assert!(e.contains("jobs[0].retry: unknown field `retry`"), "{e}");
        assert!(e.contains("(line 4, column 1)"), "{e}");
        let e = parse_err(&job_toml("j", "[jobs.ssh]\nidentity_file = \"/x\""));
        assert!(e.contains("jobs[0].ssh.identity_file: unknown field"), "{e}");
        let e = parse_err(&job_toml("j", "[jobs.recv]\nsets = {}"));
        assert!(e.contains("jobs[0].recv.sets: unknown field"), "{e}");
    }

    #[test]
    fn unknown_key_in_send() {
        let text = format!(
            "{}{}",
            job_toml("a", ""),
            job_toml("b", "[jobs.send]\ncompresed = true")
        );
        let e = parse_err(&text);
        assert!(
            e.starts_with(
                "/etc/zreplrs/zreplrs.toml: jobs[1].send.compresed: unknown field `compresed`, \
                 expected one of `encrypted`, `raw`, `compressed`"
            ),
            "{e}"
        );
        assert!(e.contains("(line 11, column 1)"), "{e}");
    }

    #[test]
    fn syntax_error_has_location() {
        let e = parse_err("[[jobs]\nname = 1\n");
        assert!(e.starts_with("/etc/zreplrs/zreplrs.toml: "), "{e}");
        assert!(e.contains("(line 1, column"), "{e}");
        assert!(!e.contains('\n'), "{e}");
        let e = parse_err(&job_toml("j", "target = \"local:x\""));
        assert!(e.contains("duplicate key `target`"), "{e}");
    }

    #[test]
    fn missing_fields_and_no_jobs() {
        let e = parse_err("[[jobs]]\nname = \"a\"\ntarget = \"local:b/c\"\n");
        assert!(e.contains("jobs[0]: missing field `filesystems`"), "{e}");
        let e = parse_err("[[jobs]]\nname = \"a\"\n[jobs.filesystems]\n\"p<\" = true\n");
        assert!(e.contains("jobs[0]: missing field `target`"), "{e}");
        let e = parse_err("[global]\n");
        assert_eq!(
            e,
            "/etc/zreplrs/zreplrs.toml: jobs: no jobs configured: add at least one [[jobs]] table"
        );
        let e = parse_err("");
        assert!(e.contains("no jobs configured"), "{e}");
    }

    #[test]
    fn bad_durations() {
        for (key, value, want) in [
            ("retry_timeout", "\"10\"", "invalid duration \"10\""),
            ("retry_timeout", "\"10x\"", "invalid duration \"10x\""),
            ("stall_timeout", "\"\"", "invalid duration \"\""),
            ("connect_timeout", "\"soon\"", "invalid duration \"soon\""),
            ("connect_timeout", "30", "invalid type: integer `30`"),
            ("stall_timeout", "\"0s\"", "must be greater than zero"),
            ("connect_timeout", "\"0s\"", "must be greater than zero"),
        ] {
            let e = parse_err(&job_toml("j", &format!("{key} = {value}")));
            assert!(e.contains(&format!("jobs[0].{key}: {want}")), "{e}");
            assert!(e.contains("(line 4, column"), "{e}");
        }
        assert_eq!(one_job("retry_timeout = \"0s\"").retry_timeout, Duration::ZERO);
        assert_eq!(
            one_job("retry_timeout = \"1h 30m\"").retry_timeout,
            Duration::from_secs(5400)
        );
        let e = parse_err(&job_toml("j", "retries = -1"));
        assert!(e.contains("jobs[0].retries: invalid value"), "{e}");
    }

    #[test]
    fn target_parsing() {
        assert_eq!(
            Target::parse("local:backup/hosts"),
            Ok(Target::Local {
                root_fs: ds("backup/hosts")
            })
        );
        assert_eq!(
            Target::parse("ssh://backup.example.com/backup"),
            Ok(Target::Ssh {
                user: None,
                host: "backup.example.com".into(),
                port: 22,
                root_fs: ds("backup"),
            })
        );
        assert_eq!(
            Target::parse("ssh://user@host:2222/backup/hosts"),
            Ok(Target::Ssh {
                user: Some("user".into()),
                host: "host".into(),
                port: 2222,
                root_fs: ds("backup/hosts"),
            })
        );
        assert_eq!(
            Target::parse("ssh://root@[::1]:2200/pool/x"),
            Ok(Target::Ssh {
                user: Some("root".into()),
                host: "::1".into(),
                port: 2200,
                root_fs: ds("pool/x"),
            })
        );
        assert_eq!(
            Target::parse("ssh://[2001:db8::1]/pool").map(|t| t.root_fs().clone()),
            Ok(ds("pool"))
        );
        assert_eq!(
            Target::parse("ssh://10.0.0.1/pool/a b"),
            Ok(Target::Ssh {
                user: None,
                host: "10.0.0.1".into(),
                port: 22,
                root_fs: ds("pool/a b"),
            })
        );
        assert_eq!(Target::parse("local:x/y").unwrap().root_fs(), &ds("x/y"));
        assert_eq!("local:x".parse::<Target>(), Target::parse("local:x"));
    }

    #[test]
    fn target_display_is_canonical() {
        for (input, canonical) in [
            ("local:backup/hosts", "local:backup/hosts"),
            ("ssh://h/p", "ssh://h/p"),
            ("ssh://h:22/p", "ssh://h/p"),
            ("ssh://u@h:2222/p/q", "ssh://u@h:2222/p/q"),
            ("ssh://u@[::1]:2222/p", "ssh://u@[::1]:2222/p"),
            ("ssh://[fe80::1]/p", "ssh://[fe80::1]/p"),
        ] {
            let target = Target::parse(input).unwrap();
            assert_eq!(target.to_string(), canonical);
            assert_eq!(Target::parse(canonical).unwrap(), target);
        }
    }

    #[test]
    fn bad_targets() {
        for (input, want) in [
            ("", "expected \"local:POOL/FS\""),
            ("backup/hosts", "expected \"local:POOL/FS\""),
            ("local:", "missing root filesystem"),
            ("local:/backup", "must not begin with '/'"),
            ("local:backup/", "must not end with '/'"),
            ("ssh://host", "missing root filesystem"),
            ("ssh://host/", "missing root filesystem"),
            ("ssh://host:22", "missing root filesystem"),
            ("ssh://host/backup@snap", "root filesystem: invalid dataset name"),
            ("ssh:///backup", "missing host name"),
            ("ssh://user@/backup", "missing host name"),
            ("ssh://@host/backup", "empty user name"),
            ("ssh://user:pw@host/backup", "passwords in the URL are not supported"),
            ("ssh://host:0/backup", "invalid port \"0\""),
            ("ssh://host:65536/backup", "invalid port \"65536\""),
            ("ssh://host:abc/backup", "invalid port \"abc\""),
            ("ssh://host:+22/backup", "invalid port \"+22\""),
            ("ssh://host:/backup", "invalid port \"\""),
            ("ssh://::1/backup", "write IPv6 addresses in brackets"),
            ("ssh://[::1/backup", "missing ']'"),
            ("ssh://[nope]/backup", "is not an IPv6 address"),
            ("ssh://[::1]x/backup", "unexpected \"x\" after ']'"),
            ("ssh://ho st/backup", "not allowed in the host name"),
            ("ssh://-oProxy/backup", "must not begin with '-'"),
            ("http://host/backup", "unknown scheme \"http\""),
            ("sftp://host/backup", "unknown scheme \"sftp\""),
        ] {
            let e = Target::parse(input).unwrap_err();
            assert!(e.contains(want), "{input:?}: {e}");
            assert!(e.starts_with(&format!("invalid target {input:?}: ")), "{e}");
        }
        let e = parse_err(
            "[[jobs]]\nname = \"j\"\ntarget = \"ssh://host:99999/b\"\n\
             [jobs.filesystems]\n\"p<\" = true\n",
        );
        assert!(
            e.contains("jobs[0].target: invalid target \"ssh://host:99999/b\": invalid port"),
            "{e}"
        );
        assert!(e.contains("(line 3, column 10)"), "{e}");
    }

    #[test]
    fn bad_job_names() {
        for (name, want) in [
            ("a@b", "character '@' is not allowed"),
            ("", "must not be empty"),
            ("a/b", "character '/' is not allowed"),
            ("..", "must not be \"..\""),
        ] {
            let e = parse_err(&job_toml(name, ""));
            assert!(e.contains("jobs[0].name: invalid job id"), "{e}");
            assert!(e.contains(want), "{name:?}: {e}");
            assert!(e.contains("(line 2, column 8)"), "{e}");
        }
        let e = parse_err(&job_toml(&"x".repeat(300), ""));
        assert!(e.contains("jobs[0].name: invalid job id"), "{e}");
    }

    #[test]
    fn duplicate_job_names() {
        let text = format!("{}{}{}", job_toml("a", ""), job_toml("b", ""), job_toml("a", ""));
        assert_eq!(
            parse_err(&text),
            "/etc/zreplrs/zreplrs.toml: jobs[2].name: duplicate job name \"a\" (already used by jobs[0])"
        );
    }

    #[test]
    fn client_identity() {
        assert_eq!(
            one_job("client_identity = \"web1.example\"").client_identity.as_deref(),
            Some("web1.example")
        );
        for (value, want) in [
            ("web/1", "character '/' is not allowed"),
            ("", "must not be empty"),
            ("a@b", "character '@' is not allowed"),
            ("..", "must not be \"..\""),
        ] {
            let e = parse_err(&job_toml("j", &format!("client_identity = \"{value}\"")));
            assert!(e.contains("jobs[0].client_identity: invalid client identity"), "{e}");
            assert!(e.contains(want), "{value:?}: {e}");
        }
    }

    #[test]
    fn filter_exact_beats_subtree() {
        let f = filter(&[
            ("pool/a<", true),
            ("pool/a/b", false),
            ("pool/c<", false),
            ("pool/c", true),
        ]);
        assert_eq!(
            f.matches(&ds("pool/a/b")),
            Some(FilterMatch {
                rule: "pool/a/b".into(),
                include: false
            })
        );
        assert!(!f.includes(&ds("pool/a/b")));
        // The exact rule covers only that dataset, not its children.
        assert!(f.includes(&ds("pool/a/b/c")));
        assert_eq!(f.matches(&ds("pool/a/b/c")).unwrap().rule, "pool/a<");
        assert!(f.includes(&ds("pool/c")));
        assert!(!f.includes(&ds("pool/c/d")));
        // A subtree rule matches its own dataset.
        assert_eq!(
            f.matches(&ds("pool/a")),
            Some(FilterMatch {
                rule: "pool/a<".into(),
                include: true
            })
        );
    }

    #[test]
    fn filter_deeper_subtree_wins() {
        let f = filter(&[("pool<", true), ("pool/a<", false), ("pool/a/b<", true)]);
        assert!(f.includes(&ds("pool")));
        assert!(f.includes(&ds("pool/x")));
        assert!(!f.includes(&ds("pool/a")));
        assert!(!f.includes(&ds("pool/a/x")));
        assert!(f.includes(&ds("pool/a/b")));
        assert!(f.includes(&ds("pool/a/b/c/d")));
        assert_eq!(f.matches(&ds("pool/a/b/c")).unwrap().rule, "pool/a/b<");
        assert_eq!(f.matches(&ds("pool/a/x")).unwrap().rule, "pool/a<");
    }

    #[test]
    fn filter_excluded_subtree_inside_included_subtree() {
        let f = filter(&[("tank/data<", true), ("tank/data/tmp<", false)]);
        assert!(f.includes(&ds("tank/data")));
        assert!(f.includes(&ds("tank/data/db")));
        assert!(!f.includes(&ds("tank/data/tmp")));
        assert_eq!(
            f.matches(&ds("tank/data/tmp/x")),
            Some(FilterMatch {
                rule: "tank/data/tmp<".into(),
                include: false
            })
        );
        // A sibling sharing the prefix is not inside the excluded subtree.
        assert!(f.includes(&ds("tank/data/tmpfiles")));
    }

    #[test]
    fn filter_no_matching_rule() {
        let f = filter(&[("pool/a<", true), ("pool/b", true)]);
        assert_eq!(f.matches(&ds("pool")), None);
        assert!(!f.includes(&ds("pool")));
        assert_eq!(f.matches(&ds("other/a")), None);
        assert_eq!(f.matches(&ds("pool/b/c")), None);
        assert!(f.includes(&ds("pool/b")));
    }

    #[test]
    fn filter_subtree_respects_component_boundaries() {
        let f = filter(&[("pool/a<", true)]);
        assert_eq!(f.matches(&ds("pool/ab")), None);
        assert_eq!(f.matches(&ds("pool/a b")), None);
        assert!(!f.includes(&ds("pool/ab")));
        assert!(f.includes(&ds("pool/a/b")));
        let f = filter(&[("pool<", true)]);
        assert!(!f.includes(&ds("pool2")));
        assert!(!f.includes(&ds("pool2/x")));
    }

    #[test]
    fn filter_roots() {
        let f = filter(&[
            ("tank/data<", true),
            ("tank/data/db<", true),
            ("tank/data/tmp", false),
            ("tank/other", true),
            ("tank/other/x<", true),
            ("backup<", false),
            ("zroot/a", true),
            ("zroot/a<", true),
            ("zroot/ab", true),
        ]);
        assert_eq!(
            f.roots(),
            [ds("tank/data"), ds("tank/other"), ds("zroot/a"), ds("zroot/ab")]
        );
        // An included dataset below an excluded subtree is a root of its own.
        let f = filter(&[("tank<", false), ("tank/keep<", true), ("tank/keep/deep", true)]);
        assert_eq!(f.roots(), [ds("tank/keep")]);
    }

    #[test]
    fn filter_parse_errors() {
        let parse = |rules: &[(&str, bool)]| {
            let map = rules.iter().map(|(k, v)| (k.to_string(), *v)).collect();
            Filter::parse(&map).unwrap_err()
        };
        let e = parse(&[("pool/a", false)]);
        assert!(e.contains("no rule includes anything"), "{e}");
        let e = parse(&[]);
        assert!(e.contains("no rule includes anything"), "{e}");
        let e = parse(&[("pool/a<", true), ("/pool/b", false)]);
        assert!(e.starts_with("rule \"/pool/b\": invalid dataset name"), "{e}");
        let e = parse(&[("pool/a<<", true)]);
        assert!(e.contains("rule \"pool/a<<\""), "{e}");
        let e = parse(&[("<", true)]);
        assert!(e.contains("rule \"<\""), "{e}");
        let e = parse(&[("pool/a@snap", true)]);
        assert!(e.contains("must not contain '@'"), "{e}");

        let e = parse_err("[[jobs]]\nname = \"j\"\ntarget = \"local:b\"\n[jobs.filesystems]\n\"tank//x\" = true\n");
        assert!(e.contains("jobs[0].filesystems: rule \"tank//x\""), "{e}");
        let e = parse_err("[[jobs]]\nname = \"j\"\ntarget = \"local:b\"\n[jobs.filesystems]\n\"tank\" = \"yes\"\n");
        assert!(e.contains("jobs[0].filesystems.tank: invalid type: string"), "{e}");
    }

    #[test]
    fn encrypted_forces_raw() {
        let job = one_job("[jobs.send]\nencrypted = true");
        assert!(job.send.encrypted);
        assert!(job.send.flags.raw);
        let job = one_job("[jobs.send]\nencrypted = true\nraw = false");
        assert!(job.send.flags.raw);
        // raw without encrypted is allowed.
        let job = one_job("[jobs.send]\nraw = true");
        assert!(!job.send.encrypted);
        assert!(job.send.flags.raw);
        let job = one_job("[jobs.send]\ncompressed = true");
        assert!(!job.send.flags.raw && job.send.flags.compressed);
    }

    #[test]
    fn recv_properties() {
        let job = one_job(
            "[jobs.recv]\nset = { canmount = \"off\", \"org.x:y\" = \"1\", compression = \"zstd\" }\n\
             inherit = [\"mountpoint\", \"keylocation\"]",
        );
        assert_eq!(job.recv.set.len(), 3);
        assert_eq!(job.recv.inherit, ["mountpoint", "keylocation"]);

        let e = parse_err(&job_toml(
            "j",
            "[jobs.recv]\nset = { canmount = \"off\", mountpoint = \"/x\" }\ninherit = [\"mountpoint\"]",
        ));
        assert!(
            e.contains("jobs[0].recv: property \"mountpoint\" is both in set and in inherit"),
            "{e}"
        );
        for (toml, key, want) in [
            (
                "set = { CanMount = \"off\" }",
                "set",
                "invalid property name \"CanMount\"",
            ),
            ("set = { \"a-b\" = \"x\" }", "set", "invalid property name \"a-b\""),
            ("set = { \"\" = \"x\" }", "set", "invalid property name \"\""),
            ("set = { \"Org:x\" = \"x\" }", "set", "character 'O' is not allowed"),
            ("set = { \"zrepl:placeholder\" = \"on\" }", "set", "managed by zreplrs"),
            ("inherit = [\"mount point\"]", "inherit", "invalid property name"),
            ("inherit = [\"zrepl:placeholder\"]", "inherit", "managed by zreplrs"),
            ("inherit = [\"mountpoint\", \"mountpoint\"]", "inherit", "listed twice"),
            ("set = { canmount = \"a\\u0000b\" }", "set", "NUL"),
        ] {
            let e = parse_err(&job_toml("j", &format!("[jobs.recv]\n{toml}")));
            assert!(e.contains(&format!("jobs[0].recv.{key}: ")), "{toml}: {e}");
            assert!(e.contains(want), "{toml}: {e}");
        }
    }

    #[test]
    fn paths_must_be_absolute() {
        for (toml, key) in [
            ("textfile_dir = \"metrics\"", "jobs[0].textfile_dir"),
            ("[jobs.ssh]\nknown_hosts = \"known_hosts\"", "jobs[0].ssh.known_hosts"),
            (
                "[jobs.ssh]\nidentity_files = [\"/a\", \"~/.ssh/id\"]",
                "jobs[0].ssh.identity_files[1]",
            ),
        ] {
            let e = parse_err(&job_toml("j", toml));
            assert!(e.contains(&format!("{key}: path ")), "{e}");
            assert!(e.contains("must be absolute"), "{e}");
        }
        let e = parse_err(&format!("[global]\nlock_dir = \"lock\"\n{}", job_toml("j", "")));
        assert!(e.contains("global.lock_dir: path \"lock\" must be absolute"), "{e}");
    }

    #[test]
    fn agent_command_validation() {
        let e = parse_err(&job_toml("j", "[jobs.ssh]\nagent_command = []"));
        assert!(e.contains("jobs[0].ssh.agent_command: must name a program"), "{e}");
        let e = parse_err(&job_toml("j", "[jobs.ssh]\nagent_command = [\"\", \"x\"]"));
        assert!(e.contains("jobs[0].ssh.agent_command: must name a program"), "{e}");
        let job = one_job("[jobs.ssh]\nagent_command = [\"sudo\", \"zreplrs\", \"recv-agent\"]");
        assert_eq!(job.ssh.agent_command, ["sudo", "zreplrs", "recv-agent"]);
    }

    #[test]
    fn unknown_job_lists_configured_jobs() {
        let config = parse(&format!("{}{}", job_toml("a", ""), job_toml("b", ""))).unwrap();
        assert_eq!(config.job("b").unwrap().name.as_str(), "b");
        let e = config.job("x").unwrap_err();
        assert!(matches!(e, ConfigError::UnknownJob { .. }));
        assert_eq!(
            e.to_string(),
            "no job named \"x\" in /etc/zreplrs/zreplrs.toml; configured jobs: a, b"
        );
    }

    #[test]
    fn load_reads_the_file_and_reports_io_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = Utf8PathBuf::from_path_buf(dir.path().join("zreplrs.toml")).unwrap();
        let e = Config::load(&path).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("cannot read config {path}: No such file or directory (set --config or ZREPLRS_CONFIG)")
        );
        std::fs::write(&path, job_toml("j", "")).unwrap();
        let config = Config::load(&path).unwrap();
        assert_eq!(config.path, path);
        assert_eq!(config.jobs.len(), 1);
        std::fs::write(&path, job_toml("j", "bogus = 1")).unwrap();
        let e = Config::load(&path).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{path}: jobs[0].bogus: unknown field")), "{e}");
    }

    #[test]
    fn resolve_path_prefers_explicit() {
        // Only the explicit case is tested: the environment is shared by all tests of the process.
        assert_eq!(
            Config::resolve_path(Some(Utf8Path::new("/x.toml"))),
            Utf8PathBuf::from("/x.toml")
        );
        if std::env::var_os(CONFIG_ENV).is_none() {
            assert_eq!(Config::resolve_path(None), Utf8PathBuf::from(DEFAULT_PATH));
        }
    }

    #[test]
    fn location_counts_lines_and_characters() {
        assert_eq!(Location::of("abc", 0), Location { line: 1, column: 1 });
        assert_eq!(Location::of("a\nbäc", 5), Location { line: 2, column: 3 });
        assert_eq!(Location::of("a\nbäc", 4), Location { line: 2, column: 2 });
        assert_eq!(Location::of("a\n", 99), Location { line: 2, column: 1 });
    }
}
