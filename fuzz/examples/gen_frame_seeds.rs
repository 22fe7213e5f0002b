//! Writes the seed corpus of the `agent_frames` target: realistic recv-agent conversations, encoded with the
//! real frame writers, plus a few malformed streams. Each file is one selector byte (which reader the target
//! uses for each frame, two bits per frame: 0/3 read_frame, 1 read_data_into, 2 read_message) and a stream.
//!
//! Run from `fuzz/`: `cargo run --example gen_frame_seeds` (writes `corpus/agent_frames/*.bin`).

use std::fs;

use zreplrs::agent::frame::{write_data, write_end, write_message};
use zreplrs::agent::proto::{self, envelope::Body, Envelope};

fn msg(out: &mut Vec<u8>, body: impl Into<Body>) {
    write_message(out, &Envelope::new(body.into())).unwrap();
}

fn listing() -> proto::ListReply {
    let v = |bookmark: bool, short: &str, guid: u64, createtxg: u64, creation: Option<u64>| proto::Version {
        bookmark,
        short: short.into(),
        guid,
        createtxg,
        userrefs: (!bookmark).then_some(u64::from(short.ends_with("003"))),
        creation,
    };
    proto::ListReply {
        root_exists: true,
        filesystems: vec![
            proto::FsEntry {
                name: String::new(),
                guid: 0x1b2c_3d4e_5f60_7182,
                createtxg: 1,
                placeholder: true,
                ..Default::default()
            },
            proto::FsEntry {
                name: "tank".into(),
                guid: 0x2b2c_3d4e_5f60_7182,
                createtxg: 40,
                placeholder: true,
                ..Default::default()
            },
            proto::FsEntry {
                name: "tank/data".into(),
                guid: 0x3b2c_3d4e_5f60_7182,
                createtxg: 41,
                resume_token: "1-e604ea4bf-e0-789c63a2a0b3".into(),
                encryption: "aes-256-gcm".into(),
                placeholder: false,
                volume: false,
                versions: vec![
                    v(
                        false,
                        "zrepl_20240101_000000_000",
                        0x46f6_26fe_a92a_89af,
                        100,
                        Some(1_704_067_200),
                    ),
                    v(
                        false,
                        "zrepl_20240101_010000_000",
                        0x7b60_4c01_bd71_68bd,
                        130,
                        Some(1_704_070_800),
                    ),
                    v(false, "zrepl_20240101_020000_003", u64::MAX, 160, None),
                ],
            },
            proto::FsEntry {
                name: "tank/vol".into(),
                guid: 7,
                createtxg: 50,
                volume: true,
                ..Default::default()
            },
        ],
    }
}

fn main() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/corpus/agent_frames");
    fs::create_dir_all(dir).unwrap();
    let mut seeds: Vec<(&str, u8, Vec<u8>)> = Vec::new();

    // Handshake and listing, as the sender reads them (read_message).
    let mut s = Vec::new();
    msg(
        &mut s,
        proto::HelloReply {
            protocol_version: proto::PROTOCOL_VERSION,
            software_version: "0.1.0".into(),
            root: "backup/hosts/web1".into(),
            zfs_version: "zfs-2.2.2-0ubuntu9".into(),
            compression: Vec::new(),
        },
    );
    msg(&mut s, listing());
    seeds.push(("hello_reply_list_reply", 0xaa, s));

    // The agent's view: hello, list request, a receive with its data stream and END.
    let mut s = Vec::new();
    msg(
        &mut s,
        proto::Hello {
            protocol_version: proto::PROTOCOL_VERSION,
            software_version: "0.1.0".into(),
            compression: Vec::new(),
        },
    );
    msg(&mut s, proto::ListRequest { with_creation: true });
    seeds.push(("hello_list", 0xaa, s));

    let mut s = Vec::new();
    msg(
        &mut s,
        proto::ReceiveRequest {
            fs: "tank/data".into(),
            to_short: "zrepl_20240101_020000_003".into(),
            to_guid: u64::MAX,
            from_guid: Some(0x7b60_4c01_bd71_68bd),
            job_id: "web1_to_backup".into(),
            force: false,
            last_received_hold: true,
            compression: String::new(),
        },
    );
    write_data(
        &mut s,
        b"\x00\x00\x00\x00\x00\x00\x00\x00\xac\xcb\xba\xf5\x02\x00\x00\x00",
    )
    .unwrap();
    write_data(&mut s, &[0x5a; 300]).unwrap();
    write_end(&mut s, false).unwrap();
    // message, then data frames read with read_data_into
    seeds.push(("receive_stream", 0x56, s.clone()));
    seeds.push(("receive_stream_read_frame", 0x00, s));

    let mut s = Vec::new();
    msg(
        &mut s,
        proto::ReceiveRequest {
            fs: "tank".into(),
            to_short: "snap1".into(),
            to_guid: 7,
            from_guid: None,
            job_id: "j".into(),
            force: true,
            last_received_hold: false,
            compression: String::new(),
        },
    );
    write_data(&mut s, b"partial").unwrap();
    write_end(&mut s, true).unwrap();
    seeds.push(("receive_aborted", 0x56, s));

    // Every other message kind, in one stream.
    let mut s = Vec::new();
    msg(
        &mut s,
        proto::ReceiveReply {
            received_guid: u64::MAX,
            bytes: 123_456_789,
        },
    );
    msg(&mut s, proto::AbortResumeRequest { fs: "tank/data".into() });
    msg(&mut s, proto::Ok {});
    msg(
        &mut s,
        proto::Error {
            kind: "outside_root".into(),
            message: "dataset backup/other is not below backup/hosts/web1".into(),
        },
    );
    msg(
        &mut s,
        proto::DestroyRequest {
            fs: "tank/data".into(),
            snapshots: vec!["zrepl_20240101_000000_000".into(), "zrepl_20240101_010000_000".into()],
        },
    );
    msg(
        &mut s,
        proto::DestroyReply {
            destroyed: vec!["zrepl_20240101_000000_000".into()],
            held: vec!["zrepl_20240101_010000_000".into()],
        },
    );
    msg(
        &mut s,
        proto::HoldsRequest {
            job_id: "web1_to_backup".into(),
        },
    );
    msg(
        &mut s,
        proto::HoldsReply {
            holds: vec![proto::HoldEntry {
                fs: "tank/data".into(),
                snapshot: "zrepl_20240101_020000_003".into(),
                tag: "zrepl_last_received_J_web1_to_backup".into(),
            }],
        },
    );
    msg(
        &mut s,
        proto::ReleaseLastReceivedRequest {
            fs: "tank/data".into(),
            snapshots: vec!["zrepl_20240101_010000_000".into()],
            job_id: "web1_to_backup".into(),
        },
    );
    write_message(&mut s, &Envelope::default()).unwrap();
    seeds.push(("all_messages", 0xe4, s));

    // A listing with hostile names, for from_wire.
    let mut hostile = listing();
    for (i, name) in [
        "..",
        "../other",
        "tank/../../x",
        "/abs",
        "tank//data",
        "tank@s",
        "a\u{0}b",
    ]
    .iter()
    .enumerate()
    {
        hostile.filesystems.push(proto::FsEntry {
            name: (*name).into(),
            guid: i as u64,
            createtxg: i as u64,
            versions: vec![proto::Version {
                bookmark: i % 2 == 0,
                short: ["s", "a@b", "", "x#y", "ok", ".", ".."][i].into(),
                guid: 1,
                createtxg: 1,
                userrefs: None,
                creation: None,
            }],
            ..Default::default()
        });
    }
    let mut s = Vec::new();
    msg(&mut s, hostile);
    seeds.push(("hostile_list_reply", 0xaa, s));

    // Malformed streams.
    seeds.push(("oversized_message", 0x00, vec![1, 0x01, 0x00, 0x00, 0x01, 0x0a]));
    seeds.push(("unknown_type", 0x00, vec![9, 0, 0, 0, 1, 0]));
    seeds.push(("empty_data", 0x55, vec![2, 0, 0, 0, 0]));
    seeds.push(("bad_end", 0x55, vec![3, 0, 0, 0, 1, 7]));
    seeds.push(("truncated_data", 0x55, vec![2, 0, 0, 0x10, 0, 1, 2, 3]));
    seeds.push(("truncated_header", 0xaa, vec![1, 0, 0]));
    seeds.push(("bad_protobuf", 0xaa, vec![1, 0, 0, 0, 3, 0x0a, 0x05, 0x08]));

    for (name, selector, stream) in seeds {
        let mut data = vec![selector];
        data.extend_from_slice(&stream);
        fs::write(format!("{dir}/{name}.bin"), data).unwrap();
    }
}
