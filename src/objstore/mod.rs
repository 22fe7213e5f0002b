//! Copies in an object store (S3 and compatible): per filesystem a chain of stream objects (a full, then
//! incrementals GUID → GUID) and a [`manifest`] that names them. An object counts only once a committed
//! manifest names it; the manifest is written last, as a new object, and then the pointer to it. [`manifest`]
//! is the bucket-side data model with its checks and the chain logic (what a restore downloads, what retention
//! may delete); the store endpoint is built on it.

pub mod chain;
pub mod credentials;
pub mod download;
pub mod manifest;
pub mod restore;
pub mod retention;
pub mod s3;
pub mod upload;

use crate::config::Job;
use crate::error::{ErrorKind, Failure};

/// A job's bucket: the store's client and the key prefix of the target (`PREFIX/`, or `""`).
pub struct Bucket {
    pub s3: s3::S3,
    pub prefix: String,
}

impl Bucket {
    /// Opens the bucket of `job`, whose target is `s3://` (with its credentials).
    pub fn open(job: &Job) -> Result<Bucket, Failure> {
        let config = job.store.as_ref().ok_or_else(|| {
            Failure::new(
                ErrorKind::Unsupported,
                format!("job {}: the target {} is not an object store", job.name, job.target),
            )
        })?;
        let root = job.target.root_fs().as_str();
        let (bucket, prefix) = match root.split_once('/') {
            Some((b, p)) => (b, format!("{p}/")),
            None => (root, String::new()),
        };
        let credentials = credentials::load(config)?;
        let s3 = s3::S3::new(config, bucket, credentials, job.stall_timeout)?;
        Ok(Bucket { s3, prefix })
    }

    /// Where `rel` (a receiver path) lies.
    pub fn place(&self, rel: &str) -> chain::Place {
        chain::Place::new(&self.prefix, rel)
    }
}
