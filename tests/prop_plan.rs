//! Property tests for the planner, `zreplrs::plan::plan_filesystem`, on random replication histories.
//!
//! A history is a sequence of sender snapshots (unique GUIDs, increasing createtxg); each one is still on
//! the sender, on the sender together with a cursor-like bookmark, destroyed but kept as a bookmark, or
//! gone. The receiver (if it exists) has a prefix of that history (possibly with older snapshots pruned),
//! optionally followed by receiver-only snapshots (diverged), or only snapshots of its own (unrelated), or
//! none at all (placeholder or not); it may also have bookmarks, which the planner must ignore. A resume
//! token is absent, undecodable, valid, forged in one field, or stale.
//!
//! The expected plan is computed independently from the history model (sets of GUIDs and the label of the
//! generated token), never from the `FsEntry` values handed to the planner, and compared exactly; the
//! structural invariants (no destructive action, steps form a chain, applying the plan extends the
//! receiver) are checked on their own as well.

use std::collections::BTreeSet;

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};

use zreplrs::config::{InitialReplication, SnapshotFilter};
use zreplrs::plan::{plan_filesystem, ConflictKind, FsPlan, Policy, TokenState};
use zreplrs::zfs::list::{DatasetKind, FsEntry};
use zreplrs::zfs::names::DatasetName;
use zreplrs::zfs::token::ResumeToken;
use zreplrs::zfs::{Guid, Version, VersionKind};

// ---------------------------------------------------------------------------------------------------------
// The generated parameters.

const FS_NAMES: [&str; 3] = ["p/a", "tank/data", "pool/x y/z"];
const TOKEN: &str = "1-e604ea4bf-e0-789c63a2";

/// What became of a sender snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    /// Still a snapshot on the sender.
    Kept,
    /// Still a snapshot, and a cursor bookmark of it exists too.
    KeptWithBookmark,
    /// Destroyed on the sender, but its cursor bookmark remains.
    BookmarkOnly,
    /// Destroyed without a bookmark.
    Gone,
}

impl Fate {
    fn is_snapshot(self) -> bool {
        matches!(self, Fate::Kept | Fate::KeptWithBookmark)
    }
    fn has_bookmark(self) -> bool {
        matches!(self, Fate::KeptWithBookmark | Fate::BookmarkOnly)
    }
    fn on_sender(self) -> bool {
        self != Fate::Gone
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// The receiver dataset exists without snapshots.
    Empty,
    /// A prefix of the history (older snapshots possibly pruned).
    Prefix,
    /// A prefix (possibly empty) followed by receiver-only snapshots.
    Diverged,
    /// Only receiver-only snapshots.
    Unrelated,
}

#[derive(Debug, Clone)]
struct RecvParams {
    shape: Shape,
    /// Length of the prefix of the history the receiver got.
    len: Index,
    /// Which of the older prefix snapshots the receiver still has (the newest one it always has).
    keep: Vec<bool>,
    /// Number of receiver-only snapshots (Diverged, Unrelated).
    extras: usize,
    /// Receiver snapshots carry other short names than the sender's (GUIDs decide, not names).
    renamed: bool,
    placeholder_prop: bool,
    /// Receiver bookmarks: of a history snapshot (`false`) or of a receiver-only GUID (`true`), at a
    /// position among the receiver's snapshots.
    bookmarks: Vec<(Index, bool, Index)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TokenKind {
    None,
    Undecodable,
    /// toguid a sender snapshot newer than the base, fromguid the base, rawok = policy.raw and the sender
    /// filesystem is encrypted.
    Valid,
    /// A valid token whose toname names another filesystem.
    ForgedFs,
    /// A valid token whose toname names another snapshot of the right filesystem.
    ForgedShort,
    /// toguid an existing sender snapshot that is not newer than the base.
    ForgedNotNewer,
    /// A valid token with another fromguid.
    ForgedFrom,
    /// A valid token with rawok flipped.
    ForgedRaw,
    /// toname is not a snapshot name.
    ForgedNoAt,
    /// toguid is on neither side.
    StaleFresh,
    /// toguid is a sender snapshot that was destroyed (perhaps kept as a bookmark).
    StaleDestroyed,
}

impl TokenKind {
    fn is_forged(self) -> bool {
        matches!(
            self,
            TokenKind::ForgedFs
                | TokenKind::ForgedShort
                | TokenKind::ForgedNotNewer
                | TokenKind::ForgedFrom
                | TokenKind::ForgedRaw
                | TokenKind::ForgedNoAt
        )
    }
    fn is_stale(self) -> bool {
        matches!(self, TokenKind::StaleFresh | TokenKind::StaleDestroyed)
    }
}

#[derive(Debug, Clone)]
struct Params {
    fs: &'static str,
    seed: u64,
    /// (createtxg gap to the previous snapshot, fate), oldest first.
    history: Vec<(u64, Fate)>,
    sender_encrypted: bool,
    policy: Policy,
    recv: Option<RecvParams>,
    token: TokenKind,
    pick: Index,
    pick2: Index,
}

fn fate() -> impl Strategy<Value = Fate> {
    prop_oneof![
        6 => Just(Fate::Kept),
        1 => Just(Fate::KeptWithBookmark),
        2 => Just(Fate::BookmarkOnly),
        1 => Just(Fate::Gone),
    ]
}

fn policy() -> impl Strategy<Value = Policy> {
    let initial = prop_oneof![
        Just(InitialReplication::MostRecent),
        Just(InitialReplication::All),
        Just(InitialReplication::Fail),
    ];
    // send.encrypted implies raw.
    (initial, prop::bool::weighted(0.3), any::<bool>()).prop_map(|(initial, encrypted, raw)| Policy {
        initial,
        encrypted,
        raw: raw || encrypted,
        snapshots: SnapshotFilter::default(),
    })
}

fn recv_params() -> impl Strategy<Value = RecvParams> {
    let shape = prop_oneof![
        2 => Just(Shape::Empty),
        8 => Just(Shape::Prefix),
        2 => Just(Shape::Diverged),
        1 => Just(Shape::Unrelated),
    ];
    (
        shape,
        any::<Index>(),
        prop::collection::vec(any::<bool>(), 12),
        1usize..4,
        prop::bool::weighted(0.2),
        any::<bool>(),
        prop::collection::vec((any::<Index>(), prop::bool::weighted(0.3), any::<Index>()), 0..3),
    )
        .prop_map(
            |(shape, len, keep, extras, renamed, placeholder_prop, bookmarks)| RecvParams {
                shape,
                len,
                keep,
                extras,
                renamed,
                placeholder_prop,
                bookmarks,
            },
        )
}

fn token_kind() -> impl Strategy<Value = TokenKind> {
    use TokenKind::*;
    prop::sample::select(vec![
        None,
        None,
        None,
        None,
        Undecodable,
        Valid,
        Valid,
        Valid,
        Valid,
        ForgedFs,
        ForgedShort,
        ForgedNotNewer,
        ForgedFrom,
        ForgedRaw,
        ForgedNoAt,
        StaleFresh,
        StaleDestroyed,
    ])
}

fn params() -> impl Strategy<Value = Params> {
    (
        prop::sample::select(FS_NAMES.to_vec()),
        any::<u64>(),
        prop::collection::vec((1u64..30, fate()), 0..10),
        prop::bool::weighted(0.8),
        policy(),
        prop::option::weighted(0.9, recv_params()),
        token_kind(),
        any::<Index>(),
        any::<Index>(),
    )
        .prop_map(
            |(fs, seed, history, sender_encrypted, policy, recv, token, pick, pick2)| Params {
                fs,
                seed,
                history,
                sender_encrypted,
                policy,
                recv,
                token,
                pick,
                pick2,
            },
        )
}

// ---------------------------------------------------------------------------------------------------------
// The model built from the parameters, and the planner's inputs built from the model.

/// splitmix64's finalizer: a bijection on u64, so distinct ids give distinct GUIDs.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

// GUID ids: history snapshot i → i; everything else far above the history.
const ID_RECV_ONLY: u64 = 1000;
const ID_RECV_BOOKMARK: u64 = 2000;
const ID_TOKEN_FRESH: u64 = 3000;
const ID_TOKEN_FROM: u64 = 3001;
const ID_FS: u64 = 4000;

#[derive(Debug, Clone)]
struct HSnap {
    short: String,
    guid: u64,
    txg: u64,
    fate: Fate,
}

#[derive(Debug, Clone)]
struct Model {
    history: Vec<HSnap>,
    sender_encrypted: bool,
    policy: Policy,
    /// `Some(placeholder_prop)` when the receiver dataset exists.
    recv_exists: Option<bool>,
    /// The receiver's snapshot GUIDs, oldest first.
    recv_snaps: Vec<u64>,
    /// The token kind actually built (`None` when the asked-for kind was impossible in this history).
    token_kind: TokenKind,
    token: TokenState,
    sender: FsEntry,
    receiver: Option<FsEntry>,
}

fn version(kind: VersionKind, short: &str, guid: u64, txg: u64) -> Version {
    Version {
        kind,
        short: short.to_string(),
        guid: Guid(guid),
        createtxg: txg,
        userrefs: (kind == VersionKind::Snapshot).then_some(0),
        creation: None,
    }
}

/// Sorted as `zfs::list::parse_listing` sorts: createtxg, a snapshot before its bookmark, then name.
fn sort_versions(v: &mut [Version]) {
    v.sort_by_key(|v| (v.createtxg, v.kind == VersionKind::Bookmark, v.short.clone()));
}

fn entry(name: &str, guid: u64, encryption: Option<&str>, placeholder: bool, versions: Vec<Version>) -> FsEntry {
    FsEntry {
        name: DatasetName::new(name).unwrap(),
        kind: DatasetKind::Filesystem,
        guid: Guid(guid),
        createtxg: 1,
        resume_token: None,
        encryption: encryption.map(str::to_string),
        placeholder_prop: placeholder,
        snapshots_changed: None,
        sync_record: None,
        versions,
    }
}

fn pick_from<'a>(i: Index, v: &[&'a HSnap]) -> Option<&'a HSnap> {
    v.get(i.index(v.len().max(1))).copied()
}

fn build(p: &Params) -> Model {
    let g = |id: u64| mix(p.seed.wrapping_add(id));
    let mut txg = 1;
    let history: Vec<HSnap> = p
        .history
        .iter()
        .enumerate()
        .map(|(i, &(gap, fate))| {
            txg += gap;
            HSnap {
                short: format!("zrepl_{i:03}"),
                guid: g(i as u64),
                txg,
                fate,
            }
        })
        .collect();

    // Sender.
    let mut sv = Vec::new();
    for h in &history {
        if h.fate.is_snapshot() {
            sv.push(version(VersionKind::Snapshot, &h.short, h.guid, h.txg));
        }
        if h.fate.has_bookmark() {
            let short = format!("zrepl_CURSOR_G_{:016x}_J_job", h.guid);
            sv.push(version(VersionKind::Bookmark, &short, h.guid, h.txg));
        }
    }
    sort_versions(&mut sv);
    let sender = entry(p.fs, g(ID_FS), p.sender_encrypted.then_some("aes-256-gcm"), false, sv);

    // Receiver snapshots: (short, guid), oldest first.
    let n = history.len();
    let mut recv: Vec<(String, u64)> = Vec::new();
    let recv_name = |h: &HSnap, renamed: bool| {
        if renamed {
            format!("renamed_{}", h.short)
        } else {
            h.short.clone()
        }
    };
    if let Some(r) = &p.recv {
        let prefix = match r.shape {
            Shape::Empty | Shape::Unrelated => 0,
            Shape::Prefix if n == 0 => 0,
            Shape::Prefix => r.len.index(n) + 1,
            Shape::Diverged => r.len.index(n + 1),
        };
        for (i, h) in history[..prefix].iter().enumerate() {
            if i + 1 == prefix || r.keep[i % r.keep.len()] {
                recv.push((recv_name(h, r.renamed), h.guid));
            }
        }
        if matches!(r.shape, Shape::Diverged | Shape::Unrelated) {
            for j in 0..r.extras {
                recv.push((format!("local_{j}"), g(ID_RECV_ONLY + j as u64)));
            }
        }
    }
    let recv_snaps: Vec<u64> = recv.iter().map(|(_, g)| *g).collect();

    // The token, built against the model.
    let base: Option<&HSnap> = recv_snaps
        .last()
        .and_then(|b| history.iter().find(|h| h.guid == *b && h.fate.on_sender()));
    let from = base.map(|b| b.guid);
    let snaps: Vec<&HSnap> = history.iter().filter(|h| h.fate.is_snapshot()).collect();
    let candidates: Vec<&HSnap> = snaps
        .iter()
        .copied()
        .filter(|h| base.is_none_or(|b| h.txg > b.txg))
        .collect();
    let older: Vec<&HSnap> = match base {
        Some(b) => snaps.iter().copied().filter(|h| h.txg <= b.txg).collect(),
        None => Vec::new(),
    };
    let destroyed: Vec<&HSnap> = history.iter().filter(|h| !h.fate.is_snapshot()).collect();
    let fs = p.fs;
    // ZFS marks a token rawok only for a raw send of encrypted data.
    let rawok = p.policy.raw && p.sender_encrypted;
    let mk = |to_guid: u64, toname: String, fromguid: Option<u64>, rawok: bool| ResumeToken {
        fromguid: fromguid.map(Guid),
        toguid: Guid(to_guid),
        toname,
        bytes: 0x1000,
        rawok,
        compressok: true,
        embedok: false,
        largeblockok: false,
        savedok: false,
    };
    let valid = |to: &HSnap| mk(to.guid, format!("{fs}@{}", to.short), from, rawok);
    let decoded: Option<ResumeToken> = match p.token {
        TokenKind::None | TokenKind::Undecodable => None,
        TokenKind::Valid => pick_from(p.pick, &candidates).map(valid),
        TokenKind::ForgedFs => pick_from(p.pick, &candidates).map(|to| {
            let others = [
                format!("{fs}x"),
                format!("{fs}/child"),
                format!("other/{fs}"),
                "p".to_string(),
            ];
            let other = &others[p.pick2.index(others.len())];
            ResumeToken {
                toname: format!("{other}@{}", to.short),
                ..valid(to)
            }
        }),
        TokenKind::ForgedShort => pick_from(p.pick, &candidates).map(|to| ResumeToken {
            toname: format!("{fs}@evil_{}", to.short),
            ..valid(to)
        }),
        TokenKind::ForgedNotNewer => pick_from(p.pick, &older).map(valid),
        TokenKind::ForgedFrom => pick_from(p.pick, &candidates).map(|to| {
            let other_history: Vec<u64> = history.iter().map(|h| h.guid).filter(|g| Some(*g) != from).collect();
            let fromguid = match (from, p.pick2.index(3)) {
                (Some(_), 0) => None,
                (_, 1) if !other_history.is_empty() => Some(other_history[p.pick2.index(other_history.len())]),
                _ => Some(g(ID_TOKEN_FROM)),
            };
            ResumeToken {
                fromguid: fromguid.map(Guid),
                ..valid(to)
            }
        }),
        TokenKind::ForgedRaw => pick_from(p.pick, &candidates).map(|to| ResumeToken {
            rawok: !rawok,
            ..valid(to)
        }),
        TokenKind::ForgedNoAt => Some(mk(
            pick_from(p.pick, &candidates).map_or(g(ID_TOKEN_FRESH), |h| h.guid),
            fs.to_string(),
            from,
            rawok,
        )),
        TokenKind::StaleFresh => Some(mk(g(ID_TOKEN_FRESH), format!("{fs}@gone"), from, rawok)),
        TokenKind::StaleDestroyed => {
            pick_from(p.pick, &destroyed).map(|h| mk(h.guid, format!("{fs}@{}", h.short), from, rawok))
        }
    };
    let (token_kind, token) = match (p.token, decoded) {
        (TokenKind::Undecodable, _) => (
            TokenKind::Undecodable,
            TokenState::Undecodable {
                token: TOKEN.into(),
                message: "cannot resume send: checksum mismatch".into(),
            },
        ),
        (kind, Some(decoded)) => (
            kind,
            TokenState::Decoded {
                token: TOKEN.into(),
                decoded,
            },
        ),
        (_, None) => (TokenKind::None, TokenState::None),
    };

    // Receiver entry.
    let receiver = p.recv.as_ref().map(|r| {
        let mut rv: Vec<Version> = recv
            .iter()
            .enumerate()
            .map(|(j, (short, guid))| version(VersionKind::Snapshot, short, *guid, 100 + 3 * j as u64))
            .collect();
        for (k, (what, fresh, at)) in r.bookmarks.iter().enumerate() {
            let guid = if *fresh || history.is_empty() {
                g(ID_RECV_BOOKMARK + k as u64)
            } else {
                history[what.index(history.len())].guid
            };
            let txg = 100 + 3 * at.index(recv.len() + 1) as u64 + 1;
            rv.push(version(VersionKind::Bookmark, &format!("rb{k}"), guid, txg));
        }
        sort_versions(&mut rv);
        let mut e = entry(
            &format!("backup/hosts/{fs}"),
            g(ID_FS + 1),
            p.sender_encrypted.then_some("aes-256-gcm"),
            r.placeholder_prop,
            rv,
        );
        if token != TokenState::None {
            e.resume_token = Some(TOKEN.to_string());
        }
        e
    });

    Model {
        history,
        sender_encrypted: p.sender_encrypted,
        policy: p.policy.clone(),
        recv_exists: p.recv.as_ref().map(|r| r.placeholder_prop),
        recv_snaps,
        token_kind,
        token,
        sender,
        receiver,
    }
}

fn model() -> impl Strategy<Value = Model> {
    params().prop_map(|p| build(&p))
}

fn plan(m: &Model) -> FsPlan {
    plan_filesystem(&m.sender, m.receiver.as_ref(), &m.token, &m.policy)
}

// ---------------------------------------------------------------------------------------------------------
// The independent oracle.

/// A plan reduced to GUIDs: `(from, to, resumed)` per step.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Expect {
    Conflict(ConflictKind),
    UpToDate,
    Replicate {
        steps: Vec<(Option<u64>, u64, bool)>,
        abort_stale_token: bool,
        replace_placeholder: bool,
    },
}

fn reduce(plan: &FsPlan) -> Expect {
    match plan {
        FsPlan::UpToDate => Expect::UpToDate,
        FsPlan::Conflict { kind, .. } => Expect::Conflict(*kind),
        FsPlan::Replicate {
            steps,
            abort_stale_token,
            replace_placeholder,
        } => Expect::Replicate {
            // An -I step counts as the per-snapshot steps it stands for.
            steps: steps
                .iter()
                .flat_map(|s| {
                    let mut prev = s.from.as_ref().map(|v| v.guid.0);
                    let mut out = Vec::new();
                    for (i, v) in s.intermediates.iter().chain(std::iter::once(&s.to)).enumerate() {
                        out.push((prev, v.guid.0, i == 0 && s.resume_token.is_some()));
                        prev = Some(v.guid.0);
                    }
                    out
                })
                .collect(),
            abort_stale_token: *abort_stale_token,
            replace_placeholder: *replace_placeholder,
        },
    }
}

fn chain(from: Option<u64>, tos: &[u64]) -> Vec<(Option<u64>, u64, bool)> {
    let mut prev = from;
    tos.iter()
        .map(|&to| {
            let step = (prev, to, false);
            prev = Some(to);
            step
        })
        .collect()
}

/// The token's toguid (for Valid tokens).
fn token_to(m: &Model) -> Option<u64> {
    match &m.token {
        TokenState::Decoded { decoded, .. } => Some(decoded.toguid.0),
        _ => None,
    }
}

fn expect(m: &Model) -> Expect {
    use ConflictKind::*;
    if m.policy.encrypted && !m.sender_encrypted {
        return Expect::Conflict(NotEncrypted);
    }
    let sender_snaps: Vec<&HSnap> = m.history.iter().filter(|h| h.fate.is_snapshot()).collect();

    // The incremental base: the receiver's newest snapshot, as a sender snapshot or bookmark.
    let base: Option<&HSnap> = match m.recv_snaps.last() {
        None => None,
        Some(newest) => match m.history.iter().find(|h| h.guid == *newest && h.fate.on_sender()) {
            Some(h) => Some(h),
            None => {
                // No valid incremental base. Diverged if some receiver snapshot is still on the sender (as
                // a snapshot or a bookmark: after destroying the receiver's newer snapshots it would be a
                // valid base again), else nothing in common.
                let common = m
                    .recv_snaps
                    .iter()
                    .any(|g| m.history.iter().any(|h| h.guid == *g && h.fate.on_sender()));
                return Expect::Conflict(if common {
                    Diverged
                } else if sender_snaps.is_empty() {
                    NoSenderSnapshots
                } else {
                    NoCommonAncestor
                });
            }
        },
    };
    let newer = |txg: u64| -> Vec<u64> { sender_snaps.iter().filter(|h| h.txg > txg).map(|h| h.guid).collect() };
    let candidates = newer(base.map_or(0, |b| b.txg));
    let recv_is_empty_placeholder = m.recv_exists == Some(true) && m.recv_snaps.is_empty();
    // ZFS cannot replace an unencrypted placeholder with a raw encrypted copy.
    let raw_over_placeholder =
        recv_is_empty_placeholder && m.policy.raw && m.sender_encrypted && m.token_kind == TokenKind::None;

    let mut abort_stale_token = false;
    match m.token_kind {
        TokenKind::None => {}
        TokenKind::Undecodable => return Expect::Conflict(ResumeTokenUndecodable),
        k if k.is_forged() => return Expect::Conflict(ResumeTokenMismatch),
        k if k.is_stale() => abort_stale_token = true,
        _ => {
            // Valid: resume the token's step, then continue with everything newer; but a partial initial
            // send is not finished under `fail`.
            if base.is_none() && m.policy.initial == InitialReplication::Fail {
                return Expect::Conflict(InitialReplicationRefused);
            }
            let to = token_to(m).unwrap();
            let to_txg = m.history.iter().find(|h| h.guid == to).unwrap().txg;
            let mut steps = vec![(base.map(|b| b.guid), to, true)];
            steps.extend(chain(Some(to), &newer(to_txg)));
            return Expect::Replicate {
                steps,
                abort_stale_token: false,
                replace_placeholder: recv_is_empty_placeholder,
            };
        }
    }

    if base.is_none() {
        if sender_snaps.is_empty() {
            return Expect::Conflict(NoSenderSnapshots);
        }
        // A receiver dataset without snapshots is replaced only when it is a placeholder (or holds an
        // interrupted receive, i.e. has a resume token).
        if m.recv_exists == Some(false) && m.token == TokenState::None {
            return Expect::Conflict(ReceiverNotEmpty);
        }
        let all: Vec<u64> = sender_snaps.iter().map(|h| h.guid).collect();
        let tos = match m.policy.initial {
            InitialReplication::Fail => return Expect::Conflict(InitialReplicationRefused),
            InitialReplication::MostRecent => vec![*all.last().unwrap()],
            InitialReplication::All => all,
        };
        if raw_over_placeholder {
            return Expect::Conflict(EncryptedOverPlaceholder);
        }
        return Expect::Replicate {
            steps: chain(None, &tos),
            abort_stale_token,
            replace_placeholder: recv_is_empty_placeholder,
        };
    }
    if candidates.is_empty() {
        return if abort_stale_token {
            Expect::Replicate {
                steps: Vec::new(),
                abort_stale_token,
                replace_placeholder: false,
            }
        } else {
            Expect::UpToDate
        };
    }
    Expect::Replicate {
        steps: chain(base.map(|b| b.guid), &candidates),
        abort_stale_token,
        replace_placeholder: false,
    }
}

// ---------------------------------------------------------------------------------------------------------
// Structural invariants.

/// The plan type has no destructive action: this match is exhaustive on purpose, so adding a variant (say a
/// rollback) forces a decision here.
fn never_destructive(m: &Model, plan: &FsPlan) -> Result<(), TestCaseError> {
    match plan {
        FsPlan::UpToDate | FsPlan::Conflict { .. } => {}
        FsPlan::Replicate {
            replace_placeholder, ..
        } => {
            if *replace_placeholder {
                let r = m.receiver.as_ref();
                prop_assert!(r.is_some(), "replace_placeholder without a receiver dataset");
                prop_assert!(
                    m.recv_snaps.is_empty(),
                    "replace_placeholder on a receiver with snapshots"
                );
                prop_assert!(r.unwrap().is_placeholder(), "replace_placeholder on a non-placeholder");
            }
        }
    }
    Ok(())
}

/// The sender version the planner must use as incremental source for `guid`: its snapshot if it still
/// exists, else its bookmark.
fn expected_source(m: &Model, guid: u64) -> Option<&Version> {
    let with_guid = || m.sender.versions.iter().filter(move |v| v.guid.0 == guid);
    with_guid().find(|v| v.is_snapshot()).or_else(|| with_guid().next())
}

fn steps_form_a_chain(m: &Model, plan: &FsPlan) -> Result<(), TestCaseError> {
    let steps = plan.steps();
    let Some(first) = steps.first() else {
        return Ok(());
    };
    match &first.from {
        None => prop_assert!(m.recv_snaps.is_empty(), "full send to a receiver with snapshots"),
        Some(from) => {
            prop_assert_eq!(
                Some(from.guid.0),
                m.recv_snaps.last().copied(),
                "first from is not the receiver's newest snapshot"
            );
            prop_assert_eq!(Some(from), expected_source(m, from.guid.0), "wrong source version");
        }
    }
    for (i, s) in steps.iter().enumerate() {
        prop_assert!(s.to.is_snapshot(), "step {} sends a bookmark", i);
        prop_assert!(
            m.sender.snapshots().any(|v| v == &s.to),
            "step {} sends a snapshot the sender does not have",
            i
        );
        if let Some(from) = &s.from {
            prop_assert!(from.createtxg < s.to.createtxg, "step {} goes backwards", i);
        }
        if !s.intermediates.is_empty() {
            // An -I stream: from a snapshot, carrying exactly the sender snapshots strictly between.
            let from = s.from.as_ref();
            prop_assert!(
                from.is_some_and(|f| f.is_snapshot()),
                "step {} uses -I without a snapshot source",
                i
            );
            prop_assert!(s.resume_token.is_none(), "a resumed step carries no intermediates");
            let lo = from.map_or(0, |f| f.createtxg);
            let between: Vec<&Version> = m
                .sender
                .snapshots()
                .filter(|v| v.createtxg > lo && v.createtxg < s.to.createtxg)
                .collect();
            prop_assert_eq!(
                s.intermediates.iter().collect::<Vec<_>>(),
                between,
                "step {} intermediates",
                i
            );
        }
        if i > 0 {
            prop_assert_eq!(
                s.from.as_ref(),
                Some(&steps[i - 1].to),
                "step {} does not continue the chain",
                i
            );
            prop_assert!(s.resume_token.is_none(), "only the first step resumes");
        }
    }
    let newest = m.sender.newest_snapshot().unwrap();
    prop_assert_eq!(
        &steps[steps.len() - 1].to,
        newest,
        "the last step does not reach the newest snapshot"
    );
    Ok(())
}

/// Applying the plan to the receiver (appending each `to`) gives the sender's snapshots after the base.
fn apply_extends_receiver(m: &Model, plan: &FsPlan) -> Result<(), TestCaseError> {
    let steps = plan.steps();
    if steps.is_empty() {
        return Ok(());
    }
    let mut after = m.recv_snaps.clone();
    after.extend(
        steps
            .iter()
            .flat_map(|s| s.intermediates.iter().chain(std::iter::once(&s.to)))
            .map(|v| v.guid.0),
    );
    let sender_snaps: Vec<&Version> = m.sender.snapshots().collect();
    // From where on the receiver gets every sender snapshot: after the base, or (resumed) from the
    // token's snapshot on, or (full send) from the oldest or the newest, depending on the policy.
    let first = &steps[0];
    let start_txg = match (&first.from, first.resume_token.is_some(), m.policy.initial) {
        (_, true, _) => first.to.createtxg,
        (Some(base), false, _) => base.createtxg + 1,
        (None, false, InitialReplication::MostRecent) => sender_snaps.last().unwrap().createtxg,
        (None, false, _) => 0,
    };
    let want: Vec<u64> = sender_snaps
        .iter()
        .filter(|v| v.createtxg >= start_txg)
        .map(|v| v.guid.0)
        .collect();
    prop_assert!(
        after.ends_with(&want) && after.len() == m.recv_snaps.len() + want.len(),
        "receiver after the plan {:?} does not end with exactly {:?}",
        after,
        want
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------
// The properties.

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    /// The plan equals the independently computed expectation, conflict kinds included.
    #[test]
    fn plan_matches_the_model(m in model()) {
        let plan = plan(&m);
        prop_assert_eq!(reduce(&plan), expect(&m), "plan {:?}", plan);
        if let FsPlan::Conflict { reason, .. } = &plan {
            prop_assert!(!reason.is_empty());
        }
    }

    #[test]
    fn plans_never_destroy_and_steps_form_a_chain(m in model()) {
        let plan = plan(&m);
        never_destructive(&m, &plan)?;
        steps_form_a_chain(&m, &plan)?;
        apply_extends_receiver(&m, &plan)?;
    }

    /// A conflict exactly when there is no valid incremental base or one of the documented reasons holds.
    #[test]
    fn conflict_exactly_when_documented(m in model()) {
        let plan = plan(&m);
        let recv_newest = m.recv_snaps.last();
        let no_base = recv_newest.is_some_and(|g| !m.sender.versions.iter().any(|v| v.guid.0 == *g));
        let no_sender_snaps = m.sender.snapshots().next().is_none();
        let needs_initial = m.recv_snaps.is_empty();
        let not_encrypted = m.policy.encrypted && !m.sender_encrypted;
        // A raw encrypted copy cannot replace an (unencrypted) placeholder.
        let raw_over_placeholder = m.recv_exists == Some(true)
            && needs_initial
            && m.policy.raw
            && m.sender_encrypted
            && m.token_kind == TokenKind::None;
        let documented = no_base
            || raw_over_placeholder
            || not_encrypted
            || (needs_initial && no_sender_snaps)
            || (needs_initial && m.policy.initial == InitialReplication::Fail)
            || (needs_initial && m.recv_exists == Some(false) && m.token == TokenState::None)
            || m.token_kind.is_forged()
            || m.token_kind == TokenKind::Undecodable;
        prop_assert_eq!(matches!(plan, FsPlan::Conflict { .. }), documented, "plan {:?}", plan);
        if no_base && !not_encrypted {
            let kind = match &plan { FsPlan::Conflict { kind, .. } => *kind, _ => unreachable!() };
            prop_assert!(matches!(
                kind,
                ConflictKind::Diverged | ConflictKind::NoCommonAncestor | ConflictKind::NoSenderSnapshots
            ));
        }
    }

    #[test]
    fn planning_is_deterministic(m in model()) {
        let a = plan(&m);
        let b = plan(&m);
        prop_assert_eq!(&a, &b);
        let (s, r, t) = (m.sender.clone(), m.receiver.clone(), m.token.clone());
        prop_assert_eq!(plan_filesystem(&s, r.as_ref(), &t, &m.policy), a);
    }

    /// Tokens: valid ones are resumed, forged ones refused, stale ones aborted.
    #[test]
    fn resume_tokens(m in model()) {
        let plan = plan(&m);
        // Only where no conflict comes before the token is looked at.
        let pre_token_conflict = (m.policy.encrypted && !m.sender_encrypted)
            || m.recv_snaps.last().is_some_and(|g| !m.sender.versions.iter().any(|v| v.guid.0 == *g));
        if pre_token_conflict {
            return Ok(());
        }
        match m.token_kind {
            TokenKind::Valid if m.recv_snaps.is_empty() && m.policy.initial == InitialReplication::Fail => {
                prop_assert!(
                    matches!(plan, FsPlan::Conflict { kind: ConflictKind::InitialReplicationRefused, .. }),
                    "{:?}", plan
                );
            }
            TokenKind::Valid => {
                let first = &plan.steps()[0];
                prop_assert_eq!(first.resume_token.as_deref(), Some(TOKEN));
                prop_assert_eq!(Some(first.to.guid.0), token_to(&m));
                prop_assert_eq!(first.from.as_ref().map(|v| v.guid.0), m.recv_snaps.last().copied());
            }
            k if k.is_forged() => {
                prop_assert!(
                    matches!(&plan, FsPlan::Conflict { kind: ConflictKind::ResumeTokenMismatch, reason }
                        if reason.contains("zfs receive -A")),
                    "{:?}: {:?}", k, plan
                );
            }
            k if k.is_stale() => {
                let needs_initial_refused = m.recv_snaps.is_empty()
                    && (m.policy.initial == InitialReplication::Fail || m.sender.snapshots().next().is_none());
                if !needs_initial_refused {
                    prop_assert!(
                        matches!(plan, FsPlan::Replicate { abort_stale_token: true, .. }),
                        "{:?}", plan
                    );
                    prop_assert!(plan.steps().iter().all(|s| s.resume_token.is_none()));
                }
            }
            _ => prop_assert!(plan.steps().iter().all(|s| s.resume_token.is_none())),
        }
    }
}

/// The generator reaches every outcome, so the properties above are not vacuous.
#[test]
fn generator_covers_every_outcome() {
    let mut runner = TestRunner::deterministic();
    let strategy = model();
    let mut seen: BTreeSet<String> = BTreeSet::new();
    for _ in 0..3000 {
        let m = strategy.new_tree(&mut runner).unwrap().current();
        let label = match plan(&m) {
            FsPlan::UpToDate => "up_to_date".to_string(),
            FsPlan::Conflict { kind, .. } => format!("{kind:?}"),
            FsPlan::Replicate {
                steps,
                abort_stale_token,
                replace_placeholder,
            } => {
                let from = match steps.first() {
                    None => "none",
                    Some(s) if s.resume_token.is_some() => "resumed",
                    Some(s) if s.from.is_none() => "full",
                    Some(s) if s.from.as_ref().is_some_and(|f| !f.is_snapshot()) => "from_bookmark",
                    Some(_) => "incremental",
                };
                format!("replicate_{from}_abort={abort_stale_token}_placeholder={replace_placeholder}")
            }
        };
        seen.insert(label);
    }
    for want in [
        "up_to_date",
        "NoSenderSnapshots",
        "NoCommonAncestor",
        "Diverged",
        "InitialReplicationRefused",
        "NotEncrypted",
        "ReceiverNotEmpty",
        "ResumeTokenMismatch",
        "ResumeTokenUndecodable",
        "EncryptedOverPlaceholder",
        "replicate_full_abort=false_placeholder=false",
        "replicate_full_abort=false_placeholder=true",
        "replicate_full_abort=true_placeholder=false",
        "replicate_incremental_abort=false_placeholder=false",
        "replicate_incremental_abort=true_placeholder=false",
        "replicate_from_bookmark_abort=false_placeholder=false",
        "replicate_resumed_abort=false_placeholder=false",
        "replicate_none_abort=true_placeholder=false",
    ] {
        assert!(seen.contains(want), "never generated {want}; seen {seen:?}");
    }
}

// ---------------------------------------------------------------------------------------------------------
// REGRESSIONS: minimal cases the properties above found in src/plan.rs (both fixed in commit 1b1e106,
// "Planner: find divergence through sender bookmarks; do not resume a partial initial send under
// initial_replication = fail"). Search for "REGRESSION" to find them.

/// REGRESSION 1 (was src/plan.rs:332-335, `diverged_or_unrelated`): the common ancestor was searched among the
/// sender's *snapshots* only. When the receiver has diverged after a snapshot that the sender keeps only as a
/// (cursor) bookmark, the planner reported `NoCommonAncestor` with the reason "... with no GUID in common;
/// replicate into a new receiver dataset or destroy the receiver's copy", which is false and gives wrong
/// advice: destroying only the receiver's extra snapshot (`@local_0`) makes the bookmark a valid incremental
/// base again, no full resend needed. Expected: `Diverged`, naming `@zrepl_000` as the newest common version.
#[test]
fn regression_1_common_bookmark_means_diverged_not_unrelated() {
    let cursor = "zrepl_CURSOR_G_000000000000000a_J_job";
    let sender = entry(
        "p/a",
        1,
        None,
        false,
        vec![
            version(VersionKind::Bookmark, cursor, 10, 5),
            version(VersionKind::Snapshot, "zrepl_001", 11, 9),
        ],
    );
    let receiver = entry(
        "backup/hosts/p/a",
        2,
        None,
        false,
        vec![
            version(VersionKind::Snapshot, "zrepl_000", 10, 100),
            version(VersionKind::Snapshot, "local_0", 99, 103),
        ],
    );
    let policy = Policy {
        initial: InitialReplication::MostRecent,
        encrypted: false,
        raw: false,
        snapshots: SnapshotFilter::default(),
    };
    let plan = plan_filesystem(&sender, Some(&receiver), &TokenState::None, &policy);
    match &plan {
        FsPlan::Conflict { kind, reason } => {
            assert_eq!(*kind, ConflictKind::Diverged, "{reason}");
            assert!(reason.contains("local_0"), "{reason}");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
}

/// REGRESSION 2 (was src/plan.rs:203, the `resumed` early return, reached before the
/// `InitialReplication::Fail` check at src/plan.rs:239): with `initial_replication = "fail"` a receiver's
/// resume token for a *full* send was honoured, so the job performed (the rest of) an initial full send it is
/// configured to refuse. docs/design.md §3: a token must match "what the sender would send without a token", which is
/// nothing here. Expected: a conflict (`InitialReplicationRefused`, or `ResumeTokenMismatch`), not a resumed
/// full send.
#[test]
fn regression_2_fail_policy_does_not_resume_a_full_send() {
    let sender = entry(
        "p/a",
        1,
        None,
        false,
        vec![version(VersionKind::Snapshot, "zrepl_000", 10, 5)],
    );
    let mut receiver = entry("backup/hosts/p/a", 2, None, false, vec![]);
    receiver.resume_token = Some(TOKEN.to_string());
    let token = TokenState::Decoded {
        token: TOKEN.into(),
        decoded: ResumeToken {
            fromguid: None,
            toguid: Guid(10),
            toname: "p/a@zrepl_000".into(),
            bytes: 4096,
            rawok: false,
            compressok: false,
            embedok: false,
            largeblockok: false,
            savedok: false,
        },
    };
    let policy = Policy {
        initial: InitialReplication::Fail,
        encrypted: false,
        raw: false,
        snapshots: SnapshotFilter::default(),
    };
    let plan = plan_filesystem(&sender, Some(&receiver), &token, &policy);
    assert!(
        matches!(
            plan,
            FsPlan::Conflict {
                kind: ConflictKind::InitialReplicationRefused | ConflictKind::ResumeTokenMismatch,
                ..
            }
        ),
        "{plan:?}"
    );
}
