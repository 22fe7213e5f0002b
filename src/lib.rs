//! zreplrs: ZFS replication for people who run servers.
//!
//! The modules mirror the data flow of a run: [`config`] (what to replicate) → [`zfs`] (the only code that
//! runs the `zfs` binary) → [`survey`] (both sides listed) → [`plan`] (pure functions from two listings to
//! steps) → [`replication`] (the driver: a run from plan to report) → [`step`] (executes one step with holds
//! and cursors) → [`endpoint`] (the sender and the receiver as the driver sees them: ZFS, a recv-agent, a
//! bucket) → [`transport`] + [`agent`] (the receiving side and its protocol) or [`objstore`] (a bucket) → [`report`] (JSON results, metrics textfile, human tables, progress). Beside the
//! flow: [`synced`] (sync records that let a run skip unchanged filesystems), [`received`] (the backup host's own view
//! of what it received), [`objstore`] (copies in an object store: the S3 calls, a filesystem's chain of stream objects and its
//! manifest, the multipart upload, retention, and the restore into `zfs receive`), [`prune`] (pure keep rules),
//! [`snapname`] (snapshot names), [`lock`] (keeps runs of one job apart), [`hook`] (administrators'
//! hook commands, bounded), [`content`] (a digest of a snapshot's files, for `verify`), [`error`] (the one error model: kinds shared by
//! the adapter, the agents and the wire, and whether a new attempt may help). The commands wing [`cmd`] has one
//! file per subcommand and drives the rest; [`cli`] is the clap definition of the command line and [`manual`]
//! the man pages' exit status, environment, files and examples.
//!
//! Dependencies point downward only (`tests/layout.rs` checks that there are no cycles);
//! a module may use those in the rows below its own:
//!
//! | row | modules |
//! |---|---|
//! | commands | [`cmd`] → [`cli`], [`manual`] |
//! | the driver | [`replication`] |
//! | a run | [`survey`], [`step`], [`received`] |
//! | its two ends | [`endpoint`] |
//! | connection | [`transport`] |
//! | protocol and planning | [`agent`], [`plan`], [`objstore`] |
//! | state and output | [`config`], [`hook`], [`report`], [`synced`], [`lock`] |
//! | leaves | [`zfs`], [`prune`], [`snapname`], [`content`], [`error`] |

pub mod agent;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod content;
pub mod endpoint;
pub mod error;
pub mod failpoint;
pub mod hook;
pub mod lock;
pub mod manual;
pub mod objstore;
pub mod plan;
pub mod prune;
pub mod received;
pub mod replication;
pub mod report;
pub mod snapname;
pub mod step;
pub mod survey;
pub mod synced;
pub mod transport;
pub mod zfs;
