//! Named failpoints before and after each change zreplrs makes to ZFS state and each protocol step that
//! matters (docs/step-algorithm.md, "Failpoints"), for the crash tests. A build with the `failpoints` feature (the
//! tests' build) reads `FAILPOINTS` at start (the `fail` crate's syntax, `NAME=ACTION;…`); the action
//! `return` aborts the process at that point as a power cut or `kill -9` would (no destructor runs, no
//! reply is sent), and the crate's other actions (`sleep(MS)`, `pause`, `panic`, `N*ACTION`) work as it
//! documents. Before it aborts, the name is appended to the file `ZREPLRS_FAILPOINT_LOG` names, if set
//! (created without following a symlink), so that a test knows which process stopped where. Without the
//! feature every point compiles to nothing and neither variable is read.

/// Every failpoint, in the order of a run.
pub const ALL: &[&str] = &[
    "step_holds_put_before",
    "step_holds_put_after",
    "tentative_cursor_before",
    "tentative_cursor_after",
    "receive_start_before",
    "receive_start_after",
    "receive_finish_before",
    "receive_finish_after",
    "placeholder_create_before",
    "placeholder_create_after",
    "placeholder_replace_before",
    "placeholder_replace_after",
    "cursor_create_before",
    "cursor_create_after",
    "old_cursors_destroy_before",
    "old_cursors_destroy_after",
    "last_received_hold_before",
    "last_received_hold_after",
    "last_received_release_before",
    "last_received_release_after",
    "step_holds_release_before",
    "step_holds_release_after",
    "sync_record_before",
    "sync_record_after",
    "prune_destroy_before",
    "prune_destroy_after",
    "manifest_commit_before",
    "manifest_commit_after",
];

/// Passes the point `name` (one of [`ALL`]): aborts the process there when `FAILPOINTS` says `return`.
#[inline]
pub fn hit(name: &'static str) {
    debug_assert!(ALL.contains(&name), "failpoint {name} is not in failpoint::ALL");
    fail::fail_point!(name, |_| abort_at(name));
}

/// Notes `name` in the log, then aborts.
#[cfg_attr(not(feature = "failpoints"), allow(dead_code))]
fn abort_at(name: &str) -> ! {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(path) = std::env::var_os("ZREPLRS_FAILPOINT_LOG") {
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .mode(0o600)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(path);
        if let Ok(mut f) = file {
            // One write of the whole line: threads passing the point at once append whole lines.
            let line = format!("{name} {}\n", std::process::id());
            let _ = f.write_all(line.as_bytes());
        }
    }
    std::process::abort()
}

/// Configures the points from `FAILPOINTS` for the life of the process (a build with the feature only).
pub fn setup() {
    #[cfg(feature = "failpoints")]
    std::mem::forget(fail::FailScenario::setup());
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// Every point in [`super::ALL`] is passed somewhere in the source, nothing else is, and
    /// docs/step-algorithm.md lists each.
    #[test]
    fn the_list_the_source_and_the_design_agree() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
        let re = regex::Regex::new(r#"failpoint::hit\("([a-z_]+)"\)"#).unwrap();
        let mut used = BTreeSet::new();
        for e in walkdir::WalkDir::new(root.join("src")) {
            let e = e.unwrap();
            if e.path().extension().is_some_and(|x| x == "rs") {
                let text = std::fs::read_to_string(e.path()).unwrap();
                used.extend(re.captures_iter(&text).map(|c| c[1].to_string()));
            }
        }
        let all: BTreeSet<String> = super::ALL.iter().map(|s| s.to_string()).collect();
        assert_eq!(used, all, "failpoint::ALL and the points in the source differ");
        let doc = std::fs::read_to_string(root.join("docs/step-algorithm.md")).unwrap();
        for name in super::ALL {
            assert!(
                doc.contains(&format!("`{name}`")),
                "docs/step-algorithm.md does not list {name}"
            );
        }
    }
}
