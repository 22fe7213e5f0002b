//! In-memory endpoints for the driver's host tests: a sender pool and a receiver pool of filesystems with
//! snapshots, bookmarks and holds, shared by every connection a run opens, with faults to inject (a receive
//! that fails once, with a connection error or an error of the receiver) and a log of what happened.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::io::Write;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::agent::client::{AgentError, StreamError, Streamed};
use crate::agent::wire::proto;
use crate::agent::wire::splice::FdRead;
use crate::endpoint::{Endpoints, Receiver, Sender};
use crate::error::Failure;
use crate::plan::Step;
use crate::zfs::list::{DatasetKind, FsEntry, Listing};
use crate::zfs::names::{BookmarkName, DatasetName, SnapshotName};
use crate::zfs::ops::Hold;
use crate::zfs::runner::{RemoteOutput, SendProcess};
use crate::zfs::send::SendFlags;
use crate::zfs::token::ResumeToken;
use crate::zfs::{Guid, Version, VersionKind, ZfsError, ZfsErrorKind};

pub const RECEIVER_ROOT: &str = "backup";

/// Everything both sides hold, and what the test arranged and saw.
#[derive(Default)]
pub struct State {
    pub sender: BTreeMap<DatasetName, FsEntry>,
    pub receiver: BTreeMap<DatasetName, FsEntry>,
    /// Holds on sender snapshots: full snapshot name → tags.
    pub holds: BTreeMap<String, BTreeSet<String>>,
    /// Errors the next receives into these receiver paths (below the root) end with, in order.
    pub receive_faults: BTreeMap<String, VecDeque<AgentError>>,
    /// Roots whose listing the sender refuses (as a pull job's send-agent refuses roots outside its own).
    pub refused_roots: BTreeSet<String>,
    /// Receives of these paths wait (up to 10 s) until another receive runs at the same time.
    pub rendezvous: BTreeSet<String>,
    /// What happened, in order: `start PATH`, `end PATH`, `resumed PATH`, `overlap PATH`, `connect`.
    pub log: Vec<String>,
    pub active: usize,
    next_txg: u64,
}

/// The two pools, shared by every endpoint a run opens.
#[derive(Default, Clone)]
pub struct World(Arc<(Mutex<State>, Condvar)>);

impl World {
    pub fn state(&self) -> MutexGuard<'_, State> {
        self.0 .0.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds sender filesystem `name` with snapshots `shorts`, oldest first.
    pub fn sender_fs(&self, name: &str, shorts: &[&str]) {
        let mut s = self.state();
        let entry = new_fs(name, &mut s.next_txg);
        s.sender.insert(entry.name.clone(), entry);
        for short in shorts {
            let txg = s.bump();
            let fs = s.sender.get_mut(&dn(name)).expect("just added");
            fs.versions
                .push(version(VersionKind::Snapshot, short, txg * 1000 + 7, txg));
        }
    }

    /// The receiver's copy of `path` (below the root): its snapshot GUIDs, oldest first.
    pub fn received(&self, path: &str) -> Vec<u64> {
        let s = self.state();
        let name = dn(&format!("{RECEIVER_ROOT}/{path}"));
        s.receiver
            .get(&name)
            .map(|e| e.snapshots().map(|v| v.guid.0).collect())
            .unwrap_or_default()
    }

    /// The GUIDs of the sender's snapshots of `name`.
    pub fn sent(&self, name: &str) -> Vec<u64> {
        let s = self.state();
        s.sender[&dn(name)].snapshots().map(|v| v.guid.0).collect()
    }

    pub fn log(&self) -> Vec<String> {
        self.state().log.clone()
    }

    fn notify(&self) {
        self.0 .1.notify_all();
    }
}

impl State {
    fn bump(&mut self) -> u64 {
        self.next_txg += 1;
        self.next_txg
    }

    fn listing(&self, roots: &[DatasetName]) -> Listing {
        let mut l = Listing::default();
        for (name, e) in &self.sender {
            if roots
                .iter()
                .any(|r| name == r || name.as_str().starts_with(&format!("{r}/")))
            {
                let mut e = e.clone();
                for v in e.versions.iter_mut().filter(|v| v.is_snapshot()) {
                    let n = self.holds.get(&v.full_name(name.as_str())).map_or(0, |t| t.len());
                    v.userrefs = Some(n as u64);
                }
                l.filesystems.insert(name.clone(), e);
            }
        }
        l
    }
}

pub fn dn(s: &str) -> DatasetName {
    DatasetName::new(s).expect("a valid test name")
}

fn new_fs(name: &str, txg: &mut u64) -> FsEntry {
    *txg += 1;
    FsEntry {
        kind: DatasetKind::Filesystem,
        guid: Guid(*txg),
        createtxg: *txg,
        ..FsEntry::named(dn(name))
    }
}

fn version(kind: VersionKind, short: &str, guid: u64, createtxg: u64) -> Version {
    Version {
        kind,
        short: short.to_string(),
        guid: Guid(guid),
        createtxg,
        userrefs: None,
        creation: Some(1_700_000_000 + createtxg),
    }
}

fn zfs_error(what: &str, message: &str) -> ZfsError {
    ZfsError::parse(&[what.to_string()], message)
}

/// The in-memory sender.
pub struct MemSender(pub World);

impl Sender for MemSender {
    fn list_filesystems(&self, roots: &[DatasetName], _: Option<&str>) -> Result<(Listing, bool), ZfsError> {
        let s = self.0.state();
        if let Some(r) = roots.iter().find(|r| s.refused_roots.contains(r.as_str())) {
            return Err(zfs_error("list", &format!("{r} is outside the agent's root")).with_kind(ZfsErrorKind::Refused));
        }
        Ok((s.listing(roots), true))
    }

    fn list_versions(&self, _: &mut Listing, _: &[DatasetName]) -> Result<(), ZfsError> {
        Ok(())
    }

    fn list(&self, roots: &[DatasetName]) -> Result<Listing, ZfsError> {
        Ok(self.0.state().listing(roots))
    }

    fn holds(&self, snapshots: &[SnapshotName]) -> Result<Vec<Hold>, ZfsError> {
        let s = self.0.state();
        let tags = |n: &SnapshotName| s.holds.get(n.as_str()).cloned().unwrap_or_default();
        Ok(snapshots
            .iter()
            .flat_map(|n| {
                tags(n).into_iter().map(|tag| Hold {
                    snapshot: n.to_string(),
                    tag,
                    since: 0,
                })
            })
            .collect())
    }

    fn hold(&self, tag: &str, snapshots: &[SnapshotName]) -> Result<(), ZfsError> {
        let mut s = self.0.state();
        for n in snapshots {
            s.holds.entry(n.to_string()).or_default().insert(tag.to_string());
        }
        Ok(())
    }

    fn release(&self, tag: &str, snapshots: &[SnapshotName]) -> Result<(), ZfsError> {
        let mut s = self.0.state();
        for n in snapshots {
            if let Some(t) = s.holds.get_mut(n.as_str()) {
                t.remove(tag);
            }
        }
        s.holds.retain(|_, t| !t.is_empty());
        Ok(())
    }

    fn bookmark(&self, from: &str, guid: Guid, bookmark: &BookmarkName) -> Result<(), ZfsError> {
        let mut s = self.0.state();
        let (fs, short) = bookmark
            .as_str()
            .split_once('#')
            .ok_or_else(|| zfs_error("bookmark", from))?;
        let entry = s.sender.get_mut(&dn(fs)).ok_or_else(|| zfs_error("bookmark", from))?;
        let txg = entry.versions.iter().find(|v| v.guid == guid).map(|v| v.createtxg);
        let txg = txg.ok_or_else(|| zfs_error("bookmark", "no such snapshot"))?;
        if !entry.bookmarks().any(|b| b.short == short) {
            entry.versions.push(version(VersionKind::Bookmark, short, guid.0, txg));
            crate::zfs::list::sort_versions(&mut entry.versions);
        }
        Ok(())
    }

    fn destroy_bookmarks(&self, bookmarks: &[BookmarkName]) -> Result<(), ZfsError> {
        let mut s = self.0.state();
        for b in bookmarks {
            if let Some((fs, short)) = b.as_str().split_once('#') {
                if let Some(e) = s.sender.get_mut(&dn(fs)) {
                    e.versions
                        .retain(|v| !(v.kind == VersionKind::Bookmark && v.short == short));
                }
            }
        }
        Ok(())
    }

    /// Tokens are `mem-TOGUID-FROMGUID` (FROMGUID 0 for a full send).
    fn decode_resume_token(&self, token: &str) -> Result<ResumeToken, ZfsError> {
        let bad = || zfs_error("send -nvt", "not a token");
        let mut parts = token.strip_prefix("mem-").ok_or_else(bad)?.split('-');
        let mut next = || parts.next().and_then(|p| p.parse::<u64>().ok()).ok_or_else(bad);
        let (to, from) = (next()?, next()?);
        let s = self.0.state();
        let toname = s
            .sender
            .values()
            .find_map(|e| {
                e.snapshots()
                    .find(|v| v.guid.0 == to)
                    .map(|v| v.full_name(e.name.as_str()))
            })
            .ok_or_else(bad)?;
        Ok(ResumeToken {
            fromguid: (from != 0).then_some(Guid(from)),
            toguid: Guid(to),
            toname,
            bytes: 100,
            rawok: false,
            compressok: false,
            embedok: false,
            largeblockok: false,
            savedok: false,
        })
    }

    fn estimate(&self, _: &SendFlags, _: &DatasetName, _: &Step) -> Option<u64> {
        Some(4096)
    }

    fn creation_times(&self, snapshots: &[String]) -> Result<BTreeMap<String, u64>, ZfsError> {
        let s = self.0.state();
        let mut out = BTreeMap::new();
        for e in s.sender.values() {
            for v in e.snapshots() {
                let full = v.full_name(e.name.as_str());
                if snapshots.contains(&full) {
                    out.insert(full, v.creation.unwrap_or_default());
                }
            }
        }
        Ok(out)
    }

    fn set_property(&self, _: &str, _: &str, _: &str) -> Result<(), ZfsError> {
        Ok(())
    }

    /// The stream is one line: `TOGUID FROMGUID RESUMED` (FROMGUID 0 for a full send).
    fn send(&self, _: &SendFlags, fs: &DatasetName, step: &Step, _: Duration) -> Result<SendProcess, ZfsError> {
        let line = format!(
            "{} {} {}\n",
            step.to.guid.0,
            step.from.as_ref().map_or(0, |f| f.guid.0),
            u8::from(step.resume_token.is_some())
        );
        let args = vec!["send".to_string(), step.to.full_name(fs.as_str())];
        SendProcess::produced(&args, move |_, out: &mut dyn Write, _: &AtomicBool| {
            out.write_all(line.as_bytes())
                .map_err(|e| zfs_error("send", &e.to_string()))?;
            Ok(RemoteOutput {
                success: true,
                ..RemoteOutput::default()
            })
        })
    }
}

/// One in-memory receiver connection.
pub struct MemReceiver {
    world: World,
    list: Option<proto::ListRequest>,
    wire: u64,
}

impl MemReceiver {
    fn receive_into(&mut self, req: &proto::ReceiveRequest, stream: &str) -> Result<Streamed, AgentError> {
        let remote = |m: &str| AgentError::Remote {
            kind: crate::error::ErrorKind::ZfsOther,
            message: m.to_string(),
        };
        let nums: Vec<u64> = stream.split_whitespace().filter_map(|n| n.parse().ok()).collect();
        let [to, from, resumed] = nums[..] else {
            return Err(remote("a malformed stream"));
        };
        let name = dn(&format!("{RECEIVER_ROOT}/{}", req.fs));
        let mut s = self.world.state();
        if let Some(err) = s.receive_faults.get_mut(&req.fs).and_then(VecDeque::pop_front) {
            return Err(err);
        }
        if resumed == 1 {
            s.log.push(format!("resumed {}", req.fs));
        }
        let txg = s.bump();
        let mut next = self::new_fs(name.as_str(), &mut 0);
        next.createtxg = txg;
        let entry = s.receiver.entry(name.clone()).or_insert(next);
        let newest = entry.newest_snapshot().map_or(0, |v| v.guid.0);
        if from != newest || (from == 0) != entry.versions.is_empty() || to != req.to_guid {
            return Err(remote(&format!(
                "stream {to} from {from} does not apply to {name} at {newest}"
            )));
        }
        if (resumed == 1) != entry.resume_token.is_some() || req.resuming != (resumed == 1) {
            return Err(remote(
                "a resumed stream without a resumable state, or the other way round",
            ));
        }
        entry.resume_token = None;
        for v in entry.versions.iter_mut() {
            v.userrefs = Some(0);
        }
        let mut v = version(VersionKind::Snapshot, &req.to_short, to, txg);
        v.userrefs = Some(u64::from(req.last_received_hold));
        entry.versions.push(v);
        let bytes = stream.len() as u64;
        self.wire += bytes;
        Ok(Streamed {
            bytes,
            wire_bytes: bytes,
            received_guid: to,
        })
    }

    /// Waits (bounded) until another receive is active, for paths the test asked to meet.
    fn meet(&self, path: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut s = self.world.state();
        let met = |s: &State| s.active >= 2 || s.log.iter().any(|l| l.starts_with("overlap "));
        if !s.rendezvous.contains(path) {
            return;
        }
        while !met(&s) && Instant::now() < deadline {
            let cv = &self.world.0 .1;
            s = cv
                .wait_timeout(s, Duration::from_millis(50))
                .map(|(g, _)| g)
                .unwrap_or_else(|p| p.into_inner().0);
        }
        if s.active >= 2 {
            s.log.push(format!("overlap {path}"));
        }
    }
}

impl Receiver for MemReceiver {
    fn root(&self) -> &str {
        RECEIVER_ROOT
    }

    fn start_list(&mut self, req: proto::ListRequest) -> Result<(), AgentError> {
        self.list = Some(req);
        Ok(())
    }

    fn list_reply(&mut self) -> Result<proto::ListReply, AgentError> {
        self.list
            .take()
            .ok_or_else(|| AgentError::Protocol("no list request".into()))?;
        let root = dn(RECEIVER_ROOT);
        let s = self.world.state();
        Ok(proto::ListReply {
            filesystems: s
                .receiver
                .values()
                .map(|e| crate::agent::wire::convert::to_wire(&root, e))
                .collect(),
            root_exists: true,
            ..Default::default()
        })
    }

    fn receive(
        &mut self,
        req: proto::ReceiveRequest,
        _: &Step,
        source: &mut dyn FdRead,
        source_ok: &mut dyn FnMut() -> Result<(), Failure>,
        _: Duration,
        on_bytes: &mut dyn FnMut(u64),
    ) -> Result<Streamed, StreamError> {
        let mut stream = String::new();
        source
            .read_to_string(&mut stream)
            .map_err(|e| StreamError::Source(Failure::new(crate::error::ErrorKind::Io, e.to_string())))?;
        source_ok().map_err(StreamError::Source)?;
        self.world.state().active += 1;
        self.world.state().log.push(format!("start {}", req.fs));
        self.world.notify();
        self.meet(&req.fs);
        let r = self.receive_into(&req, &stream);
        let mut s = self.world.state();
        s.active -= 1;
        s.log.push(format!("end {}", req.fs));
        drop(s);
        self.world.notify();
        let r = r.map_err(StreamError::Agent)?;
        on_bytes(r.bytes);
        Ok(r)
    }

    fn wire_total(&self) -> u64 {
        self.wire
    }

    fn abort_resume(&mut self, fs: &str) -> Result<(), AgentError> {
        let name = dn(&format!("{RECEIVER_ROOT}/{fs}"));
        if let Some(e) = self.world.state().receiver.get_mut(&name) {
            e.resume_token = None;
        }
        Ok(())
    }

    fn hold_last_received(&mut self, fs: &str, snapshot: &str, _: u64, _: &str) -> Result<(), AgentError> {
        let name = dn(&format!("{RECEIVER_ROOT}/{fs}"));
        let mut s = self.world.state();
        let e = s
            .receiver
            .get_mut(&name)
            .ok_or_else(|| AgentError::Protocol(fs.into()))?;
        for v in e.versions.iter_mut().filter(|v| v.is_snapshot()) {
            v.userrefs = Some(u64::from(v.short == snapshot));
        }
        Ok(())
    }
}

/// Opens in-memory endpoints on one world.
pub struct MemEndpoints(pub World);

impl Endpoints for MemEndpoints {
    fn sender(&self) -> Result<Box<dyn Sender>, AgentError> {
        Ok(Box::new(MemSender(self.0.clone())))
    }

    fn receiver(&self) -> Result<Box<dyn Receiver>, AgentError> {
        self.0.state().log.push("connect".into());
        Ok(Box::new(MemReceiver {
            world: self.0.clone(),
            list: None,
            wire: 0,
        }))
    }

    fn local_sender(&self) -> Option<Box<dyn Sender>> {
        Some(Box::new(MemSender(self.0.clone())))
    }
}
