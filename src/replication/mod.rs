//! The replication driver: a run of one job from its plan to its report, over the job's endpoints
//! ([`crate::endpoint`]: a sender and a receiver, whatever they are). [`driver`] is the run and its attempts,
//! [`filesystem`] one filesystem's path, [`protection`] its cursor and last-received hold repaired before its
//! steps, [`step_holds`] the attempt's step holds, [`records`] sync records and lag after an attempt,
//! [`parallel`] the workers, [`options`] what the command line sets for a run, [`reverse`] the job a restore
//! runs, [`rotation`] diverged copies set aside, [`failover`] failover and failback; `tests` drives it against in-memory endpoints.

mod driver;
pub mod failover;
mod filesystem;
mod options;
mod parallel;
mod protection;
mod records;
pub mod reverse;
mod rotation;
pub mod sides;
mod step_holds;

pub use driver::{run, run_with};
pub use options::Options;
pub use step_holds::{is_aged, release_aged_step_holds};

#[cfg(test)]
mod tests;
