//! The options of one run that the command line gives (the rest comes from the job).

use camino::Utf8PathBuf;

/// Options of one `replicate` run.
#[derive(Debug, Clone, Default)]
pub struct Options {
    pub dry_run: bool,
    /// Overrides the configured textfile directory.
    pub textfile_dir: Option<Utf8PathBuf>,
    /// Overrides the lock directory.
    pub lock_dir: Option<Utf8PathBuf>,
    /// No progress bars.
    pub quiet: bool,
    /// Set a copy that diverged from its sender aside and start a new chain instead of refusing it.
    pub rotate: bool,
}
