//! Snapshot pruning: which snapshots the `prune` subcommand keeps and which it destroys (the command itself
//! is `src/cmd/prune.rs`).
//!
//! Everything here is pure logic (no I/O, no `zfs`, no clock reads; the caller passes `now`):
//! [`grid`] parses zrepl's retention grid syntax (`1x1h(keep=all) | 24x1h | 14x1d`) and fits snapshots
//! into it; [`rules`] holds the keep rules of the configuration (`grid`, `last_n`, `regex`,
//! `not_replicated`) and [`rules::evaluate`], which decides per snapshot. A snapshot is destroyed only
//! when no rule keeps it, it is not protected (the incremental base) and it carries no user hold.

pub mod grid;
pub mod rules;

use serde::Serialize;

/// Which side(s) to prune.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    Sender,
    Receiver,
    Both,
}
