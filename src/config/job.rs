//! A job (`[[jobs]]`) and its sections (`[jobs.snapshot]`, `[jobs.prune]`, `[jobs.send]`, `[jobs.recv]`,
//! `[jobs.ssh]`), with the serde helpers that validate their values.

use crate::error::Invalid;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::time::Duration;

use camino::{Utf8Path, Utf8PathBuf};
use serde::de::{self, Deserializer};
use serde::Deserialize;

use super::*;
use crate::zfs::bookkeeping::JobId;
use crate::zfs::names::{check_component, DatasetName, PropertyName};
use crate::zfs::send::SendFlags;

/// One replication job (`[[jobs]]`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Job {
    /// The job's name: `--job NAME`, and part of the bookmark and hold names on ZFS (so renaming a job
    /// orphans its cursors and holds).
    pub name: JobId,
    /// Where the filesystems are replicated to. In a pull job (with `source`), a `local:` root on this host.
    pub target: Target,
    /// Pull mode: where the filesystems come from, `ssh://[USER@]HOST[:PORT]/POOL/FS` (or `local:POOL/FS` for
    /// a pull within one host). The job runs on the backup host and talks to `zreplrs send-agent` there;
    /// unset, the job pushes from this host.
    #[serde(default)]
    pub source: Option<Target>,
    /// An extra dataset component below the target's root filesystem, so that several senders can share one
    /// root: received datasets are `<root_fs>/<client_identity>/<sender fs>`. Unset: `<root_fs>/<sender fs>`.
    #[serde(default, deserialize_with = "client_identity")]
    pub client_identity: Option<String>,
    /// Which filesystems are replicated (`[jobs.filesystems]`).
    pub filesystems: Filter,
    /// Which of their snapshots are replicated, by name (`[jobs.snapshots]`); default all.
    #[serde(default)]
    pub snapshots: super::SnapshotFilter,
    /// Sender path prefixes removed on the receiver (`strip = "tank/data"`: `tank/data/db` lands at
    /// `<root>/db`); empty: the full sender path (zrepl's layout). Checked against the filter in
    /// [`super::Config::parse`].
    #[serde(default, deserialize_with = "strip_prefixes")]
    pub strip: Vec<DatasetName>,
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
    /// Longest wait for the receiver's reply to one request, heartbeats or not (a receiver that only sends
    /// heartbeats would otherwise hold the run, its lock and its step holds forever), e.g. `"2h"`. The
    /// attempt then ends as a connection error and is retried. Default 2 hours.
    #[serde(default = "default_reply_deadline", deserialize_with = "positive_duration")]
    pub reply_deadline: Duration,
    /// Step holds older than this are released by a run that cannot reach the receiver (and by `holds
    /// release-stale`), so an unreachable receiver cannot block the sender's pruning forever; the cursor
    /// bookmark stays, so replication stays incremental. Default 7 days.
    #[serde(default = "default_max_step_hold_age", deserialize_with = "positive_duration")]
    pub max_step_hold_age: Duration,
    /// Timeout for connecting and the protocol handshake, e.g. `"30s"`. Default 30 seconds.
    #[serde(default = "default_connect_timeout", deserialize_with = "positive_duration")]
    pub connect_timeout: Duration,
    /// SSH settings (`[jobs.ssh]`); only used by `ssh://` targets.
    #[serde(default)]
    pub ssh: SshOptions,
    /// Most bytes per second on the link to the peer (after compression), e.g. `"50MiB/s"`; unset: no limit.
    #[serde(default)]
    pub bandwidth_limit: Option<super::BandwidthLimit>,
    /// How many filesystems replicate at once, each over its own connection to the peer (1..=64). Default
    /// [`super::DEFAULT_CONCURRENCY`].
    #[serde(default = "default_concurrency", deserialize_with = "concurrency")]
    pub concurrency: usize,
    /// Compression in transit (`"off"`, `"zstd"`, `"zstd:LEVEL"`); unset: see [`Job::compression`].
    #[serde(default, rename = "compression")]
    pub compression_setting: Option<super::Compression>,
    /// Overrides `[global] textfile_dir` for this job; absolute.
    #[serde(default, deserialize_with = "absolute_path_opt")]
    pub textfile_dir: Option<Utf8PathBuf>,
    /// How `zreplrs snapshot` names snapshots and which hooks it runs (`[jobs.snapshot]`).
    #[serde(default)]
    pub snapshot: SnapshotConfig,
    /// Hooks around `zreplrs replicate` (`[jobs.replicate]`).
    #[serde(default)]
    pub replicate: ReplicateConfig,
    /// Keep rules of `zreplrs prune` (`[jobs.prune]`); without it, prune refuses to run.
    #[serde(default)]
    pub prune: Option<PruneConfig>,
    /// Thresholds of `zreplrs check` (`[jobs.check]`).
    #[serde(default)]
    pub check: super::CheckConfig,
    /// The object store of an `s3://` target (`[jobs.store]`).
    #[serde(default)]
    pub store: Option<super::StoreConfig>,
    /// Where a pull job's restores go (`[jobs.restore]`).
    #[serde(default)]
    pub restore: Option<super::RestoreConfig>,
    /// Set only on a job that `zreplrs restore` derives from a configured one to run the other way (see
    /// [`Reversal`]); never read from the configuration.
    #[serde(skip)]
    pub reversal: Option<Reversal>,
}

/// How a job derived for a restore differs from a configured one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reversal {
    /// Each sender root and the path it lands at below the receiver's root (a restore may give it another
    /// name); a root's children land below its path.
    pub land: Vec<(DatasetName, String)>,
    /// Send no snapshot newer than this one (its name after `@`), where a filesystem has it.
    pub until: Option<String>,
    /// A filesystem the receiver does not have may be sent in full.
    pub allow_full: bool,
    /// Keep cursors on the sender and last-received holds on the receiver as a job does (a failed-over
    /// job replicating back); a restore leaves none.
    pub bookkeeping: bool,
}

impl Job {
    /// Whether a run of this job leaves cursor bookmarks and last-received holds.
    pub fn keeps_bookkeeping(&self) -> bool {
        self.reversal.as_ref().is_none_or(|r| r.bookkeeping)
    }

    /// Whether this job is a restore (a reversed run that leaves no bookkeeping).
    pub fn is_restore(&self) -> bool {
        !self.keeps_bookkeeping()
    }
}

impl Job {
    /// Compression in transit: as configured, else zstd level 1 over SSH when the stream is neither raw nor
    /// compressed (`zfs send -w`/`-c` blocks do not compress again), else off (a `local:` peer is a pipe).
    pub fn compression(&self) -> super::Compression {
        if let Some(c) = self.compression_setting {
            return c;
        }
        let peer = self.source.as_ref().unwrap_or(&self.target);
        let flags = &self.send.flags;
        if matches!(peer, Target::Ssh { .. }) && !flags.raw && !flags.compressed {
            super::Compression::Zstd { level: 1 }
        } else {
            super::Compression::Off
        }
    }

    /// Where the job's copies are below on the receiver: `root_fs[/client_identity]`, the root its agent
    /// serves.
    pub fn receiver_root(&self) -> Result<DatasetName, crate::zfs::names::NameError> {
        match &self.client_identity {
            Some(id) => self.target.root_fs().child(id),
            None => Ok(self.target.root_fs().clone()),
        }
    }

    /// A pull job: it runs on the receiver and reaches the sender's `zreplrs send-agent`.
    pub fn is_pull(&self) -> bool {
        self.source.is_some()
    }

    /// The user property holding this job's sync records on the sender filesystems; none in pull mode (the
    /// send-agent never sets a property), so a pull job lists the source's snapshots on every run.
    pub fn sync_record_property(&self) -> Option<String> {
        if self.is_pull() || self.reversal.is_some() {
            None
        } else {
            self.name.sync_record_property()
        }
    }

    /// Where `fs` lands below the receiver's root: its path without the longest `strip` prefix it is below,
    /// or the whole path. `None` when `fs` is a strip prefix itself (it would be the root).
    pub fn receiver_path(&self, fs: &DatasetName) -> Option<String> {
        if let Some(land) = self.reversal.as_ref().map(|r| &r.land) {
            return land.iter().find_map(|(root, path)| match fs == root {
                true => Some(path.clone()),
                false => fs
                    .is_strictly_below(root)
                    .then(|| format!("{path}{}", &fs.as_str()[root.as_str().len()..])),
            });
        }
        if self.strip.is_empty() {
            return Some(fs.to_string());
        }
        self.strip
            .iter()
            .filter(|p| fs.is_strictly_below(p))
            .max_by_key(|p| p.as_str().len())
            .map(|p| fs.as_str()[p.as_str().len() + 1..].to_string())
    }

    /// The sender filesystem that lands at `rel` below the receiver's root, for the first prefix (in
    /// configuration order) whose result the filter includes.
    pub fn sender_path(&self, rel: &str) -> Option<DatasetName> {
        if let Some(land) = self.reversal.as_ref().map(|r| &r.land) {
            return land
                .iter()
                .find_map(|(root, path)| match rel.strip_prefix(path.as_str()) {
                    Some("") => Some(root.clone()),
                    Some(rest) => root.child(rest.strip_prefix('/')?).ok(),
                    None => None,
                });
        }
        if self.strip.is_empty() {
            return DatasetName::new(rel).ok().filter(|d| self.filesystems.includes(d));
        }
        self.strip
            .iter()
            .filter_map(|p| p.child(rel).ok())
            .find(|d| self.filesystems.includes(d) && self.receiver_path(d).as_deref() == Some(rel))
    }
}

/// `strip`: one dataset name or a list of them.
fn strip_prefixes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<DatasetName>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    let names = match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    };
    names
        .iter()
        .map(|n| DatasetName::new(n).map_err(|e| de::Error::custom(format!("strip: {e}"))))
        .collect()
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

pub(super) fn duration_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    duration(d).map(Some)
}

impl TryFrom<RawSnapshot> for SnapshotConfig {
    type Error = Invalid;

    fn try_from(raw: RawSnapshot) -> Result<Self, Invalid> {
        let prefix = raw.prefix.unwrap_or_else(|| "zrepl_".into());
        let sample = crate::snapname::snapshot_name(&prefix, raw.timestamp_format, 0);
        check_component("snapshot name", &sample)
            .map_err(|e| format!("prefix {prefix:?} makes invalid snapshot names: {e}"))?;
        let hook_timeout = check_hooks(&raw.pre_hook, &raw.post_hook, raw.hook_timeout)?;
        Ok(SnapshotConfig {
            prefix,
            timestamp_format: raw.timestamp_format,
            pre_hook: raw.pre_hook,
            post_hook: raw.post_hook,
            hook_timeout,
        })
    }
}

/// Checks a table's `pre_hook`, `post_hook` (non-empty argv lists) and `hook_timeout` (default 30 s, at
/// most [`crate::hook::MAX_TIMEOUT`]); returns the timeout.
fn check_hooks(
    pre: &Option<Vec<String>>,
    post: &Option<Vec<String>>,
    timeout: Option<Duration>,
) -> Result<Duration, Invalid> {
    for (key, hook) in [("pre_hook", pre), ("post_hook", post)] {
        if let Some(argv) = hook {
            if argv.first().is_none_or(|p| p.is_empty()) {
                return Err(Invalid::from(format!(
                    "{key} must be a non-empty argv list, e.g. [\"/usr/local/bin/flush\", \"--fast\"]"
                )));
            }
        }
    }
    let hook_timeout = timeout.unwrap_or(Duration::from_secs(30));
    if hook_timeout.is_zero() {
        return Err("hook_timeout must be greater than zero".into());
    }
    if hook_timeout > crate::hook::MAX_TIMEOUT {
        return Err(Invalid::from(format!(
            "hook_timeout {} is too long: at most {}",
            humantime::format_duration(hook_timeout),
            humantime::format_duration(crate::hook::MAX_TIMEOUT)
        )));
    }
    Ok(hook_timeout)
}

/// `[jobs.replicate]`: commands run before and after `zreplrs replicate`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawReplicate")]
pub struct ReplicateConfig {
    /// argv run before the run (after the job lock is taken); a failure (or timeout) skips the run, exit 5.
    pub pre_hook: Option<Vec<String>>,
    /// argv run after the run, with the result in its environment and the JSON result in a file.
    pub post_hook: Option<Vec<String>>,
    /// Upper bound for each hook. Default 30 seconds.
    pub hook_timeout: Duration,
}

impl Default for ReplicateConfig {
    fn default() -> Self {
        ReplicateConfig {
            pre_hook: None,
            post_hook: None,
            hook_timeout: Duration::from_secs(30),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawReplicate {
    #[serde(default)]
    pre_hook: Option<Vec<String>>,
    #[serde(default)]
    post_hook: Option<Vec<String>>,
    #[serde(default, deserialize_with = "duration_opt")]
    hook_timeout: Option<Duration>,
}

impl TryFrom<RawReplicate> for ReplicateConfig {
    type Error = Invalid;

    fn try_from(raw: RawReplicate) -> Result<Self, Invalid> {
        let hook_timeout = check_hooks(&raw.pre_hook, &raw.post_hook, raw.hook_timeout)?;
        Ok(ReplicateConfig {
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
    type Error = Invalid;

    fn try_from(raw: RawPrune) -> Result<Self, Invalid> {
        for (side, rules, sender) in [
            ("keep_sender", &raw.keep_sender, true),
            ("keep_receiver", &raw.keep_receiver, false),
        ] {
            if rules.is_empty() {
                return Err(Invalid::from(format!(
                    "{side} is empty: with no keep rule every snapshot would be destroyed; \
                                    add e.g. {{ type = \"last_n\", count = 10 }}"
                )));
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

fn default_concurrency() -> usize {
    super::DEFAULT_CONCURRENCY
}

fn concurrency<'de, D: Deserializer<'de>>(d: D) -> Result<usize, D::Error> {
    let n = u64::deserialize(d)?;
    match usize::try_from(n) {
        Ok(n) if (1..=super::MAX_CONCURRENCY).contains(&n) => Ok(n),
        _ => Err(de::Error::custom(format!(
            "concurrency must be 1 to {}, not {n}",
            super::MAX_CONCURRENCY
        ))),
    }
}

fn default_stall_timeout() -> Duration {
    DEFAULT_STALL_TIMEOUT
}

fn default_reply_deadline() -> Duration {
    DEFAULT_REPLY_DEADLINE
}

fn default_max_step_hold_age() -> Duration {
    Duration::from_secs(7 * 24 * 3600)
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
pub(super) fn positive_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
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

pub(super) fn absolute_path_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Utf8PathBuf>, D::Error> {
    Ok(Option::<AbsolutePath>::deserialize(d)?.map(|p| p.0))
}

pub(super) fn absolute_paths<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Utf8PathBuf>, D::Error> {
    Ok(Vec::<AbsolutePath>::deserialize(d)?.into_iter().map(|p| p.0).collect())
}

fn client_identity<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let identity = String::deserialize(d)?;
    check_component("client identity", &identity).map_err(de::Error::custom)?;
    Ok(Some(identity))
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
    type Error = Invalid;

    fn try_from(raw: RawRecv) -> Result<Self, Invalid> {
        if let Some(name) = raw.inherit.iter().find(|name| raw.set.contains_key(*name)) {
            return Err(Invalid::from(format!(
                "property {name:?} is both in set and in inherit; keep it in one of them"
            )));
        }
        Ok(RecvConfig {
            set: raw.set,
            inherit: raw.inherit,
        })
    }
}

/// Accepts a property name a job may set or inherit on received datasets (see [`PropertyName`]).
fn check_property_name(name: &str) -> Result<(), Invalid> {
    PropertyName::new(name).map(|_| ()).map_err(|e| Invalid(e.to_string()))
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
    /// The command run on the other host (argv; a forced command in `authorized_keys` replaces it).
    /// Default `["zreplrs", "recv-agent"]`, and `["zreplrs", "send-agent"]` for a pull job.
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

pub(super) fn default_agent_command() -> Vec<String> {
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
