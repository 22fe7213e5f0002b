//! The S3 API as the rest of zreplrs uses it: a bucket, credentials, and the handful of calls a chain needs
//! (get, put, delete, list, multipart upload). Requests are signed by `rusty-s3` (sans-I/O) and sent with
//! `ureq` (blocking, as the rest of the run). Each call is retried with backoff on a 5xx, a throttling reply
//! or a broken connection; a 4xx is a [`ErrorKind::Store`] error that names the key and what the store said.

use std::io::Read;
use std::time::Duration;

use rusty_s3::actions::{CreateMultipartUpload, ListObjectsV2};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};

use crate::config::StoreConfig;
use crate::error::{ErrorKind, Failure};

/// How long a signed request stays valid.
const SIGN_FOR: Duration = Duration::from_secs(3600);
/// Attempts of one call before it fails.
const ATTEMPTS: u32 = 5;
/// Largest error body or small object read into memory.
pub const MAX_SMALL_OBJECT: u64 = 16 << 20;

/// Parts of an upload as the store lists them: number, ETag, size.
pub type Parts = Vec<(u16, String, u64)>;

/// An object in a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    pub size: u64,
}

/// One bucket with its credentials.
pub struct S3 {
    bucket: Bucket,
    credentials: Credentials,
    http: ureq::Agent,
}

fn store_err(kind: ErrorKind, message: String) -> Failure {
    Failure::new(kind, message)
}

impl S3 {
    /// The bucket `name` as `config` says where it is, with `credentials`.
    pub fn new(config: &StoreConfig, name: &str, credentials: Credentials, timeout: Duration) -> Result<S3, Failure> {
        let invalid = |e: String| store_err(ErrorKind::Store, format!("endpoint {:?}: {e}", config.endpoint_url()));
        let url = url::Url::parse(&config.endpoint_url()).map_err(|e| invalid(e.to_string()))?;
        let style = if config.path_style {
            UrlStyle::Path
        } else {
            UrlStyle::VirtualHost
        };
        let bucket =
            Bucket::new(url, style, name.to_string(), config.region.clone()).map_err(|e| invalid(e.to_string()))?;
        let http = ureq::AgentBuilder::new()
            .timeout_connect(timeout)
            .timeout_read(timeout)
            .timeout_write(timeout)
            .build();
        Ok(S3 {
            bucket,
            credentials,
            http,
        })
    }

    /// The bucket's name.
    pub fn name(&self) -> &str {
        self.bucket.name()
    }

    /// Sends a request, retrying what may pass on a later try; `what` names it in errors.
    fn call(&self, what: &str, method: &str, url: &url::Url, body: Option<&[u8]>) -> Result<ureq::Response, Failure> {
        let mut delay = Duration::from_millis(200);
        let mut attempt = 1;
        loop {
            let req = self.http.request_url(method, url);
            let res = match body {
                Some(b) => req.send_bytes(b),
                None => req.call(),
            };
            let failure = match res {
                Ok(r) => return Ok(r),
                Err(ureq::Error::Status(code, r)) if retriable(code) => store_err(
                    ErrorKind::StoreUnavailable,
                    format!("{what}: HTTP {code}: {}", reply_text(r)),
                ),
                Err(ureq::Error::Status(code, r)) => return Err(refused(what, code, r, self.bucket.name())),
                Err(ureq::Error::Transport(t)) => store_err(
                    ErrorKind::StoreUnavailable,
                    format!("{what}: cannot reach the store: {t}"),
                ),
            };
            if attempt >= ATTEMPTS {
                return Err(failure);
            }
            std::thread::sleep(delay);
            delay = (delay * 3).min(Duration::from_secs(10));
            attempt += 1;
        }
    }

    /// The object `key`, which must be smaller than `max` bytes; `None` if there is none.
    pub fn get_small(&self, key: &str, max: u64) -> Result<Option<Vec<u8>>, Failure> {
        let url = self.bucket.get_object(Some(&self.credentials), key).sign(SIGN_FOR);
        let reply = match self.call(&format!("GET {key}"), "GET", &url, None) {
            Err(f) if f.kind == ErrorKind::DoesNotExist => return Ok(None),
            other => other?,
        };
        let mut bytes = Vec::new();
        reply
            .into_reader()
            .take(max + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| store_err(ErrorKind::StoreUnavailable, format!("GET {key}: {e}")))?;
        if bytes.len() as u64 > max {
            return Err(store_err(
                ErrorKind::StoreCorrupt,
                format!("{key} has more than {max} bytes"),
            ));
        }
        Ok(Some(bytes))
    }

    /// A reader of the object `key` from byte `offset` on.
    pub fn get_from(&self, key: &str, offset: u64) -> Result<Box<dyn Read + Send>, Failure> {
        let mut action = self.bucket.get_object(Some(&self.credentials), key);
        let range = format!("bytes={offset}-");
        if offset > 0 {
            action.headers_mut().insert("range", range.clone());
        }
        let url = action.sign(SIGN_FOR);
        let mut req = self.http.request_url("GET", &url);
        if offset > 0 {
            req = req.set("range", &range);
        }
        match req.call() {
            Ok(r) => Ok(r.into_reader()),
            Err(ureq::Error::Status(code, r)) if retriable(code) => Err(store_err(
                ErrorKind::StoreUnavailable,
                format!("GET {key}: HTTP {code}: {}", reply_text(r)),
            )),
            Err(ureq::Error::Status(code, r)) => Err(refused(&format!("GET {key}"), code, r, self.bucket.name())),
            Err(ureq::Error::Transport(t)) => Err(store_err(
                ErrorKind::StoreUnavailable,
                format!("GET {key}: cannot reach the store: {t}"),
            )),
        }
    }

    /// Writes the object `key` (replacing one of that name).
    pub fn put(&self, key: &str, bytes: &[u8]) -> Result<(), Failure> {
        let url = self.bucket.put_object(Some(&self.credentials), key).sign(SIGN_FOR);
        self.call(&format!("PUT {key}"), "PUT", &url, Some(bytes)).map(drop)
    }

    /// Deletes the object `key`; a missing one is no error.
    pub fn delete(&self, key: &str) -> Result<(), Failure> {
        let url = self.bucket.delete_object(Some(&self.credentials), key).sign(SIGN_FOR);
        match self.call(&format!("DELETE {key}"), "DELETE", &url, None) {
            Err(f) if f.kind == ErrorKind::DoesNotExist => Ok(()),
            other => other.map(drop),
        }
    }

    /// Every object below `prefix` (at most `max`: a listing larger than that is an error).
    pub fn list(&self, prefix: &str, max: usize) -> Result<Vec<Listed>, Failure> {
        let mut all = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut action = ListObjectsV2::new(&self.bucket, Some(&self.credentials));
            action.with_prefix(prefix);
            if let Some(t) = &token {
                action.with_continuation_token(t.clone());
            }
            let url = action.sign(SIGN_FOR);
            let body = self.text(&format!("LIST {prefix}"), "GET", &url, None)?;
            let page = ListObjectsV2::parse_response(&body).map_err(|e| {
                store_err(
                    ErrorKind::Protocol,
                    format!("LIST {prefix}: the store's reply is not a listing: {e}"),
                )
            })?;
            all.extend(page.contents.into_iter().map(|c| Listed {
                key: c.key,
                size: c.size,
            }));
            if all.len() > max {
                return Err(store_err(
                    ErrorKind::TooManyElements,
                    format!("more than {max} objects below {prefix:?}"),
                ));
            }
            match page.next_continuation_token {
                Some(t) => token = Some(t),
                None => return Ok(all),
            }
        }
    }

    /// A call whose reply is a small text.
    fn text(&self, what: &str, method: &str, url: &url::Url, body: Option<&[u8]>) -> Result<String, Failure> {
        let reply = self.call(what, method, url, body)?;
        let mut text = String::new();
        reply
            .into_reader()
            .take(MAX_SMALL_OBJECT)
            .read_to_string(&mut text)
            .map_err(|e| store_err(ErrorKind::StoreUnavailable, format!("{what}: {e}")))?;
        Ok(text)
    }

    /// Starts a multipart upload of `key`; returns its upload id.
    pub fn create_multipart(&self, key: &str) -> Result<String, Failure> {
        let url = self
            .bucket
            .create_multipart_upload(Some(&self.credentials), key)
            .sign(SIGN_FOR);
        let body = self.text(&format!("CREATE UPLOAD {key}"), "POST", &url, None)?;
        let reply = CreateMultipartUpload::parse_response(&body).map_err(|e| {
            store_err(
                ErrorKind::Protocol,
                format!("CREATE UPLOAD {key}: unexpected reply: {e}"),
            )
        })?;
        Ok(reply.upload_id().to_string())
    }

    /// Uploads part `number` (from 1) of an upload; returns its ETag.
    pub fn upload_part(&self, key: &str, upload_id: &str, number: u16, bytes: &[u8]) -> Result<String, Failure> {
        let url = self
            .bucket
            .upload_part(Some(&self.credentials), key, number, upload_id)
            .sign(SIGN_FOR);
        let what = format!("PUT {key} part {number}");
        let reply = self.call(&what, "PUT", &url, Some(bytes))?;
        reply
            .header("etag")
            .map(str::to_string)
            .ok_or_else(|| store_err(ErrorKind::Protocol, format!("{what}: the store sent no ETag")))
    }

    /// Completes an upload from its parts' ETags, in part order.
    pub fn complete_multipart(&self, key: &str, upload_id: &str, etags: &[String]) -> Result<(), Failure> {
        let action = self.bucket.complete_multipart_upload(
            Some(&self.credentials),
            key,
            upload_id,
            etags.iter().map(String::as_str),
        );
        let url = action.sign(SIGN_FOR);
        let body = action.body();
        let what = format!("COMPLETE UPLOAD {key}");
        let reply = self.text(&what, "POST", &url, Some(body.as_bytes()))?;
        // A store may fail a completion inside a 200 reply.
        if reply.contains("<Error>") {
            return Err(store_err(ErrorKind::StoreUnavailable, format!("{what}: {reply}")));
        }
        Ok(())
    }

    /// Aborts an upload (its parts are deleted); one that is gone already is no error.
    pub fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<(), Failure> {
        let url = self
            .bucket
            .abort_multipart_upload(Some(&self.credentials), key, upload_id)
            .sign(SIGN_FOR);
        match self.call(&format!("ABORT UPLOAD {key}"), "DELETE", &url, None) {
            Err(f) if f.kind == ErrorKind::DoesNotExist => Ok(()),
            other => other.map(drop),
        }
    }

    /// The multipart uploads in progress below `prefix`: key and upload id (the first 1,000).
    pub fn list_uploads(&self, prefix: &str) -> Result<Vec<(String, String)>, Failure> {
        let query = [("prefix", prefix), ("uploads", "")];
        let url = rusty_s3::signing::sign(
            &jiff::Timestamp::now(),
            rusty_s3::Method::Get,
            self.bucket.base_url().clone(),
            self.credentials.key(),
            self.credentials.secret(),
            self.credentials.token(),
            self.bucket.region(),
            SIGN_FOR.as_secs(),
            query.into_iter(),
            std::iter::empty::<(&str, &str)>(),
        );
        let body = self.text(&format!("LIST UPLOADS {prefix}"), "GET", &url, None)?;
        Ok(body
            .split("<Upload>")
            .skip(1)
            .filter_map(|u| {
                let key = unescape(between(u, "<Key>", "</Key>")?);
                Some((key, between(u, "<UploadId>", "</UploadId>")?.to_string()))
            })
            .collect())
    }

    /// The parts of an upload so far: number, ETag and size, in order; `None` if the upload is gone.
    pub fn list_parts(&self, key: &str, upload_id: &str) -> Result<Option<Parts>, Failure> {
        let url = self
            .bucket
            .list_parts(Some(&self.credentials), key, upload_id)
            .sign(SIGN_FOR);
        let body = match self.text(&format!("LIST PARTS {key}"), "GET", &url, None) {
            Err(f) if f.kind == ErrorKind::DoesNotExist => return Ok(None),
            other => other?,
        };
        let reply = rusty_s3::actions::ListParts::parse_response(&body)
            .map_err(|e| store_err(ErrorKind::Protocol, format!("LIST PARTS {key}: unexpected reply: {e}")))?;
        Ok(Some(
            reply.parts.into_iter().map(|p| (p.number, p.etag, p.size)).collect(),
        ))
    }
}

/// 5xx and throttling replies may pass on a later try.
fn retriable(code: u16) -> bool {
    code >= 500 || code == 429 || code == 408
}

/// The start of a reply's body, for an error message.
fn reply_text(r: ureq::Response) -> String {
    let mut text = String::new();
    let _ = r.into_reader().take(2048).read_to_string(&mut text);
    let code = between(&text, "<Code>", "</Code>");
    let message = between(&text, "<Message>", "</Message>");
    let message = message.map(unescape);
    match (code, message) {
        (Some(c), Some(m)) => format!("{c}: {m}"),
        (Some(c), None) => c.to_string(),
        _ => text.chars().filter(|c| !c.is_control()).take(200).collect(),
    }
}

/// XML text with its five entities replaced.
fn unescape(s: &str) -> String {
    s.replace("&apos;", "'")
        .replace("&quot;", "\"")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn between<'a>(text: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let from = text.find(start)? + start.len();
    let len = text[from..].find(end)?;
    Some(&text[from..from + len])
}

/// A 4xx reply as an error that says what to check.
fn refused(what: &str, code: u16, r: ureq::Response, bucket: &str) -> Failure {
    let said = reply_text(r);
    let (kind, hint) = match code {
        404 if said.starts_with("NoSuchBucket") => (
            ErrorKind::Store,
            format!("the bucket {bucket:?} does not exist: create it, or fix the target"),
        ),
        404 => (ErrorKind::DoesNotExist, String::new()),
        403 | 401 => (
            ErrorKind::Store,
            "the store denied access: check the credentials, their permissions on the bucket, and the region"
                .to_string(),
        ),
        301 | 307 | 400 if said.contains("egion") || said.starts_with("AuthorizationHeaderMalformed") => (
            ErrorKind::Store,
            "the store says the region is wrong: set [jobs.store] region to the bucket's".to_string(),
        ),
        _ => (ErrorKind::Store, String::new()),
    };
    let message = match hint.is_empty() {
        true => format!("{what}: HTTP {code}: {said}"),
        false => format!("{what}: HTTP {code}: {said} ({hint})"),
    };
    store_err(kind, message)
}
