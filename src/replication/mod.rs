//! The replication driver: a run of one job from its plan to its report, over the job's endpoints (the
//! sender's ZFS, and the receiving agent reached through [`crate::transport`]). [`driver`] is the run and
//! its attempts, [`filesystem`] one filesystem's path, [`step_holds`] the attempt's step holds,
//! [`records`] sync records and lag after an attempt, [`parallel`] the workers, [`options`] what the command
//! line sets for a run.

mod driver;
mod filesystem;
mod options;
mod parallel;
mod records;
mod step_holds;

pub use driver::{run, run_with};
pub use options::Options;
pub use step_holds::{is_aged, release_aged_step_holds};

#[cfg(test)]
mod tests;
