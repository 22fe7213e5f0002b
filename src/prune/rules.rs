//! Keep rules (`[[jobs.prune.keep_sender]]` / `keep_receiver`) and the per-snapshot prune decision.
//!
//! The rules and their semantics follow zrepl's pruning (`pruning/*.go`, `docs/configuration/prune.rst`):
//! a snapshot that no rule keeps is destroyed, so the rules of one side form a union. Each rule looks at
//! the snapshots' short names (after `@`); regexes use the `regex` crate's syntax and are unanchored
//! (they match anywhere in the name, like Go's `MatchString`), so write `^zrepl_` for a prefix.
//!
//! * `grid` keeps what the retention grid keeps among the snapshots matching `regex` (see
//!   [`super::grid`]); snapshots not matching the regex are not kept by this rule.
//! * `last_n` keeps the `count` newest snapshots (by createtxg) matching `regex`, or of all snapshots
//!   when there is no regex; nothing else.
//! * `regex` keeps the snapshots matching `regex`, or with `negate = true` those not matching it.
//! * `not_replicated` keeps the sender's snapshots that are not yet replicated: every snapshot newer
//!   than the replication cursor, all of them when there is no cursor yet. This is zrepl's behaviour
//!   with `keep_snapshot_at_cursor: false`; the snapshot the cursor was made from is not kept by this
//!   rule because the cursor bookmark is itself a valid incremental source (pass it in
//!   [`PruneContext::protected`] to keep it, as zrepl's default does). On the receiver the rule has no
//!   cursor and keeps nothing; [`validate_side`] rejects it there.
//!
//! On top of the rules, [`evaluate`] never destroys a snapshot in [`PruneContext::protected`] (the
//! incremental base) and reports snapshots with a user hold as [`Action::Held`] instead of destroying
//! them. With no rules at all, every other snapshot is destroyed (as in zrepl); configuration
//! validation should decide whether an empty rule list is allowed.
//!
//! Deviations from zrepl, all of them keeping more: `last_n` does not keep every snapshot when `count`
//! exceeds the number of snapshots (a zrepl quirk), and orders by createtxg rather than creation time;
//! the grid always keeps its anchor and tolerates clock skew (see [`super::grid`]). With these, pruning
//! is idempotent: evaluating the snapshots that survive a prune again destroys nothing more.

use crate::error::Invalid;
use std::collections::BTreeSet;

use regex::Regex;
use serde::Deserialize;

use super::grid::{self, Grid};

/// One snapshot as pruning sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapInfo {
    /// The short name after `@`.
    pub name: String,
    /// The snapshot's guid.
    pub guid: u64,
    /// The transaction group the snapshot was created in (orders the snapshots of one dataset).
    pub createtxg: u64,
    /// The `creation` property, in unix seconds.
    pub creation: u64,
    /// Whether it has any user hold (`userrefs > 0`).
    pub held: bool,
}

/// Keep rules as written in the TOML config: `[[jobs.prune.keep_sender]]` / `keep_receiver` arrays of
/// tables with `type`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum KeepRuleConfig {
    /// `type = "grid"`: a retention grid over the snapshots matching `regex`.
    Grid {
        /// The grid spec, e.g. `"1x1h(keep=all) | 24x1h | 14x1d"`.
        grid: String,
        /// Which snapshots the grid considers (required and non-empty, as in zrepl).
        regex: String,
    },
    /// `type = "last_n"`: the `count` newest snapshots (matching `regex`, if given).
    LastN {
        /// How many to keep (at least 1).
        count: usize,
        /// Only snapshots matching this are counted and kept; absent or empty: all snapshots.
        #[serde(default)]
        regex: Option<String>,
    },
    /// `type = "regex"`: every snapshot matching `regex` (not matching it, with `negate = true`).
    Regex {
        /// The regex (required and non-empty).
        regex: String,
        /// Keep the snapshots that do *not* match.
        #[serde(default)]
        negate: bool,
    },
    /// `type = "not_replicated"`: every snapshot not yet replicated (sender side only).
    ///
    /// A struct variant without fields rather than a unit variant: serde ignores unknown fields next to
    /// the tag of a unit variant even with `deny_unknown_fields`, and a zrepl option such as
    /// `keep_snapshot_at_cursor` must be an error, not silently ignored.
    NotReplicated {},
}

/// A validated rule (regexes compiled, grid parsed).
#[derive(Debug, Clone)]
pub enum KeepRule {
    /// See [`KeepRuleConfig::Grid`].
    Grid {
        /// The parsed grid.
        grid: Grid,
        /// Which snapshots the grid considers.
        regex: Regex,
    },
    /// See [`KeepRuleConfig::LastN`].
    LastN {
        /// How many to keep (at least 1).
        count: usize,
        /// Only snapshots matching this are counted; `None`: all.
        regex: Option<Regex>,
    },
    /// See [`KeepRuleConfig::Regex`].
    Regex {
        /// The regex.
        regex: Regex,
        /// Keep the snapshots that do *not* match.
        negate: bool,
    },
    /// See [`KeepRuleConfig::NotReplicated`].
    NotReplicated,
}

impl KeepRule {
    /// Validates a configured rule: parses the grid, compiles the regexes, checks `count`.
    pub fn from_config(c: &KeepRuleConfig) -> Result<KeepRule, Invalid> {
        match c {
            KeepRuleConfig::Grid { grid, regex } => Ok(KeepRule::Grid {
                grid: grid.parse().map_err(|e| format!("grid rule: {e}"))?,
                regex: compile("grid", regex)?,
            }),
            KeepRuleConfig::LastN { count, regex } => {
                if *count == 0 {
                    return Err(Invalid::from("last_n rule: count must be at least 1".to_string()));
                }
                let regex = match regex.as_deref() {
                    None | Some("") => None,
                    Some(r) => Some(compile("last_n", r)?),
                };
                Ok(KeepRule::LastN { count: *count, regex })
            }
            KeepRuleConfig::Regex { regex, negate } => Ok(KeepRule::Regex {
                regex: compile("regex", regex)?,
                negate: *negate,
            }),
            KeepRuleConfig::NotReplicated {} => Ok(KeepRule::NotReplicated),
        }
    }

    /// A one-line description for reports, e.g. `grid 1x1h(keep=all) | 24x1h matching ^zrepl_`,
    /// `last_n 10 matching ^zrepl_`, `regex ^manual_`, `regex not matching ^zrepl_`, `not_replicated`.
    pub fn describe(&self) -> String {
        match self {
            KeepRule::Grid { grid, regex } => format!("grid {grid} matching {regex}"),
            KeepRule::LastN {
                count,
                regex: Some(regex),
            } => format!("last_n {count} matching {regex}"),
            KeepRule::LastN { count, regex: None } => format!("last_n {count}"),
            KeepRule::Regex { regex, negate: false } => format!("regex {regex}"),
            KeepRule::Regex { regex, negate: true } => format!("regex not matching {regex}"),
            KeepRule::NotReplicated => "not_replicated".to_string(),
        }
    }

    /// The names of the snapshots this rule keeps.
    fn keeps(&self, snaps: &[SnapInfo], ctx: &PruneContext) -> BTreeSet<String> {
        let names =
            |it: &mut dyn Iterator<Item = &SnapInfo>| -> BTreeSet<String> { it.map(|s| s.name.clone()).collect() };
        match self {
            KeepRule::Grid { grid, regex } => {
                let matching: Vec<(String, u64, u64)> = snaps
                    .iter()
                    .filter(|s| regex.is_match(&s.name))
                    .map(|s| (s.name.clone(), s.creation, s.createtxg))
                    .collect();
                grid::grid_keep(grid, ctx.now, &matching)
            }
            KeepRule::LastN { count, regex } => {
                let mut matching: Vec<&SnapInfo> = snaps
                    .iter()
                    .filter(|s| regex.as_ref().is_none_or(|r| r.is_match(&s.name)))
                    .collect();
                // newest first; names break ties (descending, as zrepl does for equal dates)
                matching.sort_by(|a, b| (b.createtxg, &b.name).cmp(&(a.createtxg, &a.name)));
                names(&mut matching.into_iter().take(*count))
            }
            KeepRule::Regex { regex, negate } => {
                names(&mut snaps.iter().filter(|s| regex.is_match(&s.name) != *negate))
            }
            KeepRule::NotReplicated if !ctx.sender_side => BTreeSet::new(),
            KeepRule::NotReplicated => match ctx.cursor_createtxg {
                None => names(&mut snaps.iter()),
                Some(cursor) => names(&mut snaps.iter().filter(|s| s.createtxg > cursor)),
            },
        }
    }
}

fn compile(rule: &str, regex: &str) -> Result<Regex, Invalid> {
    if regex.is_empty() {
        return Err(Invalid::from(format!(
            "{rule} rule: regex must not be empty (use \".*\" to match every snapshot)"
        )));
    }
    Regex::new(regex).map_err(|e| Invalid(format!("{rule} rule: invalid regex {regex:?}: {e}")))
}

/// Rejects rules that make no sense on this side: `not_replicated` on the receiver, which has no
/// replication cursor (there the rule would keep nothing). Configuration validation calls this for
/// `keep_sender` (`sender_side = true`) and `keep_receiver` (`false`).
pub fn validate_side(rules: &[KeepRuleConfig], sender_side: bool) -> Result<(), Invalid> {
    if !sender_side && rules.contains(&KeepRuleConfig::NotReplicated {}) {
        return Err(Invalid::from(
            "not_replicated can only be used in keep_sender: it keeps the sender's \
                    snapshots that are not yet on the receiver, and would keep nothing on the \
                    receiver"
                .to_string(),
        ));
    }
    Ok(())
}

/// What pruning knows besides the snapshots.
#[derive(Debug, Clone)]
pub struct PruneContext {
    /// The current time in unix seconds (only matters for snapshots created after it, see
    /// [`super::grid`]).
    pub now: u64,
    /// createtxg of the sender's replication cursor (None: nothing replicated yet). Used by
    /// NotReplicated, which keeps every snapshot newer than the cursor (all of them when there is no
    /// cursor). On the receiver side pass None and NotReplicated keeps nothing.
    pub cursor_createtxg: Option<u64>,
    /// Whether the snapshots are the sender's (`keep_sender`) or the receiver's (`keep_receiver`).
    pub sender_side: bool,
    /// Snapshots that must never be destroyed whatever the rules say (the incremental base); by name.
    pub protected: BTreeSet<String>,
}

/// What happens to one snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// The snapshot's short name.
    pub name: String,
    /// Keep, destroy, or report as held.
    pub action: Action,
    /// why: the first rule that keeps it ("kept by grid …"), "protected: incremental base", "held", or
    /// "no rule keeps it"
    pub reason: String,
}

/// The outcome for one snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// A rule keeps it, or it is protected.
    Keep,
    /// No rule keeps it: destroy it.
    Destroy,
    /// no rule keeps it but it carries a user hold: reported, not attempted
    Held,
}

/// Reason of a snapshot in [`PruneContext::protected`] that no rule keeps.
pub const REASON_PROTECTED: &str = "protected: incremental base";
/// Reason of a held snapshot that no rule keeps.
pub const REASON_HELD: &str = "held";
/// Reason of a snapshot to destroy.
pub const REASON_NO_RULE: &str = "no rule keeps it";

/// Decides for each snapshot (input in any order; output sorted by createtxg, then name).
/// Deterministic: the same snapshots in any order give the same decisions.
///
/// A snapshot is kept when any rule keeps it (the reason names the first such rule in `rules`), or when
/// it is in [`PruneContext::protected`]; otherwise it is [`Action::Held`] if it has a user hold and
/// [`Action::Destroy`] if not.
pub fn evaluate(rules: &[KeepRule], snaps: &[SnapInfo], ctx: &PruneContext) -> Vec<Decision> {
    let kept_by: Vec<(&KeepRule, BTreeSet<String>)> = rules.iter().map(|r| (r, r.keeps(snaps, ctx))).collect();
    let mut order: Vec<&SnapInfo> = snaps.iter().collect();
    order.sort_by(|a, b| (a.createtxg, &a.name).cmp(&(b.createtxg, &b.name)));
    order
        .into_iter()
        .map(|s| {
            let (action, reason) = if let Some((rule, _)) = kept_by.iter().find(|(_, set)| set.contains(&s.name)) {
                (Action::Keep, format!("kept by {}", rule.describe()))
            } else if ctx.protected.contains(&s.name) {
                (Action::Keep, REASON_PROTECTED.to_string())
            } else if s.held {
                (Action::Held, REASON_HELD.to_string())
            } else {
                (Action::Destroy, REASON_NO_RULE.to_string())
            };
            Decision {
                name: s.name.clone(),
                action,
                reason,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
