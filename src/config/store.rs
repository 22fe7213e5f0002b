//! `[jobs.store]`: where an `s3://` target's bucket is served (endpoint, region, addressing), where its
//! credentials come from (a file or the environment: never the configuration), and how streams of
//! unencrypted filesystems are protected from the store (`age` recipients, or an explicit plaintext).

use camino::Utf8PathBuf;
use serde::Deserialize;

use crate::error::Invalid;

/// Settings of an object-store target.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// The S3 API's base URL, e.g. `"https://s3.eu-central-1.amazonaws.com"` or `"http://127.0.0.1:3900"`;
    /// unset: AWS in `region`.
    #[serde(default)]
    pub endpoint: Option<String>,
    /// The region requests are signed for. Default `"us-east-1"`.
    #[serde(default = "default_region")]
    pub region: String,
    /// Address the bucket in the path (`ENDPOINT/BUCKET/KEY`) rather than as a host name
    /// (`BUCKET.ENDPOINT/KEY`); most self-hosted stores (Garage, MinIO) want this. Default false.
    #[serde(default)]
    pub path_style: bool,
    /// A file with `access_key_id = "…"` and `secret_access_key = "…"` (and optionally `session_token`),
    /// readable by zreplrs and not by others; unset: `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`.
    #[serde(default)]
    pub credentials_file: Option<Utf8PathBuf>,
    /// `age` recipients (`age1…`) that the streams of unencrypted filesystems are encrypted to before they
    /// leave this host; restore needs one of their identities.
    #[serde(default)]
    pub age_recipients: Vec<String>,
    /// Store the streams of unencrypted filesystems as they are. Without it (or `age_recipients`) the job is
    /// refused: the store never sees plaintext by accident. Encrypted filesystems are always sent raw.
    #[serde(default)]
    pub allow_plaintext: bool,
    /// Start a new chain with a full stream after this many incrementals, so that retention can delete the
    /// old chain once no kept snapshot needs it; unset: never for this reason.
    #[serde(default)]
    pub full_every: Option<u32>,
    /// ... or once the last full is this old, e.g. `"30d"`; unset: never for this reason.
    #[serde(default, deserialize_with = "super::job::duration_opt")]
    pub full_after: Option<std::time::Duration>,
}

fn default_region() -> String {
    "us-east-1".to_string()
}

impl StoreConfig {
    /// The checks of a job with an `s3://` target.
    pub fn check(&self) -> Result<(), Invalid> {
        if self.age_recipients.is_empty() && !self.allow_plaintext {
            return Err(Invalid(
                "the streams of unencrypted filesystems would reach the store in plaintext: set age_recipients \
                 = [\"age1…\"] to encrypt them on this host, or allow_plaintext = true (encrypted filesystems \
                 are sent raw either way)"
                    .to_string(),
            ));
        }
        if !self.age_recipients.is_empty() && self.allow_plaintext {
            return Err(Invalid(
                "age_recipients and allow_plaintext = true contradict each other: keep one".to_string(),
            ));
        }
        for r in &self.age_recipients {
            r.parse::<age::x25519::Recipient>()
                .map_err(|e| Invalid(format!("age recipient {r:?}: {e}")))?;
        }
        if self.region.is_empty() || !self.region.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
            return Err(Invalid(format!("region {:?} is not a region name", self.region)));
        }
        match &self.endpoint {
            Some(e) if !(e.starts_with("https://") || e.starts_with("http://")) => {
                Err(Invalid(format!("endpoint {e:?} is not an http:// or https:// URL")))
            }
            _ => Ok(()),
        }
    }

    /// The endpoint URL: as configured, else AWS in the region.
    pub fn endpoint_url(&self) -> String {
        match &self.endpoint {
            Some(e) => e.clone(),
            None => format!("https://s3.{}.amazonaws.com", self.region),
        }
    }
}
