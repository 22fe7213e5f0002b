//! Unit tests of the stream checker on streams built record by record as `zfs send` writes them.

use super::*;
use crate::zfs::nvlist::{encode_xdr, Value};

const A: u64 = 0xA1;
const B: u64 = 0xB2;
const C: u64 = 0xC3;

/// A record of type `ty` with `fields` written at their offsets (little-endian, or big-endian if `be`).
fn record(ty: u32, payloadlen: u32, fields: &[(usize, u64, usize)], be: bool) -> Vec<u8> {
    let mut r = vec![0u8; RECORD_LEN];
    let mut put = |at: usize, v: u64, width: usize| {
        let bytes = if be { v.to_be_bytes() } else { v.to_le_bytes() };
        let bytes = if be { &bytes[8 - width..] } else { &bytes[..width] };
        r[at..at + width].copy_from_slice(bytes);
    };
    put(0, u64::from(ty), 4);
    put(4, u64::from(payloadlen), 4);
    for &(at, v, w) in fields {
        put(at, v, w);
    }
    r
}

struct Begin {
    hdrtype: u64,
    features: u64,
    objset: u64,
    flags: u64,
    to: u64,
    from: u64,
    name: &'static str,
    payload: Vec<u8>,
    be: bool,
}

fn plain(from: u64, to: u64) -> Begin {
    Begin {
        hdrtype: SUBSTREAM,
        features: 1 << 2,
        objset: 2,
        flags: 0,
        to,
        from,
        name: "pool/fs@s",
        payload: Vec::new(),
        be: false,
    }
}

fn package(payload: Vec<u8>) -> Begin {
    Begin {
        hdrtype: COMPOUND,
        features: 1 << 2,
        objset: 0,
        flags: 0,
        to: 0,
        from: 0,
        name: "pool/fs@s9",
        payload,
        be: false,
    }
}

fn begin(b: &Begin) -> Vec<u8> {
    let vi = b.hdrtype | (b.features << 2);
    let mut r = record(
        DRR_BEGIN,
        b.payload.len() as u32,
        &[
            (8, MAGIC, 8),
            (16, vi, 8),
            (32, b.objset, 4),
            (36, b.flags, 4),
            (40, b.to, 8),
            (48, b.from, 8),
        ],
        b.be,
    );
    r[56..56 + b.name.len()].copy_from_slice(b.name.as_bytes());
    r.extend_from_slice(&b.payload);
    r
}

fn write_rec(len: u64, be: bool) -> Vec<u8> {
    let mut r = record(DRR_WRITE, 0, &[(8, 5, 8), (32, len, 8)], be);
    r.extend((0..len).map(|i| i as u8));
    r
}

fn object_rec(bonus: u64, be: bool) -> Vec<u8> {
    let mut r = record(DRR_OBJECT, 0, &[(28, bonus, 4)], be);
    r.extend(std::iter::repeat_n(7u8, bonus.div_ceil(8) as usize * 8));
    r
}

fn end_rec(to: u64, be: bool) -> Vec<u8> {
    record(DRR_END, 0, &[(40, to, 8)], be)
}

fn stream(b: &Begin) -> Vec<u8> {
    let mut s = begin(b);
    s.extend(object_rec(13, b.be));
    s.extend(write_rec(5000, b.be));
    s.extend(record(DRR_FREE, 0, &[], b.be));
    s.extend(end_rec(b.to, b.be));
    s
}

fn expect(from: Option<u64>, to: u64) -> Expected {
    Expected {
        from_guid: from,
        to_guid: to,
        raw: false,
        resuming: false,
    }
}

/// Runs the checker over `input` in chunks of `chunk` bytes; returns what reached the receiver and the result.
fn run(exp: Expected, input: &[u8], chunk: usize) -> (Vec<u8>, Result<(), StreamError>) {
    let mut check = StreamCheck::new(exp);
    let mut out = Vec::new();
    for piece in input.chunks(chunk) {
        match check.pass(piece, &mut out) {
            Ok(()) => {}
            Err(PassError::Stream(e)) => return (out, Err(e)),
            Err(PassError::Output(e)) => panic!("writing to a Vec failed: {e}"),
        }
    }
    let fin = check.finish();
    (out, fin)
}

fn dash_i_package(tos: &[u64], from: u64) -> Vec<u8> {
    let mut s = begin(&package(Vec::new()));
    s.extend(end_rec(0, false));
    let mut base = from;
    for &to in tos {
        s.extend(stream(&Begin {
            name: "pool/fs@x",
            ..plain(base, to)
        }));
        base = to;
    }
    s.extend(end_rec(0, false));
    s
}

#[test]
fn a_plain_stream_passes_unchanged_in_any_chunking() {
    let s = stream(&plain(0, A));
    for chunk in [1, 7, 312, 313, 4096, s.len()] {
        let (out, res) = run(expect(None, A), &s, chunk);
        assert_eq!(res, Ok(()), "chunk {chunk}");
        assert_eq!(out, s, "chunk {chunk}");
    }
    let mut check = StreamCheck::new(expect(None, A));
    check.pass(&s[..RECORD_LEN], &mut Vec::new()).expect("begin");
    assert_eq!(check.kind(), Some(DatasetKind::Filesystem));
    assert!(check.only_data_follows());
}

#[test]
fn an_incremental_with_another_base_or_target_reaches_nothing() {
    let s = stream(&plain(B, C));
    let (out, res) = run(expect(Some(A), C), &s, 100);
    assert_eq!(
        res,
        Err(StreamError::Guid {
            what: "base",
            got: B,
            want: A
        })
    );
    assert!(out.is_empty(), "the BEGIN must not reach zfs receive");
    let (out, res) = run(expect(Some(B), A), &s, 100);
    assert_eq!(
        res,
        Err(StreamError::Guid {
            what: "target",
            got: C,
            want: A
        })
    );
    assert!(out.is_empty());
    let (_, res) = run(expect(None, C), &s, 100);
    assert!(matches!(res, Err(StreamError::Guid { what: "base", .. })), "{res:?}");
}

#[test]
fn a_dash_i_package_of_one_chain_passes() {
    let s = dash_i_package(&[B, C], A);
    for chunk in [1, 300, 100_000] {
        let (out, res) = run(expect(Some(A), C), &s, chunk);
        assert_eq!(res, Ok(()), "chunk {chunk}");
        assert_eq!(out, s);
    }
}

#[test]
fn a_package_that_breaks_the_chain_or_ends_elsewhere_is_refused_where_it_does() {
    let s = dash_i_package(&[B, C], A);
    let (out, res) = run(expect(Some(A), B), &s, 64);
    assert_eq!(
        res,
        Err(StreamError::Guid {
            what: "target",
            got: C,
            want: B
        })
    );
    assert_eq!(out.len(), s.len() - RECORD_LEN, "everything up to the final END passed");
    let mut broken = begin(&package(Vec::new()));
    broken.extend(end_rec(0, false));
    broken.extend(stream(&plain(A, B)));
    let second = broken.len();
    broken.extend(stream(&plain(A, C)));
    let (out, res) = run(expect(Some(A), C), &broken, 64);
    assert_eq!(
        res,
        Err(StreamError::Guid {
            what: "base",
            got: A,
            want: B
        })
    );
    assert_eq!(out.len(), second, "the second stream's BEGIN did not pass");
}

#[test]
fn a_package_stream_of_another_filesystem_is_refused() {
    let mut s = begin(&package(Vec::new()));
    s.extend(end_rec(0, false));
    let at = s.len();
    s.extend(stream(&Begin {
        name: "pool/other@s",
        ..plain(A, B)
    }));
    s.extend(end_rec(0, false));
    let (out, res) = run(expect(Some(A), B), &s, 1000);
    assert!(matches!(res, Err(StreamError::OtherFilesystem { .. })), "{res:?}");
    assert_eq!(out.len(), at);
}

#[test]
fn a_recursive_package_is_refused_before_anything_passes() {
    let nv = encode_xdr(&[
        ("tosnap", Value::String("s9".into())),
        ("fromsnap", Value::String("s1".into())),
    ]);
    let mut s = begin(&package(nv));
    s.extend(end_rec(0, false));
    s.extend(stream(&plain(A, B)));
    s.extend(end_rec(0, false));
    let (out, res) = run(expect(Some(A), B), &s, 50);
    assert_eq!(res, Err(StreamError::Recursive));
    assert!(out.is_empty(), "not even the package header reached zfs receive");
}

#[test]
fn a_non_recursive_package_with_properties_passes() {
    let nv = encode_xdr(&[
        ("tosnap", Value::String("s9".into())),
        ("not_recursive", Value::Boolean),
    ]);
    let mut s = begin(&package(nv));
    s.extend(end_rec(0, false));
    s.extend(stream(&plain(A, B)));
    s.extend(end_rec(0, false));
    let (out, res) = run(expect(Some(A), B), &s, 50);
    assert_eq!(res, Ok(()));
    assert_eq!(out, s);
    let bad = encode_xdr(&[("not_recursive", Value::Boolean), ("snapholds", Value::Boolean)]);
    let (out, res) = run(expect(Some(A), B), &begin(&package(bad)), 50);
    assert!(matches!(res, Err(StreamError::BadPackage(_))), "{res:?}");
    assert!(out.is_empty());
}

#[test]
fn clone_holds_dedup_raw_and_resume_mismatches_are_refused() {
    let cases: Vec<(Begin, Expected, StreamError)> = vec![
        (
            Begin {
                flags: 1,
                ..plain(0, A)
            },
            expect(None, A),
            StreamError::Clone,
        ),
        (
            Begin {
                features: 1 << 26,
                ..plain(0, A)
            },
            expect(None, A),
            StreamError::Feature("holds (zfs send -h)"),
        ),
        (
            Begin {
                features: 1,
                ..plain(0, A)
            },
            expect(None, A),
            StreamError::Feature("deduplicated records"),
        ),
        (
            Begin {
                features: 1 << 24,
                ..plain(0, A)
            },
            expect(None, A),
            StreamError::Flag {
                what: "raw",
                got: true,
                want: false,
            },
        ),
        (
            plain(0, A),
            Expected {
                raw: true,
                ..expect(None, A)
            },
            StreamError::Flag {
                what: "raw",
                got: false,
                want: true,
            },
        ),
        (
            Begin {
                features: 1 << 20,
                ..plain(0, A)
            },
            expect(None, A),
            StreamError::Flag {
                what: "resumed",
                got: true,
                want: false,
            },
        ),
        (
            Begin {
                features: 1 << 40,
                ..plain(0, A)
            },
            expect(None, A),
            StreamError::UnknownFeatures(1 << 40),
        ),
        (
            Begin {
                objset: 4,
                ..plain(0, A)
            },
            expect(None, A),
            StreamError::ObjsetType(4),
        ),
    ];
    for (b, exp, want) in cases {
        let (out, res) = run(exp, &stream(&b), 4096);
        assert_eq!(res, Err(want));
        assert!(out.is_empty());
    }
    let resumed = Begin {
        features: 1 << 20,
        payload: vec![0; 24],
        ..plain(A, B)
    };
    let (out, res) = run(
        Expected {
            resuming: true,
            ..expect(Some(A), B)
        },
        &stream(&resumed),
        4096,
    );
    assert_eq!(res, Ok(()));
    assert_eq!(out, stream(&resumed));
}

#[test]
fn a_volume_stream_says_so_and_a_big_endian_stream_is_read() {
    let mut check = StreamCheck::new(expect(None, A));
    check
        .pass(
            &begin(&Begin {
                objset: 3,
                ..plain(0, A)
            }),
            &mut Vec::new(),
        )
        .expect("volume");
    assert_eq!(check.kind(), Some(DatasetKind::Volume));
    let be = stream(&Begin {
        be: true,
        ..plain(0, A)
    });
    let (out, res) = run(expect(None, A), &be, 97);
    assert_eq!(res, Ok(()));
    assert_eq!(out, be);
}

#[test]
fn garbage_trailing_data_oversized_and_short_streams_are_refused() {
    let (out, res) = run(expect(None, A), &[0x55; 400], 400);
    assert_eq!(res, Err(StreamError::NotAStream));
    assert!(out.is_empty());
    let mut s = stream(&plain(0, A));
    s.extend_from_slice(b"more");
    let (_, res) = run(expect(None, A), &s, 4096);
    assert_eq!(res, Err(StreamError::Trailing));
    let s = stream(&plain(0, A));
    let (_, res) = run(expect(None, A), &s[..s.len() - 1], 4096);
    assert_eq!(res, Err(StreamError::Incomplete));
    let mut big = begin(&plain(0, A));
    big.extend(record(DRR_WRITE, 0, &[(32, 1 << 30, 8)], false));
    let (out, res) = run(expect(None, A), &big, 4096);
    assert_eq!(res, Err(StreamError::Oversized(1 << 30)));
    assert_eq!(out.len(), RECORD_LEN, "only the BEGIN passed");
    let mut nested = begin(&plain(0, A));
    nested.extend(begin(&plain(0, A)));
    let (_, res) = run(expect(None, A), &nested, 4096);
    assert_eq!(res, Err(StreamError::UnexpectedRecord(DRR_BEGIN)));
}

#[test]
fn the_rest_of_a_plain_stream_may_bypass_the_checker_once_its_begin_passed() {
    let resumed = Begin {
        features: 1 << 20,
        payload: vec![9; 40],
        ..plain(A, B)
    };
    let s = stream(&resumed);
    let mut check = StreamCheck::new(Expected {
        resuming: true,
        ..expect(Some(A), B)
    });
    let mut out = Vec::new();
    check.pass(&s[..RECORD_LEN + 20], &mut out).expect("begin");
    assert!(!check.only_data_follows(), "the BEGIN's payload is still passing");
    check
        .pass(&s[RECORD_LEN + 20..RECORD_LEN + 40 + 100], &mut out)
        .expect("payload and part of a record");
    assert!(check.only_data_follows());
    let pending = check.skip();
    assert_eq!(pending.len(), 100, "the held-back part of the next record header");
    out.extend(pending);
    out.extend_from_slice(&s[RECORD_LEN + 40 + 100..]);
    assert_eq!(out, s, "nothing lost or doubled");
    assert_eq!(check.finish(), Ok(()));
    let mut package = StreamCheck::new(expect(Some(A), C));
    package
        .pass(&dash_i_package(&[B, C], A)[..2 * RECORD_LEN + 10], &mut Vec::new())
        .expect("package start");
    assert!(!package.only_data_follows(), "a package is checked to its end");
    assert!(package.skip().is_empty());
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    /// A valid stream: a plain one, or an `-I` package of `hops` streams; data records of random sizes.
    fn valid(is_package: bool, hops: usize, sizes: &[u64]) -> (Vec<u8>, Expected) {
        let guids: Vec<u64> = (0..=hops as u64).map(|i| 0x1000 + i).collect();
        let with_data = |from: u64, to: u64| {
            let mut s = begin(&Begin {
                name: "pool/fs@x",
                ..plain(from, to)
            });
            for &n in sizes {
                s.extend(write_rec(n, false));
            }
            s.extend(end_rec(to, false));
            s
        };
        if !is_package {
            return (with_data(guids[0], guids[1]), expect(Some(guids[0]), guids[1]));
        }
        let mut s = begin(&package(Vec::new()));
        s.extend(end_rec(0, false));
        for w in guids.windows(2) {
            s.extend(with_data(w[0], w[1]));
        }
        s.extend(end_rec(0, false));
        (s, expect(Some(guids[0]), guids[hops]))
    }

    /// Runs the checker over `input` in pieces cut at `cuts` (positions modulo the length).
    fn run_cut(exp: Expected, input: &[u8], cuts: &[usize]) -> (Vec<u8>, Result<(), StreamError>) {
        let mut points: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
        points.extend([0, input.len()]);
        points.sort_unstable();
        let mut check = StreamCheck::new(exp);
        let mut out = Vec::new();
        for w in points.windows(2) {
            match check.pass(&input[w[0]..w[1]], &mut out) {
                Ok(()) => {}
                Err(PassError::Stream(e)) => return (out, Err(e)),
                Err(PassError::Output(e)) => panic!("{e}"),
            }
        }
        let fin = check.finish();
        (out, fin)
    }

    proptest! {
        /// What zreplrs's own sender writes passes unchanged, however it is cut into frames.
        #[test]
        fn valid_streams_pass_unchanged(
            is_package in any::<bool>(),
            hops in 1usize..5,
            sizes in proptest::collection::vec(0u64..3000, 0..4),
            cuts in proptest::collection::vec(any::<usize>(), 0..12),
        ) {
            let (s, exp) = valid(is_package, hops, &sizes);
            let (out, res) = run_cut(exp, &s, &cuts);
            prop_assert_eq!(res, Ok(()));
            prop_assert_eq!(out, s);
        }

        /// A changed byte anywhere: never a panic, and what reaches the receiver is always a prefix of the
        /// input; a stream accepted whole reached it whole.
        #[test]
        fn a_changed_byte_never_gets_past_unnoticed_out_of_order(
            is_package in any::<bool>(),
            hops in 1usize..4,
            sizes in proptest::collection::vec(0u64..2000, 0..3),
            at in any::<usize>(),
            value in any::<u8>(),
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
        ) {
            let (mut s, exp) = valid(is_package, hops, &sizes);
            let i = at % s.len();
            s[i] = value;
            let (out, res) = run_cut(exp, &s, &cuts);
            prop_assert!(s.starts_with(&out), "the output is a prefix of the input");
            if res.is_ok() {
                prop_assert_eq!(out, s);
            }
        }
    }
}
