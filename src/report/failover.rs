//! The JSON result of `failover` and `failback`, and its summary for people.

use serde::Serialize;

use super::{exit, CommandReport, ErrorReport, Header, RunReport, Timing};

/// The JSON result of `failover` or `failback`.
#[derive(Debug, Clone, Serialize)]
pub struct FailoverReport {
    #[serde(flatten)]
    pub header: Header,
    #[serde(flatten)]
    pub timing: Timing,
    /// The job's root filesystems on their original sending host.
    pub filesystems: Vec<String>,
    /// Their copies on the receiver (full names), in the same order.
    pub replicas: Vec<String>,
    /// Which side is the writable primary now: `"sender"` (the original) or `"replica"`.
    pub primary: &'static str,
    /// The replication runs it made, in order (each a `replicate`/reversed run's result).
    pub runs: Vec<RunReport>,
    /// What it changed, in order.
    pub actions: Vec<String>,
    pub error: Option<ErrorReport>,
}

impl CommandReport for FailoverReport {
    /// 0 done; 3 it stopped (what it did is in `actions`; running it again continues).
    fn exit_code(&self) -> u8 {
        exit::code(self.error.is_some(), false)
    }
}

/// The actions, one line each, and the outcome.
pub fn summary(r: &FailoverReport) -> String {
    let mut out = String::new();
    for a in &r.actions {
        out += &format!("{a}\n");
    }
    match &r.error {
        Some(e) => out += &format!("{} stopped ({}): {}\n", r.header.command, e.kind, e.message),
        None => {
            out += &format!(
                "{}: the primary of {} is now the {}\n",
                r.header.command,
                r.filesystems.join(", "),
                r.primary
            )
        }
    }
    out
}
