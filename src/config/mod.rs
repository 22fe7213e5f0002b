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
//!
//! Layout: this file holds loading, errors with their locations and the `[global]` table; [`job`] the job
//! table and its sections; [`target`] the target URL; [`filter`] the filesystem filter; [`snapshots`] the snapshot name filter; [`transfer`] the bandwidth limit and compression.

mod check;
pub mod files;
mod filter;
mod job;
mod restore;
mod snapshots;
mod store;
mod target;
mod transfer;

pub use check::CheckConfig;
pub use filter::{Filter, FilterMatch};
pub use job::*;
pub use restore::RestoreConfig;
pub use snapshots::SnapshotFilter;
pub use store::StoreConfig;
pub use target::Target;
pub use transfer::{BandwidthLimit, Compression, DEFAULT_ZSTD_LEVEL, ZSTD_LEVELS};

use crate::error::Invalid;
use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use serde::Deserialize;

/// Where the configuration is read from when neither `--config` nor [`CONFIG_ENV`] is set.
pub const DEFAULT_PATH: &str = "/etc/zreplrs/zreplrs.toml";

/// Environment variable naming the configuration file (used when `--config` is not given).
pub const CONFIG_ENV: &str = "ZREPLRS_CONFIG";

/// SSH port used when an `ssh://` target names none.
pub const DEFAULT_SSH_PORT: u16 = 22;

/// Default of [`Job::concurrency`]: 4 filesystems at once. Most of a run over many small filesystems is
/// waiting for ZFS to sync the transaction groups of holds, bookmarks and receives; four filesystems in
/// flight share those syncs, while four streams are still few enough not to thrash one pool's disks or one
/// link (and four SSH sessions stay well below sshd's default `MaxStartups` of 10).
pub const DEFAULT_CONCURRENCY: usize = 4;

/// Largest [`Job::concurrency`].
pub const MAX_CONCURRENCY: usize = 64;

/// Default of [`Job::retries`].
pub const DEFAULT_RETRIES: u32 = 3;

/// Default of [`Job::retry_timeout`]: 10 minutes.
pub const DEFAULT_RETRY_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// Default of [`Job::stall_timeout`]: 60 seconds.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(60);

/// Default of [`Job::reply_deadline`]: 2 hours.
pub const DEFAULT_REPLY_DEADLINE: Duration = Duration::from_secs(2 * 3600);

/// Default of [`Job::connect_timeout`]: 30 seconds.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Default of [`SshOptions::agent_command`]: the command run on the target host.
pub const DEFAULT_AGENT_COMMAND: [&str; 2] = ["zreplrs", "recv-agent"];

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
    #[error("cannot read config {path}: {}{}", io_reason(.error), if *.chosen { "" } else { HOW_TO_CHOOSE })]
    Read {
        /// The configuration file.
        path: Utf8PathBuf,
        /// What went wrong.
        error: std::io::Error,
        /// The file was named with `--config` (the message then does not suggest it).
        chosen: bool,
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

/// `strip` against the filter: every dataset a rule includes must be strictly below a strip prefix (a
/// prefix itself would land on the receiver's root), and no two of them may land on the same path.
fn check_strip(job: &Job) -> Result<(), Invalid> {
    if job.strip.is_empty() {
        return Ok(());
    }
    let mut landed: BTreeMap<String, &crate::zfs::names::DatasetName> = BTreeMap::new();
    for d in job.filesystems.included_rule_datasets() {
        let Some(rel) = job.receiver_path(d) else {
            let hint = if job.strip.contains(d) {
                format!(
                    "it is a strip prefix and would land on the receiver's root itself; exclude it (\"{d}\" = false)"
                )
            } else {
                "strip one of its parents instead".to_string()
            };
            return Err(Invalid::from(format!(
                "{d} is included but not below any strip prefix: {hint}"
            )));
        };
        if let Some(other) = landed.insert(rel.clone(), d) {
            return Err(Invalid::from(format!(
                "{other} and {d} would both land at <root>/{rel} on the receiver"
            )));
        }
    }
    Ok(())
}

/// How to name another configuration file, said when the default one cannot be read.
const HOW_TO_CHOOSE: &str = " (name one with --config or $ZREPLRS_CONFIG)";

/// "unknown field `retires`, expected one of `name`, …": the valid key closest to the unknown one, as
/// `: did you mean `retries`?`, when one is close enough.
fn did_you_mean(message: &str) -> String {
    let Some(rest) = message.strip_prefix("unknown field `") else {
        return String::new();
    };
    let Some((unknown, expected)) = rest.split_once('`') else {
        return String::new();
    };
    let best = expected
        .split('`')
        .skip(1)
        .step_by(2)
        .map(|candidate| (strsim::jaro_winkler(unknown, candidate), candidate))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0));
    best.map_or_else(String::new, |(_, c)| format!(": did you mean `{c}`?"))
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

/// An `s3://` target needs `[jobs.store]` and its checks; `[jobs.store]` belongs to such a target. Its
/// encrypted filesystems always go raw: the job sends with `-w`, whatever `[jobs.send] raw` says.
fn check_store(job: &mut Job) -> Result<(), (&'static str, Invalid)> {
    if job.target.is_store() {
        job.send.flags.raw = true;
    }
    match (&job.target, &job.store) {
        (Target::S3 { .. }, Some(store)) => store.check().map_err(|e| ("store", e)),
        (Target::S3 { .. }, None) => Err((
            "store",
            Invalid(
                "an s3:// target needs [jobs.store] (endpoint, region, credentials, and age_recipients or \
                 allow_plaintext)"
                    .to_string(),
            ),
        )),
        (_, Some(_)) => Err((
            "store",
            Invalid(format!(
                "[jobs.store] is for s3:// targets; this job's target is {}",
                job.target
            )),
        )),
        (_, None) => Ok(()),
    }
}

/// A pull job's rules: it receives on this host (`target = "local:…"`), its filter names filesystems at or
/// below the source's root, and its SSH command defaults to the send-agent.
fn check_pull(job: &mut Job) -> Result<(), (&'static str, String)> {
    let Some(source) = &job.source else {
        return Ok(());
    };
    if !matches!(job.target, Target::Local { .. }) {
        return Err((
            "target",
            format!(
                "a pull job (source = \"{source}\") runs on the backup host and receives there: target must be \
                 \"local:POOL/FS\", not {}",
                job.target
            ),
        ));
    }
    let root = source.root_fs();
    if let Some(outside) = job
        .filesystems
        .roots()
        .into_iter()
        .find(|r| r != root && !r.is_strictly_below(root))
    {
        return Err((
            "filesystems",
            format!("{outside} is not at or below the source's root {root}: the send-agent there would refuse it"),
        ));
    }
    if job.ssh.agent_command == job::default_agent_command() {
        job.ssh.agent_command = vec!["zreplrs".into(), "send-agent".into()];
    }
    Ok(())
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
            chosen: false,
        })?;
        warn_if_exposed(path.as_std_path(), "configuration file", 0o022);
        Config::parse(path, &text)
    }

    /// Validates the configuration `text`; `path` is only used in error messages and [`Config::path`].
    pub fn parse(path: &Utf8Path, text: &str) -> Result<Config, ConfigError> {
        let mut raw: RawConfig = serde_path_to_error::deserialize(toml::Deserializer::new(text)).map_err(|e| {
            let key = e.path().to_string();
            let inner = e.into_inner();
            let mut message = inner
                .message()
                .lines()
                .map(str::trim)
                .filter(|line| !line.is_empty())
                .collect::<Vec<_>>()
                .join(": ");
            message.push_str(&did_you_mean(&message));
            ConfigError::Invalid {
                path: path.to_path_buf(),
                key: if key == "." { String::new() } else { key },
                message,
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
        for (i, job) in raw.jobs.iter_mut().enumerate() {
            check_pull(job).map_err(|(key, m)| invalid(format!("jobs[{i}].{key}"), m))?;
        }
        for (i, job) in raw.jobs.iter().enumerate() {
            if let (Target::Local { root_fs }, None) = (&job.target, &job.source) {
                let root = job.receiver_root().unwrap_or_else(|_| root_fs.clone());
                if let Some(inside) = job.filesystems.included_at_or_below(&root) {
                    return Err(invalid(
                        format!("jobs[{i}].target"),
                        format!(
                            "the receiver {root} is inside the replicated tree ({inside} is included): every \
                             run would replicate the copies into themselves; exclude it in [jobs.filesystems] \
                             (\"{root}<\" = false) or receive elsewhere"
                        ),
                    ));
                }
            }
        }
        for (i, job) in raw.jobs.iter_mut().enumerate() {
            check_store(job).map_err(|(key, m)| invalid(format!("jobs[{i}].{key}"), m.0))?;
            restore::check(job.is_pull(), job.restore.as_ref())
                .map_err(|m| invalid(format!("jobs[{i}].restore"), m.0))?;
        }
        for (i, job) in raw.jobs.iter().enumerate() {
            check_strip(job).map_err(|m| invalid(format!("jobs[{i}].strip"), m.0))?;
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

/// Why a file with `mode` is exposed to other users, given the permission bits `mask` that must be clear
/// (0o022: writable by group or others; 0o077: any access by them), or `None`.
pub fn exposure(mode: u32, mask: u32) -> Option<String> {
    let bad = mode & mask;
    if bad == 0 {
        return None;
    }
    let who = match (bad & 0o070 != 0, bad & 0o007 != 0) {
        (true, true) => "its group and others",
        (true, false) => "its group",
        _ => "others",
    };
    let how = if bad & 0o022 == bad { "write" } else { "read or write" };
    Some(format!("{who} can {how} it (mode {:o})", mode & 0o7777))
}

/// Warns on stderr when the file at `path` is [exposed](exposure) (a configuration others may change, a key
/// others may read). The file is still used: refusing would break running setups without notice.
pub fn warn_if_exposed(path: &std::path::Path, what: &str, mask: u32) {
    use std::os::unix::fs::PermissionsExt;
    if let Ok(m) = std::fs::metadata(path) {
        if let Some(why) = exposure(m.permissions().mode(), mask) {
            eprintln!(
                "zreplrs: warning: {what} {}: {why}; run chmod go-{} on it",
                path.display(),
                if mask == 0o022 { "w" } else { "rwx" }
            );
        }
    }
}

/// Settings for all jobs (`[global]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Global {
    /// Directory for the Prometheus textfile (node-exporter's textfile collector); absolute. Jobs may
    /// override it; `--textfile-dir` overrides both. Unset: no textfile is written.
    #[serde(default, deserialize_with = "job::absolute_path_opt")]
    pub textfile_dir: Option<Utf8PathBuf>,
    /// Directory for the per-job lock files; absolute. Unset: `$ZREPLRS_LOCK_DIR`, else `/run/zreplrs` for
    /// root (`$XDG_RUNTIME_DIR/zreplrs` for other users).
    #[serde(default, deserialize_with = "job::absolute_path_opt")]
    pub lock_dir: Option<Utf8PathBuf>,
}

#[cfg(test)]
mod tests;
