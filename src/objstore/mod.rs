//! Copies in an object store (S3 and compatible): per filesystem a chain of stream objects (a full, then
//! incrementals GUID → GUID) and a [`manifest`] that names them. An object counts only once a committed
//! manifest names it; the manifest is written last, as a new object, and then the pointer to it. [`manifest`]
//! is the bucket-side data model with its checks and the chain logic (what a restore downloads, what retention
//! may delete); the store endpoint is built on it.

pub mod chain;
pub mod credentials;
pub mod manifest;
pub mod s3;
pub mod upload;
