//! The JSON result of `restore`, and its table for people.

use serde::Serialize;

use super::{exit, CommandReport, ErrorReport, Header, Timing};
use crate::zfs::Guid;

/// One stream object of the chain a restore downloads.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreObject {
    pub key: String,
    /// `"FULL"` or `"INCREMENTAL"`.
    pub kind: &'static str,
    /// The base snapshot's name (an incremental).
    pub from: Option<String>,
    pub to: String,
    pub to_guid: Guid,
    /// Bytes of the object in the store.
    pub size: u64,
    /// `raw`, `age` or `none`.
    pub encryption: String,
    /// The target has its snapshot already (an interrupted restore got that far): not downloaded.
    pub skipped: bool,
}

/// The JSON result of `restore`.
#[derive(Debug, Clone, Serialize)]
pub struct RestoreReport {
    #[serde(flatten)]
    pub header: Header,
    #[serde(flatten)]
    pub timing: Timing,
    /// The sender filesystem.
    pub filesystem: String,
    /// The snapshot restored (or that would be).
    pub snapshot: Option<String>,
    pub guid: Option<Guid>,
    pub target: String,
    pub objects: Vec<RestoreObject>,
    /// Bytes downloaded and received (0 for a dry run).
    pub bytes: u64,
    pub error: Option<ErrorReport>,
}

impl CommandReport for RestoreReport {
    /// 0 restored (or the dry run found the chain); 3 it failed.
    fn exit_code(&self) -> u8 {
        exit::code(self.error.is_some(), false)
    }
}

/// The objects, one line each, and the outcome.
pub fn table(r: &RestoreReport) -> String {
    let mut out = String::new();
    for o in &r.objects {
        let from = o.from.as_deref().map(|f| format!("{f} → ")).unwrap_or_default();
        let state = if o.skipped { "  (already restored)" } else { "" };
        out += &format!(
            "{:<11} {from}{}  {} bytes  {}  {}{state}\n",
            o.kind, o.to, o.size, o.encryption, o.key
        );
    }
    let verb = if r.header.dry_run == Some(true) {
        "would restore"
    } else {
        "restored"
    };
    match (&r.error, &r.snapshot) {
        (Some(e), _) => out += &format!("restore of {} failed: {}: {}\n", r.filesystem, e.kind, e.message),
        (None, Some(s)) => out += &format!("{verb} {}@{s} into {} ({} bytes)\n", r.filesystem, r.target, r.bytes),
        (None, None) => {}
    }
    out
}
