//! A bounded decoder for packed nvlists (libnvpair's `nvlist_pack`), enough for the flat lists ZFS puts into
//! resume tokens: `boolean`, `uint64`, `string` and `uint64 array` values. Pure: bytes in, pairs out. Every
//! length is checked against the bytes that remain before it is used, nested lists and other types are
//! refused, and a name that occurs twice is an error. Both encodings `nvlist_unpack` reads are accepted:
//!
//! * **Native** (`NV_ENCODE_NATIVE`, what the kernel's `fnvlist_pack` writes into tokens): a 4-byte stream
//!   header (encoding 0, byte order 1 = little-endian or 0 = big-endian, two reserved bytes), the list's
//!   version and flags (two `int32`), then per pair an `nvpair_t` — total size (`int32`, a multiple of 8),
//!   name size with its NUL (`int16`), reserved (`int16`), element count and type (two `int32`) — followed by
//!   the NUL-terminated name and the value, each padded to 8 bytes; a size of 0 ends the list.
//! * **XDR** (`NV_ENCODE_XDR`): big-endian, fields padded to 4 bytes; per pair its encoded and decoded sizes,
//!   its name (`uint32` length, bytes), type, element count and value; two zero sizes end the list.

use std::collections::BTreeMap;

/// libnvpair's data types that the decoder accepts (`data_type_t`).
const DATA_TYPE_BOOLEAN: i32 = 1;
const DATA_TYPE_UINT64: i32 = 8;
const DATA_TYPE_STRING: i32 = 9;
const DATA_TYPE_UINT64_ARRAY: i32 = 16;

/// Encodings in the stream header.
const NV_ENCODE_NATIVE: u8 = 0;
const NV_ENCODE_XDR: u8 = 1;

/// Most pairs a list may have; a resume token has at most about a dozen.
pub const MAX_PAIRS: usize = 64;
/// Longest pair name in bytes.
pub const MAX_NAME_LEN: usize = 256;
/// Most elements of an array value.
pub const MAX_ARRAY_LEN: usize = 4096;

/// One value of a pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// A name without a value (`nvlist_add_boolean`): present means true.
    Boolean,
    Uint64(u64),
    /// A string; only valid UTF-8 is accepted.
    String(String),
    Uint64Array(Vec<u64>),
}

/// Why bytes are not an nvlist this decoder accepts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NvlistError {
    #[error("the nvlist ends early (at byte {0})")]
    Truncated(usize),
    #[error("the nvlist has an unknown encoding ({0}) or byte order")]
    UnknownEncoding(u8),
    #[error("nvlist pair {name:?} has type {ty}, which a resume token does not use")]
    UnsupportedType { name: String, ty: i32 },
    #[error("nvlist pair {name:?} has {nelem} elements for its type")]
    BadElementCount { name: String, nelem: i32 },
    #[error("nvlist pair {0:?} occurs twice")]
    Duplicate(String),
    #[error("nvlist pair name or string value is not valid UTF-8, or not NUL-terminated")]
    NotUtf8,
    #[error("nvlist has more than {MAX_PAIRS} pairs")]
    TooManyPairs,
    #[error("nvlist field is too long ({0} bytes or elements)")]
    TooLong(usize),
    #[error("nvlist pair {name:?} says it is {said} bytes long but is {actual}")]
    SizeMismatch { name: String, said: i64, actual: usize },
    #[error("{0} bytes follow the end of the nvlist")]
    TrailingBytes(usize),
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    little: bool,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], NvlistError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.buf.len())
            .ok_or(NvlistError::Truncated(self.pos))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn u32(&mut self) -> Result<u32, NvlistError> {
        let b = self.take(4)?;
        let b = [b[0], b[1], b[2], b[3]];
        Ok(if self.little {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    }

    fn u16(&mut self) -> Result<u16, NvlistError> {
        let b = self.take(2)?;
        let b = [b[0], b[1]];
        Ok(if self.little {
            u16::from_le_bytes(b)
        } else {
            u16::from_be_bytes(b)
        })
    }

    fn i32(&mut self) -> Result<i32, NvlistError> {
        Ok(self.u32()? as i32)
    }

    fn u64(&mut self) -> Result<u64, NvlistError> {
        let a = u64::from(self.u32()?);
        let b = u64::from(self.u32()?);
        Ok(if self.little { b << 32 | a } else { a << 32 | b })
    }

    /// Skips to the next multiple of 8 counted from `base`.
    fn align8(&mut self, base: usize) -> Result<(), NvlistError> {
        let off = self.pos - base;
        self.take((8 - off % 8) % 8).map(|_| ())
    }

    /// A NUL-terminated string of exactly `len` bytes with its NUL.
    fn cstring(&mut self, len: usize) -> Result<String, NvlistError> {
        let b = self.take(len)?;
        match b.split_last() {
            Some((0, s)) if !s.contains(&0) => String::from_utf8(s.to_vec()).map_err(|_| NvlistError::NotUtf8),
            _ => Err(NvlistError::NotUtf8),
        }
    }

    /// An XDR string or opaque: `uint32` length, the bytes, padding to 4.
    fn string(&mut self, max: usize) -> Result<String, NvlistError> {
        let len = self.u32()? as usize;
        if len > max {
            return Err(NvlistError::TooLong(len));
        }
        let bytes = self.take(len)?;
        self.take((4 - len % 4) % 4)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| NvlistError::NotUtf8)
    }
}

/// Decodes a packed nvlist into its pairs by name. Rejects anything outside the accepted types and bounds.
pub fn decode(buf: &[u8]) -> Result<BTreeMap<String, Value>, NvlistError> {
    let header = buf.get(..4).ok_or(NvlistError::Truncated(0))?;
    match (header[0], header[1]) {
        (NV_ENCODE_NATIVE, 0 | 1) => decode_native(buf, header[1] == 1),
        (NV_ENCODE_XDR, _) => decode_xdr(buf),
        (e, _) => Err(NvlistError::UnknownEncoding(e)),
    }
}

fn check_elements(name: &str, nelem: i32, want: i32) -> Result<(), NvlistError> {
    if nelem == want {
        Ok(())
    } else {
        Err(NvlistError::BadElementCount {
            name: name.to_string(),
            nelem,
        })
    }
}

fn array_len(name: &str, nelem: i32) -> Result<usize, NvlistError> {
    let n = usize::try_from(nelem).map_err(|_| NvlistError::BadElementCount {
        name: name.to_string(),
        nelem,
    })?;
    if n > MAX_ARRAY_LEN {
        return Err(NvlistError::TooLong(n));
    }
    Ok(n)
}

/// Adds a decoded pair whose encoding said it was `said` bytes long and took `actual`; a mismatch or a
/// name seen before is an error.
fn add_pair(
    pairs: &mut BTreeMap<String, Value>,
    name: String,
    value: Value,
    said: i32,
    actual: usize,
) -> Result<(), NvlistError> {
    if i64::from(said) != actual as i64 {
        return Err(NvlistError::SizeMismatch {
            name,
            said: i64::from(said),
            actual,
        });
    }
    if pairs.contains_key(&name) {
        return Err(NvlistError::Duplicate(name));
    }
    pairs.insert(name, value);
    Ok(())
}

/// The pairs, once the end marker was the last thing in the buffer.
fn finish(r: &Reader<'_>, pairs: BTreeMap<String, Value>) -> Result<BTreeMap<String, Value>, NvlistError> {
    if r.pos != r.buf.len() {
        return Err(NvlistError::TrailingBytes(r.buf.len() - r.pos));
    }
    Ok(pairs)
}

/// How values are laid out in the two encodings, where they differ.
enum Layout {
    /// Strings are NUL-terminated, within the pair that ends at `pair_end`; arrays are bare elements.
    Native { pair_end: usize },
    /// Strings carry their length; arrays repeat their element count first (`xdr_array`).
    Xdr,
}

/// Reads the value of pair `name` (type `ty`, `nelem` elements) in `layout`.
fn read_value(r: &mut Reader<'_>, name: &str, ty: i32, nelem: i32, layout: Layout) -> Result<Value, NvlistError> {
    Ok(match ty {
        DATA_TYPE_BOOLEAN => {
            check_elements(name, nelem, 0)?;
            Value::Boolean
        }
        DATA_TYPE_UINT64 => {
            check_elements(name, nelem, 1)?;
            Value::Uint64(r.u64()?)
        }
        DATA_TYPE_STRING => {
            check_elements(name, nelem, 1)?;
            match layout {
                Layout::Native { pair_end } => {
                    let rest = r.buf.get(r.pos..pair_end).ok_or(NvlistError::Truncated(r.pos))?;
                    let nul = rest.iter().position(|&b| b == 0).ok_or(NvlistError::NotUtf8)?;
                    if nul > MAX_NAME_LEN * 4 {
                        return Err(NvlistError::TooLong(nul));
                    }
                    Value::String(r.cstring(nul + 1)?)
                }
                Layout::Xdr => Value::String(r.string(MAX_NAME_LEN * 4)?),
            }
        }
        DATA_TYPE_UINT64_ARRAY => {
            let n = array_len(name, nelem)?;
            if matches!(layout, Layout::Xdr) && r.u32()? as usize != n {
                return Err(NvlistError::BadElementCount {
                    name: name.to_string(),
                    nelem,
                });
            }
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(r.u64()?);
            }
            Value::Uint64Array(v)
        }
        _ => {
            return Err(NvlistError::UnsupportedType {
                name: name.to_string(),
                ty,
            })
        }
    })
}

fn decode_native(buf: &[u8], little: bool) -> Result<BTreeMap<String, Value>, NvlistError> {
    let mut r = Reader { buf, pos: 4, little };
    let _version = r.i32()?;
    let _flags = r.u32()?;
    let mut pairs = BTreeMap::new();
    loop {
        let start = r.pos;
        let size = r.i32()?;
        if size == 0 {
            break;
        }
        if pairs.len() == MAX_PAIRS {
            return Err(NvlistError::TooManyPairs);
        }
        let name_sz = usize::from(r.u16()?);
        let _reserved = r.u16()?;
        let nelem = r.i32()?;
        let ty = r.i32()?;
        if name_sz > MAX_NAME_LEN + 1 {
            return Err(NvlistError::TooLong(name_sz));
        }
        let name = r.cstring(name_sz)?;
        r.align8(start)?;
        // A native string runs to its NUL, which must lie inside the pair's size.
        let pair_end = usize::try_from(size)
            .ok()
            .and_then(|s| start.checked_add(s))
            .filter(|&e| e <= buf.len())
            .ok_or(NvlistError::Truncated(r.pos))?;
        let value = read_value(&mut r, &name, ty, nelem, Layout::Native { pair_end })?;
        r.align8(start)?;
        add_pair(&mut pairs, name, value, size, r.pos - start)?;
    }
    finish(&r, pairs)
}

fn decode_xdr(buf: &[u8]) -> Result<BTreeMap<String, Value>, NvlistError> {
    let mut pairs = BTreeMap::new();
    walk_xdr(buf, |r, start, encoded, name| {
        let ty = r.i32()?;
        let nelem = r.i32()?;
        let value = read_value(r, &name, ty, nelem, Layout::Xdr)?;
        add_pair(&mut pairs, name, value, encoded, r.pos - start)
    })?;
    Ok(pairs)
}

/// Walks the pairs of an XDR nvlist: `pair` gets the reader just after a pair's name, the pair's start,
/// its encoded size and its name, and must leave the reader at the pair's end. At most [`MAX_PAIRS`]
/// pairs; the end marker must be the last thing in the buffer.
fn walk_xdr(
    buf: &[u8],
    mut pair: impl FnMut(&mut Reader<'_>, usize, i32, String) -> Result<(), NvlistError>,
) -> Result<(), NvlistError> {
    let mut r = Reader {
        buf,
        pos: 4,
        little: false,
    };
    let _version = r.i32()?;
    let _flags = r.u32()?;
    let mut count = 0;
    loop {
        let start = r.pos;
        let encoded = r.i32()?;
        let decoded = r.i32()?;
        if encoded == 0 && decoded == 0 {
            break;
        }
        if count == MAX_PAIRS {
            return Err(NvlistError::TooManyPairs);
        }
        count += 1;
        let name = r.string(MAX_NAME_LEN)?;
        pair(&mut r, start, encoded, name)?;
    }
    if r.pos != buf.len() {
        return Err(NvlistError::TrailingBytes(buf.len() - r.pos));
    }
    Ok(())
}

/// The names of the top-level pairs of an XDR nvlist (a `zfs send` package header), each pair skipped by
/// its encoded size without decoding its value; bounded like [`decode`].
pub fn xdr_top_level_names(buf: &[u8]) -> Result<Vec<String>, NvlistError> {
    match buf.first() {
        Some(&NV_ENCODE_XDR) => {}
        Some(&e) => return Err(NvlistError::UnknownEncoding(e)),
        None => return Err(NvlistError::Truncated(0)),
    }
    let mut names = Vec::new();
    walk_xdr(buf, |r, start, encoded, name| {
        let end = usize::try_from(encoded)
            .ok()
            .and_then(|e| start.checked_add(e))
            .filter(|&e| e <= r.buf.len() && e >= r.pos)
            .ok_or(NvlistError::Truncated(r.pos))?;
        if names.contains(&name) {
            return Err(NvlistError::Duplicate(name));
        }
        names.push(name);
        r.pos = end;
        Ok(())
    })?;
    Ok(names)
}

fn type_of(value: &Value) -> (i32, i32) {
    match value {
        Value::Boolean => (DATA_TYPE_BOOLEAN, 0),
        Value::Uint64(_) => (DATA_TYPE_UINT64, 1),
        Value::String(_) => (DATA_TYPE_STRING, 1),
        Value::Uint64Array(v) => (DATA_TYPE_UINT64_ARRAY, v.len() as i32),
    }
}

/// Encodes pairs (in the given order) as the kernel's `fnvlist_pack` does on a little-endian host
/// (`NV_ENCODE_NATIVE`); used to build test tokens and fuzz seeds.
pub fn encode(pairs: &[(&str, Value)]) -> Vec<u8> {
    fn pad8(v: &mut Vec<u8>) {
        v.resize(v.len().div_ceil(8) * 8, 0);
    }
    let mut out = vec![NV_ENCODE_NATIVE, 1, 0, 0];
    out.extend_from_slice(&0i32.to_le_bytes());
    out.extend_from_slice(&1u32.to_le_bytes());
    for (name, value) in pairs {
        let (ty, nelem) = type_of(value);
        let mut p = Vec::new();
        p.extend_from_slice(&0i32.to_le_bytes()); // size, filled in below
        p.extend_from_slice(&((name.len() + 1) as u16).to_le_bytes());
        p.extend_from_slice(&0u16.to_le_bytes());
        p.extend_from_slice(&nelem.to_le_bytes());
        p.extend_from_slice(&ty.to_le_bytes());
        p.extend_from_slice(name.as_bytes());
        p.push(0);
        pad8(&mut p);
        match value {
            Value::Boolean => {}
            Value::Uint64(v) => p.extend_from_slice(&v.to_le_bytes()),
            Value::String(s) => {
                p.extend_from_slice(s.as_bytes());
                p.push(0);
            }
            Value::Uint64Array(v) => v.iter().for_each(|x| p.extend_from_slice(&x.to_le_bytes())),
        }
        pad8(&mut p);
        let size = p.len() as i32;
        p[..4].copy_from_slice(&size.to_le_bytes());
        out.extend_from_slice(&p);
    }
    out.extend_from_slice(&0i32.to_le_bytes());
    out
}

/// Encodes pairs as `nvlist_pack(NV_ENCODE_XDR)` does (decoded sizes are approximations: the decoder does
/// not read them).
pub fn encode_xdr(pairs: &[(&str, Value)]) -> Vec<u8> {
    fn put_u32(out: &mut Vec<u8>, v: u32) {
        out.extend_from_slice(&v.to_be_bytes());
    }
    fn put_string(out: &mut Vec<u8>, s: &str) {
        put_u32(out, s.len() as u32);
        out.extend_from_slice(s.as_bytes());
        out.resize(out.len() + (4 - s.len() % 4) % 4, 0);
    }
    let mut out = vec![NV_ENCODE_XDR, 1, 0, 0];
    put_u32(&mut out, 0); // version
    put_u32(&mut out, 1); // NV_UNIQUE_NAME
    for (name, value) in pairs {
        let mut p = Vec::new();
        put_string(&mut p, name);
        let (ty, nelem) = type_of(value);
        put_u32(&mut p, ty as u32);
        put_u32(&mut p, nelem as u32);
        match value {
            Value::Boolean => {}
            Value::Uint64(v) => p.extend_from_slice(&v.to_be_bytes()),
            Value::String(s) => put_string(&mut p, s),
            Value::Uint64Array(v) => {
                put_u32(&mut p, v.len() as u32);
                for x in v {
                    p.extend_from_slice(&x.to_be_bytes());
                }
            }
        }
        put_u32(&mut out, (p.len() + 8) as u32);
        put_u32(&mut out, (p.len() + 24) as u32);
        out.extend_from_slice(&p);
    }
    put_u32(&mut out, 0);
    put_u32(&mut out, 0);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<(&'static str, Value)> {
        vec![
            ("toguid", Value::Uint64(u64::MAX - 1)),
            ("toname", Value::String("p/fs@snap".into())),
            ("rawok", Value::Boolean),
            ("redact_snaps", Value::Uint64Array(vec![1, 2, 3])),
        ]
    }

    #[test]
    fn round_trip_of_every_accepted_type_in_both_encodings() {
        for enc in [encode, encode_xdr] {
            let m = decode(&enc(&sample())).unwrap();
            assert_eq!(m.len(), 4);
            for (k, v) in &sample() {
                assert_eq!(m.get(*k), Some(v), "{k}");
            }
        }
    }

    #[test]
    fn big_endian_native_lists_decode() {
        // `toguid = 0x0102030405060708` packed on a big-endian host.
        let mut b = vec![0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1];
        b.extend_from_slice(&32i32.to_be_bytes());
        b.extend_from_slice(&7u16.to_be_bytes());
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&1i32.to_be_bytes());
        b.extend_from_slice(&8i32.to_be_bytes());
        b.extend_from_slice(b"toguid\0\0");
        b.extend_from_slice(&0x0102030405060708u64.to_be_bytes());
        b.extend_from_slice(&[0, 0, 0, 0]);
        assert_eq!(
            decode(&b).unwrap().get("toguid"),
            Some(&Value::Uint64(0x0102030405060708))
        );
    }

    #[test]
    fn malformed_lists_are_refused() {
        for enc in [encode, encode_xdr] {
            let good = enc(&[("a", Value::Uint64(1)), ("s", Value::String("x".into()))]);
            assert!(decode(&good).is_ok());
            for n in 0..good.len() {
                assert!(decode(&good[..n]).is_err(), "truncated at {n}");
            }
            let mut trailing = good.clone();
            trailing.extend_from_slice(&[0, 0, 0, 0]);
            assert!(decode(&trailing).is_err(), "trailing bytes");
            let dup = enc(&[("a", Value::Uint64(1)), ("a", Value::Boolean)]);
            assert_eq!(decode(&dup), Err(NvlistError::Duplicate("a".into())));
            let mut unknown = good.clone();
            unknown[0] = 7;
            assert_eq!(decode(&unknown), Err(NvlistError::UnknownEncoding(7)));
        }
        // Native: a nested nvlist (type 19), a size that does not match, a name without its NUL.
        let good = encode(&[("a", Value::Uint64(1))]);
        let mut nested = good.clone();
        nested[24..28].copy_from_slice(&19i32.to_le_bytes());
        assert!(matches!(
            decode(&nested),
            Err(NvlistError::UnsupportedType { ty: 19, .. })
        ));
        let mut size = good.clone();
        size[12..16].copy_from_slice(&40i32.to_le_bytes());
        assert!(decode(&size).is_err());
        let mut nul = good.clone();
        nul[29] = b'x';
        assert_eq!(decode(&nul), Err(NvlistError::NotUtf8));
        // XDR: a string length far beyond the buffer is refused before anything is allocated.
        let mut long = encode_xdr(&[("a", Value::Uint64(1))]);
        long[20..24].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(decode(&long), Err(NvlistError::TooLong(_))));
    }

    #[test]
    fn pair_count_is_bounded() {
        let names: Vec<String> = (0..=MAX_PAIRS).map(|i| format!("k{i}")).collect();
        let pairs: Vec<(&str, Value)> = names.iter().map(|n| (n.as_str(), Value::Boolean)).collect();
        assert_eq!(decode(&encode(&pairs)), Err(NvlistError::TooManyPairs));
        assert!(decode(&encode(&pairs[..MAX_PAIRS])).is_ok());
    }
}
