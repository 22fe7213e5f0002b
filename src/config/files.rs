//! The local files a configuration names for SSH (`identity_files`, `known_hosts`): `config check` makes sure
//! they exist and warns about a private key that others can read. Loading does not look at them, so a run
//! on another host can still parse the file.

use std::os::unix::fs::PermissionsExt;

use camino::Utf8Path;

use super::Config;

/// What `config check` found in the files a configuration names.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FileFindings {
    /// Files that are missing or not regular files: the configuration cannot work here.
    pub errors: Vec<String>,
    /// Files that work but should be fixed (a private key readable by its group or others).
    pub warnings: Vec<String>,
}

/// Checks every job's `[jobs.ssh]` files.
pub fn check_files(config: &Config) -> FileFindings {
    let mut found = FileFindings::default();
    for (i, job) in config.jobs.iter().enumerate() {
        for (k, key) in job.ssh.identity_files.iter().enumerate() {
            let field = format!("jobs[{i}].ssh.identity_files[{k}]");
            if let Some(mode) = regular_file(key, &field, &mut found.errors) {
                if mode & 0o077 != 0 {
                    found.warnings.push(format!(
                        "{field}: private key {key} has mode {mode:04o}: others can read it; run `chmod 600 {key}`"
                    ));
                }
            }
        }
        if let Some(kh) = &job.ssh.known_hosts {
            let field = format!("jobs[{i}].ssh.known_hosts");
            // With trust on first use, the first connection creates the file; its directory must exist.
            let dir = kh.parent().filter(|d| !d.as_str().is_empty());
            if job.ssh.accept_new_host_keys && !kh.exists() {
                if !dir.is_some_and(|d| d.is_dir()) {
                    found
                        .errors
                        .push(format!("{field}: the directory of {kh} does not exist"));
                }
            } else {
                regular_file(kh, &field, &mut found.errors);
            }
        }
    }
    found
}

/// The permission bits of `path` when it is a regular file (symlinks followed); otherwise an error.
fn regular_file(path: &Utf8Path, field: &str, errors: &mut Vec<String>) -> Option<u32> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => Some(m.permissions().mode() & 0o7777),
        Ok(_) => {
            errors.push(format!("{field}: {path} is not a regular file"));
            None
        }
        Err(e) => {
            errors.push(format!("{field}: cannot read {path}: {e}"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &Utf8Path, ssh: &str) -> Config {
        let text = format!(
            "[[jobs]]\nname = \"a\"\ntarget = \"ssh://b@h/tank/backup\"\n\
             [jobs.filesystems]\n\"tank/a\" = true\n[jobs.ssh]\n{ssh}\n"
        );
        Config::parse(&dir.join("zreplrs.toml"), &text).unwrap()
    }

    #[test]
    fn missing_files_are_errors_and_a_readable_key_is_a_warning() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Utf8Path::from_path(tmp.path()).unwrap();
        let (key, kh) = (dir.join("id"), dir.join("known_hosts"));
        let ssh = format!("identity_files = [\"{key}\"]\nknown_hosts = \"{kh}\"");
        let found = check_files(&config(dir, &ssh));
        assert_eq!(found.errors.len(), 2, "{found:?}");
        assert!(
            found.errors[0].starts_with("jobs[0].ssh.identity_files[0]: cannot read "),
            "{found:?}"
        );
        assert!(
            found.errors[1].starts_with("jobs[0].ssh.known_hosts: cannot read "),
            "{found:?}"
        );

        std::fs::write(&key, "k").unwrap();
        std::fs::write(&kh, "h").unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let found = check_files(&config(dir, &ssh));
        assert!(found.errors.is_empty(), "{found:?}");
        assert_eq!(found.warnings.len(), 1, "{found:?}");
        assert!(found.warnings[0].contains("mode 0644"), "{found:?}");

        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(check_files(&config(dir, &ssh)), FileFindings::default());
        let found = check_files(&config(dir, &format!("known_hosts = \"{dir}\"")));
        assert_eq!(
            found.errors,
            [format!("jobs[0].ssh.known_hosts: {dir} is not a regular file")]
        );
    }

    #[test]
    fn with_trust_on_first_use_a_missing_known_hosts_needs_only_its_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = Utf8Path::from_path(tmp.path()).unwrap();
        let tofu = |kh: &str| format!("known_hosts = \"{kh}\"\naccept_new_host_keys = true");
        let found = check_files(&config(dir, &tofu(dir.join("known_hosts").as_str())));
        assert_eq!(found, FileFindings::default());
        let found = check_files(&config(dir, &tofu(dir.join("nodir/known_hosts").as_str())));
        assert_eq!(found.errors.len(), 1, "{found:?}");
        assert!(found.errors[0].contains("does not exist"), "{found:?}");
    }
}
