//! The source layout holds what `src/lib.rs` promises: no dependency cycles between the top-level modules
//! (a module naming `crate::other` depends on it), one commands-wing file per subcommand, and no source
//! file over 800 lines except test files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The top-level modules of `src/` (a file or folder directly below it, without `main` and `lib`) and the
/// modules each one names as `crate::NAME` (or inside `crate::{…}`) outside its unit tests.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = root().join("src");
    let mut files: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let module = match name.strip_suffix(".rs") {
            Some(m) => m.to_string(),
            None if p.is_dir() => name.clone(),
            None => continue,
        };
        if module == "main" || module == "lib" {
            continue;
        }
        let entry = files.entry(module).or_default();
        if p.is_dir() {
            rust_files(&p, entry);
        } else {
            entry.push(p);
        }
    }
    let modules: BTreeSet<String> = files.keys().cloned().collect();
    let mut edges = BTreeMap::new();
    for (m, fs) in &files {
        let mut to = BTreeSet::new();
        for f in fs.iter().filter(|f| f.file_name().is_some_and(|n| n != "tests.rs")) {
            let text = std::fs::read_to_string(f).unwrap();
            let code = text.split("#[cfg(test)]\nmod tests").next().unwrap_or("");
            for (at, _) in code.match_indices("crate::") {
                let rest = &code[at + "crate::".len()..];
                let names: Vec<&str> = match rest.strip_prefix('{') {
                    Some(group) => group
                        .split('}')
                        .next()
                        .unwrap_or("")
                        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .collect(),
                    None => vec![rest
                        .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                        .next()
                        .unwrap_or("")],
                };
                to.extend(
                    names
                        .into_iter()
                        .filter(|n| modules.contains(*n) && *n != m)
                        .map(str::to_string),
                );
            }
        }
        edges.insert(m.clone(), to);
    }
    edges
}

/// The groups of modules that reach each other (the strongly connected components with more than one).
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let reach = |from: &String| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut todo: Vec<&String> = edges[from].iter().collect();
        while let Some(m) = todo.pop() {
            if seen.insert(m.clone()) {
                todo.extend(edges[m].iter());
            }
        }
        seen
    };
    let reaches: BTreeMap<&String, BTreeSet<String>> = edges.keys().map(|m| (m, reach(m))).collect();
    let mut groups: BTreeSet<Vec<String>> = BTreeSet::new();
    for m in edges.keys() {
        let group: Vec<String> = edges
            .keys()
            .filter(|o| *o == m || (reaches[m].contains(*o) && reaches[o].contains(m)))
            .cloned()
            .collect();
        if group.len() > 1 {
            groups.insert(group);
        }
    }
    groups.into_iter().collect()
}

#[test]
fn top_level_modules_have_no_cycles() {
    let edges = module_graph();
    assert!(edges.len() > 10, "{edges:?}");
    assert!(edges["cmd"].contains("zfs"), "the graph sees crate:: paths: {edges:?}");
    let found = cycles(&edges);
    assert!(found.is_empty(), "module cycles: {found:?}");
}

#[test]
fn the_cycle_check_finds_a_cycle() {
    let mut edges = BTreeMap::new();
    for (m, to) in [("a", vec!["b"]), ("b", vec!["c"]), ("c", vec!["a"]), ("d", vec!["a"])] {
        edges.insert(
            m.to_string(),
            to.into_iter().map(str::to_string).collect::<BTreeSet<_>>(),
        );
    }
    assert_eq!(cycles(&edges), [["a", "b", "c"]]);
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
        "restore",
    ] {
        let cmd = root().join("src/cmd");
        let (file, folder) = (cmd.join(format!("{name}.rs")), cmd.join(name).join("mod.rs"));
        assert!(file.exists() || folder.exists(), "{} is missing", file.display());
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
