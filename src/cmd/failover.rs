//! `zreplrs failover` and `failback`: run through [`crate::replication::failover`] and print the result.

use camino::Utf8Path;

use crate::cli::Format;
use crate::replication::{failover, Options};
use crate::report::failover::summary;

/// Runs `failover` (`back` false) or `failback` of the job `name`.
pub fn command(
    path: Option<&Utf8Path>,
    name: &str,
    back: bool,
    rotate: bool,
    quiet: bool,
    format: Option<Format>,
) -> u8 {
    super::with_job(path, name, |config, job| {
        let opts = Options {
            quiet,
            rotate,
            ..Options::default()
        };
        let r = failover::run(config, job, back, &opts);
        super::emit(format, &r, summary)
    })
}
