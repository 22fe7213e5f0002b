//! The store's credentials, read when a run opens the store: from `[jobs.store] credentials_file` (a TOML
//! file that others may not read) or from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` /
//! `AWS_SESSION_TOKEN`. They are never in the configuration, a report or a log line.

use std::os::unix::fs::MetadataExt;

use rusty_s3::Credentials;
use serde::Deserialize;

use crate::config::StoreConfig;
use crate::error::{ErrorKind, Failure};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    access_key_id: String,
    secret_access_key: String,
    #[serde(default)]
    session_token: Option<String>,
}

/// The credentials `config` names.
pub fn load(config: &StoreConfig) -> Result<Credentials, Failure> {
    let fail = |m: String| Failure::new(ErrorKind::Store, m);
    let Some(path) = &config.credentials_file else {
        let key = std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_default();
        let secret = std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_default();
        if key.is_empty() || secret.is_empty() {
            return Err(fail(
                "no store credentials: set [jobs.store] credentials_file, or AWS_ACCESS_KEY_ID and \
                 AWS_SECRET_ACCESS_KEY in the environment"
                    .to_string(),
            ));
        }
        return Ok(match std::env::var("AWS_SESSION_TOKEN") {
            Ok(t) if !t.is_empty() => Credentials::new_with_token(key, secret, t),
            _ => Credentials::new(key, secret),
        });
    };
    let meta = std::fs::metadata(path).map_err(|e| fail(format!("credentials file {path}: {e}")))?;
    if meta.mode() & 0o004 != 0 {
        return Err(fail(format!(
            "credentials file {path} is readable by every user: chmod o-r {path}"
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| fail(format!("credentials file {path}: {e}")))?;
    // The parse error may quote the file: say where, not what.
    let file: File = toml::from_str(&text).map_err(|_| {
        fail(format!(
            "credentials file {path} is not TOML with access_key_id and secret_access_key (and optionally \
             session_token)"
        ))
    })?;
    Ok(match file.session_token {
        Some(t) => Credentials::new_with_token(file.access_key_id, file.secret_access_key, t),
        None => Credentials::new(file.access_key_id, file.secret_access_key),
    })
}
