//! zreplrs: ZFS replication for people who run servers.
//!
//! A run flows through these modules in order: [`config`] (what to replicate) → [`zfs`] (the only code that
//! runs the `zfs` binary) → [`plan`] (pure functions from two listings to steps) → [`step`] (executes one
//! step with holds and cursors) → [`transport`] + [`agent`] (the receiving side and its protocol) →
//! [`report`] (JSON result, metrics textfile, progress). [`replicate`] drives a run; [`lock`] keeps runs
//! of one job apart; [`cli`] defines the command line.

pub mod agent;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod lock;
pub mod plan;
pub mod prune;
pub mod report;
pub mod snapname;
pub mod step;
pub mod survey;
pub mod synced;
pub mod transport;
pub mod zfs;
