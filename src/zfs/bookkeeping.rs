//! zrepl's bookkeeping names, built from a job id: replication cursor bookmarks
//! (`zrepl_CURSOR_G_<guid>_J_<job>`), tentative cursors, step and last-received hold tags, the legacy v1
//! cursor, and zreplrs's own sync-record property. The names are zrepl-compatible, so either tool finds the
//! other's bookkeeping; the generic name syntax they must also satisfy is in [`super::names`].

use super::names::{
    check_component, check_hold_tag, check_len, string_conversions, NameError, BOOKMARK, MAX_NAME_LEN,
    MAX_USER_PROPERTY_LEN,
};

/// What job ids are called in error messages: they are the jobs' `name`s.
const JOB_ID: &str = "job name";

/// Bookmark short name of the v1 (single, job-less) replication cursor written by old zrepl versions.
pub const V1_CURSOR_SHORT: &str = "zrepl_replication_cursor";

/// Prefix of a v2 replication cursor bookmark short name, up to the guid.
const CURSOR_PREFIX: &str = "zrepl_CURSOR_G_";
/// Prefix of a tentative replication cursor bookmark short name, up to the guid (zrepl's double `_`).
const TENTATIVE_CURSOR_PREFIX: &str = "zrepl_CURSORTENTATIVE__G_";
/// Separator between the guid and the job id in cursor bookmark short names.
const JOB_SEPARATOR: &str = "_J_";
/// Prefix of the hold tag that protects a step's snapshot while it is being sent.
const STEP_HOLD_PREFIX: &str = "zrepl_STEP_J_";
/// Prefix of the hold tag on the receiving side's most recently received snapshot.
const LAST_RECEIVED_HOLD_PREFIX: &str = "zrepl_last_received_J_";
/// Number of hex digits of a guid in cursor bookmark names.
const GUID_HEX_LEN: usize = 16;

/// Longest job id in bytes: 203.
///
/// A job id ends up in bookmark short names, and the longest of them, the tentative cursor
/// `zrepl_CURSORTENTATIVE__G_<16 hex>_J_<job id>`, must still fit into a full bookmark name on the short
/// reference dataset `pool/ds` (`pool/ds#zrepl_CURSORTENTATIVE__G_…_J_<job id>` at most [`MAX_NAME_LEN`]
/// bytes). This is the check zrepl makes, so every job id zrepl accepts is accepted here. On deeper datasets
/// a long job id can still make a bookmark name too long; [`DatasetName::bookmark`] reports that case.
pub const MAX_JOB_ID_LEN: usize =
    MAX_NAME_LEN - "pool/ds#".len() - TENTATIVE_CURSOR_PREFIX.len() - GUID_HEX_LEN - JOB_SEPARATOR.len();

/// A validated job id. zreplrs builds bookmark names and hold tags from it (zrepl-compatible), and uses it as
/// a lock file name and a metrics label.
///
/// A job id is valid if it is non-empty, at most [`MAX_JOB_ID_LEN`] bytes, a valid single name component
/// (see [`check_component`]: ASCII letters, digits, `-`, `_`, `.`, `:`, space; not `.` or `..`), and every
/// name derived from it is valid: the cursor and tentative cursor bookmark short names and the step and
/// last-received hold tags. Nothing beyond the ZFS rules is required.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct JobId(String);

/// All rules of [`JobId::new`].
fn check_job_id(s: &str) -> Result<(), NameError> {
    if s.is_empty() {
        return Err(NameError::Empty { kind: JOB_ID });
    }
    check_len(JOB_ID, s, MAX_JOB_ID_LEN)?;
    check_component(JOB_ID, s)?;
    // Implied by the rules above; checked anyway so that the guarantee cannot silently break.
    check_component(BOOKMARK, &cursor_short(0, s))?;
    check_component(BOOKMARK, &tentative_cursor_short(0, s))?;
    check_hold_tag(&format!("{STEP_HOLD_PREFIX}{s}"))?;
    check_hold_tag(&format!("{LAST_RECEIVED_HOLD_PREFIX}{s}"))
}

fn cursor_short(guid: u64, job: &str) -> String {
    format!("{CURSOR_PREFIX}{guid:016x}{JOB_SEPARATOR}{job}")
}

fn tentative_cursor_short(guid: u64, job: &str) -> String {
    format!("{TENTATIVE_CURSOR_PREFIX}{guid:016x}{JOB_SEPARATOR}{job}")
}

impl JobId {
    /// Validates `s` as a job id (see [`JobId`]).
    pub fn new(s: &str) -> Result<Self, NameError> {
        check_job_id(s)?;
        Ok(JobId(s.to_string()))
    }

    /// The job id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Hold tag on the snapshot a step is sending: `zrepl_STEP_J_<job>`.
    pub fn step_hold_tag(&self) -> String {
        format!("{STEP_HOLD_PREFIX}{}", self.0)
    }

    /// Hold tag on the most recently received snapshot: `zrepl_last_received_J_<job>`.
    pub fn last_received_hold_tag(&self) -> String {
        format!("{LAST_RECEIVED_HOLD_PREFIX}{}", self.0)
    }

    /// Replication cursor bookmark short name: `zrepl_CURSOR_G_<guid as 16 lowercase hex>_J_<job>`.
    pub fn cursor_bookmark_short(&self, guid: u64) -> String {
        cursor_short(guid, &self.0)
    }

    /// Tentative replication cursor bookmark short name: `zrepl_CURSORTENTATIVE__G_<16 hex>_J_<job>`.
    pub fn tentative_cursor_short(&self, guid: u64) -> String {
        tentative_cursor_short(guid, &self.0)
    }

    /// The user property on a sender filesystem that holds this job's sync record (see `src/synced.rs`):
    /// `zreplrs:synced:<job>` when the job id is valid in a user property name (lowercase letters, digits,
    /// `-`, `_`, `.`, `:`), else `zreplrs:synced-x:<job id in lowercase hex>`; the two forms cannot collide.
    /// `None` when the name would be longer than ZFS allows (the job then lists every snapshot each run).
    pub fn sync_record_property(&self) -> Option<String> {
        let plain = self
            .0
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b':'));
        let name = if plain {
            format!("zreplrs:synced:{}", self.0)
        } else {
            let hex: String = self.0.bytes().map(|b| format!("{b:02x}")).collect();
            format!("zreplrs:synced-x:{hex}")
        };
        (name.len() <= MAX_USER_PROPERTY_LEN).then_some(name)
    }
}

string_conversions!(JobId, 0);

/// Parses `<prefix><16 lowercase hex>_J_<job id>`; the job id must be a valid [`JobId`].
fn parse_guid_and_job<'a>(short: &'a str, prefix: &str) -> Option<(u64, &'a str)> {
    let rest = short.strip_prefix(prefix)?;
    let hex = rest.get(..GUID_HEX_LEN)?;
    if !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    let guid = u64::from_str_radix(hex, 16).ok()?;
    let job = rest.get(GUID_HEX_LEN..)?.strip_prefix(JOB_SEPARATOR)?;
    check_job_id(job).ok()?;
    Some((guid, job))
}

/// The job id of a last-received hold tag, if `tag` is one.
pub fn parse_last_received_tag(tag: &str) -> Option<&str> {
    tag.strip_prefix(LAST_RECEIVED_HOLD_PREFIX).filter(|j| !j.is_empty())
}

/// Parses a bookmark short name back: Some((guid, jobid_str)) when it is a v2 cursor
/// (`zrepl_CURSOR_G_<16 lowercase hex>_J_<job id>` with a valid job id). The v1 cursor
/// [`V1_CURSOR_SHORT`] and tentative cursors give `None`.
///
/// The guid is always the 16 characters after the prefix, so job ids that themselves contain `_G_` or
/// `_J_` round-trip (zrepl's greedy regular expression would misparse those).
pub fn parse_cursor_short(short: &str) -> Option<(u64, &str)> {
    parse_guid_and_job(short, CURSOR_PREFIX)
}

/// Parses a tentative cursor bookmark short name back: Some((guid, jobid_str)) for
/// `zrepl_CURSORTENTATIVE__G_<16 lowercase hex>_J_<job id>` with a valid job id.
pub fn parse_tentative_cursor_short(short: &str) -> Option<(u64, &str)> {
    parse_guid_and_job(short, TENTATIVE_CURSOR_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zfs::names::DatasetName;

    fn ds(s: &str) -> DatasetName {
        DatasetName::new(s).unwrap()
    }

    #[test]
    fn job_ids() {
        for ok in [
            "prod",
            "push-to-backup",
            "a",
            "job 1",
            "a.b:c_d-e",
            "...",
            "-x",
            "_G_0000000000000000_J_x",
        ] {
            let j = JobId::new(ok).unwrap_or_else(|e| panic!("{ok:?}: {e}"));
            assert_eq!(j.as_str(), ok);
        }
        assert_eq!(JobId::new(""), Err(NameError::Empty { kind: "job name" }));
        assert!(matches!(JobId::new("a/b"), Err(NameError::InvalidChar { ch: '/', .. })));
        assert!(matches!(JobId::new("a@b"), Err(NameError::InvalidChar { ch: '@', .. })));
        assert!(matches!(JobId::new("a#b"), Err(NameError::InvalidChar { ch: '#', .. })));
        assert!(matches!(JobId::new("a%b"), Err(NameError::InvalidChar { ch: '%', .. })));
        assert!(matches!(JobId::new("jöb"), Err(NameError::InvalidChar { ch: 'ö', .. })));
        assert!(matches!(
            JobId::new("a\nb"),
            Err(NameError::InvalidChar { ch: '\n', .. })
        ));
        assert!(matches!(JobId::new("."), Err(NameError::DotComponent { .. })));
        assert!(matches!(JobId::new(".."), Err(NameError::DotComponent { .. })));

        assert_eq!(MAX_JOB_ID_LEN, 203);
        let longest = "j".repeat(MAX_JOB_ID_LEN);
        let j = JobId::new(&longest).unwrap();
        // The longest job id still fits into a tentative cursor bookmark on "pool/ds".
        let bm = ds("pool/ds").bookmark(&j.tentative_cursor_short(u64::MAX)).unwrap();
        assert_eq!(bm.as_str().len(), MAX_NAME_LEN);
        assert!(ds("pool/ds1").bookmark(&j.tentative_cursor_short(0)).is_err());
        assert!(matches!(
            JobId::new(&format!("{longest}j")),
            Err(NameError::TooLong {
                kind: "job name",
                len: 204,
                max: 203,
                ..
            })
        ));

        let json = serde_json::to_string(&JobId::new("prod").unwrap()).unwrap();
        assert_eq!(json, "\"prod\"");
        assert_eq!(serde_json::from_str::<JobId>(&json).unwrap().as_str(), "prod");
        assert!(serde_json::from_str::<JobId>("\"\"").is_err());
        assert_eq!("prod".parse::<JobId>().unwrap().to_string(), "prod");
        assert_eq!(String::from(JobId::new("prod").unwrap()), "prod");
    }

    #[test]
    fn sync_record_property_names() {
        let p = |j: &str| JobId::new(j).unwrap().sync_record_property();
        assert_eq!(p("prod-1.a_b:c").as_deref(), Some("zreplrs:synced:prod-1.a_b:c"));
        // Uppercase and spaces are fine in a job id but not in a user property name.
        assert_eq!(p("Prod").as_deref(), Some("zreplrs:synced-x:50726f64"));
        assert_eq!(p("a b").as_deref(), Some("zreplrs:synced-x:612062"));
        // A plain job id that looks like hex still gets the plain form: no collision with "Prod".
        assert_eq!(p("x:50726f64").as_deref(), Some("zreplrs:synced:x:50726f64"));
        let long = "A".repeat(200);
        if JobId::new(&long).is_ok() {
            assert_eq!(p(&long), None, "400 hex digits do not fit");
        }
    }

    #[test]
    fn job_derived_names() {
        let j = JobId::new("prod").unwrap();
        assert_eq!(j.step_hold_tag(), "zrepl_STEP_J_prod");
        assert_eq!(j.last_received_hold_tag(), "zrepl_last_received_J_prod");
        assert_eq!(
            j.cursor_bookmark_short(0xface601d),
            "zrepl_CURSOR_G_00000000face601d_J_prod"
        );
        assert_eq!(
            j.tentative_cursor_short(0xface601d),
            "zrepl_CURSORTENTATIVE__G_00000000face601d_J_prod"
        );
        assert_eq!(
            j.cursor_bookmark_short(u64::MAX),
            "zrepl_CURSOR_G_ffffffffffffffff_J_prod"
        );
    }

    #[test]
    fn cursor_round_trips() {
        for job in ["prod", "job 1", "a_J_b", "_G_0123456789abcdef_J_x", "x_J_", "-"] {
            let j = JobId::new(job).unwrap();
            for guid in [0, 1, 0xface601d, u64::MAX, 0x0123_4567_89ab_cdef] {
                let c = j.cursor_bookmark_short(guid);
                assert_eq!(parse_cursor_short(&c), Some((guid, job)), "{c}");
                assert_eq!(parse_tentative_cursor_short(&c), None, "{c}");
                let t = j.tentative_cursor_short(guid);
                assert_eq!(parse_tentative_cursor_short(&t), Some((guid, job)), "{t}");
                assert_eq!(parse_cursor_short(&t), None, "{t}");
                assert!(check_component("bookmark name", &c).is_ok());
                assert!(check_component("bookmark name", &t).is_ok());
            }
        }
    }

    #[test]
    fn cursor_parse_rejects() {
        assert_eq!(parse_cursor_short(V1_CURSOR_SHORT), None);
        assert_eq!(parse_tentative_cursor_short(V1_CURSOR_SHORT), None);
        assert_eq!(parse_cursor_short(""), None);
        assert_eq!(parse_cursor_short("zrepl_CURSOR_G_"), None);
        // Upper-case hex, short hex, long hex, non-hex.
        assert_eq!(parse_cursor_short("zrepl_CURSOR_G_00000000FACE601D_J_prod"), None);
        assert_eq!(parse_cursor_short("zrepl_CURSOR_G_face601d_J_prod"), None);
        assert_eq!(parse_cursor_short("zrepl_CURSOR_G_00000000000000000_J_prod"), None);
        assert_eq!(parse_cursor_short("zrepl_CURSOR_G_000000000000000g_J_prod"), None);
        assert_eq!(parse_cursor_short("zrepl_CURSOR_G_+000000000000000_J_prod"), None);
        // Missing or invalid job id.
        assert_eq!(parse_cursor_short("zrepl_CURSOR_G_0000000000000001_J_"), None);
        assert_eq!(parse_cursor_short("zrepl_CURSOR_G_0000000000000001"), None);
        assert_eq!(parse_cursor_short("zrepl_CURSOR_G_0000000000000001_X_prod"), None);
        assert_eq!(parse_cursor_short("zrepl_CURSOR_G_0000000000000001_J_.."), None);
        assert_eq!(parse_cursor_short("zrepl_CURSOR_G_0000000000000001_J_a/b"), None);
        assert_eq!(
            parse_cursor_short(&format!("zrepl_CURSOR_G_0000000000000001_J_{}", "j".repeat(204))),
            None
        );
        // Multi-byte characters where the hex digits should be must not panic.
        assert_eq!(parse_cursor_short("zrepl_CURSOR_G_ääääääää_J_prod"), None);
        assert_eq!(parse_cursor_short("zrepl_CURSOR_G_000000000000000ä_J_prod"), None);
        // Other zrepl abstractions are not cursors.
        assert_eq!(parse_cursor_short("zrepl_STEP_G_0000000000000001_J_prod"), None);
        assert_eq!(
            parse_tentative_cursor_short("zrepl_CURSORTENTATIVE_G_0000000000000001_J_prod"),
            None
        );
        assert_eq!(parse_cursor_short("xzrepl_CURSOR_G_0000000000000001_J_prod"), None);
    }
}
