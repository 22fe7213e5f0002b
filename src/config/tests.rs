//! Config unit tests: parsing, validation and error messages with their locations.

use super::*;
use crate::zfs::names::DatasetName;
use crate::zfs::send::SendFlags;

const PATH: &str = "/etc/zreplrs/zreplrs.toml";

/// A minimal valid job table (without the leading `[[jobs]]`), followed by `extra` job keys.
fn job_toml(name: &str, extra: &str) -> String {
    format!(
        "[[jobs]]\nname = \"{name}\"\ntarget = \"local:backup/hosts\"\n{extra}\n\
         [jobs.filesystems]\n\"tank/data<\" = true\n"
    )
}

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Utf8Path::new(PATH), text)
}

fn parse_err(text: &str) -> String {
    match parse(text) {
        Ok(config) => panic!("expected an error, got {config:?}"),
        Err(e) => e.to_string(),
    }
}

fn one_job(extra: &str) -> Job {
    parse(&job_toml("j", extra)).unwrap().jobs.remove(0)
}

fn ds(s: &str) -> DatasetName {
    DatasetName::new(s).unwrap()
}

fn filter(rules: &[(&str, bool)]) -> Filter {
    let map = rules.iter().map(|(k, v)| (k.to_string(), *v)).collect();
    Filter::parse(&map).unwrap()
}

#[test]
fn defaults() {
    let config = parse(&job_toml("j", "")).unwrap();
    assert_eq!(config.path, PATH);
    assert_eq!(config.global, Global::default());
    assert_eq!(config.global.textfile_dir, None);
    assert_eq!(config.global.lock_dir, None);
    let job = &config.jobs[0];
    assert_eq!(job.name.as_str(), "j");
    assert_eq!(
        job.target,
        Target::Local {
            root_fs: ds("backup/hosts")
        }
    );
    assert_eq!(job.client_identity, None);
    assert_eq!(job.send, SendOptions::default());
    assert!(!job.send.encrypted);
    assert_eq!(job.send.flags, SendFlags::default());
    assert_eq!(job.recv, RecvConfig::default());
    assert_eq!(job.initial_replication, InitialReplication::MostRecent);
    assert_eq!(job.protection, Protection::GuaranteeResumability);
    assert_eq!(job.retries, 3);
    assert_eq!(job.retry_timeout, Duration::from_secs(600));
    assert_eq!(job.stall_timeout, Duration::from_secs(60));
    assert_eq!(job.connect_timeout, Duration::from_secs(30));
    assert_eq!(job.ssh, SshOptions::default());
    assert!(job.ssh.identity_files.is_empty());
    assert_eq!(job.ssh.known_hosts, None);
    assert!(!job.ssh.accept_new_host_keys);
    assert_eq!(job.ssh.agent_command, ["zreplrs", "recv-agent"]);
    assert_eq!(job.textfile_dir, None);
    assert_eq!(job.textfile_dir(&config.global), None);
    assert_eq!(job.bandwidth_limit, None);
    assert_eq!(job.compression(), Compression::Off, "a local: target is a pipe");
    assert_eq!(job.concurrency, DEFAULT_CONCURRENCY);
}

#[test]
fn transfer_controls_parse_and_compression_defaults_follow_the_link() {
    let job = one_job("bandwidth_limit = \"50MiB/s\"\ncompression = \"zstd:5\"");
    assert_eq!(job.bandwidth_limit, Some(BandwidthLimit(50 << 20)));
    assert_eq!(job.compression(), Compression::Zstd { level: 5 });
    let ssh = |extra: &str| {
        let text = format!(
            "[[jobs]]\nname = \"s\"\ntarget = \"ssh://backup@b1/backup\"\n{extra}\n\
             [jobs.filesystems]\n\"tank/data<\" = true\n"
        );
        parse(&text).unwrap().jobs.remove(0)
    };
    assert_eq!(ssh("").compression(), Compression::Zstd { level: 1 });
    assert_eq!(ssh("compression = \"off\"").compression(), Compression::Off);
    assert_eq!(
        ssh("[jobs.send]\nraw = true").compression(),
        Compression::Off,
        "raw blocks do not compress"
    );
    assert_eq!(ssh("[jobs.send]\ncompressed = true").compression(), Compression::Off);
    assert_eq!(
        ssh("compression = \"zstd\"\n[jobs.send]\nraw = true").compression(),
        Compression::Zstd { level: 3 },
        "what is written wins"
    );
    assert_eq!(one_job("concurrency = 1").concurrency, 1);
    assert_eq!(one_job("concurrency = 64").concurrency, 64);
    for bad in ["0", "65", "-1", "\"4\""] {
        let e = parse_err(&job_toml("j", &format!("concurrency = {bad}")));
        assert!(e.contains("concurrency"), "{bad}: {e}");
    }
    let e = parse_err(&job_toml("j", "bandwidth_limit = \"fast\""));
    assert!(e.contains("bandwidth_limit") && e.contains("50MiB/s"), "{e}");
    let e = parse_err(&job_toml("j", "compression = \"lz4\""));
    assert!(e.contains("compression") && e.contains("zstd:LEVEL"), "{e}");
}

/// Every table and key the configuration knows appears in the example (set or as a commented line).
#[test]
fn example_config_documents_every_section_and_key() {
    let text = include_str!("../../examples/zreplrs.toml");
    for section in [
        "[global]",
        "[[jobs]]",
        "[jobs.filesystems]",
        "[jobs.send]",
        "[jobs.recv]",
        "[jobs.ssh]",
        "[jobs.snapshot]",
        "[jobs.prune]",
    ] {
        assert!(text.contains(section), "{section} is not in the example");
    }
    let keys = [
        "textfile_dir",
        "lock_dir",
        "name",
        "target",
        "source",
        "client_identity",
        "initial_replication",
        "protection",
        "retries",
        "retry_timeout",
        "stall_timeout",
        "reply_deadline",
        "connect_timeout",
        "bandwidth_limit",
        "compression",
        "concurrency",
        "encrypted",
        "raw",
        "compressed",
        "large_blocks",
        "embedded_data",
        "properties",
        "backup_properties",
        "set",
        "inherit",
        "identity_files",
        "known_hosts",
        "accept_new_host_keys",
        "agent_command",
        "prefix",
        "timestamp_format",
        "pre_hook",
        "post_hook",
        "hook_timeout",
        "keep_sender",
        "keep_receiver",
    ];
    for key in keys {
        let documented = text.lines().any(|l| {
            let l = l.trim_start_matches(['#', ' ']);
            l.starts_with(&format!("{key} =")) || l.starts_with(&format!("{key}="))
        });
        assert!(documented, "{key} is not documented in the example");
    }
    for rule in ["not_replicated", "last_n", "\"regex\"", "grid", "negate", "keep=all"] {
        assert!(text.contains(rule), "keep rule syntax {rule} is not documented");
    }
}

#[test]
fn example_config_parses() {
    let config = parse(include_str!("../../examples/zreplrs.toml")).unwrap();
    assert_eq!(config.jobs.len(), 4);
    let offsite = config.job("tank_offsite").unwrap();
    assert!(offsite.target.is_store() && offsite.send.flags.raw && offsite.store.is_some());
    let pull = config.job("prod1_pull").unwrap();
    assert!(pull.is_pull() && matches!(pull.target, Target::Local { .. }));
    let ssh = config.job("web1_to_backup").unwrap();
    assert_eq!(
        ssh.target,
        Target::Ssh {
            user: Some("zrepl".into()),
            host: "backup.example.com".into(),
            port: 22,
            root_fs: ds("backup/hosts"),
        }
    );
    assert_eq!(ssh.client_identity.as_deref(), Some("web1"));
    assert!(
        !ssh.send.encrypted && !ssh.send.flags.raw && ssh.send.flags.compressed,
        "the first job must not refuse unencrypted datasets when copied"
    );
    assert_eq!(ssh.recv.set.get("canmount").map(String::as_str), Some("off"));
    assert_eq!(ssh.recv.inherit, ["mountpoint"]);
    assert_eq!(ssh.ssh.identity_files, ["/etc/zreplrs/id_ed25519"]);
    assert!(ssh.filesystems.includes(&ds("tank/data/x")));
    assert!(!ssh.filesystems.includes(&ds("tank/data/tmp")));
    assert!(ssh.filesystems.includes(&ds("tank/data/cache/keep")));
    assert_eq!(
        ssh.textfile_dir(&config.global),
        None,
        "no textfile unless node_exporter is set up (the example leaves it commented out)"
    );
    assert_eq!(ssh.snapshot.prefix, "zrepl_");
    assert_eq!(ssh.snapshot.hook_timeout, Duration::from_secs(30));
    let prune = ssh.prune.as_ref().expect("the example documents [jobs.prune]");
    use crate::prune::rules::KeepRuleConfig as K;
    assert!(prune.keep_sender.iter().any(|r| matches!(r, K::NotReplicated {})));
    assert!(prune.keep_sender.iter().any(|r| matches!(r, K::LastN { .. })));
    assert!(prune.keep_receiver.iter().any(|r| matches!(r, K::Grid { .. })));
    assert!(prune
        .keep_receiver
        .iter()
        .any(|r| matches!(r, K::Regex { negate: true, .. })));
    let local = config.job("tank_to_usb").unwrap();
    assert_eq!(local.target.to_string(), "local:usb/tank");
    assert_eq!(local.filesystems.roots(), [ds("tank")]);
    assert!(!local.filesystems.includes(&ds("tank/swap")));
}

#[test]
fn full_job() {
    let text = r#"
[global]
textfile_dir = "/var/lib/node"
lock_dir = "/run/zr"

[[jobs]]
name = "web1_to_backup"
target = "ssh://zrepl@backup.example.com:2222/backup/hosts"
client_identity = "web1"
initial_replication = "all"
protection = "guarantee_incremental"
retries = 0
retry_timeout = "1h30m"
stall_timeout = "2m"
connect_timeout = "5s"
textfile_dir = "/srv/metrics"
[jobs.filesystems]
"tank/data<" = true
[jobs.send]
raw = true
large_blocks = true
embedded_data = true
properties = true
backup_properties = true
[jobs.recv]
set = { canmount = "off", "com.example:note" = "x y" }
inherit = ["mountpoint", "com.example:other"]
[jobs.ssh]
identity_files = ["/etc/zreplrs/a", "/etc/zreplrs/b"]
known_hosts = "/etc/zreplrs/known_hosts"
accept_new_host_keys = true
agent_command = ["/usr/local/bin/zreplrs", "recv-agent", "--verbose"]
"#;
    let config = parse(text).unwrap();
    assert_eq!(config.global.lock_dir.as_deref(), Some(Utf8Path::new("/run/zr")));
    let job = &config.jobs[0];
    assert_eq!(job.initial_replication, InitialReplication::All);
    assert_eq!(job.protection, Protection::GuaranteeIncremental);
    assert_eq!(job.retries, 0);
    assert_eq!(job.retry_timeout, Duration::from_secs(5400));
    assert_eq!(job.stall_timeout, Duration::from_secs(120));
    assert_eq!(job.connect_timeout, Duration::from_secs(5));
    assert_eq!(job.textfile_dir(&config.global), Some(Utf8Path::new("/srv/metrics")));
    assert_eq!(
        job.send,
        SendOptions {
            encrypted: false,
            flags: SendFlags {
                raw: true,
                compressed: false,
                large_blocks: true,
                embedded_data: true,
                properties: true,
                backup_properties: true,
            },
        }
    );
    assert_eq!(job.recv.set.len(), 2);
    assert_eq!(job.recv.set["com.example:note"], "x y");
    assert_eq!(job.recv.inherit, ["mountpoint", "com.example:other"]);
    assert_eq!(job.ssh.identity_files.len(), 2);
    assert_eq!(
        job.ssh.known_hosts.as_deref(),
        Some(Utf8Path::new("/etc/zreplrs/known_hosts"))
    );
    assert!(job.ssh.accept_new_host_keys);
    assert_eq!(job.ssh.agent_command[0], "/usr/local/bin/zreplrs");
    assert_eq!(
        job.target,
        Target::Ssh {
            user: Some("zrepl".into()),
            host: "backup.example.com".into(),
            port: 2222,
            root_fs: ds("backup/hosts"),
        }
    );
}

#[test]
fn global_textfile_dir_is_inherited() {
    let config = parse(&format!("[global]\ntextfile_dir = \"/g\"\n{}", job_toml("j", ""))).unwrap();
    assert_eq!(config.jobs[0].textfile_dir(&config.global), Some(Utf8Path::new("/g")));
}

#[test]
fn enum_values() {
    for (text, want) in [
        ("most_recent", InitialReplication::MostRecent),
        ("all", InitialReplication::All),
        ("fail", InitialReplication::Fail),
    ] {
        let job = one_job(&format!("initial_replication = \"{text}\""));
        assert_eq!(job.initial_replication, want);
    }
    for (text, want) in [
        ("guarantee_resumability", Protection::GuaranteeResumability),
        ("guarantee_incremental", Protection::GuaranteeIncremental),
        ("guarantee_nothing", Protection::GuaranteeNothing),
    ] {
        let job = one_job(&format!("protection = \"{text}\""));
        assert_eq!(job.protection, want);
    }
    let e = parse_err(&job_toml("j", "protection = \"guarantee_everything\""));
    assert!(
        e.contains("jobs[0].protection: unknown variant `guarantee_everything`"),
        "{e}"
    );
    let e = parse_err(&job_toml("j", "initial_replication = \"MostRecent\""));
    assert!(e.contains("jobs[0].initial_replication: unknown variant"), "{e}");
}

#[test]
fn unknown_key_top_level() {
    let e = parse_err(&format!("colour = \"blue\"\n{}", job_toml("j", "")));
    assert!(
        e.starts_with("/etc/zreplrs/zreplrs.toml: colour: unknown field `colour`"),
        "{e}"
    );
    assert!(e.ends_with("(line 1, column 1)"), "{e}");
    let e = parse_err(&format!("[global]\ntextfile = \"/x\"\n{}", job_toml("j", "")));
    assert!(e.contains(": global.textfile: unknown field `textfile`"), "{e}");
    assert!(e.contains("(line 2, column 1)"), "{e}");
}

#[test]
fn unknown_key_in_job() {
    let e = parse_err(&job_toml("j", "retry = 3"));
    assert!(e.contains("jobs[0].retry: unknown field `retry`"), "{e}");
    assert!(e.contains("(line 4, column 1)"), "{e}");
    let e = parse_err(&job_toml("j", "[jobs.ssh]\nidentity_file = \"/x\""));
    assert!(e.contains("jobs[0].ssh.identity_file: unknown field"), "{e}");
    let e = parse_err(&job_toml("j", "[jobs.recv]\nsets = {}"));
    assert!(e.contains("jobs[0].recv.sets: unknown field"), "{e}");
}

#[test]
fn unknown_key_in_send() {
    let text = format!(
        "{}{}",
        job_toml("a", ""),
        job_toml("b", "[jobs.send]\ncompresed = true")
    );
    let e = parse_err(&text);
    assert!(
        e.starts_with(
            "/etc/zreplrs/zreplrs.toml: jobs[1].send.compresed: unknown field `compresed`, \
             expected one of `encrypted`, `raw`, `compressed`"
        ),
        "{e}"
    );
    assert!(e.contains("(line 11, column 1)"), "{e}");
}

#[test]
fn syntax_error_has_location() {
    let e = parse_err("[[jobs]\nname = 1\n");
    assert!(e.starts_with("/etc/zreplrs/zreplrs.toml: "), "{e}");
    assert!(e.contains("(line 1, column"), "{e}");
    assert!(!e.contains('\n'), "{e}");
    let e = parse_err(&job_toml("j", "target = \"local:x\""));
    assert!(e.contains("duplicate key `target`"), "{e}");
}

#[test]
fn missing_fields_and_no_jobs() {
    let e = parse_err("[[jobs]]\nname = \"a\"\ntarget = \"local:b/c\"\n");
    assert!(e.contains("jobs[0]: missing field `filesystems`"), "{e}");
    let e = parse_err("[[jobs]]\nname = \"a\"\n[jobs.filesystems]\n\"p<\" = true\n");
    assert!(e.contains("jobs[0]: missing field `target`"), "{e}");
    let e = parse_err("[global]\n");
    assert_eq!(
        e,
        "/etc/zreplrs/zreplrs.toml: jobs: no jobs configured: add at least one [[jobs]] table"
    );
    let e = parse_err("");
    assert!(e.contains("no jobs configured"), "{e}");
}

#[test]
fn bad_durations() {
    for (key, value, want) in [
        ("retry_timeout", "\"10\"", "invalid duration \"10\""),
        ("retry_timeout", "\"10x\"", "invalid duration \"10x\""),
        ("stall_timeout", "\"\"", "invalid duration \"\""),
        ("connect_timeout", "\"soon\"", "invalid duration \"soon\""),
        ("connect_timeout", "30", "invalid type: integer `30`"),
        ("stall_timeout", "\"0s\"", "must be greater than zero"),
        ("connect_timeout", "\"0s\"", "must be greater than zero"),
    ] {
        let e = parse_err(&job_toml("j", &format!("{key} = {value}")));
        assert!(e.contains(&format!("jobs[0].{key}: {want}")), "{e}");
        assert!(e.contains("(line 4, column"), "{e}");
    }
    assert_eq!(one_job("retry_timeout = \"0s\"").retry_timeout, Duration::ZERO);
    assert_eq!(
        one_job("retry_timeout = \"1h 30m\"").retry_timeout,
        Duration::from_secs(5400)
    );
    let e = parse_err(&job_toml("j", "retries = -1"));
    assert!(e.contains("jobs[0].retries: invalid value"), "{e}");
}

#[test]
fn target_parsing() {
    assert_eq!(
        Target::parse("local:backup/hosts"),
        Ok(Target::Local {
            root_fs: ds("backup/hosts")
        })
    );
    assert_eq!(
        Target::parse("ssh://backup.example.com/backup"),
        Ok(Target::Ssh {
            user: None,
            host: "backup.example.com".into(),
            port: 22,
            root_fs: ds("backup"),
        })
    );
    assert_eq!(
        Target::parse("ssh://user@host:2222/backup/hosts"),
        Ok(Target::Ssh {
            user: Some("user".into()),
            host: "host".into(),
            port: 2222,
            root_fs: ds("backup/hosts"),
        })
    );
    assert_eq!(
        Target::parse("ssh://root@[::1]:2200/pool/x"),
        Ok(Target::Ssh {
            user: Some("root".into()),
            host: "::1".into(),
            port: 2200,
            root_fs: ds("pool/x"),
        })
    );
    assert_eq!(
        Target::parse("ssh://[2001:db8::1]/pool").map(|t| t.root_fs().clone()),
        Ok(ds("pool"))
    );
    assert_eq!(
        Target::parse("ssh://10.0.0.1/pool/a b"),
        Ok(Target::Ssh {
            user: None,
            host: "10.0.0.1".into(),
            port: 22,
            root_fs: ds("pool/a b"),
        })
    );
    assert_eq!(Target::parse("local:x/y").unwrap().root_fs(), &ds("x/y"));
    assert_eq!("local:x".parse::<Target>(), Target::parse("local:x"));
}

#[test]
fn target_display_is_canonical() {
    for (input, canonical) in [
        ("local:backup/hosts", "local:backup/hosts"),
        ("ssh://h/p", "ssh://h/p"),
        ("ssh://h:22/p", "ssh://h/p"),
        ("ssh://u@h:2222/p/q", "ssh://u@h:2222/p/q"),
        ("ssh://u@[::1]:2222/p", "ssh://u@[::1]:2222/p"),
        ("ssh://[fe80::1]/p", "ssh://[fe80::1]/p"),
    ] {
        let target = Target::parse(input).unwrap();
        assert_eq!(target.to_string(), canonical);
        assert_eq!(Target::parse(canonical).unwrap(), target);
    }
}

#[test]
fn bad_targets() {
    for (input, want) in [
        ("", "expected \"local:POOL/FS\""),
        ("backup/hosts", "expected \"local:POOL/FS\""),
        ("local:", "missing root filesystem"),
        ("local:/backup", "must not begin with '/'"),
        ("local:backup/", "must not end with '/'"),
        ("ssh://host", "missing root filesystem"),
        ("ssh://host/", "missing root filesystem"),
        ("ssh://host:22", "missing root filesystem"),
        ("ssh://host/backup@snap", "root filesystem: invalid dataset name"),
        ("ssh:///backup", "missing host name"),
        ("ssh://user@/backup", "missing host name"),
        ("ssh://@host/backup", "empty user name"),
        ("ssh://user:pw@host/backup", "passwords in the URL are not supported"),
        ("ssh://host:0/backup", "invalid port \"0\""),
        ("ssh://host:65536/backup", "invalid port \"65536\""),
        ("ssh://host:abc/backup", "invalid port \"abc\""),
        ("ssh://host:+22/backup", "invalid port \"+22\""),
        ("ssh://host:/backup", "invalid port \"\""),
        ("ssh://::1/backup", "write IPv6 addresses in brackets"),
        ("ssh://[::1/backup", "missing ']'"),
        ("ssh://[nope]/backup", "is not an IPv6 address"),
        ("ssh://[::1]x/backup", "unexpected \"x\" after ']'"),
        ("ssh://ho st/backup", "not allowed in the host name"),
        ("ssh://-oProxy/backup", "must not begin with '-'"),
        ("http://host/backup", "unknown scheme \"http\""),
        ("sftp://host/backup", "unknown scheme \"sftp\""),
    ] {
        let e = Target::parse(input).unwrap_err();
        assert!(e.contains(want), "{input:?}: {e}");
        assert!(e.starts_with(&format!("invalid target {input:?}: ")), "{e}");
    }
    let e = parse_err(
        "[[jobs]]\nname = \"j\"\ntarget = \"ssh://host:99999/b\"\n\
         [jobs.filesystems]\n\"p<\" = true\n",
    );
    assert!(
        e.contains("jobs[0].target: invalid target \"ssh://host:99999/b\": invalid port"),
        "{e}"
    );
    assert!(e.contains("(line 3, column 10)"), "{e}");
}

#[test]
fn bad_job_names() {
    for (name, want) in [
        ("a@b", "character '@' is not allowed"),
        ("", "must not be empty"),
        ("a/b", "character '/' is not allowed"),
        ("..", "must not be \"..\""),
    ] {
        let e = parse_err(&job_toml(name, ""));
        assert!(e.contains("jobs[0].name: invalid job name"), "{e}");
        assert!(e.contains(want), "{name:?}: {e}");
        assert!(e.contains("(line 2, column 8)"), "{e}");
    }
    let e = parse_err(&job_toml(&"x".repeat(300), ""));
    assert!(e.contains("jobs[0].name: invalid job name"), "{e}");
}

#[test]
fn duplicate_job_names() {
    let text = format!("{}{}{}", job_toml("a", ""), job_toml("b", ""), job_toml("a", ""));
    assert_eq!(
        parse_err(&text),
        "/etc/zreplrs/zreplrs.toml: jobs[2].name: duplicate job name \"a\" (already used by jobs[0])"
    );
}

#[test]
fn client_identity() {
    assert_eq!(
        one_job("client_identity = \"web1.example\"").client_identity.as_deref(),
        Some("web1.example")
    );
    for (value, want) in [
        ("web/1", "character '/' is not allowed"),
        ("", "must not be empty"),
        ("a@b", "character '@' is not allowed"),
        ("..", "must not be \"..\""),
    ] {
        let e = parse_err(&job_toml("j", &format!("client_identity = \"{value}\"")));
        assert!(e.contains("jobs[0].client_identity: invalid client identity"), "{e}");
        assert!(e.contains(want), "{value:?}: {e}");
    }
}

#[test]
fn filter_exact_beats_subtree() {
    let f = filter(&[
        ("pool/a<", true),
        ("pool/a/b", false),
        ("pool/c<", false),
        ("pool/c", true),
    ]);
    assert_eq!(
        f.matches(&ds("pool/a/b")),
        Some(FilterMatch {
            rule: "pool/a/b".into(),
            include: false
        })
    );
    assert!(!f.includes(&ds("pool/a/b")));
    // The exact rule covers only that dataset, not its children.
    assert!(f.includes(&ds("pool/a/b/c")));
    assert_eq!(f.matches(&ds("pool/a/b/c")).unwrap().rule, "pool/a<");
    assert!(f.includes(&ds("pool/c")));
    assert!(!f.includes(&ds("pool/c/d")));
    // A subtree rule matches its own dataset.
    assert_eq!(
        f.matches(&ds("pool/a")),
        Some(FilterMatch {
            rule: "pool/a<".into(),
            include: true
        })
    );
}

#[test]
fn filter_deeper_subtree_wins() {
    let f = filter(&[("pool<", true), ("pool/a<", false), ("pool/a/b<", true)]);
    assert!(f.includes(&ds("pool")));
    assert!(f.includes(&ds("pool/x")));
    assert!(!f.includes(&ds("pool/a")));
    assert!(!f.includes(&ds("pool/a/x")));
    assert!(f.includes(&ds("pool/a/b")));
    assert!(f.includes(&ds("pool/a/b/c/d")));
    assert_eq!(f.matches(&ds("pool/a/b/c")).unwrap().rule, "pool/a/b<");
    assert_eq!(f.matches(&ds("pool/a/x")).unwrap().rule, "pool/a<");
}

#[test]
fn filter_excluded_subtree_inside_included_subtree() {
    let f = filter(&[("tank/data<", true), ("tank/data/tmp<", false)]);
    assert!(f.includes(&ds("tank/data")));
    assert!(f.includes(&ds("tank/data/db")));
    assert!(!f.includes(&ds("tank/data/tmp")));
    assert_eq!(
        f.matches(&ds("tank/data/tmp/x")),
        Some(FilterMatch {
            rule: "tank/data/tmp<".into(),
            include: false
        })
    );
    // A sibling sharing the prefix is not inside the excluded subtree.
    assert!(f.includes(&ds("tank/data/tmpfiles")));
}

#[test]
fn filter_no_matching_rule() {
    let f = filter(&[("pool/a<", true), ("pool/b", true)]);
    assert_eq!(f.matches(&ds("pool")), None);
    assert!(!f.includes(&ds("pool")));
    assert_eq!(f.matches(&ds("other/a")), None);
    assert_eq!(f.matches(&ds("pool/b/c")), None);
    assert!(f.includes(&ds("pool/b")));
}

#[test]
fn filter_subtree_respects_component_boundaries() {
    let f = filter(&[("pool/a<", true)]);
    assert_eq!(f.matches(&ds("pool/ab")), None);
    assert_eq!(f.matches(&ds("pool/a b")), None);
    assert!(!f.includes(&ds("pool/ab")));
    assert!(f.includes(&ds("pool/a/b")));
    let f = filter(&[("pool<", true)]);
    assert!(!f.includes(&ds("pool2")));
    assert!(!f.includes(&ds("pool2/x")));
}

#[test]
fn filter_roots() {
    let f = filter(&[
        ("tank/data<", true),
        ("tank/data/db<", true),
        ("tank/data/tmp", false),
        ("tank/other", true),
        ("tank/other/x<", true),
        ("backup<", false),
        ("zroot/a", true),
        ("zroot/a<", true),
        ("zroot/ab", true),
    ]);
    assert_eq!(
        f.roots(),
        [ds("tank/data"), ds("tank/other"), ds("zroot/a"), ds("zroot/ab")]
    );
    // An included dataset below an excluded subtree is a root of its own.
    let f = filter(&[("tank<", false), ("tank/keep<", true), ("tank/keep/deep", true)]);
    assert_eq!(f.roots(), [ds("tank/keep")]);
}

#[test]
fn filter_parse_errors() {
    let parse = |rules: &[(&str, bool)]| {
        let map = rules.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        Filter::parse(&map).unwrap_err()
    };
    let e = parse(&[("pool/a", false)]);
    assert!(e.contains("no rule includes anything"), "{e}");
    let e = parse(&[]);
    assert!(e.contains("no rule includes anything"), "{e}");
    let e = parse(&[("pool/a<", true), ("/pool/b", false)]);
    assert!(e.starts_with("rule \"/pool/b\": invalid dataset name"), "{e}");
    let e = parse(&[("pool/a<<", true)]);
    assert!(e.contains("rule \"pool/a<<\""), "{e}");
    let e = parse(&[("<", true)]);
    assert!(e.contains("rule \"<\""), "{e}");
    let e = parse(&[("pool/a@snap", true)]);
    assert!(e.contains("must not contain '@'"), "{e}");

    let e = parse_err("[[jobs]]\nname = \"j\"\ntarget = \"local:b\"\n[jobs.filesystems]\n\"tank//x\" = true\n");
    assert!(e.contains("jobs[0].filesystems: rule \"tank//x\""), "{e}");
    let e = parse_err("[[jobs]]\nname = \"j\"\ntarget = \"local:b\"\n[jobs.filesystems]\n\"tank\" = \"yes\"\n");
    assert!(e.contains("jobs[0].filesystems.tank: invalid type: string"), "{e}");
}

#[test]
fn encrypted_forces_raw() {
    let job = one_job("[jobs.send]\nencrypted = true");
    assert!(job.send.encrypted);
    assert!(job.send.flags.raw);
    let job = one_job("[jobs.send]\nencrypted = true\nraw = false");
    assert!(job.send.flags.raw);
    // raw without encrypted is allowed.
    let job = one_job("[jobs.send]\nraw = true");
    assert!(!job.send.encrypted);
    assert!(job.send.flags.raw);
    let job = one_job("[jobs.send]\ncompressed = true");
    assert!(!job.send.flags.raw && job.send.flags.compressed);
}

#[test]
fn recv_properties() {
    let job = one_job(
        "[jobs.recv]\nset = { canmount = \"off\", \"org.x:y\" = \"1\", compression = \"zstd\" }\n\
         inherit = [\"mountpoint\", \"keylocation\"]",
    );
    assert_eq!(job.recv.set.len(), 3);
    assert_eq!(job.recv.inherit, ["mountpoint", "keylocation"]);

    let e = parse_err(&job_toml(
        "j",
        "[jobs.recv]\nset = { canmount = \"off\", mountpoint = \"/x\" }\ninherit = [\"mountpoint\"]",
    ));
    assert!(
        e.contains("jobs[0].recv: property \"mountpoint\" is both in set and in inherit"),
        "{e}"
    );
    for (toml, key, want) in [
        (
            "set = { CanMount = \"off\" }",
            "set",
            "invalid property name \"CanMount\"",
        ),
        ("set = { \"a-b\" = \"x\" }", "set", "invalid property name \"a-b\""),
        ("set = { \"\" = \"x\" }", "set", "invalid property name \"\""),
        ("set = { \"Org:x\" = \"x\" }", "set", "character 'O' is not allowed"),
        ("set = { \"zrepl:placeholder\" = \"on\" }", "set", "managed by zreplrs"),
        ("inherit = [\"mount point\"]", "inherit", "invalid property name"),
        ("inherit = [\"zrepl:placeholder\"]", "inherit", "managed by zreplrs"),
        ("inherit = [\"mountpoint\", \"mountpoint\"]", "inherit", "listed twice"),
        ("set = { canmount = \"a\\u0000b\" }", "set", "NUL"),
    ] {
        let e = parse_err(&job_toml("j", &format!("[jobs.recv]\n{toml}")));
        assert!(e.contains(&format!("jobs[0].recv.{key}: ")), "{toml}: {e}");
        assert!(e.contains(want), "{toml}: {e}");
    }
}

#[test]
fn paths_must_be_absolute() {
    for (toml, key) in [
        ("textfile_dir = \"metrics\"", "jobs[0].textfile_dir"),
        ("[jobs.ssh]\nknown_hosts = \"known_hosts\"", "jobs[0].ssh.known_hosts"),
        (
            "[jobs.ssh]\nidentity_files = [\"/a\", \"~/.ssh/id\"]",
            "jobs[0].ssh.identity_files[1]",
        ),
    ] {
        let e = parse_err(&job_toml("j", toml));
        assert!(e.contains(&format!("{key}: path ")), "{e}");
        assert!(e.contains("must be absolute"), "{e}");
    }
    let e = parse_err(&format!("[global]\nlock_dir = \"lock\"\n{}", job_toml("j", "")));
    assert!(e.contains("global.lock_dir: path \"lock\" must be absolute"), "{e}");
}

#[test]
fn agent_command_validation() {
    let e = parse_err(&job_toml("j", "[jobs.ssh]\nagent_command = []"));
    assert!(e.contains("jobs[0].ssh.agent_command: must name a program"), "{e}");
    let e = parse_err(&job_toml("j", "[jobs.ssh]\nagent_command = [\"\", \"x\"]"));
    assert!(e.contains("jobs[0].ssh.agent_command: must name a program"), "{e}");
    let job = one_job("[jobs.ssh]\nagent_command = [\"sudo\", \"zreplrs\", \"recv-agent\"]");
    assert_eq!(job.ssh.agent_command, ["sudo", "zreplrs", "recv-agent"]);
}

#[test]
fn unknown_job_lists_configured_jobs() {
    let config = parse(&format!("{}{}", job_toml("a", ""), job_toml("b", ""))).unwrap();
    assert_eq!(config.job("b").unwrap().name.as_str(), "b");
    let e = config.job("x").unwrap_err();
    assert!(matches!(e, ConfigError::UnknownJob { .. }));
    assert_eq!(
        e.to_string(),
        "no job named \"x\" in /etc/zreplrs/zreplrs.toml; configured jobs: a, b"
    );
}

#[test]
fn an_unknown_key_suggests_the_closest_valid_one() {
    let e = parse(&job_toml("j", "retires = 3")).unwrap_err().to_string();
    assert!(e.contains("unknown field `retires`"), "{e}");
    assert!(e.contains("did you mean `retries`?"), "{e}");
    let e = parse(&format!("{}[jobs.send]\ncompresed = true\n", job_toml("j", "")))
        .unwrap_err()
        .to_string();
    assert!(e.contains("did you mean `compressed`?"), "{e}");
    let e = parse(&job_toml("j", "zzzzzz = 3")).unwrap_err().to_string();
    assert!(!e.contains("did you mean"), "nothing is close: {e}");
}

#[test]
fn load_reads_the_file_and_reports_io_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = Utf8PathBuf::from_path_buf(dir.path().join("zreplrs.toml")).unwrap();
    let e = Config::load(&path).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("cannot read config {path}: No such file or directory (name one with --config or $ZREPLRS_CONFIG)")
    );
    std::fs::write(&path, job_toml("j", "")).unwrap();
    let config = Config::load(&path).unwrap();
    assert_eq!(config.path, path);
    assert_eq!(config.jobs.len(), 1);
    std::fs::write(&path, job_toml("j", "bogus = 1")).unwrap();
    let e = Config::load(&path).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{path}: jobs[0].bogus: unknown field")), "{e}");
}

#[test]
fn resolve_path_prefers_explicit() {
    // Only the explicit case is tested: the environment is shared by all tests of the process.
    assert_eq!(
        Config::resolve_path(Some(Utf8Path::new("/x.toml"))),
        Utf8PathBuf::from("/x.toml")
    );
    if std::env::var_os(CONFIG_ENV).is_none() {
        assert_eq!(Config::resolve_path(None), Utf8PathBuf::from(DEFAULT_PATH));
    }
}

#[test]
fn location_counts_lines_and_characters() {
    assert_eq!(Location::of("abc", 0), Location { line: 1, column: 1 });
    assert_eq!(Location::of("a\nbäc", 5), Location { line: 2, column: 3 });
    assert_eq!(Location::of("a\nbäc", 4), Location { line: 2, column: 2 });
    assert_eq!(Location::of("a\n", 99), Location { line: 2, column: 1 });
}

#[test]
fn hook_timeout_is_bounded() {
    let toml = |t: &str| {
        format!(
            "[[jobs]]\nname = \"j\"\ntarget = \"local:backup/hosts\"\n[jobs.filesystems]\n\"tank/data<\" = true\n\
             [jobs.snapshot]\npre_hook = [\"/bin/true\"]\nhook_timeout = \"{t}\"\n"
        )
    };
    let job = parse(&toml("5m")).unwrap().jobs.remove(0);
    assert_eq!(job.snapshot.hook_timeout, Duration::from_secs(300));
    for absurd in ["100000000000y", "25h"] {
        let e = parse_err(&toml(absurd));
        assert!(e.contains("hook_timeout") && e.contains("too long"), "{absurd}: {e}");
    }
}

#[test]
fn exposed_files_are_recognised() {
    assert_eq!(exposure(0o100600, 0o077), None);
    assert_eq!(exposure(0o100644, 0o022), None);
    assert_eq!(
        exposure(0o100664, 0o022).as_deref(),
        Some("its group can write it (mode 664)")
    );
    assert_eq!(
        exposure(0o100646, 0o022).as_deref(),
        Some("others can write it (mode 646)")
    );
    assert_eq!(
        exposure(0o100644, 0o077).as_deref(),
        Some("its group and others can read or write it (mode 644)")
    );
}

#[test]
fn a_local_receiver_inside_the_replicated_tree_is_refused() {
    let job = |target: &str, rules: &str| {
        format!("[[jobs]]\nname = \"j\"\ntarget = \"{target}\"\n[jobs.filesystems]\n{rules}\n")
    };
    let e = parse(&job("local:tank/backup", "\"tank<\" = true"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("jobs[0].target: the receiver tank/backup is inside the replicated tree"),
        "{e}"
    );
    assert!(e.contains("\"tank/backup<\" = false"), "{e}");
    // An explicit include below the receiver is caught too.
    let e = parse(&job("local:tank", "\"pool/x\" = true\n\"tank/a\" = true"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("(tank/a is included)"), "{e}");
    // Excluded, elsewhere, or on another host: fine.
    assert!(parse(&job("local:tank/backup", "\"tank<\" = true\n\"tank/backup<\" = false")).is_ok());
    assert!(parse(&job("local:backup/hosts", "\"tank<\" = true")).is_ok());
    assert!(parse(&job("ssh://h/tank/backup", "\"tank<\" = true")).is_ok());
}

#[test]
fn strip_maps_sender_paths_and_refuses_what_cannot_land() {
    let job = |strip: &str, rules: &str| {
        format!(
            "[[jobs]]\nname = \"j\"\ntarget = \"local:backup/hosts\"\nstrip = {strip}\n[jobs.filesystems]\n{rules}\n"
        )
    };
    let c = parse(&job("\"tank/data\"", "\"tank/data<\" = true\n\"tank/data\" = false")).unwrap();
    let j = &c.jobs[0];
    assert_eq!(j.receiver_path(&ds("tank/data/db")).as_deref(), Some("db"));
    assert_eq!(j.receiver_path(&ds("tank/data/db/x")).as_deref(), Some("db/x"));
    assert_eq!(j.receiver_path(&ds("tank/data")), None);
    assert_eq!(j.sender_path("db/x"), Some(ds("tank/data/db/x")));
    assert_eq!(j.sender_path("other"), Some(ds("tank/data/other")));
    // Without strip: the full path, both ways.
    let c = parse(&job("[]", "\"tank<\" = true")).unwrap();
    assert_eq!(c.jobs[0].receiver_path(&ds("tank/a")).as_deref(), Some("tank/a"));
    assert_eq!(c.jobs[0].sender_path("tank/a"), Some(ds("tank/a")));
    assert_eq!(c.jobs[0].sender_path("pool2/a"), None, "not included");
    // The prefix itself would land on the root; a dataset outside every prefix has nowhere to go.
    let e = parse(&job("\"tank/data\"", "\"tank/data<\" = true"))
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("jobs[0].strip: tank/data is included but not below any strip prefix"),
        "{e}"
    );
    assert!(e.contains("\"tank/data\" = false"), "{e}");
    let e = parse(&job("\"tank/data\"", "\"tank/data/a\" = true\n\"pool2/x\" = true"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("pool2/x is included but not below any strip prefix"), "{e}");
    // Two prefixes whose rules land on the same path.
    let e = parse(&job(
        "[\"tank/data\", \"pool2/data\"]",
        "\"tank/data/db\" = true\n\"pool2/data/db\" = true",
    ))
    .unwrap_err()
    .to_string();
    assert!(e.contains("would both land at <root>/db"), "{e}");
    let e = parse(&job("\"tank//x\"", "\"tank<\" = true")).unwrap_err().to_string();
    assert!(e.contains("jobs[0].strip: strip: "), "an invalid name: {e}");
}

#[test]
fn pull_jobs_receive_locally_from_filesystems_below_the_source() {
    let pull = |target: &str, rule: &str, extra: &str| {
        parse(&format!(
            "[[jobs]]\nname = \"p\"\nsource = \"ssh://zsend@prod1/tank\"\ntarget = \"{target}\"\n{extra}\n\
             [jobs.filesystems]\n\"{rule}\" = true\n"
        ))
    };
    let c = pull("local:backup/prod1", "tank/data<", "").unwrap();
    let job = &c.jobs[0];
    assert!(job.is_pull());
    assert_eq!(
        job.ssh.agent_command,
        ["zreplrs", "send-agent"],
        "the default command is the send-agent"
    );
    assert_eq!(job.sync_record_property(), None, "the send-agent never sets a property");
    assert_eq!(
        job.compression(),
        Compression::Zstd { level: 1 },
        "the link that compresses by default is the source's"
    );
    // The receiver-inside-the-tree check is about one host's pools: a source's `tank` is another host's.
    assert!(pull("local:tank/backup", "tank<", "").is_ok());
    let e = pull("ssh://backup/b", "tank/data<", "").unwrap_err().to_string();
    assert!(
        e.contains("jobs[0].target") && e.contains("must be \"local:POOL/FS\""),
        "{e}"
    );
    let e = pull("local:backup/prod1", "other/data<", "").unwrap_err().to_string();
    assert!(
        e.contains("jobs[0].filesystems") && e.contains("not at or below the source's root tank"),
        "{e}"
    );
    let c = pull(
        "local:backup/prod1",
        "tank<",
        "[jobs.ssh]\nagent_command = [\"/opt/zreplrs\", \"send-agent\"]",
    )
    .unwrap();
    assert_eq!(c.jobs[0].ssh.agent_command, ["/opt/zreplrs", "send-agent"]);
}

#[test]
fn s3_targets_name_a_bucket_and_a_prefix() {
    for (input, canonical) in [
        ("s3://backups", "s3://backups"),
        ("s3://backups/", "s3://backups"),
        ("s3://my.bucket-1/web1/daily", "s3://my.bucket-1/web1/daily"),
    ] {
        let target = Target::parse(input).unwrap();
        assert!(target.is_store());
        assert_eq!(target.to_string(), canonical);
    }
    for (input, want) in [
        ("s3://", "is not an S3 bucket name"),
        ("s3://ab", "is not an S3 bucket name"),
        ("s3://Backups", "is not an S3 bucket name"),
        ("s3://-backups", "is not an S3 bucket name"),
        ("s3://back_ups/x", "is not an S3 bucket name"),
        ("s3://backups/a@b", "prefix: invalid dataset name"),
        ("s3://backups//a", "prefix"),
    ] {
        let e = Target::parse(input).unwrap_err();
        assert!(e.contains(want), "{input:?}: {e}");
    }
}

fn s3_job(store: &str) -> String {
    format!(
        "[[jobs]]\nname = \"j\"\ntarget = \"s3://backups/web1\"\n{store}\n[jobs.filesystems]\n\"tank/data<\" = true\n"
    )
}

#[test]
fn an_s3_job_never_sends_plaintext_by_accident() {
    let e = parse_err(&s3_job(""));
    assert!(e.contains("jobs[0].store") && e.contains("needs [jobs.store]"), "{e}");
    let e = parse_err(&s3_job("[jobs.store]\nendpoint = \"http://127.0.0.1:3900\"\n"));
    assert!(e.contains("would reach the store in plaintext"), "{e}");
    let e = parse_err(&s3_job(
        "[jobs.store]\nallow_plaintext = true\nage_recipients = [\"age1x\"]\n",
    ));
    assert!(e.contains("contradict"), "{e}");
    let e = parse_err(&s3_job("[jobs.store]\nage_recipients = [\"age1nope\"]\n"));
    assert!(e.contains("age recipient \"age1nope\""), "{e}");
    let e = parse_err(&s3_job(
        "[jobs.store]\nallow_plaintext = true\nendpoint = \"ftp://x\"\n",
    ));
    assert!(e.contains("not an http:// or https:// URL"), "{e}");
    let e = parse_err(&s3_job(
        "[jobs.store]\nallow_plaintext = true\nsecret_access_key = \"x\"\n",
    ));
    assert!(
        e.contains("unknown field `secret_access_key`"),
        "credentials are never in the config: {e}"
    );
    let e = parse_err(&job_toml("j", "[jobs.store]\nallow_plaintext = true\n"));
    assert!(e.contains("is for s3:// targets"), "{e}");

    let recipient = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
    let job = parse(&s3_job(&format!("[jobs.store]\nage_recipients = [\"{recipient}\"]\n")))
        .unwrap()
        .jobs
        .remove(0);
    assert!(job.send.flags.raw, "an s3 job sends encrypted filesystems raw");
    let store = job.store.unwrap();
    assert_eq!(store.endpoint_url(), "https://s3.us-east-1.amazonaws.com");
}
