//! Resume tokens: decoding `receive_resume_token` through `zfs send -nvt` into a typed struct.
//!
//! The contents are read even when `zfs send -nvt` fails because the token's snapshot no longer exists.
//! A token comes from the receiver, which the sender must not trust blindly (a token can name any snapshot on
//! the sender); the planner validates the decoded fields against what it would send without a token.

use serde::Serialize;

use super::types::Guid;
use super::{Zfs, ZfsError, ZfsErrorKind};

/// The fields of a resume token that zreplrs checks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ResumeToken {
    /// The GUID of the incremental source; `None` for a full send.
    pub fromguid: Option<Guid>,
    pub toguid: Guid,
    /// Full name of the snapshot being sent, `pool/fs@snap` on the sender.
    pub toname: String,
    /// Bytes already received.
    pub bytes: u64,
    pub rawok: bool,
    pub compressok: bool,
    pub embedok: bool,
    pub largeblockok: bool,
    pub savedok: bool,
}

fn parse_number(v: &str) -> Option<u64> {
    let v = v.trim();
    if let Some(hex) = v.strip_prefix("0x") {
        u64::from_str_radix(hex, 16).ok()
    } else {
        v.parse().ok()
    }
}

/// Parses the output of `zfs send -nvt TOKEN`: the `resume token contents:` nvlist dump.
pub fn parse_token_output(args: &[String], out: &str) -> Result<ResumeToken, ZfsError> {
    let bad = |why: String| ZfsError::parse(args, why).with_kind(ZfsErrorKind::InvalidResumeToken);
    let mut lines = out.lines().skip_while(|l| !l.starts_with("resume token contents"));
    if lines.next().is_none() {
        return Err(bad(format!(
            "no \"resume token contents\" in the output: {:?}",
            out.trim()
        )));
    }
    let (mut fromguid, mut toguid, mut toname, mut bytes) = (None, None, None, 0u64);
    let (mut rawok, mut compressok, mut embedok, mut largeblockok, mut savedok) = (false, false, false, false, false);
    for line in lines {
        if !line.starts_with('\t') && !line.starts_with("nvlist version") {
            break;
        }
        let line = line.trim();
        let (key, value) = match line.split_once(" = ") {
            Some((k, v)) => (k.trim(), Some(v.trim())),
            None => (line, None),
        };
        let flag = || value.is_none_or(|v| v != "0" && v != "B_FALSE");
        let num = |what: &str| {
            value
                .and_then(parse_number)
                .ok_or_else(|| bad(format!("{what} is not a number in {line:?}")))
        };
        match key {
            "fromguid" => fromguid = Some(Guid(num("fromguid")?)),
            "toguid" => toguid = Some(Guid(num("toguid")?)),
            "bytes" => bytes = num("bytes")?,
            "toname" => toname = value.map(str::to_string),
            "rawok" => rawok = flag(),
            "compressok" => compressok = flag(),
            "embedok" => embedok = flag(),
            "largeblockok" => largeblockok = flag(),
            "savedok" => savedok = flag(),
            _ => {}
        }
    }
    let toguid = toguid.ok_or_else(|| bad("token has no toguid".into()))?;
    let toname = toname
        .filter(|n| n.contains('@'))
        .ok_or_else(|| bad("token has no toname snapshot".into()))?;
    Ok(ResumeToken {
        fromguid: fromguid.filter(|g| g.0 != 0),
        toguid,
        toname,
        bytes,
        rawok,
        compressok,
        embedok,
        largeblockok,
        savedok,
    })
}

impl Zfs {
    /// Decodes a resume token with `zfs send -nvt`. A corrupt token is an `InvalidResumeToken` error.
    pub fn decode_resume_token(&self, token: &str) -> Result<ResumeToken, ZfsError> {
        let well_formed = token.as_bytes().first().is_some_and(u8::is_ascii_digit)
            && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
        if !well_formed {
            return Err(ZfsError {
                kind: ZfsErrorKind::InvalidResumeToken,
                command: "zfs send -nvt TOKEN".into(),
                message: "a resume token starts with a digit and consists of letters, digits and '-' only".into(),
                exit_code: None,
            });
        }
        let args: Vec<String> = vec!["send".into(), "-n".into(), "-v".into(), "-t".into(), token.into()];
        // zfs prints the token's contents before it looks the snapshot up, so a token whose snapshot is gone
        // (a stale token) still decodes: the caller then finds its toguid missing on the sender.
        let (ok, out, err) = self.run_output(&args)?;
        if !ok && !out.contains("resume token contents") {
            let e = ZfsError::from_stderr(&args, None, &err);
            return Err(if e.kind == ZfsErrorKind::Other {
                e.with_kind(ZfsErrorKind::InvalidResumeToken)
            } else {
                e
            });
        }
        parse_token_output(&args, &out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args() -> Vec<String> {
        vec!["send".into(), "-nvt".into(), "x".into()]
    }

    #[test]
    fn parses_incremental_token() {
        let out = "resume token contents:\nnvlist version: 0\n\tfromguid = 0x46f626fea92a89af\n\tobject = 0x1\n\
                   \toffset = 0x0\n\tbytes = 0x1000\n\ttoguid = 0xffffffffffffffff\n\ttoname = testpool/fs@snap2\n\
                   \tembedok\n\trawok = 1\nsend from testpool/fs@snap1 to testpool/fs@snap2 estimated size is 1K\n";
        let t = parse_token_output(&args(), out).unwrap();
        assert_eq!(t.fromguid, Some(Guid(0x46f626fea92a89af)));
        assert_eq!(t.toguid, Guid(u64::MAX));
        assert_eq!(t.toname, "testpool/fs@snap2");
        assert_eq!(t.bytes, 4096);
        assert!(t.embedok && t.rawok);
        assert!(!t.compressok && !t.largeblockok && !t.savedok);
    }

    #[test]
    fn full_send_token_has_no_fromguid() {
        let out = "resume token contents:\nnvlist version: 0\n\tobject = 0x1\n\toffset = 0x0\n\tbytes = 0x0\n\
                   \ttoguid = 0x7b604c01bd7168bd\n\ttoname = p/fs@s\nfull send of p/fs@s estimated size is 1M\n";
        let t = parse_token_output(&args(), out).unwrap();
        assert_eq!(t.fromguid, None);
        assert_eq!(t.toguid, Guid(0x7b604c01bd7168bd));
    }

    #[test]
    fn garbage_is_an_invalid_token() {
        for out in [
            "",
            "cannot resume send: bad token\n",
            "resume token contents:\nnvlist version: 0\n\ttoname = p/fs@s\n",
            "resume token contents:\nnvlist version: 0\n\ttoguid = 0xzz\n\ttoname = p/fs@s\n",
            "resume token contents:\nnvlist version: 0\n\ttoguid = 0x1\n\ttoname = p/fs\n",
        ] {
            let e = parse_token_output(&args(), out).unwrap_err();
            assert_eq!(e.kind, ZfsErrorKind::InvalidResumeToken, "{out:?}");
        }
    }

    #[test]
    fn token_characters_are_checked_before_running_zfs() {
        let zfs = Zfs::new();
        for t in ["", "1-abc; rm -rf /", "1-abc\n", "-v", "abc"] {
            assert_eq!(
                zfs.decode_resume_token(t).unwrap_err().kind,
                ZfsErrorKind::InvalidResumeToken
            );
        }
    }
}
