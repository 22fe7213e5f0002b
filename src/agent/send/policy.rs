//! What `zreplrs send-agent` lets a peer run on the source (pull mode): a whitelist of exactly the `zfs`
//! commands the sender side of a replication issues, each argument checked against the agent's own command
//! line (`--root-fs`, its filesystem filter, `--job-id`, `--require-raw`).
//!
//! Allowed: listing (`list`, `get` of `guid`/`creation`/`userrefs`, `holds`), dry and real `send` (full,
//! incremental, resume by a token that is decoded and checked here), `hold`/`release` of this job's step
//! hold tag, `bookmark` to this job's cursor names, and `destroy` of this job's cursor bookmarks. Every name
//! must be a filesystem the filter includes, at or below the root. Nothing else runs: no snapshot is ever
//! destroyed, nothing is received, no property is set. Options come before names, each from a fixed set.

use crate::config::Filter;
use crate::error::Invalid;
use crate::zfs::bookkeeping::{parse_cursor_short, parse_tentative_cursor_short, JobId};
use crate::zfs::names::{BookmarkName, DatasetName, SnapshotName};

/// The kind of an error reply for a refused call.
pub const KIND: crate::error::ErrorKind = crate::error::ErrorKind::SendAgentPolicy;

/// Longest argv accepted (the sender chunks its name lists to 1,024).
pub const MAX_ARGS: usize = 4096;

/// Properties a listing may ask for.
const LIST_COLUMNS: [&str; 10] = [
    "name",
    "type",
    "guid",
    "createtxg",
    "userrefs",
    "receive_resume_token",
    "encryption",
    "zrepl:placeholder",
    "creation",
    "snapshots_changed",
];

/// Type sets a listing may ask for.
const LIST_TYPES: [&str; 4] = [
    "filesystem,volume,snapshot,bookmark",
    "filesystem,volume",
    "snapshot,bookmark",
    "snapshot",
];

/// Properties `zfs get` may read.
const GET_PROPERTIES: [&str; 3] = ["guid", "creation", "userrefs"];

/// `zfs send` flags that carry no value.
const SEND_FLAGS: [&str; 9] = ["-n", "-v", "-P", "-w", "-c", "-L", "-e", "-p", "-b"];

/// The send-agent's policy, from its command line.
#[derive(Debug, Clone)]
pub struct SendPolicy {
    pub root: DatasetName,
    pub filter: Filter,
    pub job: JobId,
    /// `--require-raw`: every send is raw (`-w`, or a token with `rawok`), so encrypted data never leaves
    /// decrypted.
    pub require_raw: bool,
    /// A recv-agent serving restores (`--serve-restores`): it sends what it received and holds it while
    /// sending, but never creates or destroys a bookmark.
    pub restore_only: bool,
}

/// How an accepted call runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// Run it and reply with its output.
    Run,
    /// A listing of this many columns, the name first and last: run it and drop every output line that does
    /// not have exactly these columns with the same name first and last (a user property's value may hold a
    /// tab or a newline), or whose name is not a filesystem, or a version of one, that the filter includes.
    RunListing(usize),
    /// A real `zfs send`: stream its output.
    Stream,
}

fn refuse<T>(why: impl Into<String>) -> Result<T, Invalid> {
    Err(Invalid::from(why.into()))
}

impl SendPolicy {
    /// Whether `fs` may be touched: at or below the root, and included by the filter.
    pub fn allows(&self, fs: &DatasetName) -> bool {
        (fs == &self.root || fs.is_strictly_below(&self.root)) && self.filter.includes(fs)
    }

    fn dataset(&self, s: &str) -> Result<DatasetName, Invalid> {
        let fs = DatasetName::new(s).map_err(|e| format!("{s:?}: {e}"))?;
        if !self.allows(&fs) {
            return refuse(format!(
                "{fs} is outside what this send-agent may send (--root-fs {} and its filesystem filter)",
                self.root
            ));
        }
        Ok(fs)
    }

    fn snapshot(&self, s: &str) -> Result<SnapshotName, Invalid> {
        let snap = SnapshotName::new(s).map_err(|e| format!("{s:?}: {e}"))?;
        self.dataset(snap.dataset().as_str())?;
        Ok(snap)
    }

    /// A snapshot or bookmark of an allowed filesystem; returns its filesystem.
    fn version(&self, s: &str) -> Result<DatasetName, Invalid> {
        if s.contains('#') {
            let b = BookmarkName::new(s).map_err(|e| format!("{s:?}: {e}"))?;
            self.dataset(b.dataset().as_str())
        } else if s.contains('@') {
            Ok(self.snapshot(s)?.dataset())
        } else {
            self.dataset(s)
        }
    }

    /// A bookmark of an allowed filesystem whose name is one of this job's cursors or tentative cursors.
    fn own_bookmark(&self, s: &str) -> Result<BookmarkName, Invalid> {
        let b = BookmarkName::new(s).map_err(|e| format!("{s:?}: {e}"))?;
        self.dataset(b.dataset().as_str())?;
        let job = parse_cursor_short(b.short()).or_else(|| parse_tentative_cursor_short(b.short()));
        match job {
            Some((_, j)) if j == self.job.as_str() => Ok(b),
            _ => refuse(format!(
                "{b} is not a cursor bookmark of job {} (the only bookmarks this send-agent creates or destroys)",
                self.job
            )),
        }
    }

    /// Checks one call; `stream` says the caller wants the output streamed (a real send).
    pub fn check(&self, argv: &[String], stream: bool) -> Result<Accepted, Invalid> {
        if argv.len() > MAX_ARGS {
            return refuse(format!("{} arguments (at most {MAX_ARGS})", argv.len()));
        }
        let Some((cmd, args)) = argv.split_first() else {
            return refuse("an empty command");
        };
        if let Some(a) = argv.iter().find(|a| a.contains(|c: char| c.is_control())) {
            return refuse(format!("an argument with a control character: {a:?}"));
        }
        let accepted = match cmd.as_str() {
            "list" => self.list(args)?,
            "get" => self.get(args)?,
            "holds" => self.holds(args)?,
            "hold" | "release" => self.hold_or_release(args)?,
            "bookmark" | "destroy" if self.restore_only => {
                return refuse(format!(
                    "zfs {cmd}: this recv-agent serves restores (--serve-restores), which send what it received \
                     and hold it while sending; it creates and destroys nothing"
                ))
            }
            "bookmark" => self.bookmark(args)?,
            "destroy" => self.destroy(args)?,
            "send" => self.send(args)?,
            other => {
                return refuse(format!(
                    "zfs {other} is not something a send-agent runs (it lists, sends, holds and bookmarks only)"
                ))
            }
        };
        match (accepted == Accepted::Stream, stream) {
            (true, true) | (false, false) => Ok(accepted),
            (true, false) => refuse("a zfs send without -n must be asked for as a stream"),
            (false, true) => refuse("only a zfs send without -n can be streamed"),
        }
    }

    fn list(&self, args: &[String]) -> Result<Accepted, Invalid> {
        let mut it = args.iter().peekable();
        let (mut h, mut name_last, mut columns) = (false, false, 0);
        while let Some(a) = it.next_if(|a| a.starts_with('-')) {
            match a.as_str() {
                "-H" => h = true,
                "-p" | "-r" => {}
                "-d" => match it.next().map(String::as_str) {
                    Some("1") => {}
                    other => return refuse(format!("zfs list -d {}: only -d 1", other.unwrap_or("(nothing)"))),
                },
                "-t" => match it.next() {
                    Some(t) if LIST_TYPES.contains(&t.as_str()) => {}
                    other => {
                        return refuse(format!(
                            "zfs list -t {}: only {}",
                            other.map_or("(nothing)", String::as_str),
                            LIST_TYPES.join(" or ")
                        ))
                    }
                },
                "-o" => {
                    let cols = it.next().map(String::as_str).unwrap_or("");
                    if let Some(c) = cols.split(',').find(|c| !LIST_COLUMNS.contains(c)) {
                        return refuse(format!("zfs list -o: property {c:?} is not one a send-agent lists"));
                    }
                    name_last = cols.rsplit(',').next() == Some("name") && cols.split(',').next() == Some("name");
                    columns = cols.split(',').count();
                }
                other => return refuse(format!("zfs list {other}")),
            }
        }
        if !h || !name_last {
            return refuse("zfs list needs -H and name as its first and last column");
        }
        self.names(it, |s| self.dataset(s).map(|_| ()))?;
        Ok(Accepted::RunListing(columns))
    }

    fn get(&self, args: &[String]) -> Result<Accepted, Invalid> {
        let mut it = args.iter().peekable();
        while let Some(a) = it.next_if(|a| a.starts_with('-')) {
            match a.as_str() {
                "-H" | "-p" => {}
                "-o" => match it.next().map(String::as_str) {
                    Some("value" | "name,value") => {}
                    other => {
                        return refuse(format!(
                            "zfs get -o {}: only value or name,value",
                            other.unwrap_or("(nothing)")
                        ))
                    }
                },
                other => return refuse(format!("zfs get {other}")),
            }
        }
        match it.next() {
            Some(p) if GET_PROPERTIES.contains(&p.as_str()) => {}
            other => {
                return refuse(format!(
                    "zfs get of {}: only guid, creation and userrefs",
                    other.map_or("(nothing)", String::as_str)
                ))
            }
        }
        self.names(it, |s| self.version(s).map(|_| ()))?;
        Ok(Accepted::Run)
    }

    fn holds(&self, args: &[String]) -> Result<Accepted, Invalid> {
        let mut it = args.iter().peekable();
        while let Some(a) = it.next_if(|a| a.starts_with('-')) {
            if !matches!(a.as_str(), "-H" | "-p") {
                return refuse(format!("zfs holds {a}"));
            }
        }
        self.names(it, |s| self.snapshot(s).map(|_| ()))?;
        Ok(Accepted::Run)
    }

    fn hold_or_release(&self, args: &[String]) -> Result<Accepted, Invalid> {
        let tag = self.job.step_hold_tag();
        match args.split_first() {
            Some((t, snaps)) if *t == tag => {
                self.names(snaps.iter().peekable(), |s| self.snapshot(s).map(|_| ()))?;
                Ok(Accepted::Run)
            }
            Some((t, _)) => refuse(format!(
                "hold tag {t:?}: this send-agent puts and releases only {tag} (job {})",
                self.job
            )),
            None => refuse("a hold without a tag"),
        }
    }

    fn bookmark(&self, args: &[String]) -> Result<Accepted, Invalid> {
        let [from, to] = args else {
            return refuse("zfs bookmark takes exactly a snapshot (or bookmark) and a bookmark");
        };
        let fs = if from.contains('#') || from.contains('@') {
            self.version(from)?
        } else {
            return refuse(format!("zfs bookmark of {from:?}: not a snapshot or bookmark"));
        };
        let b = self.own_bookmark(to)?;
        if b.dataset() != fs {
            return refuse(format!("bookmark {b} is not on the filesystem of {from}"));
        }
        Ok(Accepted::Run)
    }

    fn destroy(&self, args: &[String]) -> Result<Accepted, Invalid> {
        match args {
            [b] if !b.starts_with('-') && !b.contains('@') && b.contains('#') => {
                self.own_bookmark(b)?;
                Ok(Accepted::Run)
            }
            _ => refuse(format!(
                "zfs destroy {}: a send-agent destroys only this job's cursor bookmarks, one at a time, never a \
                 snapshot or filesystem",
                args.join(" ")
            )),
        }
    }

    fn send(&self, args: &[String]) -> Result<Accepted, Invalid> {
        let mut it = args.iter().peekable();
        let (mut dry, mut raw, mut token, mut from) = (false, false, None, None);
        while let Some(a) = it.next_if(|a| a.starts_with('-')) {
            match a.as_str() {
                "-n" => dry = true,
                "-w" => raw = true,
                f if SEND_FLAGS.contains(&f) => {}
                "-i" | "-I" if from.is_none() => match it.next() {
                    Some(f) => from = Some(f),
                    None => return refuse(format!("zfs send {a} without its snapshot")),
                },
                "-t" if token.is_none() => match it.next() {
                    Some(t) => token = Some(t),
                    None => return refuse("zfs send -t without a token"),
                },
                other => return refuse(format!("zfs send {other}")),
            }
        }
        let rest: Vec<&String> = it.collect();
        if let Some(t) = token {
            if from.is_some()
                || !rest.is_empty()
                || args
                    .iter()
                    .any(|a| !matches!(a.as_str(), "-n" | "-v" | "-P" | "-t") && a != t)
            {
                return refuse("zfs send -t takes only -n, -v and -P besides its token");
            }
            let decoded = crate::zfs::token::decode_native(t).map_err(|e| format!("resume token: {}", e.message))?;
            self.snapshot(&decoded.toname)?;
            if self.require_raw && !decoded.rawok {
                return refuse(
                    "the resume token is for a non-raw send, and this send-agent sends raw only (--require-raw)",
                );
            }
        } else {
            let [to] = rest.as_slice() else {
                return refuse("zfs send takes exactly one snapshot to send");
            };
            let to = self.snapshot(to)?;
            if let Some(f) = from {
                if self.version(f)? != to.dataset() || !(f.contains('@') || f.contains('#')) {
                    return refuse(format!(
                        "incremental source {f} is not a snapshot or bookmark of {}",
                        to.dataset()
                    ));
                }
            }
            if self.require_raw && !raw {
                return refuse("a send without -w, and this send-agent sends raw only (--require-raw)");
            }
        }
        Ok(if dry { Accepted::Run } else { Accepted::Stream })
    }

    /// At least one name, no options after them, each accepted by `check`.
    fn names<'a>(
        &self,
        it: std::iter::Peekable<impl Iterator<Item = &'a String>>,
        check: impl Fn(&str) -> Result<(), Invalid>,
    ) -> Result<(), Invalid> {
        let mut n = 0;
        for a in it {
            if a.starts_with('-') {
                return refuse(format!("option {a} after the names"));
            }
            check(a)?;
            n += 1;
        }
        if n == 0 {
            return refuse("no dataset named");
        }
        Ok(())
    }

    /// The lines of a listing's output that name allowed filesystems (or their versions) in the last column.
    pub fn filter_listing(&self, out: &[u8], columns: usize) -> Vec<u8> {
        let mut kept = Vec::with_capacity(out.len());
        for line in out.split_inclusive(|b| *b == b'\n') {
            let text = String::from_utf8_lossy(line);
            let cols: Vec<&str> = text.trim_end_matches('\n').split('\t').collect();
            let (Some(first), Some(last)) = (cols.first(), cols.last()) else {
                continue;
            };
            if cols.len() != columns || first != last {
                continue;
            }
            let fs = last.split(['@', '#']).next().unwrap_or("");
            if DatasetName::new(fs).is_ok_and(|d| self.allows(&d)) {
                kept.extend_from_slice(line);
            }
        }
        kept
    }
}

#[cfg(test)]
mod tests;
