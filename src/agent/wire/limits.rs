//! A bound on what decoding a message costs, checked on the protobuf wire before `prost` decodes it.
//!
//! A frame is at most [`crate::agent::wire::frame::MAX_MESSAGE`] bytes, but the decoded message can be far larger: an
//! empty repeated element is 2 bytes on the wire and a whole struct (or `String`) in memory, so 16 MiB of
//! empty `Version`s decodes to over a gigabyte. [`decoded_cost`] walks the wire format with the schema of
//! [`crate::agent::wire::proto`] and adds up the memory the decoded message would take (structs of repeated messages,
//! `String` headers of repeated strings, counted twice for `Vec` growth, plus every string's bytes); a message
//! whose cost exceeds [`MAX_DECODED`] is refused before anything is allocated for it.

use prost::bytes::Buf;
use prost::encoding::{decode_key, decode_varint, WireType};

use crate::agent::wire::proto;

/// Largest decoded size (estimated as [`decoded_cost`] does) of one message. A full 16 MiB page of a
/// listing with snapshot names of typical length costs about 60 MiB; an agent that pages its listings (the
/// default, [`crate::agent::client::LIST_PAGE_BYTES`]) sends pages of a quarter of that.
pub const MAX_DECODED: u64 = 96 << 20;

/// What a field of a message is, as far as decoding cost goes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Field {
    /// A scalar, or a field this schema does not know (`prost` skips it): no allocation.
    Inline,
    /// A singular string: its bytes.
    Str,
    /// An element of a repeated string: a `String` in a `Vec`, plus its bytes.
    RepStr,
    /// A singular message (the envelope's body, held inline).
    Msg(Kind),
    /// An element of a repeated message.
    RepMsg(Kind),
}

/// The message types that contain strings or other messages.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Envelope,
    Hello,
    HelloReply,
    ListRequest,
    ListReply,
    FsEntry,
    Version,
    ReceiveRequest,
    OneString,
    Destroy,
    DestroyReply,
    HoldsReply,
    HoldEntry,
    ReleaseLastReceived,
    HoldLastReceived,
    Error,
    Checksum,
    ChecksumReply,
    ZfsCall,
    ZfsCallReply,
    Scalars,
}

impl Kind {
    fn size(self) -> u64 {
        use std::mem::size_of;
        let s = match self {
            Kind::FsEntry => size_of::<proto::FsEntry>(),
            Kind::Version => size_of::<proto::Version>(),
            Kind::HoldEntry => size_of::<proto::HoldEntry>(),
            // Only repeated messages are charged their size; the others are inline in the envelope.
            _ => 0,
        };
        s as u64
    }

    fn field(self, tag: u32) -> Field {
        use Field::*;
        match (self, tag) {
            (Kind::Envelope, 1) => Msg(Kind::Hello),
            (Kind::Envelope, 2) => Msg(Kind::HelloReply),
            (Kind::Envelope, 3) => Msg(Kind::ListRequest),
            (Kind::Envelope, 4) => Msg(Kind::ListReply),
            (Kind::Envelope, 5) => Msg(Kind::ReceiveRequest),
            (Kind::Envelope, 7 | 12) => Msg(Kind::OneString),
            (Kind::Envelope, 9) => Msg(Kind::Error),
            (Kind::Envelope, 10) => Msg(Kind::Destroy),
            (Kind::Envelope, 11) => Msg(Kind::DestroyReply),
            (Kind::Envelope, 13) => Msg(Kind::HoldsReply),
            (Kind::Envelope, 14) => Msg(Kind::ReleaseLastReceived),
            (Kind::Envelope, 15) => Msg(Kind::HoldLastReceived),
            (Kind::Envelope, 6 | 8 | 16) => Msg(Kind::Scalars),
            (Kind::Envelope, 17) => Msg(Kind::Checksum),
            (Kind::Envelope, 18) => Msg(Kind::ChecksumReply),
            (Kind::Envelope, 19) => Msg(Kind::ZfsCall),
            (Kind::Envelope, 20) => Msg(Kind::ZfsCallReply),
            (Kind::Hello, 2) => Str,
            (Kind::Hello, 3) => RepStr,
            (Kind::HelloReply, 2..=4) => Str,
            (Kind::HelloReply, 7) => RepStr,
            (Kind::ListRequest, 3) => RepStr,
            (Kind::ListReply, 1) => RepMsg(Kind::FsEntry),
            (Kind::FsEntry, 1 | 4 | 5) => Str,
            (Kind::FsEntry, 7) => RepMsg(Kind::Version),
            (Kind::Version, 2) => Str,
            (Kind::ReceiveRequest, 1 | 2 | 5 | 8) => Str,
            (Kind::OneString, 1) => Str,
            (Kind::Destroy, 1) => Str,
            (Kind::Destroy, 2) => RepStr,
            (Kind::DestroyReply, 1 | 2) => RepStr,
            (Kind::HoldsReply, 1) => RepMsg(Kind::HoldEntry),
            (Kind::HoldEntry, 1..=3) => Str,
            (Kind::ReleaseLastReceived, 1 | 3) => Str,
            (Kind::ReleaseLastReceived, 2) => RepStr,
            (Kind::HoldLastReceived, 1 | 2 | 4) => Str,
            (Kind::Error, 1 | 2) => Str,
            (Kind::Checksum, 1 | 2) => Str,
            (Kind::ChecksumReply, 1 | 5) => Str,
            (Kind::ZfsCall, 1) => RepStr,
            (Kind::ZfsCall, 3) => Str,
            (Kind::ZfsCallReply, 3 | 4) => Str,
            _ => Inline,
        }
    }
}

/// Why [`decoded_cost`] refused a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CostError {
    /// Not valid protobuf wire format.
    Malformed(String),
    /// Decoding would take more than the limit.
    TooCostly { limit: u64 },
}

impl std::fmt::Display for CostError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CostError::Malformed(m) => write!(f, "{m}"),
            CostError::TooCostly { limit } => write!(
                f,
                "decoding it would take more than {} MiB of memory (too many elements for one message)",
                limit >> 20
            ),
        }
    }
}

/// The estimated memory, in bytes, that decoding `buf` as an [`proto::Envelope`] takes; `Err` when the
/// wire format is malformed or the estimate exceeds `limit` (the walk stops there).
pub fn decoded_cost(buf: &[u8], limit: u64) -> Result<u64, CostError> {
    let mut cost = 0u64;
    walk(Kind::Envelope, buf, 0, &mut cost, limit)?;
    Ok(cost)
}

fn walk(kind: Kind, mut buf: &[u8], depth: u32, cost: &mut u64, limit: u64) -> Result<(), CostError> {
    let bad = |m: &str| CostError::Malformed(m.to_string());
    if depth > 8 {
        return Err(bad("messages nested too deeply"));
    }
    while buf.has_remaining() {
        let (tag, wire) = decode_key(&mut buf).map_err(|e| CostError::Malformed(e.to_string()))?;
        match wire {
            WireType::Varint => {
                decode_varint(&mut buf).map_err(|e| CostError::Malformed(e.to_string()))?;
            }
            WireType::SixtyFourBit | WireType::ThirtyTwoBit => {
                let n = if wire == WireType::SixtyFourBit { 8 } else { 4 };
                if buf.remaining() < n {
                    return Err(bad("truncated fixed-size field"));
                }
                buf.advance(n);
            }
            WireType::LengthDelimited => {
                let len = decode_varint(&mut buf).map_err(|e| CostError::Malformed(e.to_string()))?;
                let len = usize::try_from(len)
                    .ok()
                    .filter(|&l| l <= buf.remaining())
                    .ok_or_else(|| bad("a length-delimited field runs past the end of the message"))?;
                let (inner, rest) = buf.split_at(len);
                buf = rest;
                let charge = match kind.field(tag) {
                    Field::Inline => 0,
                    Field::Str => len as u64,
                    Field::RepStr => 2 * std::mem::size_of::<String>() as u64 + len as u64,
                    Field::Msg(k) => {
                        walk(k, inner, depth + 1, cost, limit)?;
                        0
                    }
                    Field::RepMsg(k) => {
                        walk(k, inner, depth + 1, cost, limit)?;
                        2 * k.size()
                    }
                };
                *cost = cost.saturating_add(charge);
            }
            WireType::StartGroup | WireType::EndGroup => {
                return Err(bad("protobuf groups are not part of this protocol"));
            }
        }
        if *cost > limit {
            return Err(CostError::TooCostly { limit });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::wire::proto::{envelope::Body, Envelope};
    use prost::Message;

    fn cost(body: Body) -> Result<u64, CostError> {
        decoded_cost(&Envelope::new(body).encode_to_vec(), MAX_DECODED)
    }

    #[test]
    fn strings_and_repeated_messages_are_charged() {
        let one = cost(
            proto::ListReply {
                filesystems: vec![proto::FsEntry {
                    name: "abc".into(),
                    versions: vec![proto::Version::default(); 3],
                    ..Default::default()
                }],
                ..Default::default()
            }
            .into(),
        )
        .unwrap();
        let expect = 2 * Kind::FsEntry.size() + 3 + 3 * 2 * Kind::Version.size();
        assert_eq!(one, expect);
        let d = cost(
            proto::DestroyRequest {
                fs: "f".into(),
                snapshots: vec!["ab".into(), String::new()],
            }
            .into(),
        )
        .unwrap();
        assert_eq!(d, 1 + 2 * (48 + 1));
        assert_eq!(cost(proto::Ok {}.into()), Ok(0));
    }

    /// The attacks: 16 MiB of empty versions, or of empty repeated strings, would decode to gigabytes.
    #[test]
    fn floods_of_empty_elements_are_refused_before_decoding() {
        let fs = proto::FsEntry {
            versions: vec![proto::Version::default(); 8_000_000],
            ..Default::default()
        };
        let flood = Envelope::new(
            proto::ListReply {
                filesystems: vec![fs],
                ..Default::default()
            }
            .into(),
        )
        .encode_to_vec();
        assert!(flood.len() <= super::super::frame::MAX_MESSAGE as usize);
        let err = decoded_cost(&flood, MAX_DECODED).unwrap_err();
        assert_eq!(err, CostError::TooCostly { limit: MAX_DECODED });
        assert!(err.to_string().contains("too many elements"), "{err}");
        let strings = Envelope::new(
            proto::DestroyRequest {
                fs: "f".into(),
                snapshots: vec![String::new(); 8_000_000],
            }
            .into(),
        )
        .encode_to_vec();
        assert_eq!(
            decoded_cost(&strings, MAX_DECODED),
            Err(CostError::TooCostly { limit: MAX_DECODED })
        );
    }

    /// A full page of a real-looking listing is well within the bound.
    #[test]
    fn a_full_page_of_a_listing_is_accepted() {
        let versions: Vec<proto::Version> = (0..300_000u64)
            .map(|i| proto::Version {
                short: format!("zrepl_20261202_1419{:02}_{i:06}", i % 60),
                guid: u64::MAX - i,
                createtxg: 1_000_000 + i,
                userrefs: Some(0),
                creation: Some(1_800_000_000 + i),
                ..Default::default()
            })
            .collect();
        let page = Envelope::new(
            proto::ListReply {
                filesystems: vec![proto::FsEntry {
                    name: "tank/data".into(),
                    versions,
                    ..Default::default()
                }],
                ..Default::default()
            }
            .into(),
        )
        .encode_to_vec();
        assert!(page.len() > 12 << 20, "{}", page.len());
        let c = decoded_cost(&page, MAX_DECODED).unwrap();
        assert!(c < MAX_DECODED, "{c}");
    }

    #[test]
    fn malformed_wire_is_refused() {
        let malformed = |b: &[u8]| matches!(decoded_cost(b, MAX_DECODED), Err(CostError::Malformed(_)));
        assert!(malformed(&[0x22, 0x05, 0x0a]), "length past the end");
        assert!(malformed(&[0x0b]), "group");
        assert!(malformed(&[0x09, 1, 2]), "truncated fixed64");
        assert!(malformed(&[0x08, 0xff]), "truncated varint");
    }
}
