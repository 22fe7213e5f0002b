//! Man pages (`man/`) and shell completions (`completions/`) are generated from the CLI definition; this test
//! fails when the committed files are out of date. Regenerate with
//! `ZREPLRS_UPDATE_GENERATED=1 cargo test --test generated`.

use std::collections::BTreeMap;
use std::path::Path;

use clap::CommandFactory;
use clap_complete::Shell;
use zreplrs::cli::Cli;

/// clap's sections, then EXIT STATUS,
/// ENVIRONMENT, FILES and EXAMPLES from `zreplrs::manual`.
fn render_man(cmd: &clap::Command, name: &str, out: &mut BTreeMap<String, Vec<u8>>) {
    let man = clap_mangen::Man::new(cmd.clone());
    let mut buf = Vec::new();
    man.render_title(&mut buf).unwrap();
    man.render_name_section(&mut buf).unwrap();
    man.render_synopsis_section(&mut buf).unwrap();
    man.render_description_section(&mut buf).unwrap();
    if cmd.get_arguments().any(|a| !a.is_hide_set()) {
        man.render_options_section(&mut buf).unwrap();
    }
    if cmd.has_subcommands() {
        man.render_subcommands_section(&mut buf).unwrap();
    }
    let sub = name.strip_prefix("zreplrs").unwrap_or(name).trim_start_matches('-');
    extra_sections(sub, &mut buf);
    out.insert(format!("man/{name}.1"), buf);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let sub_name = format!("{name}-{}", sub.get_name());
        let sub = sub.clone().name(sub_name.clone()).display_name(sub_name.clone());
        render_man(&sub, &sub_name, out);
    }
}

/// The command without clap's `help` subcommands, which have no pages of their own.
fn without_help_subcommand(cmd: clap::Command) -> clap::Command {
    cmd.disable_help_subcommand(true)
        .mut_subcommands(without_help_subcommand)
}

fn extra_sections(sub: &str, buf: &mut Vec<u8>) {
    use clap_mangen::roff::{bold, roman, Roff};
    let mut r = Roff::new();
    let tagged = |r: &mut Roff, tag: &str, text: &str| {
        r.control("TP", []).text([bold(tag)]).text([roman(text)]);
    };
    r.control("SH", ["EXIT STATUS"]);
    for (code, meaning) in zreplrs::manual::exit_status(sub) {
        tagged(&mut r, &code.to_string(), meaning);
    }
    r.control("SH", ["ENVIRONMENT"]);
    for (var, text) in zreplrs::manual::ENVIRONMENT {
        tagged(&mut r, var, text);
    }
    r.control("SH", ["FILES"]);
    for (file, text) in zreplrs::manual::FILES {
        tagged(&mut r, file, text);
    }
    let examples = zreplrs::manual::examples(sub);
    assert!(!examples.is_empty(), "no EXAMPLES for `zreplrs {sub}` in src/manual.rs");
    r.control("SH", ["EXAMPLES"]);
    for (what, command) in examples {
        r.text([roman(*what)]);
        r.control("RS", [])
            .control("EX", [])
            .text([roman(*command)])
            .control("EE", [])
            .control("RE", []);
        r.control("PP", []);
    }
    r.to_writer(buf).unwrap();
}

/// The command that lists the configured jobs, for completing `--job`.
const JOBS: &str = "zreplrs config jobs --format human 2>/dev/null";

/// clap_complete completes `--job` with file names; make it offer the configured jobs instead.
fn complete_job_names(shell: Shell, script: Vec<u8>) -> Vec<u8> {
    let text = String::from_utf8(script).expect("completion scripts are UTF-8");
    let text = match shell {
        Shell::Bash => text.replace(
            "--job)\n                    COMPREPLY=($(compgen -f \"${cur}\"))",
            &format!("--job)\n                    COMPREPLY=($(compgen -W \"$({JOBS})\" -- \"${{cur}}\"))"),
        ),
        Shell::Zsh => text
            .lines()
            .map(|l| {
                if l.starts_with("'--job=") {
                    l.replace(":JOB:_default'", &format!(":JOB:{{compadd -- ${{(f)\"$({JOBS})\"}}}}'"))
                } else {
                    l.to_string()
                }
            })
            .map(|l| l + "\n")
            .collect(),
        Shell::Fish => text
            .lines()
            .map(|l| {
                if l.contains(" -l job ") && l.ends_with(" -r") {
                    format!("{l} -f -a \"({JOBS})\"")
                } else {
                    l.to_string()
                }
            })
            .map(|l| l + "\n")
            .collect(),
        _ => text,
    };
    text.into_bytes()
}

fn generate() -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut cmd = without_help_subcommand(Cli::command());
    cmd.build();
    render_man(&cmd, "zreplrs", &mut files);
    for (shell, file) in [
        (Shell::Bash, "zreplrs.bash"),
        (Shell::Zsh, "_zreplrs"),
        (Shell::Fish, "zreplrs.fish"),
    ] {
        let mut buf = Vec::new();
        clap_complete::generate(shell, &mut Cli::command(), "zreplrs", &mut buf);
        files.insert(format!("completions/{file}"), complete_job_names(shell, buf));
    }
    files
}

#[test]
fn man_pages_and_completions_are_current() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let files = generate();
    assert!(files.len() >= 5, "{:?}", files.keys());
    if std::env::var_os("ZREPLRS_UPDATE_GENERATED").is_some() {
        for dir in ["man", "completions"] {
            let _ = std::fs::remove_dir_all(root.join(dir));
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        for (path, content) in &files {
            std::fs::write(root.join(path), content).unwrap();
        }
        return;
    }
    let mut stale = Vec::new();
    for (path, content) in &files {
        match std::fs::read(root.join(path)) {
            Ok(existing) if &existing == content => {}
            _ => stale.push(path.clone()),
        }
    }
    for dir in ["man", "completions"] {
        for e in std::fs::read_dir(root.join(dir)).into_iter().flatten().flatten() {
            let rel = format!("{dir}/{}", e.file_name().to_string_lossy());
            if !files.contains_key(&rel) {
                stale.push(format!("{rel} (no longer generated)"));
            }
        }
    }
    assert!(
        stale.is_empty(),
        "out of date: {stale:?}; run ZREPLRS_UPDATE_GENERATED=1 cargo test --test generated"
    );
}

/// The bash completion offers the configured job names after `--job` (through `zreplrs config jobs`).
#[test]
fn bash_completion_offers_the_configured_jobs() {
    let bin = assert_cmd::cargo::cargo_bin("zreplrs");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("zreplrs.toml");
    let job = |name: &str| {
        format!("[[jobs]]\nname = \"{name}\"\ntarget = \"local:backup/hosts\"\n[jobs.filesystems]\n\"tank<\" = true\n")
    };
    std::fs::write(&config, format!("{}{}", job("web1_to_backup"), job("web2_to_backup"))).unwrap();
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let script = r#"source completions/zreplrs.bash
COMP_WORDS=(zreplrs replicate --job web); COMP_CWORD=3; _zreplrs zreplrs web --job
echo "${COMPREPLY[*]}""#;
    let out = std::process::Command::new("bash")
        .args(["--norc", "-c", script])
        .env("PATH", path)
        .env("ZREPLRS_CONFIG", &config)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("bash");
    let got = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        got.trim(),
        "web1_to_backup web2_to_backup",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Every page has EXIT STATUS, ENVIRONMENT, FILES and EXAMPLES, names only pages that exist, and every
/// example is a command line zreplrs accepts.
#[test]
fn every_man_page_has_its_sections_valid_examples_and_no_missing_references() {
    use clap::Parser;
    let files = generate();
    let pages: Vec<&String> = files.keys().filter(|k| k.starts_with("man/")).collect();
    let reference = regex::Regex::new(r"(zreplrs(?:\\-[a-z0-9:\\-]+)?)\(1\)").unwrap();
    for page in &pages {
        let text = String::from_utf8_lossy(&files[*page]);
        for section in ["EXIT STATUS", "ENVIRONMENT", "FILES", "EXAMPLES"] {
            assert!(
                text.contains(&format!(".SH \"{section}\"")) || text.contains(&format!(".SH {section}")),
                "{page}: no {section}"
            );
        }
        for c in reference.captures_iter(&text) {
            let name = c[1].replace("\\-", "-");
            assert!(
                files.contains_key(&format!("man/{name}.1")),
                "{page} names {name}(1), which does not exist"
            );
        }
    }
    let subs = pages.iter().map(|p| {
        let name = p.trim_start_matches("man/").trim_end_matches(".1");
        name.strip_prefix("zreplrs")
            .unwrap()
            .trim_start_matches('-')
            .to_string()
    });
    for sub in subs {
        for (_, example) in zreplrs::manual::examples(&sub) {
            let args: Vec<&str> = example.split_whitespace().collect();
            if let Err(e) = zreplrs::cli::Cli::try_parse_from(&args) {
                panic!("example of `zreplrs {sub}` does not parse: {example}\n{e}");
            }
        }
    }
}

/// The exit code tables of README.md, docs/design.md and systemd-units/README.md are the manual's.
#[test]
fn every_exit_code_table_is_the_manuals() {
    let want: Vec<String> = zreplrs::manual::EXIT_STATUS
        .iter()
        .map(|(code, meaning)| format!("| {code} | {meaning} |"))
        .collect();
    for doc in ["README.md", "docs/design.md", "systemd-units/README.md"] {
        let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(doc)).unwrap();
        let rows: Vec<String> = text
            .lines()
            .map(str::trim)
            .skip_while(|l| *l != "| code | meaning |")
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .map(String::from)
            .collect();
        assert_eq!(rows, want, "{doc}'s exit code table");
    }
}
