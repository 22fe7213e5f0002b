//! Send and receive: argv builders for `zfs send` / `zfs receive` from versions identified by GUID, and
//! parsing of dry-send (`zfs send -n -v -P`) size estimates into `u64`, with "unknown" distinct from 0.

use serde::{Deserialize, Serialize};

use super::names::DatasetName;
use super::stream::DatasetKind;
use super::types::Version;

/// Per-job `zfs send` flags.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SendFlags {
    /// `-w`: send encrypted datasets raw (required for `send.encrypted`).
    pub raw: bool,
    /// `-c`: send compressed blocks as they are on disk.
    pub compressed: bool,
    /// `-L`: allow blocks larger than 128 KiB.
    pub large_blocks: bool,
    /// `-e`: embedded data blocks.
    pub embedded_data: bool,
    /// `-p`: include dataset properties.
    pub properties: bool,
    /// `-b`: send only received property values (backup of a backup).
    pub backup_properties: bool,
}

impl SendFlags {
    /// The `zfs send` flags that are set, e.g. `["-w", "-c"]`.
    pub fn names(&self) -> Vec<String> {
        let mut args = Vec::new();
        self.push(&mut args);
        args
    }

    fn push(&self, args: &mut Vec<String>) {
        for (on, flag) in [
            (self.raw, "-w"),
            (self.compressed, "-c"),
            (self.large_blocks, "-L"),
            (self.embedded_data, "-e"),
            (self.properties, "-p"),
            (self.backup_properties, "-b"),
        ] {
            if on {
                args.push(flag.to_string());
            }
        }
    }
}

/// What to send: a full stream of `to`, or an incremental from `from` (snapshot or bookmark) to `to`; with
/// `intermediates`, one `-I` stream that includes every snapshot between them (`from` must be a snapshot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendSpec<'a> {
    pub fs: &'a DatasetName,
    pub from: Option<&'a Version>,
    pub to: &'a Version,
    pub intermediates: bool,
}

/// `zfs send [flags] [-i|-I from] fs@to`; with `dry_run`, `-n -v -P` for a parseable size estimate.
pub fn send_args(flags: &SendFlags, spec: &SendSpec<'_>, dry_run: bool) -> Vec<String> {
    let mut args = vec!["send".to_string()];
    if dry_run {
        args.extend(["-n", "-v", "-P"].map(String::from));
    }
    flags.push(&mut args);
    if let Some(from) = spec.from {
        args.push(if spec.intermediates { "-I" } else { "-i" }.into());
        args.push(from.full_name(spec.fs.as_str()));
    }
    args.push(spec.to.full_name(spec.fs.as_str()));
    args
}

/// `zfs send -t TOKEN` (the token carries the flags); with `dry_run`, `-n -v -P`.
pub fn resume_send_args(token: &str, dry_run: bool) -> Vec<String> {
    let mut args = vec!["send".to_string()];
    if dry_run {
        args.extend(["-n", "-v", "-P"].map(String::from));
    }
    args.push("-t".into());
    args.push(token.into());
    args
}

/// Receive-side options, decided on the receiver.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecvOptions {
    /// `-F`: roll back / replace (used only to fill a placeholder, which is empty by construction).
    pub force: bool,
    /// `-o prop=value` overrides.
    pub set: Vec<(String, String)>,
    /// `-x prop`: inherit instead of taking the sent value.
    pub inherit: Vec<String>,
}

/// What the agent applies to every receive unless its command line says otherwise: a sent `mountpoint`
/// (which could point at `/etc` or `/usr/bin` and be mounted at the next boot), `sharenfs` and `sharesmb`
/// are not taken (the datasets inherit them from below the agent's root), and `setuid`, `devices` and
/// `exec` are off, so nothing a peer sent works as a setuid binary, a device node or a program once the copy
/// is mounted (a backup is data; `zfs set exec=on` on a copy, or `--recv-allow exec`, where that is wanted).
pub const DEFAULT_RECV_INHERIT: [&str; 3] = ["mountpoint", "sharenfs", "sharesmb"];
/// See [`DEFAULT_RECV_INHERIT`].
pub const DEFAULT_RECV_SET: [(&str, &str); 3] = [("setuid", "off"), ("devices", "off"), ("exec", "off")];

impl RecvOptions {
    /// The agent's default receive options ([`DEFAULT_RECV_INHERIT`], [`DEFAULT_RECV_SET`]).
    pub fn hardened() -> Self {
        RecvOptions {
            force: false,
            set: DEFAULT_RECV_SET
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            inherit: DEFAULT_RECV_INHERIT.iter().map(|k| k.to_string()).collect(),
        }
    }

    /// Takes the sent value of `prop` (drops a default for it).
    pub fn allow(&mut self, prop: &str) {
        self.set.retain(|(k, _)| k != prop);
        self.inherit.retain(|k| k != prop);
    }

    /// `-o prop=value`, replacing any default for `prop`.
    pub fn override_with(&mut self, prop: &str, value: &str) {
        self.allow(prop);
        self.set.push((prop.to_string(), value.to_string()));
    }

    /// `-x prop`, replacing any default for `prop`.
    pub fn inherit_instead(&mut self, prop: &str) {
        self.allow(prop);
        self.inherit.push(prop.to_string());
    }
}

/// Properties ZFS accepts for a volume (`zfs_prop_valid_for_type`); user properties (with a `:`) apply to
/// both kinds. `-o` of any other property fails a volume's receive, `-x` of one only warns.
const VOLUME_PROPS: [&str; 22] = [
    "volsize",
    "volblocksize",
    "volmode",
    "refreservation",
    "reservation",
    "compression",
    "checksum",
    "copies",
    "dedup",
    "sync",
    "logbias",
    "primarycache",
    "secondarycache",
    "readonly",
    "snapdev",
    "redundant_metadata",
    "keylocation",
    "keyformat",
    "pbkdf2iters",
    "encryption",
    "snapshot_limit",
    "prefetch",
];

/// What a receive takes in, as the agent found it: the kind of dataset the stream's first BEGIN record
/// carries, whether the stream is incremental, and whether it replaces an empty placeholder (`-F`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Incoming {
    pub kind: DatasetKind,
    pub incremental: bool,
    pub force: bool,
}

/// The options of one receive: the one place that decides them. `create` are the agent's options for a
/// receive that creates a dataset, `incremental` those for an incremental one (the same, unless the agent
/// runs with `--own-streams` and the stream is this host's own: see `cmd::recv_agent`).
///
/// A filesystem gets the agent's options as they are. A volume gets only the options that apply to volumes, and two
/// defaults for a backup host unless the agent's command line names them: `volmode=none` (no `/dev/zvol`
/// device of a peer's data for udev and blkid to probe on the backup host; `zfs set volmode=dev` on a copy
/// makes it readable, and a restore sends it back with the source's own value) and `-x refreservation`
/// (the sent reservation of a thick volume would take backup space the data does not use; the backup
/// host's quotas decide instead).
pub fn receive_options(create: &RecvOptions, incremental: &RecvOptions, incoming: Incoming) -> RecvOptions {
    let base = if incoming.incremental { incremental } else { create };
    let mut opts = options_for_kind(base, incoming.kind);
    opts.force = incoming.force;
    opts
}

fn options_for_kind(base: &RecvOptions, kind: DatasetKind) -> RecvOptions {
    if kind == DatasetKind::Filesystem {
        return base.clone();
    }
    let applies = |k: &str| k.contains(':') || VOLUME_PROPS.contains(&k);
    let named = |k: &str| base.set.iter().any(|(s, _)| s == k) || base.inherit.iter().any(|i| i == k);
    let mut opts = RecvOptions {
        force: base.force,
        set: base.set.iter().filter(|(k, _)| applies(k)).cloned().collect(),
        inherit: base.inherit.iter().filter(|k| applies(k)).cloned().collect(),
    };
    if !named("volmode") {
        opts.set.push(("volmode".into(), "none".into()));
    }
    if !named("refreservation") {
        opts.inherit.push("refreservation".into());
    }
    opts
}

/// `zfs receive -s -u [-F] [-o p=v]… [-x p]… fs`: always resumable, never mounted by the receive.
pub fn recv_args(fs: &DatasetName, opts: &RecvOptions) -> Vec<String> {
    let mut args = vec!["receive".to_string(), "-s".to_string(), "-u".to_string()];
    if opts.force {
        args.push("-F".into());
    }
    for (k, v) in &opts.set {
        args.push("-o".into());
        args.push(format!("{k}={v}"));
    }
    for k in &opts.inherit {
        args.push("-x".into());
        args.push(k.clone());
    }
    args.push(fs.to_string());
    args
}

/// A dry-send size estimate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "bytes")]
pub enum SizeEstimate {
    Bytes(u64),
    /// ZFS printed no size (e.g. a bookmark `from` on an old OpenZFS).
    Unknown,
}

impl SizeEstimate {
    pub fn bytes(self) -> Option<u64> {
        match self {
            SizeEstimate::Bytes(b) => Some(b),
            SizeEstimate::Unknown => None,
        }
    }
}

/// Parses `zfs send -n -v -P` output: the `size\tN` line, or else the sum of `full`/`incremental` lines.
pub fn parse_dry_send(out: &str) -> SizeEstimate {
    let mut sum: Option<u64> = None;
    for line in out.lines() {
        let cols: Vec<&str> = line.split('\t').collect();
        match cols.as_slice() {
            ["size", n] => {
                if let Ok(n) = n.trim().parse::<u64>() {
                    return SizeEstimate::Bytes(n);
                }
            }
            ["full", _, n] | ["incremental", _, _, n] => {
                if let Ok(n) = n.trim().parse::<u64>() {
                    sum = Some(sum.unwrap_or(0).saturating_add(n));
                }
            }
            _ => {}
        }
    }
    sum.map_or(SizeEstimate::Unknown, SizeEstimate::Bytes)
}

impl super::Zfs {
    /// Runs a dry send built by [`send_args`] / [`resume_send_args`] with `dry_run` and parses the estimate.
    pub fn estimate(&self, dry_args: &[String]) -> Result<SizeEstimate, super::ZfsError> {
        Ok(parse_dry_send(&self.run(dry_args)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zfs::types::{Guid, VersionKind};

    fn v(kind: VersionKind, short: &str) -> Version {
        Version {
            kind,
            short: short.into(),
            guid: Guid(1),
            createtxg: 1,
            userrefs: None,
            creation: None,
        }
    }

    #[test]
    fn builds_send_args() {
        let fs = DatasetName::new("p/a").unwrap();
        let to = v(VersionKind::Snapshot, "s2");
        let from = v(VersionKind::Bookmark, "b1");
        let flags = SendFlags {
            raw: true,
            compressed: true,
            large_blocks: true,
            embedded_data: true,
            properties: true,
            backup_properties: true,
        };
        let args = send_args(
            &flags,
            &SendSpec {
                fs: &fs,
                from: Some(&from),
                to: &to,
                intermediates: false,
            },
            false,
        );
        assert_eq!(
            args,
            ["send", "-w", "-c", "-L", "-e", "-p", "-b", "-i", "p/a#b1", "p/a@s2"]
        );
        let args = send_args(
            &SendFlags::default(),
            &SendSpec {
                fs: &fs,
                from: None,
                to: &to,
                intermediates: false,
            },
            true,
        );
        assert_eq!(args, ["send", "-n", "-v", "-P", "p/a@s2"]);
        let from_snap = v(VersionKind::Snapshot, "s1");
        let args = send_args(
            &SendFlags::default(),
            &SendSpec {
                fs: &fs,
                from: Some(&from_snap),
                to: &to,
                intermediates: true,
            },
            false,
        );
        assert_eq!(args, ["send", "-I", "p/a@s1", "p/a@s2"]);
        assert_eq!(resume_send_args("1-ab", false), ["send", "-t", "1-ab"]);
        assert_eq!(resume_send_args("1-ab", true), ["send", "-n", "-v", "-P", "-t", "1-ab"]);
    }

    #[test]
    fn builds_recv_args() {
        let fs = DatasetName::new("b/r/p/a").unwrap();
        assert_eq!(
            recv_args(&fs, &RecvOptions::default()),
            ["receive", "-s", "-u", "b/r/p/a"]
        );
        let opts = RecvOptions {
            force: true,
            set: vec![("canmount".into(), "off".into())],
            inherit: vec!["mountpoint".into()],
        };
        assert_eq!(
            recv_args(&fs, &opts),
            [
                "receive",
                "-s",
                "-u",
                "-F",
                "-o",
                "canmount=off",
                "-x",
                "mountpoint",
                "b/r/p/a"
            ]
        );
    }

    #[test]
    fn parses_dry_send_sizes() {
        assert_eq!(
            parse_dry_send("full\tp/a@s\t12345\nsize\t12345\n"),
            SizeEstimate::Bytes(12345)
        );
        assert_eq!(
            parse_dry_send("incremental\ts1\tp/a@s2\t18446744073709551615\nsize\t18446744073709551615\n"),
            SizeEstimate::Bytes(u64::MAX)
        );
        assert_eq!(
            parse_dry_send("incremental\ts1\tp/a@s2\t0\nsize\t0\n"),
            SizeEstimate::Bytes(0)
        );
        assert_eq!(parse_dry_send("incremental\ts1\tp/a@s2\t10\n"), SizeEstimate::Bytes(10));
        assert_eq!(parse_dry_send("incremental\t#b\tp/a@s2\n"), SizeEstimate::Unknown);
        assert_eq!(parse_dry_send(""), SizeEstimate::Unknown);
        assert_eq!(parse_dry_send("size\tlots\n"), SizeEstimate::Unknown);
    }

    /// The one decision of receive options: by the stream's dataset kind and whether it is incremental;
    /// a volume never gets a filesystem-only option (ZFS refuses the receive), keeps user properties, and gets
    /// the backup-host defaults only where the agent's command line did not name them.
    #[test]
    fn receive_options_follow_the_dataset_kind_and_the_stream() {
        let create = RecvOptions::hardened();
        let own = RecvOptions::default();
        let fs = |incremental, force| Incoming {
            kind: DatasetKind::Filesystem,
            incremental,
            force,
        };
        let vol = |incremental| Incoming {
            kind: DatasetKind::Volume,
            incremental,
            force: false,
        };
        let args = |o: &RecvOptions| recv_args(&DatasetName::new("b/x").unwrap(), o).join(" ");
        assert_eq!(
            args(&receive_options(&create, &own, fs(false, true))),
            "receive -s -u -F -o setuid=off -o devices=off -o exec=off -x mountpoint -x sharenfs -x sharesmb b/x"
        );
        assert_eq!(
            args(&receive_options(&create, &own, fs(true, false))),
            "receive -s -u b/x"
        );
        assert_eq!(
            args(&receive_options(&create, &create, vol(false))),
            "receive -s -u -o volmode=none -x refreservation b/x"
        );
        assert_eq!(
            args(&receive_options(&create, &own, vol(true))),
            "receive -s -u -o volmode=none -x refreservation b/x"
        );
        let mut named = RecvOptions::hardened();
        named.override_with("volmode", "dev");
        named.override_with("com.example:tag", "x");
        named.inherit_instead("refreservation");
        named.override_with("readonly", "on");
        assert_eq!(
            args(&receive_options(&named, &named, vol(false))),
            "receive -s -u -o volmode=dev -o com.example:tag=x -o readonly=on -x refreservation b/x"
        );
    }
}
