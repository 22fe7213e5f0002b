//! `[jobs.snapshots]`: which snapshots a job replicates, by name (`include` / `exclude` regexes).

use crate::error::Invalid;
use regex::Regex;
use serde::Deserialize;

/// Snapshot names a job replicates: those matching any `include` regex (all, when there is none) and no
/// `exclude` regex. Regexes are matched against the short name (after `@`), unanchored, in the syntax of
/// the Rust `regex` crate (write `^zrepl_` for a prefix).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, try_from = "RawSnapshots")]
pub struct SnapshotFilter {
    include: Vec<Regex>,
    exclude: Vec<Regex>,
}

impl PartialEq for SnapshotFilter {
    fn eq(&self, other: &Self) -> bool {
        let sources = |v: &[Regex]| v.iter().map(|r| r.as_str().to_string()).collect::<Vec<_>>();
        sources(&self.include) == sources(&other.include) && sources(&self.exclude) == sources(&other.exclude)
    }
}

impl Eq for SnapshotFilter {}

impl SnapshotFilter {
    /// A filter from regex sources (as in the configuration).
    pub fn new(include: &[&str], exclude: &[&str]) -> Result<Self, Invalid> {
        let compile = |key: &str, v: &[&str]| -> Result<Vec<Regex>, Invalid> {
            v.iter()
                .map(|s| {
                    if s.is_empty() {
                        return Err(Invalid(format!(
                            "{key}: an empty regex matches every name; leave it out instead"
                        )));
                    }
                    Regex::new(s).map_err(|e| Invalid(format!("{key}: invalid regex {s:?}: {e}")))
                })
                .collect()
        };
        Ok(SnapshotFilter {
            include: compile("include", include)?,
            exclude: compile("exclude", exclude)?,
        })
    }

    /// Whether the snapshot with this short name is replicated.
    pub fn matches(&self, short: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|r| r.is_match(short)))
            && !self.exclude.iter().any(|r| r.is_match(short))
    }

    /// Whether the filter lets every snapshot through.
    pub fn is_all(&self) -> bool {
        self.include.is_empty() && self.exclude.is_empty()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSnapshots {
    #[serde(default)]
    include: Vec<String>,
    #[serde(default)]
    exclude: Vec<String>,
}

impl TryFrom<RawSnapshots> for SnapshotFilter {
    type Error = Invalid;

    fn try_from(raw: RawSnapshots) -> Result<Self, Invalid> {
        let include: Vec<&str> = raw.include.iter().map(String::as_str).collect();
        let exclude: Vec<&str> = raw.exclude.iter().map(String::as_str).collect();
        SnapshotFilter::new(&include, &exclude)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn include_then_exclude() {
        let all = SnapshotFilter::default();
        assert!(all.is_all() && all.matches("anything"));
        let f = SnapshotFilter::new(&["^zrepl_", "^autosnap_"], &["_hourly$"]).unwrap();
        assert!(f.matches("zrepl_20261202_141937_000"));
        assert!(f.matches("autosnap_2026-12-02_daily"));
        assert!(!f.matches("autosnap_2026-12-02_hourly"));
        assert!(!f.matches("manual"));
        let only_exclude = SnapshotFilter::new(&[], &["^tmp"]).unwrap();
        assert!(only_exclude.matches("keep") && !only_exclude.matches("tmp1"));
        assert!(SnapshotFilter::new(&["("], &[])
            .unwrap_err()
            .contains("include: invalid regex"));
        assert!(SnapshotFilter::new(&[], &[""])
            .unwrap_err()
            .contains("exclude: an empty regex"));
    }
}
