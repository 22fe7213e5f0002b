//! The target URL of a job: `local:POOL/FS`, `ssh://[USER@]HOST[:PORT]/POOL/FS` or `s3://BUCKET[/PREFIX]`.

use crate::error::Invalid;
use std::fmt;
use std::net::Ipv6Addr;
use std::str::FromStr;

use serde::de::{self, Deserializer};
use serde::Deserialize;

use super::*;
use crate::zfs::names::DatasetName;

/// Where a job replicates to: the receiving pool's root filesystem, locally or on another host.
///
/// Written as `local:backup/hosts` or `ssh://[USER@]HOST[:PORT]/backup/hosts` (the URL path without its
/// leading `/` is the root filesystem; an IPv6 address is written in brackets, `ssh://[::1]/backup`).
/// [`Display`](fmt::Display) gives the canonical form, without the port when it is 22.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// On this host: the receive agent runs as a child process.
    Local {
        /// Received datasets go below this filesystem.
        root_fs: DatasetName,
    },
    /// On another host, over SSH.
    Ssh {
        /// The SSH user; unset: the user running zreplrs.
        user: Option<String>,
        /// Host name or IP address (an IPv6 address without brackets).
        host: String,
        /// The SSH port (default 22).
        port: u16,
        /// Received datasets go below this filesystem.
        root_fs: DatasetName,
    },
    /// In an S3-compatible object store (`[jobs.store]` says where and how): each filesystem's chain of
    /// stream objects and its manifest lie below `BUCKET/PREFIX/<receiver path>/`.
    S3 {
        /// `BUCKET/PREFIX` written as a dataset name, so that receiver paths are derived as for ZFS.
        root_fs: DatasetName,
    },
}

/// The accepted target syntax, for error messages.
const TARGET_SYNTAX: &str = "\"local:POOL/FS\", \"ssh://[USER@]HOST[:PORT]/POOL/FS\" or \"s3://BUCKET[/PREFIX]\"";

impl Target {
    /// Parses `local:POOL/FS` or `ssh://[USER@]HOST[:PORT]/POOL/FS`.
    pub fn parse(s: &str) -> Result<Target, Invalid> {
        let bad = |why: String| format!("invalid target {s:?}: {why}");
        let root = |rest: &str, example: &str| {
            if rest.is_empty() {
                return Err(bad(format!("missing root filesystem (e.g. \"{example}backup/hosts\")")));
            }
            DatasetName::new(rest).map_err(|e| bad(format!("root filesystem: {e}")))
        };
        if let Some(rest) = s.strip_prefix("local:") {
            return Ok(Target::Local {
                root_fs: root(rest, "local:")?,
            });
        }
        if let Some(rest) = s.strip_prefix("s3://") {
            return s3_root(rest.trim_end_matches('/'))
                .map(|root_fs| Target::S3 { root_fs })
                .map_err(|why| Invalid(bad(why)));
        }
        let Some(rest) = s.strip_prefix("ssh://") else {
            return Err(match s.split_once("://") {
                Some((scheme, _)) => {
                    Invalid::from(bad(format!("unknown scheme {scheme:?} (expected {TARGET_SYNTAX})")))
                }
                None => Invalid::from(bad(format!("expected {TARGET_SYNTAX}"))),
            });
        };
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (user, host_port) = match authority.rsplit_once('@') {
            Some((user, host_port)) => (Some(user), host_port),
            None => (None, authority),
        };
        let user = match user {
            None => None,
            Some("") => return Err(Invalid::from(bad("empty user name before '@'".to_string()))),
            Some(user) if user.contains(':') => {
                return Err(Invalid::from(bad(
                    "passwords in the URL are not supported (use [jobs.ssh] identity_files)".to_string(),
                )))
            }
            Some(user) => {
                if let Some(c) = user.chars().find(|c| c.is_control() || c.is_whitespace() || *c == '@') {
                    return Err(Invalid::from(bad(format!(
                        "character '{}' is not allowed in the user name",
                        c.escape_debug()
                    ))));
                }
                Some(user.to_string())
            }
        };
        let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
            let Some((address, after)) = bracketed.split_once(']') else {
                return Err(Invalid::from(bad("missing ']' after the IPv6 address".to_string())));
            };
            if address.parse::<Ipv6Addr>().is_err() {
                return Err(Invalid::from(bad(format!("{address:?} is not an IPv6 address"))));
            }
            let port = match after {
                "" => None,
                _ => match after.strip_prefix(':') {
                    Some(port) => Some(port),
                    None => return Err(Invalid::from(bad(format!("unexpected {after:?} after ']'")))),
                },
            };
            (address.to_string(), port)
        } else {
            if host_port.matches(':').count() > 1 {
                return Err(Invalid::from(bad(
                    "write IPv6 addresses in brackets, e.g. ssh://[::1]/backup".to_string(),
                )));
            }
            let (host, port) = match host_port.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (host_port, None),
            };
            if host.is_empty() {
                return Err(Invalid::from(bad("missing host name".to_string())));
            }
            if let Some(c) = host
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_')))
            {
                return Err(Invalid::from(bad(format!(
                    "character '{}' is not allowed in the host name (allowed: letters, digits, - . _)",
                    c.escape_debug()
                ))));
            }
            if host.starts_with(['-', '.']) {
                return Err(Invalid::from(bad(format!(
                    "host name {host:?} must not begin with '-' or '.'"
                ))));
            }
            (host.to_string(), port)
        };
        let port = match port {
            None => DEFAULT_SSH_PORT,
            Some(port) => match port.parse::<u16>() {
                Ok(n) if n != 0 && port.bytes().all(|b| b.is_ascii_digit()) => n,
                _ => {
                    return Err(Invalid::from(bad(format!(
                        "invalid port {port:?} (expected a number from 1 to 65535)"
                    ))))
                }
            },
        };
        Ok(Target::Ssh {
            user,
            host,
            port,
            root_fs: root(path, "ssh://host/")?,
        })
    }

    /// The filesystem below which received datasets go.
    pub fn root_fs(&self) -> &DatasetName {
        match self {
            Target::Local { root_fs } | Target::Ssh { root_fs, .. } | Target::S3 { root_fs } => root_fs,
        }
    }

    /// The target is an object store.
    pub fn is_store(&self) -> bool {
        matches!(self, Target::S3 { .. })
    }
}

/// `BUCKET[/PREFIX]` as a dataset name: the bucket as S3 names them (3 to 63 of `a-z 0-9 . -`, beginning
/// and ending with a letter or digit), each prefix component a dataset name component.
fn s3_root(rest: &str) -> Result<DatasetName, String> {
    let bucket = rest.split('/').next().unwrap_or_default();
    let ok = (3..=63).contains(&bucket.len())
        && bucket
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-'))
        && bucket.starts_with(|c: char| c.is_ascii_alphanumeric())
        && bucket.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !ok {
        return Err(format!(
            "bucket {bucket:?} is not an S3 bucket name (3 to 63 lowercase letters, digits, '.' and '-')"
        ));
    }
    DatasetName::new(rest).map_err(|e| format!("prefix: {e}"))
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Local { root_fs } => write!(f, "local:{root_fs}"),
            Target::S3 { root_fs } => write!(f, "s3://{root_fs}"),
            Target::Ssh {
                user,
                host,
                port,
                root_fs,
            } => {
                f.write_str("ssh://")?;
                if let Some(user) = user {
                    write!(f, "{user}@")?;
                }
                if host.contains(':') {
                    write!(f, "[{host}]")?;
                } else {
                    f.write_str(host)?;
                }
                if *port != DEFAULT_SSH_PORT {
                    write!(f, ":{port}")?;
                }
                write!(f, "/{root_fs}")
            }
        }
    }
}

impl FromStr for Target {
    type Err = Invalid;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Target::parse(s)
    }
}

impl<'de> Deserialize<'de> for Target {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Target::parse(&s).map_err(de::Error::custom)
    }
}
