//! Packaging and monitoring assets, checked on the host (no ZFS) with the real tools that consume them:
//! the systemd units of `systemd-units/` (`systemd-analyze verify` and `security`, the CLI accepts their
//! command lines), the Prometheus rules of `monitoring/` (`promtool check rules`, `promtool test rules`),
//! the Grafana dashboard (shape, and its PromQL through promtool), and the metrics textfiles of real reports
//! served by a real node_exporter. The tools come from `.ci/install-deps`; a missing tool fails the test
//! with a message saying so, it never skips.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use camino::Utf8Path;
use zreplrs::prune::Side;
use zreplrs::report::commands::{
    FsPrune, HoldState, PoolResult, PruneReport, ReceivedFs, ReceiverStatusReport, SnapshotReport,
};
use zreplrs::report::metrics::{prune_textfile, receiver_textfile, replication_textfile, snapshot_textfile, Textfile};
use zreplrs::report::{
    AttemptOutcome, AttemptReport, CommandReport, ErrorReport, FsReport, FsResult, Header, RunReport, RunResult,
    StepReport, StepResult, Timing,
};
use zreplrs::zfs::Guid;

#[path = "vmlib/units.rs"]
mod units;
use units::UNITS;
const SANDBOX_START: &str = "# --- sandbox";
const SANDBOX_END: &str = "# --- end sandbox ---";
const TEXTFILE_DIR: &str = "/var/lib/prometheus/node-exporter";

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("cannot read {rel}: {e}"))
}

/// Runs `cmd` to completion; a missing program fails the test and names the package that provides it.
/// A test tool that `.ci/install-deps` unpacks into its tools directory (`$ZREPLRS_TEST_TOOLS/bin`, default
/// `/opt/zreplrs-test-tools/bin`), or else the one on `PATH`.
fn test_tool(name: &str) -> PathBuf {
    let dir = std::env::var_os("ZREPLRS_TEST_TOOLS").unwrap_or_else(|| "/opt/zreplrs-test-tools".into());
    let unpacked = Path::new(&dir).join("bin").join(name);
    if unpacked.exists() {
        unpacked
    } else {
        PathBuf::from(name)
    }
}

fn run(cmd: &mut Command, package: &str) -> Output {
    let program = cmd.get_program().to_string_lossy().into_owned();
    match cmd.output() {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("{program} not found: run .ci/install-deps (Debian package {package})")
        }
        Err(e) => panic!("cannot run {program}: {e}"),
    }
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

// ---------------------------------------------------------------------------------------------------------
// systemd units

/// `zreplrs-replicate@.service` → `zreplrs-replicate@demo.service`.
fn instance_name(template: &str, instance: &str) -> String {
    template.replacen("@.", &format!("@{instance}."), 1)
}

/// Copies every unit as an instance of `instance` into `dir`, with ExecStart pointing at the test binary
/// (the verifier checks that the executable exists). Returns the paths.
fn instantiate(dir: &Path, instance: &str) -> Vec<PathBuf> {
    UNITS
        .iter()
        .map(|u| {
            let body = read(&format!("systemd-units/{u}"));
            assert!(
                !u.ends_with(".service") || body.contains("ExecStart=/usr/bin/zreplrs "),
                "{u}: ExecStart must run /usr/bin/zreplrs (where the package installs it)"
            );
            let body = body.replace("/usr/bin/zreplrs", env!("CARGO_BIN_EXE_zreplrs"));
            let path = dir.join(instance_name(u, instance));
            std::fs::write(&path, body).unwrap();
            path
        })
        .collect()
}

/// `systemd-analyze verify FILES…` with `man` looking up `Documentation=man:…` in the repository's generated
/// man pages (MANPATH=DIR with DIR/man1 → man/), so a reference to a missing page fails too.
///
/// In a container systemd-analyze may also complain about units of the host that ours pull in
/// (network-online.target's providers, …); only output lines naming our units or their directory count. The
/// exit status counts as well: it is non-zero only for problems of the units given on the command line.
fn verify(dir: &Path, files: &[PathBuf]) -> (bool, Vec<String>) {
    let mandir = dir.join("man");
    std::fs::create_dir_all(&mandir).unwrap();
    let man1 = mandir.join("man1");
    if !man1.exists() {
        std::os::unix::fs::symlink(repo().join("man"), &man1).unwrap();
    }
    let out = run(
        Command::new("systemd-analyze")
            .arg("verify")
            .args(files)
            .env("MANPATH", &mandir)
            .env("SYSTEMD_COLORS", "0")
            .env("SYSTEMD_LOG_COLOR", "0")
            .env("SYSTEMD_PAGER", ""),
        "systemd",
    );
    let dir_s = dir.to_string_lossy().into_owned();
    let ours: Vec<String> = text(&out)
        .lines()
        .filter(|l| l.contains("zreplrs-") || l.contains(&dir_s))
        .map(String::from)
        .collect();
    (out.status.success(), ours)
}

#[test]
fn systemd_units_verify_cleanly() {
    let dir = tempdir();
    let files = instantiate(dir.path(), "demo");
    let (ok, ours) = verify(dir.path(), &files);
    assert!(
        ok && ours.is_empty(),
        "systemd-analyze verify (exit ok: {ok}):\n{}",
        ours.join("\n")
    );

    // The filter sees real problems: a unit with a typo and a missing man page is reported, by name.
    let broken = dir.path().join("zreplrs-broken@demo.service");
    let replicate = files
        .iter()
        .find(|f| f.ends_with("zreplrs-replicate@demo.service"))
        .unwrap();
    let body = std::fs::read_to_string(replicate)
        .unwrap()
        .replace("ProtectSystem=strict", "ProtectSystm=strict")
        .replace("man:zreplrs(1)", "man:zreplrs-no-such-page(1)");
    std::fs::write(&broken, body).unwrap();
    let (ok, ours) = verify(dir.path(), &[broken]);
    let all = ours.join("\n");
    assert!(!ok, "a broken unit must fail systemd-analyze verify:\n{all}");
    assert!(
        all.contains("ProtectSystm") && all.contains("zreplrs-no-such-page"),
        "the broken unit's problems are not reported:\n{all}"
    );
}

#[test]
fn systemd_units_are_sandboxed() {
    let dir = tempdir();
    let files = instantiate(dir.path(), "demo");
    for f in files.iter().filter(|f| f.extension().is_some_and(|e| e == "service")) {
        let out = run(
            Command::new("systemd-analyze")
                .args(["security", "--offline=true", "--no-pager"])
                .arg(f)
                .env("SYSTEMD_LOG_COLOR", "0"),
            "systemd",
        );
        let all = text(&out);
        let level: f64 = all
            .lines()
            .find_map(|l| {
                l.split_once("Overall exposure level for ")?
                    .1
                    .split_once(": ")?
                    .1
                    .split(' ')
                    .next()
            })
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no exposure level for {}:\n{all}", f.display()));
        // 4.9 when written; an accidental loss of the sandbox (ProtectSystem=, DevicePolicy=, …) raises it.
        assert!(level <= 5.5, "{}: exposure {level} > 5.5:\n{all}", f.display());
    }
}

fn unit_lines(body: &str) -> Vec<&str> {
    body.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect()
}

#[test]
fn units_run_the_right_commands_with_one_sandbox() {
    let listed: BTreeSet<String> = std::fs::read_dir(repo().join("systemd-units"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains('@'))
        .collect();
    assert_eq!(listed, UNITS.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>());

    let mut sandboxes = Vec::new();
    for (unit, cmd) in [
        ("replicate", "replicate"),
        ("snapshot", "snapshot"),
        ("prune", "prune"),
        ("receiver-status", "status --receiver"),
    ] {
        let name = format!("zreplrs-{unit}@.service");
        let body = read(&format!("systemd-units/{name}"));
        let lines = unit_lines(&body);
        let has = |l: &str| lines.contains(&l);
        assert!(has("Type=oneshot"), "{name}");
        // A held lock (4) is not a failure of the units that take it; 1 (some failed) and 3 (run failed)
        // are. The receiver's view takes no lock.
        let locks = unit != "receiver-status";
        assert_eq!(has("SuccessExitStatus=4"), locks, "{name}");
        assert_eq!(
            lines.iter().filter(|l| l.starts_with("SuccessExitStatus=")).count(),
            usize::from(locks),
            "{name}"
        );
        let exec = lines.iter().find(|l| l.starts_with("ExecStart=")).expect("ExecStart");
        assert!(
            exec.starts_with(&format!("ExecStart=/usr/bin/zreplrs {cmd} --job %i "))
                && exec.ends_with(&format!(" --textfile-dir {TEXTFILE_DIR}")),
            "{name}: {exec}"
        );

        let start = body
            .find(SANDBOX_START)
            .unwrap_or_else(|| panic!("{name}: no sandbox block"));
        let end = body
            .find(SANDBOX_END)
            .unwrap_or_else(|| panic!("{name}: no sandbox end"));
        let sandbox = &body[start..end];
        let s = unit_lines(sandbox);
        for required in [
            "DevicePolicy=closed",
            "DeviceAllow=/dev/zfs rw",
            "ProtectSystem=strict",
            "StateDirectory=zreplrs",
            "RuntimeDirectory=zreplrs",
            "RuntimeDirectoryMode=0700",
            "RuntimeDirectoryPreserve=yes",
            "ProtectHome=read-only",
            "PrivateTmp=yes",
            "NoNewPrivileges=yes",
            "ProtectKernelTunables=yes",
            "ProtectKernelModules=yes",
            "ProtectKernelLogs=yes",
            "ProtectControlGroups=yes",
            "ProtectClock=yes",
            "ProtectHostname=yes",
            "RestrictSUIDSGID=yes",
            "RestrictRealtime=yes",
            "RestrictNamespaces=yes",
            "LockPersonality=yes",
            "MemoryDenyWriteExecute=yes",
            "SystemCallArchitectures=native",
            "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6",
            "UMask=0022",
        ] {
            assert!(s.contains(&required), "{name}: sandbox lacks {required}");
        }
        let rw = s
            .iter()
            .find(|l| l.starts_with("ReadWritePaths="))
            .expect("ReadWritePaths");
        assert!(rw.contains(TEXTFILE_DIR), "{name}: {rw}");
        // These would break ZFS: /dev/zfs hidden, or ioctls without CAP_SYS_ADMIN in the initial namespace.
        for forbidden in ["PrivateDevices=", "PrivateUsers=", "DynamicUser=", "User="] {
            assert!(
                !lines.iter().any(|l| l.starts_with(forbidden)),
                "{name}: {forbidden} breaks ZFS"
            );
        }
        sandboxes.push((name, sandbox.to_string()));
    }
    for (name, s) in &sandboxes[1..] {
        assert_eq!(s, &sandboxes[0].1, "{name}: sandbox differs from {}", sandboxes[0].0);
    }

    for cmd in ["replicate", "snapshot", "prune", "receiver-status"] {
        let name = format!("zreplrs-{cmd}@.timer");
        let body = read(&format!("systemd-units/{name}"));
        let lines = unit_lines(&body);
        for prefix in [
            "OnCalendar=",
            "RandomizedDelaySec=",
            "Persistent=true",
            "WantedBy=timers.target",
        ] {
            assert!(lines.iter().any(|l| l.starts_with(prefix)), "{name}: no {prefix}");
        }
    }
}

/// The units' command lines parse: with a configuration that lacks the job, zreplrs gets as far as looking
/// the job up (exit 2 naming it), instead of a usage error from the argument parser.
#[test]
fn unit_command_lines_are_accepted_by_the_cli() {
    let dir = tempdir();
    let config = dir.path().join("zreplrs.toml");
    std::fs::write(
        &config,
        "[[jobs]]\nname = \"other\"\ntarget = \"local:backup/hosts\"\n[jobs.filesystems]\n\"tank/data<\" = true\n",
    )
    .unwrap();
    for cmd in ["replicate", "snapshot", "prune", "receiver-status"] {
        let body = read(&format!("systemd-units/zreplrs-{cmd}@.service"));
        let exec = unit_lines(&body)
            .into_iter()
            .find_map(|l| l.strip_prefix("ExecStart=/usr/bin/zreplrs "))
            .expect("ExecStart")
            .replace("%i", "demo");
        let out = run(
            Command::new(env!("CARGO_BIN_EXE_zreplrs"))
                .args(exec.split_whitespace())
                .env("ZREPLRS_CONFIG", &config),
            "",
        );
        let all = text(&out);
        assert_eq!(out.status.code(), Some(2), "{exec}: {all}");
        assert!(
            all.contains("no job named \"demo\"") && !all.contains("Usage:"),
            "{exec}: {all}"
        );
    }
}

#[test]
fn install_deps_installs_the_tools_these_tests_need_and_no_services() {
    let deps = read(".ci/install-deps");
    let lists: Vec<&str> = deps
        .lines()
        .filter(|l| l.starts_with("build=(") || l.starts_with("vm=(") || l.starts_with("host_tests=("))
        .collect();
    let installed: Vec<&str> = lists
        .iter()
        .flat_map(|l| {
            l.split_once('(')
                .map_or("", |(_, r)| r.trim_end_matches(')'))
                .split_whitespace()
        })
        .collect();
    for p in [
        "systemd",
        "man-db",
        "lintian",
        "python3-pip",
        "debootstrap",
        "libssl-dev",
        "binutils",
    ] {
        assert!(installed.contains(&p), "{p} missing: {lists:?}");
    }
    // Packages that bring a service of their own are not installed; their binaries are unpacked instead.
    for p in ["prometheus", "prometheus-node-exporter", "openssh-server"] {
        assert!(!installed.contains(&p), "{p} would install a service: {lists:?}");
    }
    let unpacked = deps
        .lines()
        .find(|l| l.trim_start().starts_with("unpacked=("))
        .expect("unpacked list");
    for t in [
        "prometheus:usr/bin/promtool",
        "prometheus-node-exporter:usr/bin/prometheus-node-exporter",
    ] {
        assert!(unpacked.contains(t), "{t} missing: {unpacked}");
    }
}

/// `.ci/apt-sources` adds bookworm-backports and contrib on a deb822 system and on a one-line sources.list
/// system (with that system's mirror), says what it changes, and changes nothing the second time.
#[test]
fn apt_sources_handles_deb822_and_one_line_sources_and_is_idempotent() {
    let run = |root: &Path| {
        let out = Command::new("bash")
            .arg(repo().join(".ci/apt-sources"))
            .arg(root)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let deb822 = tempfile::tempdir().unwrap();
    let d = deb822.path().join("etc/apt/sources.list.d");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(
        d.join("debian.sources"),
        "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates\nComponents: main\n\n\
         Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\nComponents: main\n",
    )
    .unwrap();
    let said = run(deb822.path());
    assert!(said.contains("adding bookworm-backports and contrib to"), "{said}");
    let text = std::fs::read_to_string(d.join("debian.sources")).unwrap();
    assert!(
        text.contains("Suites: bookworm bookworm-updates bookworm-backports\nComponents: main contrib\n"),
        "{text}"
    );
    assert!(
        text.ends_with("Suites: bookworm-security\nComponents: main\n"),
        "security unchanged: {text}"
    );
    assert_eq!(run(deb822.path()), "", "the second run changes nothing");

    let classic = tempfile::tempdir().unwrap();
    let etc = classic.path().join("etc/apt");
    std::fs::create_dir_all(&etc).unwrap();
    let list = "deb http://ftp.de.debian.org/debian/ bookworm main\n\
                deb http://security.debian.org/debian-security bookworm-security main\n";
    std::fs::write(etc.join("sources.list"), list).unwrap();
    let said = run(classic.path());
    assert!(said.contains("zreplrs-backports.list"), "{said}");
    assert_eq!(
        std::fs::read_to_string(etc.join("sources.list")).unwrap(),
        list,
        "left as it was"
    );
    assert_eq!(
        std::fs::read_to_string(etc.join("sources.list.d/zreplrs-backports.list")).unwrap(),
        "deb http://ftp.de.debian.org/debian/ bookworm-backports main contrib\n\
         deb http://ftp.de.debian.org/debian/ bookworm contrib\n"
    );
    assert_eq!(run(classic.path()), "", "the second run changes nothing");
}

/// Every installed documentation path the program's messages and man pages name is in the package.
#[test]
fn every_installed_path_the_program_names_is_packaged() {
    let cargo: toml::Value = toml::from_str(&read("Cargo.toml")).unwrap();
    let assets = cargo["package"]["metadata"]["deb"]["assets"].as_array().unwrap();
    let mut installed = BTreeSet::new();
    for a in assets {
        let (src, dest) = (a[0].as_str().unwrap(), a[1].as_str().unwrap());
        if !dest.ends_with('/') {
            installed.insert(format!("/{dest}"));
            continue;
        }
        if src.starts_with("target/") {
            // Built by cargo, not in the source tree (the binary).
            installed.insert(format!("/{dest}{}", src.rsplit('/').next().unwrap_or(src)));
            continue;
        }
        let (dir, pattern) = src.rsplit_once('/').unwrap_or((".", src));
        let (prefix, suffix) = pattern.split_once('*').unwrap_or((pattern, ""));
        for e in std::fs::read_dir(repo().join(dir)).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with(prefix) && name.ends_with(suffix) {
                installed.insert(format!("/{dest}{name}"));
            }
        }
    }
    let named = regex::Regex::new(r"/usr/share/(?:doc/)?zreplrs/[A-Za-z0-9_./-]*[A-Za-z0-9]").unwrap();
    let mut found = 0;
    for e in walkdir::WalkDir::new(repo().join("src")).into_iter().flatten() {
        if e.path().extension().is_some_and(|x| x == "rs") {
            let text = std::fs::read_to_string(e.path()).unwrap();
            for m in named.find_iter(&text) {
                found += 1;
                assert!(
                    installed.contains(m.as_str()),
                    "{} names {}, which the package does not install",
                    e.path().display(),
                    m.as_str()
                );
            }
        }
    }
    assert!(found >= 3, "the messages name installed files: {found}");
}

// ---------------------------------------------------------------------------------------------------------
// Reports and their textfiles

const NOW: u64 = 1_700_000_000;

fn step(to: &str, bytes: u64, result: StepResult) -> StepReport {
    StepReport {
        from: None,
        from_guid: None,
        to: to.into(),
        to_guid: Guid(42),
        snapshots: 1,
        resumed: false,
        bytes_estimated: Some(bytes),
        bytes,
        wire_bytes: bytes,
        result,
    }
}

fn attempt(number: u32, outcome: AttemptOutcome) -> AttemptReport {
    AttemptReport {
        number,
        started_at: "2023-11-14T22:13:00Z".into(),
        finished_at: "2023-11-14T22:13:20Z".into(),
        outcome,
        error: None,
    }
}

fn run_report(job: &str, filesystems: Vec<FsReport>, error: Option<ErrorReport>) -> RunReport {
    let mut r = RunReport {
        header: Header::new("replicate", Some(job), Some(false)),
        timing: Timing::recorded("2023-11-14T22:12:38Z", "2023-11-14T22:13:20Z", 42.5),
        result: RunResult::Ok,
        attempts: vec![
            attempt(1, AttemptOutcome::ConnectivityError),
            attempt(2, AttemptOutcome::Completed),
        ],
        bytes_estimated: 0,
        bytes_estimate_exact: true,
        bytes_replicated: 0,
        wire_bytes_replicated: 0,
        filesystems,
        error,
        released_aged_step_holds: Vec::new(),
        hooks: Vec::new(),
    };
    r.summarize();
    r
}

/// Job web1: tank/home replicated (123456789 bytes, 5 minutes behind), tank/db failed after 4096 bytes with
/// resumable state, 3 pending snapshots and two hours behind.
fn web1() -> RunReport {
    let r = run_report(
        "web1",
        vec![
            FsReport {
                name: "tank/home".into(),
                target: "backup/web1/tank/home".into(),
                result: FsResult::Ok,
                steps: vec![step("tank/home@zrepl_2", 123_456_789, StepResult::Done)],
                error: None,
                resumable: false,
                pending_snapshots: 0,
                newest_replicated: Some("tank/home@zrepl_2".into()),
                lag_seconds: Some(300),
                rotated_to: None,
            },
            FsReport {
                name: "tank/db".into(),
                target: "backup/web1/tank/db".into(),
                result: FsResult::Failed,
                steps: vec![step("tank/db@zrepl_2", 4096, StepResult::Failed)],
                error: Some(ErrorReport::new("send_failed", "connection lost")),
                resumable: true,
                pending_snapshots: 3,
                newest_replicated: Some("tank/db@zrepl_1".into()),
                lag_seconds: Some(7300),
                rotated_to: None,
            },
        ],
        None,
    );
    assert_eq!(
        (r.result, r.exit_code(), r.failed_filesystems()),
        (RunResult::Partial, 1, 1)
    );
    r
}

/// Job web2: cannot connect, nothing planned.
fn web2() -> RunReport {
    let r = run_report("web2", vec![], Some(ErrorReport::new("connect", "cannot connect")));
    assert_eq!(r.exit_code(), 3);
    r
}

fn snapshot_report() -> SnapshotReport {
    SnapshotReport {
        header: Header::new("snapshot", Some("web1"), Some(false)),
        timing: Timing::recorded("2023-11-14T22:00:00Z", "2023-11-14T22:00:01Z", 0.25),
        snapshot_name: "zrepl_20231114_220000_000".into(),
        pools: vec![PoolResult {
            pool: "tank".into(),
            snapshots: vec![
                "tank/home@zrepl_20231114_220000_000".into(),
                "tank/db@zrepl_20231114_220000_000".into(),
            ],
            taken: true,
            error: None,
        }],
        hooks: vec![],
        snapshots_taken: 2,
        error: None,
    }
}

fn prune_report() -> PruneReport {
    let fs = |side: &'static str, destroyed: &[&str], error: Option<ErrorReport>| FsPrune {
        side,
        filesystem: "tank/home".into(),
        destroyed: destroyed.iter().map(|s| s.to_string()).collect(),
        held: vec![],
        kept: 10,
        decisions: vec![],
        objects: vec![],
        error,
    };
    PruneReport {
        header: Header::new("prune", Some("web1"), Some(false)),
        side: Side::Both,
        timing: Timing::recorded("2023-11-14T22:40:00Z", "2023-11-14T22:40:02Z", 2.0),
        destroyed: 3,
        filesystems: vec![
            fs("sender", &["tank/home@a", "tank/home@b"], None),
            fs(
                "receiver",
                &["backup/tank/home@a"],
                Some(ErrorReport::new("held", "held")),
            ),
        ],
        error: None,
    }
}

/// Every textfile the tests serve: (file name as the CLI names it, content).
fn textfiles() -> Vec<(String, Textfile)> {
    vec![
        ("zreplrs_replicate_web1.prom".into(), replication_textfile(&web1(), NOW)),
        ("zreplrs_replicate_web2.prom".into(), replication_textfile(&web2(), NOW)),
        (
            "zreplrs_snapshot_web1.prom".into(),
            snapshot_textfile(&snapshot_report()),
        ),
        ("zreplrs_prune_web1.prom".into(), prune_textfile(&prune_report())),
        (
            "zreplrs_receiver_backup.prom".into(),
            receiver_textfile(&receiver_report(), NOW, 0.5),
        ),
    ]
}

/// The backup host's view of two copies: one fresh and held, one cut part-way.
fn receiver_report() -> ReceiverStatusReport {
    let copy = |path: &str, resumable: bool| ReceivedFs {
        name: format!("tank/backup/{path}"),
        path: path.into(),
        placeholder: false,
        newest_snapshot: Some(format!("tank/backup/{path}@zrepl_20231114_220000_000")),
        newest_snapshot_time: Some(NOW - 900),
        age_seconds: Some(900),
        last_received_hold: if resumable {
            HoldState::Missing
        } else {
            HoldState::OnNewest
        },
        last_received_hold_jobs: vec![],
        resumable,
        resumable_bytes: resumable.then_some(1 << 20),
        resumable_since: resumable.then_some(NOW - 60),
        resumable_age_seconds: resumable.then_some(60),
    };
    ReceiverStatusReport {
        header: Header::new("status", None, None),
        generated_at: "2023-11-14T22:15:00Z".into(),
        root: "tank/backup".into(),
        job_id: None,
        filesystems: vec![copy("web1/data", false), copy("web2/data", true)],
        error: None,
    }
}

/// Metric names the textfiles declare (`# TYPE name gauge`).
fn declared_metrics() -> BTreeSet<String> {
    textfiles()
        .iter()
        .flat_map(|(_, t)| {
            t.as_str()
                .lines()
                .filter_map(|l| l.strip_prefix("# TYPE ")?.split(' ').next().map(String::from))
                .collect::<Vec<_>>()
        })
        .collect()
}

/// One sample of the text exposition format: name, labels (sorted), value.
type Sample = (String, BTreeMap<String, String>, f64);

fn parse_sample(line: &str) -> Option<Sample> {
    if line.starts_with('#') || line.trim().is_empty() {
        return None;
    }
    let (series, value) = line.rsplit_once(' ')?;
    let value = match value {
        "NaN" => f64::NAN,
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    let Some((name, rest)) = series.split_once('{') else {
        return Some((series.to_string(), BTreeMap::new(), value));
    };
    let mut labels = BTreeMap::new();
    let mut chars = rest.strip_suffix('}')?.chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        if chars.next()? != '"' {
            return None;
        }
        let mut v = String::new();
        loop {
            match chars.next()? {
                '\\' => match chars.next()? {
                    'n' => v.push('\n'),
                    c => v.push(c),
                },
                '"' => break,
                c => v.push(c),
            }
        }
        labels.insert(key.trim_start_matches(',').to_string(), v);
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
    Some((name.to_string(), labels, value))
}

/// The value of `name{labels}` among `samples`; labels must match exactly.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let want: BTreeMap<String, String> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let found: Vec<f64> = samples
        .iter()
        .filter(|(n, l, _)| n == name && *l == want)
        .map(|(_, _, v)| *v)
        .collect();
    match found[..] {
        [v] => v,
        _ => panic!("{name}{labels:?}: found {found:?} in\n{samples:#?}"),
    }
}

// ---------------------------------------------------------------------------------------------------------
// node_exporter

/// Kills the exporter when the test ends, also when it panics.
struct Exporter {
    child: Child,
    port: u16,
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Starts `prometheus-node-exporter` with only the textfile collector, on a free port.
fn start_exporter(dir: &Path) -> Exporter {
    let bin = test_tool("prometheus-node-exporter");
    let port = free_port();
    let child = Command::new(&bin)
        .arg("--collector.disable-defaults")
        .arg("--collector.textfile")
        .arg(format!("--collector.textfile.directory={}", dir.display()))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("cannot start prometheus-node-exporter");
    Exporter { child, port }
}

/// `GET /metrics` over HTTP/1.0: the body of a 200 response, or why not.
fn get_metrics(port: u16) -> Result<String, String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(|e| e.to_string())?;
    s.write_all(b"GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\nAccept: text/plain\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut response = String::new();
    s.read_to_string(&mut response).map_err(|e| e.to_string())?;
    let (head, body) = response.split_once("\r\n\r\n").ok_or("no end of headers")?;
    if !head.starts_with("HTTP/1.") || !head.lines().next().is_some_and(|l| l.contains(" 200 ")) {
        return Err(format!("unexpected response: {head}"));
    }
    Ok(body.to_string())
}

/// Scrapes the exporter, retrying until it answers (bounded to 30 s). `Err` with its output if it exited
/// (e.g. someone else took the port between [`free_port`] and its start).
fn scrape(exporter: &mut Exporter) -> Result<String, String> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = exporter.child.try_wait().unwrap() {
            let mut err = String::new();
            if let Some(mut e) = exporter.child.stderr.take() {
                let _ = e.read_to_string(&mut err);
            }
            return Err(format!("prometheus-node-exporter exited ({status}):\n{err}"));
        }
        match get_metrics(exporter.port) {
            Ok(body) => return Ok(body),
            Err(e) if Instant::now() > deadline => panic!("node_exporter did not answer within 30 s: {e}"),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    }
}

/// What a node_exporter serving the textfiles of `dir` answers (three tries at a free port).
fn serve(dir: &Path) -> String {
    let mut errors = Vec::new();
    for _ in 0..3 {
        let mut exporter = start_exporter(dir);
        match scrape(&mut exporter) {
            Ok(body) => return body,
            Err(e) => errors.push(e),
        }
    }
    panic!("{}", errors.join("\n"))
}

#[test]
fn node_exporter_serves_the_textfiles() {
    let dir = tempdir();
    let d = Utf8Path::from_path(dir.path()).unwrap();
    for (name, t) in textfiles() {
        t.write_atomically(d, &name).unwrap();
    }
    let body = serve(dir.path());
    let samples: Vec<Sample> = body
        .lines()
        .filter_map(|l| {
            let s = parse_sample(l);
            assert!(s.is_some() || l.starts_with('#') || l.is_empty(), "cannot parse: {l}");
            s
        })
        .collect();
    let v = |name: &str, labels: &[(&str, &str)]| value(&samples, name, labels);

    // The collector read every file without complaint.
    assert_eq!(v("node_textfile_scrape_error", &[]), 0.0, "{body}");
    for (name, _) in textfiles() {
        assert!(
            samples.iter().any(
                |(n, l, _)| n == "node_textfile_mtime_seconds" && l.get("file").is_some_and(|f| f.ends_with(&name))
            ),
            "no mtime for {name}:\n{body}"
        );
    }

    // Replication, job web1: one of two filesystems failed.
    let web1 = [("job", "web1")];
    assert_eq!(v("zreplrs_replication_filesystem_errors", &web1), 1.0);
    assert_eq!(v("zreplrs_replication_last_run_success", &web1), 0.0);
    assert_eq!(v("zreplrs_replication_last_run_timestamp_seconds", &web1), NOW as f64);
    assert_eq!(v("zreplrs_replication_duration_seconds", &web1), 42.5);
    assert_eq!(v("zreplrs_replication_attempts", &web1), 2.0);
    let home = [("job", "web1"), ("filesystem", "tank/home")];
    let db = [("job", "web1"), ("filesystem", "tank/db")];
    assert_eq!(v("zreplrs_replication_bytes_replicated", &home), 123_456_789.0);
    assert_eq!(v("zreplrs_replication_bytes_replicated", &db), 4096.0);
    assert_eq!(v("zreplrs_filesystem_lag_seconds", &home), 300.0);
    assert_eq!(v("zreplrs_filesystem_lag_seconds", &db), 7300.0);
    assert_eq!(v("zreplrs_filesystem_pending_snapshots", &home), 0.0);
    assert_eq!(v("zreplrs_filesystem_pending_snapshots", &db), 3.0);
    assert_eq!(v("zreplrs_filesystem_resumable", &home), 0.0);
    assert_eq!(v("zreplrs_filesystem_resumable", &db), 1.0);
    assert_eq!(v("zreplrs_build_info", &[("version", env!("CARGO_PKG_VERSION"))]), 1.0);

    // Replication, job web2: failed before planning; the same families from a second file merge.
    let web2 = [("job", "web2")];
    assert_eq!(v("zreplrs_replication_filesystem_errors", &web2), -1.0);
    assert_eq!(v("zreplrs_replication_last_run_success", &web2), 0.0);
    assert!(!samples
        .iter()
        .any(|(n, l, _)| n.starts_with("zreplrs_filesystem_") && l.get("job").is_some_and(|j| j == "web2")));

    // Snapshot and prune.
    assert_eq!(v("zreplrs_snapshot_last_run_success", &web1), 1.0);
    assert_eq!(v("zreplrs_snapshot_taken", &web1), 2.0);
    assert_eq!(v("zreplrs_snapshot_duration_seconds", &web1), 0.25);
    assert!(v("zreplrs_snapshot_last_run_timestamp_seconds", &web1) > NOW as f64);
    assert_eq!(v("zreplrs_prune_last_run_success", &web1), 0.0);
    assert_eq!(v("zreplrs_prune_duration_seconds", &web1), 2.0);
    assert_eq!(
        v(
            "zreplrs_prune_destroyed_snapshots",
            &[("job", "web1"), ("side", "sender")]
        ),
        2.0
    );
    assert_eq!(
        v(
            "zreplrs_prune_destroyed_snapshots",
            &[("job", "web1"), ("side", "receiver")]
        ),
        1.0
    );
    assert!(v("zreplrs_prune_last_run_timestamp_seconds", &web1) > NOW as f64);

    // Every family the files declare is served.
    let served: BTreeSet<String> = samples
        .iter()
        .filter(|(n, _, _)| n.starts_with("zreplrs_"))
        .map(|(n, _, _)| n.clone())
        .collect();
    assert_eq!(served, declared_metrics());
}

// ---------------------------------------------------------------------------------------------------------
// Prometheus rules and the Grafana dashboard

fn promtool(args: &[&str]) -> Output {
    run(
        Command::new(test_tool("promtool")).args(args).current_dir(repo()),
        "prometheus",
    )
}

#[test]
fn alert_rules_check_and_their_unit_tests_pass() {
    let out = promtool(&["check", "rules", "monitoring/alerts.yml"]);
    assert!(out.status.success(), "promtool check rules:\n{}", text(&out));
    let out = promtool(&["test", "rules", "monitoring/alerts_test.yml"]);
    assert!(out.status.success(), "promtool test rules:\n{}", text(&out));
}

/// Every alert has a unit test where it fires and one where it does not.
#[test]
fn every_alert_is_tested_firing_and_not_firing() {
    let rules = read("monitoring/alerts.yml");
    let tests = read("monitoring/alerts_test.yml");
    let alerts: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- alert: "))
        .map(str::trim)
        .collect();
    assert!(alerts.len() >= 5, "{alerts:?}");
    for wanted in [
        "ZreplrsReplicationFailing",
        "ZreplrsReplicationLagHigh",
        "ZreplrsNoRecentRun",
        "ZreplrsSnapshotFailing",
        "ZreplrsPruneFailing",
    ] {
        assert!(alerts.contains(&wanted), "{wanted} missing: {alerts:?}");
    }
    let lines: Vec<&str> = tests
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let mut firing = BTreeSet::new();
    let mut quiet = BTreeSet::new();
    for w in lines.windows(2) {
        if let Some(name) = w[0].strip_prefix("alertname: ") {
            match w[1] {
                "exp_alerts: []" => quiet.insert(name.trim()),
                "exp_alerts:" => firing.insert(name.trim()),
                other => panic!("alertname {name} followed by {other}"),
            };
        }
    }
    for a in &alerts {
        assert!(firing.contains(a), "{a} is never tested firing");
        assert!(quiet.contains(a), "{a} is never tested not firing");
    }
}

/// Every `zreplrs_*` metric name in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("zreplrs_") {
        let preceded = rest[..i]
            .chars()
            .last()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        let tail = &rest[i..];
        let end = tail
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(tail.len());
        if !preceded {
            names.insert(tail[..end].to_string());
        }
        rest = &tail[end..];
    }
    names
}

#[test]
fn monitoring_refers_only_to_metrics_zreplrs_writes() {
    let declared = declared_metrics();
    for file in [
        "monitoring/alerts.yml",
        "monitoring/alerts_test.yml",
        "monitoring/grafana-dashboard.json",
    ] {
        let used = metric_names(&read(file));
        assert!(!used.is_empty(), "{file}");
        let unknown: Vec<_> = used.difference(&declared).collect();
        assert!(
            unknown.is_empty(),
            "{file} uses metrics zreplrs does not write: {unknown:?}"
        );
    }
}

/// All panels, also those inside collapsed rows.
fn panels(dashboard: &serde_json::Value) -> Vec<&serde_json::Value> {
    fn walk<'a>(list: &'a serde_json::Value, out: &mut Vec<&'a serde_json::Value>) {
        for p in list.as_array().into_iter().flatten() {
            out.push(p);
            walk(&p["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

#[test]
fn grafana_dashboard_has_the_panels_and_valid_queries() {
    let dashboard: serde_json::Value =
        serde_json::from_str(&read("monitoring/grafana-dashboard.json")).expect("dashboard is JSON");
    assert!(
        dashboard["schemaVersion"].as_u64().is_some_and(|v| v >= 36),
        "schemaVersion"
    );
    assert!(dashboard["title"].as_str().is_some_and(|t| !t.is_empty()));

    let vars = dashboard["templating"]["list"].as_array().expect("templating");
    let var = |name: &str| {
        vars.iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no variable {name}"))
    };
    assert_eq!(var("DS_PROMETHEUS")["type"], "datasource");
    assert_eq!(var("DS_PROMETHEUS")["query"], "prometheus");
    let job = var("job");
    assert!(
        job["query"]["query"]
            .as_str()
            .is_some_and(|q| q.starts_with("label_values(zreplrs_replication_last_run_success, ")),
        "{job}"
    );
    let labels: Vec<&str> = var("job_label")["query"].as_str().unwrap().split(',').collect();
    assert_eq!(labels, ["exported_job", "job"]);

    let panels = panels(&dashboard);
    let mut ids = BTreeSet::new();
    let mut boxes: Vec<(u64, u64, u64, u64, String)> = Vec::new();
    let mut queries: Vec<(String, String)> = Vec::new();
    for p in &panels {
        let title = p["title"].as_str().unwrap_or_default().to_string();
        assert!(ids.insert(p["id"].as_u64().expect("panel id")), "duplicate id: {title}");
        let g = &p["gridPos"];
        let (x, y, w, h) = (
            g["x"].as_u64().unwrap(),
            g["y"].as_u64().unwrap(),
            g["w"].as_u64().unwrap(),
            g["h"].as_u64().unwrap(),
        );
        assert!(x + w <= 24 && w > 0 && h > 0, "{title}: {g}");
        for (bx, by, bw, bh, other) in &boxes {
            assert!(
                x >= bx + bw || bx >= &(x + w) || y >= by + bh || by >= &(y + h),
                "{title} overlaps {other}"
            );
        }
        boxes.push((x, y, w, h, title.clone()));
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], "${DS_PROMETHEUS}", "{title}");
        let targets = p["targets"].as_array().filter(|t| !t.is_empty());
        for t in targets.unwrap_or_else(|| panic!("{title}: no targets")) {
            assert_eq!(t["datasource"]["uid"], "${DS_PROMETHEUS}", "{title}");
            queries.push((title.clone(), t["expr"].as_str().expect("expr").to_string()));
        }
    }
    for metric in [
        "zreplrs_replication_filesystem_errors",
        "zreplrs_filesystem_lag_seconds",
        "zreplrs_replication_bytes_replicated",
        "zreplrs_filesystem_pending_snapshots",
        "zreplrs_filesystem_resumable",
        "zreplrs_replication_last_run_success",
        "zreplrs_replication_last_run_timestamp_seconds",
        "zreplrs_replication_attempts",
        "zreplrs_replication_duration_seconds",
        "zreplrs_snapshot_last_run_success",
        "zreplrs_prune_last_run_success",
    ] {
        assert!(
            queries.iter().any(|(_, q)| q.contains(metric)),
            "no panel queries {metric}"
        );
    }

    // The PromQL parses: every query, with the variables substituted, as a recording rule for promtool.
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, (title, q)) in queries.iter().enumerate() {
        let q = q
            .replace("$job_label", "exported_job")
            .replace("$job", ".+")
            .replace("$instance", ".+");
        assert!(!q.contains('$'), "{title}: unknown variable in {q}");
        rules.push_str(&format!(
            "      - record: dashboard_query_{i}\n        expr: {}\n",
            serde_json::to_string(&q).unwrap()
        ));
    }
    let dir = tempdir();
    let file = dir.path().join("dashboard-queries.yml");
    std::fs::write(&file, &rules).unwrap();
    let out = promtool(&["check", "rules", file.to_str().unwrap()]);
    assert!(out.status.success(), "dashboard PromQL:\n{}\n{rules}", text(&out));
}
