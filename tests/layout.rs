//! The source layout holds what `src/lib.rs` promises: no dependency cycles between the top-level modules
//! (checked by `../shared/tools/modcycles.py`), one commands-wing file per subcommand, and no source file
//! over 800 lines except test files.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn top_level_modules_have_no_cycles() {
    let tool = root().join("../shared/tools/modcycles.py");
    assert!(
        tool.exists(),
        "{} is missing: check out ../shared beside the repository",
        tool.display()
    );
    let out = Command::new("python3")
        .arg(&tool)
        .arg(root().join("src"))
        .output()
        .expect("python3 runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "module cycles:\n{text}");
    assert!(text.contains(" 0 cycles"), "{text}");
}

#[test]
fn every_subcommand_has_its_file_in_the_commands_wing() {
    for name in [
        "replicate",
        "snapshot",
        "prune",
        "status",
        "verify",
        "holds",
        "migrate",
        "test",
        "recv_agent",
        "config",
    ] {
        let f = root().join("src/cmd").join(format!("{name}.rs"));
        assert!(f.exists(), "{} is missing", f.display());
    }
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_source_file_over_800_lines_except_tests() {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    assert!(files.len() > 20, "{files:?}");
    let long: Vec<String> = files
        .iter()
        .filter(|p| p.file_name().is_some_and(|n| n != "tests.rs"))
        .filter_map(|p| {
            let n = std::fs::read_to_string(p).unwrap().lines().count();
            (n > 800).then(|| format!("{}: {n} lines", p.display()))
        })
        .collect();
    assert!(long.is_empty(), "split these: {long:?}");
}
