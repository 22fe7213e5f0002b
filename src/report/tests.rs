//! Report unit tests: result summary, exit codes, JSON shape against the shipped JSON Schema, metrics.

use super::*;

fn step(result: StepResult, est: Option<u64>, bytes: u64) -> StepReport {
    StepReport {
        from: Some("p/a@s1".into()),
        from_guid: Some(Guid(1)),
        to: "p/a@s2".into(),
        to_guid: Guid(u64::MAX),
        snapshots: 1,
        resumed: false,
        bytes_estimated: est,
        bytes,
        wire_bytes: bytes / 2,
        result,
    }
}

fn fs(name: &str, result: FsResult, steps: Vec<StepReport>) -> FsReport {
    FsReport {
        name: name.into(),
        target: format!("b/{name}"),
        result,
        steps,
        error: if matches!(result, FsResult::Failed | FsResult::Conflict) {
            Some(ErrorReport::new("diverged", "the receiver has diverged"))
        } else {
            None
        },
        resumable: false,
        pending_snapshots: 0,
        newest_replicated: Some(format!("{name}@s2")),
        lag_seconds: Some(12),
        rotated_to: None,
    }
}

fn report(filesystems: Vec<FsReport>) -> RunReport {
    let mut r = RunReport {
        header: Header::new("replicate", Some("j"), Some(false)),
        timing: Timing::recorded(&rfc3339(std::time::UNIX_EPOCH), &now_rfc3339(), 1.5),
        result: RunResult::Ok,
        attempts: vec![AttemptReport {
            number: 1,
            started_at: now_rfc3339(),
            finished_at: now_rfc3339(),
            outcome: AttemptOutcome::Completed,
            error: None,
        }],
        bytes_estimated: 0,
        bytes_estimate_exact: true,
        bytes_replicated: 0,
        wire_bytes_replicated: 0,
        filesystems,
        error: None,
        released_aged_step_holds: Vec::new(),
        hooks: Vec::new(),
    };
    r.summarize();
    r
}

pub(crate) fn validate(json: &serde_json::Value) -> Result<(), String> {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../schema/replicate-result.schema.json")).map_err(|e| e.to_string())?;
    let v = jsonschema::validator_for(&schema).map_err(|e| e.to_string())?;
    let errors: Vec<String> = v
        .iter_errors(json)
        .map(|e| format!("{} at {}", e, e.instance_path))
        .collect();
    if errors.is_empty() {
        Ok(())
    } else {
        Err(errors.join("; "))
    }
}

#[test]
fn summary_and_exit_codes() {
    let r = report(vec![
        fs("p/a", FsResult::Ok, vec![step(StepResult::Done, Some(10), 12)]),
        fs("p/b", FsResult::UpToDate, vec![]),
    ]);
    assert_eq!((r.result, r.exit_code()), (RunResult::Ok, 0));
    assert_eq!(r.bytes_replicated, 12);
    assert_eq!((r.bytes_estimated, r.bytes_estimate_exact), (10, true));
    let r = report(vec![fs("p/b", FsResult::UpToDate, vec![])]);
    assert_eq!((r.result, r.exit_code()), (RunResult::NothingToDo, 0));
    let r = report(vec![
        fs("p/a", FsResult::Ok, vec![]),
        fs("p/b", FsResult::Conflict, vec![]),
    ]);
    assert_eq!(
        (r.result, r.exit_code(), r.failed_filesystems()),
        (RunResult::Partial, 1, 1)
    );
    let r = report(vec![fs(
        "p/b",
        FsResult::Failed,
        vec![step(StepResult::Failed, None, 3)],
    )]);
    assert_eq!((r.result, r.exit_code()), (RunResult::Failed, 1));
    assert!(!r.bytes_estimate_exact);
    let mut r = report(vec![]);
    r.error = Some(ErrorReport::new("connect", "cannot connect"));
    r.summarize();
    assert_eq!((r.result, r.exit_code()), (RunResult::Failed, 3));
}

#[test]
fn json_matches_the_schema_and_guids_are_strings() {
    let r = report(vec![
        fs("p/a", FsResult::Ok, vec![step(StepResult::Done, None, 12)]),
        fs("p/b", FsResult::Conflict, vec![]),
    ]);
    let json = serde_json::to_value(&r).unwrap();
    validate(&json).unwrap();
    assert_eq!(json["filesystems"][0]["steps"][0]["to_guid"], "18446744073709551615");
    // The schema can fail: a number GUID, a missing field, an unknown result.
    let mut bad = json.clone();
    bad["filesystems"][0]["steps"][0]["to_guid"] = serde_json::json!(5);
    assert!(validate(&bad).is_err());
    let mut bad = json.clone();
    bad.as_object_mut().unwrap().remove("attempts");
    assert!(validate(&bad).is_err());
    let mut bad = json;
    bad["result"] = serde_json::json!("great");
    assert!(validate(&bad).is_err());
}

#[test]
fn metrics_pass_promtool() {
    let mut r = report(vec![
        fs("p/a", FsResult::Ok, vec![step(StepResult::Done, Some(1), 12)]),
        fs("p/\"odd\"", FsResult::Failed, vec![]),
    ]);
    r.summarize();
    let t = metrics::replication_textfile(&r, 1_700_000_000);
    let text = t.as_str();
    assert!(
        text.contains("zreplrs_replication_filesystem_errors{job=\"j\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("zreplrs_replication_bytes_replicated{job=\"j\",filesystem=\"p/a\"} 12\n"),
        "{text}"
    );
    assert!(
        text.contains("zreplrs_replication_wire_bytes_replicated{job=\"j\",filesystem=\"p/a\"} 6\n"),
        "{text}"
    );
    assert!(
        text.contains("zreplrs_filesystem_lag_seconds{job=\"j\",filesystem=\"p/a\"} 12\n"),
        "{text}"
    );
    assert!(
        text.contains("zreplrs_replication_last_run_success{job=\"j\"} 0\n"),
        "{text}"
    );
    assert!(text.contains("zreplrs_build_info{version="), "{text}");
    promtool_check(text);
}

#[test]
fn planning_failure_reports_minus_one() {
    let mut r = report(vec![]);
    r.error = Some(ErrorReport::new("connect", "cannot connect"));
    r.summarize();
    let t = metrics::replication_textfile(&r, 1);
    assert!(
        t.as_str()
            .contains("zreplrs_replication_filesystem_errors{job=\"j\"} -1\n"),
        "{}",
        t.as_str()
    );
    promtool_check(t.as_str());
}

/// Runs `promtool check metrics` (installed by .ci/install-deps); a missing promtool fails the test.
pub(crate) fn promtool_check(text: &str) {
    use std::io::Write;
    // Where `.ci/install-deps` unpacks it (`$ZREPLRS_TEST_TOOLS/bin`), else from PATH.
    let dir = std::env::var_os("ZREPLRS_TEST_TOOLS").unwrap_or_else(|| "/opt/zreplrs-test-tools".into());
    let unpacked = std::path::Path::new(&dir).join("bin/promtool");
    let promtool = if unpacked.exists() { unpacked } else { "promtool".into() };
    let mut child = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool not found: run .ci/install-deps (Debian package prometheus)");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    let msg = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && msg.trim().is_empty(),
        "promtool check metrics: {msg}\n---\n{text}"
    );
}

#[test]
fn entry_kind_names_are_the_json_names() {
    use commands::EntryKind::*;
    for k in [StepHold, LastReceivedHold, Cursor, TentativeCursor, V1Cursor] {
        assert_eq!(serde_json::to_value(k).unwrap(), serde_json::json!(k.name()));
    }
}

#[test]
fn header_leaves_out_job_and_dry_run_where_a_command_has_none() {
    let keys = |v: serde_json::Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    let list = commands::HoldsListReport {
        header: Header::new("holds list", None, None),
        entries: vec![],
        errors: vec![],
    };
    let mut k = keys(serde_json::to_value(&list).unwrap());
    k.sort();
    assert_eq!(k, ["command", "entries", "errors", "schema_version"]);
    let run = serde_json::to_value(report(vec![])).unwrap();
    assert_eq!(run["job"], "j");
    assert_eq!(run["dry_run"], false);
    assert_eq!(run["schema_version"], SCHEMA_VERSION);
    assert_eq!(run["duration_seconds"], 1.5);
    assert!(run["started_at"].is_string() && run["finished_at"].is_string());
}

#[test]
fn space_checks_allow_the_metadata_difference_of_raw_copies() {
    use super::commands::SpaceCheck;
    // Measured on OpenZFS 2.3: a raw copy of 4379136 logical bytes references 4377600.
    assert!(SpaceCheck::new(4_379_136, 4_377_600).space_match);
    assert!(SpaceCheck::new(100, 100).space_match);
    assert!(!SpaceCheck::new(10 << 20, 5 << 20).space_match);
    assert!(!SpaceCheck::new(0, 1 << 20).space_match);
}

fn fs_status(name: &str, state: commands::FsState, lag: Option<u64>) -> commands::FsStatus {
    commands::FsStatus {
        name: name.into(),
        target: format!("backup/{name}"),
        state,
        newest_sender_snapshot: Some(format!("{name}@s2")),
        newest_replicated: lag.map(|_| format!("{name}@s1")),
        lag_seconds: lag,
        pending_snapshots: 1,
        pending_bytes: 4096,
        pending_bytes_exact: true,
        resumable: state == commands::FsState::Pending,
        conflict: (state == commands::FsState::Conflict).then(|| ErrorReport::new("diverged", "diverged")),
    }
}

fn status_report(
    job: &str,
    filesystems: Vec<commands::FsStatus>,
    error: Option<ErrorReport>,
) -> commands::StatusReport {
    commands::StatusReport {
        header: Header::new("status", Some(job), None),
        generated_at: now_rfc3339(),
        filesystems,
        error,
    }
}

/// A job with one filesystem pending (lag 2 h) and its child in conflict.
fn db_status() -> commands::StatusReport {
    use commands::FsState;
    status_report(
        "db_to_b",
        vec![
            fs_status("tank/db", FsState::Pending, Some(7200)),
            fs_status("tank/db/wal", FsState::Conflict, None),
        ],
        None,
    )
}

#[test]
fn status_of_all_jobs_is_one_table_one_document_and_the_worst_exit_code() {
    use commands::{FsState, StatusAllReport};
    let web = status_report(
        "web_to_b",
        vec![fs_status("tank/www", FsState::UpToDate, Some(60))],
        None,
    );
    let db = db_status();
    let down = status_report(
        "off_site",
        vec![],
        Some(ErrorReport::new("connection", "cannot connect")),
    );
    let all = |jobs: Vec<&commands::StatusReport>| StatusAllReport {
        header: Header::new("status", None, None),
        generated_at: now_rfc3339(),
        jobs: jobs.into_iter().cloned().collect(),
    };
    assert_eq!(all(vec![&web]).exit_code(), 0);
    assert_eq!(all(vec![&web, &db]).exit_code(), 1, "a conflict in one job");
    assert_eq!(
        all(vec![&web, &db, &down]).exit_code(),
        3,
        "a job whose state cannot be read"
    );
    let r = all(vec![&web, &db, &down]);
    let table = human::status_all_table(&r);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("JOB       FILESYSTEM"), "{table}");
    assert!(
        lines[1].starts_with("web_to_b  tank/www") && lines[1].contains("up-to-date"),
        "{table}"
    );
    assert!(
        lines[2].starts_with("db_to_b   tank/db ") && lines[2].contains("7200s"),
        "{table}"
    );
    assert!(
        lines[3].starts_with("db_to_b   tank/db/wal") && lines[3].contains("CONFLICT"),
        "{table}"
    );
    assert!(
        table.contains("job off_site: error (connection): cannot connect"),
        "{table}"
    );
    let json = serde_json::to_value(&r).unwrap();
    assert_eq!(json["command"], "status");
    assert!(json.get("job").is_none());
    assert_eq!(json["jobs"].as_array().unwrap().len(), 3);
    assert_eq!(json["jobs"][1]["job"], "db_to_b");
    assert_eq!(json["jobs"][1]["filesystems"][1]["state"], "conflict");
    assert_eq!(json["jobs"][2]["error"]["kind"], "connection");
}

#[test]
fn status_textfile_has_every_filesystem_and_passes_promtool() {
    let db = db_status();
    let t = metrics::status_textfile(&db, 1_700_000_000, 0.25);
    let text = t.as_str();
    for line in [
        "zreplrs_status_up{job=\"db_to_b\"} 1",
        "zreplrs_status_last_run_success{job=\"db_to_b\"} 0",
        "zreplrs_status_lag_seconds{job=\"db_to_b\",filesystem=\"tank/db\"} 7200",
        "zreplrs_status_pending_snapshots{job=\"db_to_b\",filesystem=\"tank/db/wal\"} 1",
        "zreplrs_status_pending_bytes{job=\"db_to_b\",filesystem=\"tank/db\"} 4096",
        "zreplrs_status_resumable{job=\"db_to_b\",filesystem=\"tank/db\"} 1",
        "zreplrs_status_conflict{job=\"db_to_b\",filesystem=\"tank/db/wal\"} 1",
        "zreplrs_status_conflict{job=\"db_to_b\",filesystem=\"tank/db\"} 0",
    ] {
        assert!(text.lines().any(|l| l == line), "missing {line}:\n{text}");
    }
    assert!(
        !text.contains("lag_seconds{job=\"db_to_b\",filesystem=\"tank/db/wal\"}"),
        "no lag without a copy"
    );
    promtool_check(text);
    let down = status_report(
        "off_site",
        vec![],
        Some(ErrorReport::new("connection", "cannot connect")),
    );
    let text = metrics::status_textfile(&down, 1_700_000_000, 30.0)
        .as_str()
        .to_string();
    assert!(text.contains("zreplrs_status_up{job=\"off_site\"} 0"), "{text}");
    promtool_check(&text);
}
