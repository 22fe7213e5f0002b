//! Man page text that the CLI definition does not hold: the exit status table, the environment, the files
//! and examples for every subcommand. `tests/generated.rs` renders them into `man/` beside clap's sections;
//! README's exit code table and systemd-units/README.md are checked against [`EXIT_STATUS`].

use crate::report::exit;

/// Every exit code and what it means, the one table all documents agree with.
pub const EXIT_STATUS: &[(u8, &str)] = &[
    (exit::OK, "ok, or nothing to do"),
    (
        exit::SOME_FAILED,
        "some filesystems failed (conflicts included; for `verify`, a mismatch or a comparison that could not be made)",
    ),
    (exit::USAGE, "usage or configuration error; nothing was touched"),
    (
        exit::RUN_FAILED,
        "the run failed as a whole (cannot connect, listing failed)",
    ),
    (
        exit::LOCKED,
        "another run of this job holds the lock; nothing was touched",
    ),
    (
        exit::SKIPPED,
        "`replicate` only: the job's `[jobs.replicate] pre_hook` failed, so the run was skipped; nothing was touched",
    ),
];

/// The exit codes of `zreplrs check`: the monitoring-plugin convention, not [`EXIT_STATUS`].
pub const CHECK_EXIT_STATUS: &[(u8, &str)] = &[
    (0, "OK"),
    (1, "WARNING"),
    (2, "CRITICAL"),
    (
        3,
        "UNKNOWN: the check could not decide (no configuration, a bad name, an unreachable receiver)",
    ),
];

/// The exit codes of `zreplrs SUBCOMMAND` (`""`: the top-level page).
pub fn exit_status(subcommand: &str) -> &'static [(u8, &'static str)] {
    match subcommand {
        "check" => CHECK_EXIT_STATUS,
        _ => EXIT_STATUS,
    }
}

/// Environment variables zreplrs reads (the agents ignore all but `ZREPLRS_CONFIG`).
pub const ENVIRONMENT: &[(&str, &str)] = &[
    ("ZREPLRS_CONFIG", "The configuration file when --config is not given."),
    (
        "ZREPLRS_LOCK_DIR",
        "The directory of the per-job lock files when neither --lock-dir nor lock_dir is set (default /run/zreplrs for root).",
    ),
    (
        "ZREPLRS_ZFS",
        "The program run as zfs (default: zfs from PATH, else /usr/sbin/zfs). The agents ignore it.",
    ),
    (
        "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN",
        "Store credentials of an s3:// job without [jobs.store] credentials_file.",
    ),
    ("SSH_AUTH_SOCK", "The SSH agent, tried when a job names no identity_files."),
    (
        "XDG_RUNTIME_DIR",
        "For users other than root, the lock directory is $XDG_RUNTIME_DIR/zreplrs.",
    ),
];

/// Files zreplrs reads and writes.
pub const FILES: &[(&str, &str)] = &[
    ("/etc/zreplrs/zreplrs.toml", "The configuration (default path)."),
    (
        "/usr/share/doc/zreplrs/examples/zreplrs.toml",
        "An example configuration with every setting explained.",
    ),
    (
        "/run/zreplrs/zreplrs-JOB.lock",
        "A job's lock (mode 0700 directory, created when missing).",
    ),
    (
        "TEXTFILE_DIR/zreplrs_COMMAND_JOB.prom",
        "Prometheus textfiles, written atomically when textfile_dir or --textfile-dir is set.",
    ),
    (
        "/lib/systemd/system/zreplrs-*@.service, .timer",
        "systemd units that run a job's commands on a schedule (see /usr/share/doc/zreplrs/systemd-units.md).",
    ),
];

/// Examples of `zreplrs SUBCOMMAND` (`""` for the top-level page): (what it does, the command line).
pub fn examples(subcommand: &str) -> &'static [(&'static str, &'static str)] {
    match subcommand {
        "" => &[
            ("Check the configuration.", "zreplrs config check"),
            ("Replicate a job once.", "zreplrs replicate --job tank_backup"),
            ("Show where every job stands.", "zreplrs status --all"),
        ],
        "check" => &[
            (
                "A monitoring plugin check of a job's lag.",
                "zreplrs check --job tank_backup",
            ),
            (
                "On the backup host, the age of what it received.",
                "zreplrs check --receiver --root-fs backup/hosts --job-id tank_backup",
            ),
        ],
        "config" | "config-check" => &[("Validate the configuration.", "zreplrs config check")],
        "config-jobs" => &[("List the configured jobs.", "zreplrs config jobs --format human")],
        "failover" => &[(
            "Make the backup host's replica of tank/data the primary (then replicate sends it back here).",
            "zreplrs failover --job tank_backup",
        )],
        "failback" => &[(
            "Make this host the primary again, setting aside what was written here after the failover.",
            "zreplrs failback --job tank_backup --rotate",
        )],
        "holds" | "holds-list" => &[("List a job's holds.", "zreplrs holds list --job tank_backup")],
        "holds-release-stale" => &[(
            "Show which stale step holds would be released.",
            "zreplrs holds release-stale --job tank_backup --dry-run",
        )],
        "migrate" | "migrate-replication-cursor:v1-v2" => &[(
            "Show how zrepl's v1 cursors would be migrated.",
            "zreplrs migrate replication-cursor:v1-v2 --job tank_backup --dry-run",
        )],
        "prune" => &[(
            "Show what pruning would destroy on the backup host.",
            "zreplrs prune --job tank_backup --side receiver --dry-run",
        )],
        "recv-agent" => &[
            (
                "A forced command in the backup host's authorized_keys.",
                "zreplrs recv-agent --root-fs backup/hosts --client-identity web1 --append-only",
            ),
            (
                "The same agent, also sending the client's own tree back for zreplrs restore.",
                "zreplrs recv-agent --root-fs backup/hosts --client-identity web1 --append-only --serve-restores",
            ),
        ],
        "replicate" => &[
            (
                "Plan without changing anything.",
                "zreplrs replicate --job tank_backup --dry-run",
            ),
            (
                "Replicate with a bandwidth limit.",
                "zreplrs replicate --job tank_backup --bandwidth-limit 50MiB/s",
            ),
            (
                "Set copies that diverged aside and start new chains instead of refusing them.",
                "zreplrs replicate --job tank_backup --rotate",
            ),
        ],
        "restore" => &[
            (
                "What a restore in place would send.",
                "zreplrs restore --job tank_backup --fs tank/data --dry-run --format human",
            ),
            (
                "Bring tank/data back in place from the backup host, incrementally.",
                "zreplrs restore --job tank_backup --fs tank/data",
            ),
            (
                "Beside it, as it was at a named snapshot.",
                "zreplrs restore --job tank_backup --fs tank/data --to tank/data_old --snapshot zrepl_20261206_000000_000 --allow-full",
            ),
            (
                "From a bucket, into a new dataset.",
                "zreplrs restore --job tank_offsite --fs tank/data --to tank/restored",
            ),
        ],
        "send-agent" => &[(
            "A forced command on the source of a pull job.",
            "zreplrs send-agent --root-fs tank --job-id tank_pull --require-raw",
        )],
        "snapshot" => &[("Take a job's snapshots.", "zreplrs snapshot --job tank_backup")],
        "status" => &[
            ("Where a job stands.", "zreplrs status --job tank_backup --format human"),
            ("On the backup host.", "zreplrs status --receiver --job tank_backup"),
        ],
        "test" | "test-filesystems" => &[(
            "Which filesystems a job selects.",
            "zreplrs test filesystems --job tank_backup",
        )],
        "test-decode-resume-token" => &[(
            "Decode a receive_resume_token.",
            "zreplrs test decode-resume-token 1-e604ea4bf-e0-789c63a2",
        )],
        "verify" => &[(
            "Compare the newest replicated snapshot's content.",
            "zreplrs verify --job tank_backup --content",
        )],
        "version" => &[("Print the version.", "zreplrs version")],
        _ => &[],
    }
}
