# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_zreplrs_global_optspecs
    string join \n config= h/help V/version
end

function __fish_zreplrs_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_zreplrs_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_zreplrs_using_subcommand
    set -l cmd (__fish_zreplrs_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c zreplrs -n "__fish_zreplrs_needs_command" -l config -d 'Configuration file [default: $ZREPLRS_CONFIG or /etc/zreplrs/zreplrs.toml]' -r
complete -c zreplrs -n "__fish_zreplrs_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c zreplrs -n "__fish_zreplrs_needs_command" -s V -l version -d 'Print version'
complete -c zreplrs -n "__fish_zreplrs_needs_command" -f -a "replicate" -d 'Replicate a job\'s filesystems to its receiver (plan, send, protect, report)'
complete -c zreplrs -n "__fish_zreplrs_needs_command" -f -a "snapshot" -d 'Take the job\'s snapshots: one atomic `zfs snapshot` per pool, named <prefix><timestamp>'
complete -c zreplrs -n "__fish_zreplrs_needs_command" -f -a "prune" -d 'Destroy snapshots that no keep rule of the job keeps (never the incremental base, never held ones)'
complete -c zreplrs -n "__fish_zreplrs_needs_command" -f -a "status" -d 'Replication state from live ZFS on both sides: lag, pending snapshots and bytes, resumable, conflicts'
complete -c zreplrs -n "__fish_zreplrs_needs_command" -f -a "verify" -d 'Compare sender snapshots with their received copies: GUIDs, and with --content the files'
complete -c zreplrs -n "__fish_zreplrs_needs_command" -f -a "restore" -d 'Bring a filesystem back from a job\'s receiver, in place or to a new name, at the newest or a named snapshot: incremental from the newest snapshot both sides share (a full send only with --allow-full), with step holds, resume and retries; from a bucket (an s3:// target), its chain downloaded and checked part by part'
complete -c zreplrs -n "__fish_zreplrs_needs_command" -f -a "failover" -d 'Make a job\'s replicas the writable primaries: a last replication, the originals read-only, the bookkeeping moved (cursors on the replicas, last-received holds on the originals), the replicas writable; from then on `replicate` sends from the replicas back to the originals. Every root filesystem of the job at once; run where the job runs (a push job on its sending host, a pull job on its backup host, reaching production through [jobs.restore])'
complete -c zreplrs -n "__fish_zreplrs_needs_command" -f -a "failback" -d 'Undo a failover: a last run back from the replicas (a divergence is refused unless --rotate), the forward bookkeeping back in place, the replicas read-only, the originals writable again'
complete -c zreplrs -n "__fish_zreplrs_needs_command" -f -a "check" -d 'A monitoring-plugin check for Nagios, Icinga or Checkmk: one status line with performance data, and exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN'
complete -c zreplrs -n "__fish_zreplrs_needs_command" -f -a "holds" -d 'List or release the holds and bookmarks zreplrs keeps on ZFS'
complete -c zreplrs -n "__fish_zreplrs_needs_command" -f -a "migrate" -d 'One-time migrations of on-ZFS bookkeeping'
complete -c zreplrs -n "__fish_zreplrs_needs_command" -f -a "test" -d 'Read-only checks: the filesystem filter, resume tokens'
complete -c zreplrs -n "__fish_zreplrs_needs_command" -f -a "recv-agent" -d 'The receiving side; run by the sender over SSH (as a forced command) or as a local child'
complete -c zreplrs -n "__fish_zreplrs_needs_command" -f -a "send-agent" -d 'The source side of a pull job; run by the backup host over SSH (as a forced command) or as a local child. It lists, sends, and manages its job\'s step holds and cursor bookmarks; nothing else'
complete -c zreplrs -n "__fish_zreplrs_needs_command" -f -a "config" -d 'Configuration commands'
complete -c zreplrs -n "__fish_zreplrs_needs_command" -f -a "version" -d 'Print the version of zreplrs'
complete -c zreplrs -n "__fish_zreplrs_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand replicate" -l job -d 'Name of the job in the configuration' -r -f -a "(zreplrs config jobs --format human 2>/dev/null)"
complete -c zreplrs -n "__fish_zreplrs_using_subcommand replicate" -l format -d 'Result format [default: json when stdout is not a terminal, else human]' -r -f -a "json\t'Machine-readable JSON on stdout'
human\t'A summary table for people'"
complete -c zreplrs -n "__fish_zreplrs_using_subcommand replicate" -l textfile-dir -d 'Write the Prometheus textfile here (overrides the configuration)' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand replicate" -l lock-dir -d 'Directory of the per-job lock file [default: $ZREPLRS_LOCK_DIR, else /run/zreplrs for root, else $XDG_RUNTIME_DIR/zreplrs]' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand replicate" -l bandwidth-limit -d 'Most bytes per second on the link to the peer, e.g. 50MiB/s (overrides the job\'s bandwidth_limit)' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand replicate" -l compression -d 'Compression in transit: off, zstd or zstd:LEVEL (overrides the job\'s compression)' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand replicate" -l config -d 'Configuration file [default: $ZREPLRS_CONFIG or /etc/zreplrs/zreplrs.toml]' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand replicate" -l rotate -d 'A copy that diverged from its sender (the receiver has snapshots the sender does not) is set aside instead of refused: renamed `<name>-rotated-<UTC time>` on the receiver, nothing destroyed, and a new chain starts from the newest snapshot both still have (else a full send). Not with an `--append-only` receiver'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand replicate" -l dry-run -d 'Plan and estimate sizes; change nothing on either side'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand replicate" -l json -d 'The same as `--format json` (kept for scripts written before `--format`)'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand replicate" -s q -l quiet -d 'No progress bars on stderr'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand replicate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand snapshot" -l job -d 'Name of the job in the configuration' -r -f -a "(zreplrs config jobs --format human 2>/dev/null)"
complete -c zreplrs -n "__fish_zreplrs_using_subcommand snapshot" -l format -d 'Result format [default: json when stdout is not a terminal, else human]' -r -f -a "json\t'Machine-readable JSON on stdout'
human\t'A summary table for people'"
complete -c zreplrs -n "__fish_zreplrs_using_subcommand snapshot" -l textfile-dir -d 'Write the Prometheus textfile here (overrides the configuration)' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand snapshot" -l config -d 'Configuration file [default: $ZREPLRS_CONFIG or /etc/zreplrs/zreplrs.toml]' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand snapshot" -l json -d 'The same as `--format json` (kept for scripts written before `--format`)'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand snapshot" -l dry-run -d 'Show what would be taken (hooks run with ZREPLRS_DRY_RUN=1); take nothing'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand snapshot" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand prune" -l job -d 'Name of the job in the configuration' -r -f -a "(zreplrs config jobs --format human 2>/dev/null)"
complete -c zreplrs -n "__fish_zreplrs_using_subcommand prune" -l format -d 'Result format [default: json when stdout is not a terminal, else human]' -r -f -a "json\t'Machine-readable JSON on stdout'
human\t'A summary table for people'"
complete -c zreplrs -n "__fish_zreplrs_using_subcommand prune" -l side -d 'Which side to prune' -r -f -a "sender\t''
receiver\t''
both\t''"
complete -c zreplrs -n "__fish_zreplrs_using_subcommand prune" -l textfile-dir -d 'Write the Prometheus textfile here (overrides the configuration)' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand prune" -l config -d 'Configuration file [default: $ZREPLRS_CONFIG or /etc/zreplrs/zreplrs.toml]' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand prune" -l json -d 'The same as `--format json` (kept for scripts written before `--format`)'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand prune" -l dry-run -d 'Show what would be destroyed; destroy nothing'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand prune" -l if-configured -d 'A job without `[jobs.prune]` keep rules is skipped (exit 0) instead of being a usage error (exit 2); the systemd prune unit uses it, so enabling its timer for such a job does nothing'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand prune" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand status" -l job -d 'Name of the job in the configuration' -r -f -a "(zreplrs config jobs --format human 2>/dev/null)"
complete -c zreplrs -n "__fish_zreplrs_using_subcommand status" -l root-fs -d 'With --receiver and no job: the receiving root (an agent\'s --root-fs, or below it)' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand status" -l job-id -d 'With --root-fs: the job whose last-received hold is looked for (default: any job\'s)' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand status" -l textfile-dir -d 'Also write each job\'s status as a Prometheus textfile (zreplrs_status_<job>.prom) here; default: the configured textfile directory, if any' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand status" -l format -d 'Result format [default: json when stdout is not a terminal, else human]' -r -f -a "json\t'Machine-readable JSON on stdout'
human\t'A summary table for people'"
complete -c zreplrs -n "__fish_zreplrs_using_subcommand status" -l config -d 'Configuration file [default: $ZREPLRS_CONFIG or /etc/zreplrs/zreplrs.toml]' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand status" -l all -d 'Every job of the configuration: one table (with a JOB column), or one JSON document with a `jobs` list'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand status" -l receiver -d 'The backup host\'s own view: read the received tree on this host (below the job\'s local target, or --root-fs), not the sender: per filesystem the newest received snapshot and its age, the last-received hold, resumable state. Textfile: zreplrs_receiver_<job or root>.prom'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand status" -l json -d 'The same as `--format json` (kept for scripts written before `--format`)'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand verify" -l job -d 'Name of the job in the configuration' -r -f -a "(zreplrs config jobs --format human 2>/dev/null)"
complete -c zreplrs -n "__fish_zreplrs_using_subcommand verify" -l fs -d 'Only this sender filesystem' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand verify" -l snapshot -d 'Which snapshots: `latest` (the newest one the receiver has), `all` (every one both sides have), or a snapshot name' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand verify" -l scratch -d 'Where `--restore` creates its temporary dataset (`<DATASET>/zreplrs-verify-<pid>`)' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand verify" -l identity-file -d 'An `age` identity file, for `--restore` of streams encrypted to the job\'s `age_recipients`' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand verify" -l format -d 'Result format [default: json when stdout is not a terminal, else human]' -r -f -a "json\t'Machine-readable JSON on stdout'
human\t'A summary table for people'"
complete -c zreplrs -n "__fish_zreplrs_using_subcommand verify" -l textfile-dir -d 'Write the Prometheus textfile here (overrides the configuration)' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand verify" -l config -d 'Configuration file [default: $ZREPLRS_CONFIG or /etc/zreplrs/zreplrs.toml]' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand verify" -l content -d 'Also compare the files: a SHA-256 over every file\'s bytes and metadata of both snapshots, read through `.zfs/snapshot` or a temporary read-only clone (needs root to mount, and the key of an encrypted copy; a copy that cannot be read is reported, with its GUID still compared)'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand verify" -l restore -d 'A job whose target is a bucket: also restore each checked snapshot into a temporary dataset below `--scratch`, compare its GUID and files with the sender\'s, and destroy it (every object is re-read and checked against its SHA-256 with or without this)'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand verify" -l json -d 'The same as `--format json` (kept for scripts written before `--format`)'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand verify" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand restore" -l job -d 'Name of the job in the configuration (a push job: run this on its sending host)' -r -f -a "(zreplrs config jobs --format human 2>/dev/null)"
complete -c zreplrs -n "__fish_zreplrs_using_subcommand restore" -l fs -d 'The sender filesystem whose copy is restored, with its children' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand restore" -l snapshot -d 'The snapshot (its name after `@`) [default: the newest the receiver has]' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand restore" -l to -l target -d 'Where the filesystem comes back [default: its own name]. An existing dataset there is brought forward incrementally from the newest snapshot it shares with the copy; a new one needs --allow-full. (A bucket\'s copy goes to a dataset that does not exist yet, unless an interrupted restore left it.)' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand restore" -l identity-file -d 'An `age` identity file, for streams encrypted to the job\'s `age_recipients`' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand restore" -l format -d 'Result format [default: json when stdout is not a terminal, else human]' -r -f -a "json\t'Machine-readable JSON on stdout'
human\t'A summary table for people'"
complete -c zreplrs -n "__fish_zreplrs_using_subcommand restore" -l config -d 'Configuration file [default: $ZREPLRS_CONFIG or /etc/zreplrs/zreplrs.toml]' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand restore" -l allow-full -d 'Allow a full send where the two sides share no snapshot or bookmark (a restore to a new name, or over a dataset that has nothing in common with the copy is refused without it)'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand restore" -l dry-run -d 'Print what would be sent (FULL or INCREMENTAL, the base, the snapshots and their sizes), change nothing'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand restore" -s q -l quiet -d 'No progress bars'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand restore" -l json -d 'The same as `--format json` (kept for scripts written before `--format`)'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand restore" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand failover" -l job -d 'Name of the job in the configuration (its target a ZFS receiver, not a bucket)' -r -f -a "(zreplrs config jobs --format human 2>/dev/null)"
complete -c zreplrs -n "__fish_zreplrs_using_subcommand failover" -l format -d 'Result format [default: json when stdout is not a terminal, else human]' -r -f -a "json\t'Machine-readable JSON on stdout'
human\t'A summary table for people'"
complete -c zreplrs -n "__fish_zreplrs_using_subcommand failover" -l config -d 'Configuration file [default: $ZREPLRS_CONFIG or /etc/zreplrs/zreplrs.toml]' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand failover" -s q -l quiet -d 'No progress bars'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand failover" -l json -d 'The same as `--format json` (kept for scripts written before `--format`)'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand failover" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand failback" -l job -d 'Name of the job in the configuration' -r -f -a "(zreplrs config jobs --format human 2>/dev/null)"
complete -c zreplrs -n "__fish_zreplrs_using_subcommand failback" -l format -d 'Result format [default: json when stdout is not a terminal, else human]' -r -f -a "json\t'Machine-readable JSON on stdout'
human\t'A summary table for people'"
complete -c zreplrs -n "__fish_zreplrs_using_subcommand failback" -l config -d 'Configuration file [default: $ZREPLRS_CONFIG or /etc/zreplrs/zreplrs.toml]' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand failback" -l rotate -d 'Where the original was written to after the failover (it has snapshots the replica does not), set those aside (renamed `<name>-rotated-<UTC time>`) instead of refusing'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand failback" -s q -l quiet -d 'No progress bars'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand failback" -l json -d 'The same as `--format json` (kept for scripts written before `--format`)'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand failback" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand check" -l job -d 'The job to check. On the sender (or a pull job\'s backup host): each filesystem\'s replication lag from live ZFS on both sides, conflicts, step holds older than max_step_hold_age, and the last replicate run\'s result from its textfile' -r -f -a "(zreplrs config jobs --format human 2>/dev/null)"
complete -c zreplrs -n "__fish_zreplrs_using_subcommand check" -l root-fs -d 'With --receiver and no job: the receiving root' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand check" -l job-id -d 'With --root-fs: the job whose last-received hold is looked for (default: any job\'s)' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand check" -l warning -d 'Age (lag, or of the newest received snapshot) that is a warning, e.g. `90m` [default: the job\'s [jobs.check] warning, else 90m]' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand check" -l critical -d 'Age that is critical, e.g. `6h` [default: the job\'s [jobs.check] critical, else 6h]' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand check" -l resumable-warning -d 'Age of resumable state that is a warning [default: as --warning]' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand check" -l resumable-critical -d 'Age of resumable state that is critical [default: as --critical]' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand check" -l textfile-dir -d 'Where the job\'s replicate textfile is [default: the configured textfile directory; without one the last run is not checked]' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand check" -l config -d 'Configuration file [default: $ZREPLRS_CONFIG or /etc/zreplrs/zreplrs.toml]' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand check" -l receiver -d 'Check the received tree on this host instead (the backup host\'s view, which needs nothing from the sender): each copy\'s newest snapshot age, its last-received hold, resumable state'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand check" -s h -l help -d 'Print help'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand holds; and not __fish_seen_subcommand_from list release-stale help" -l config -d 'Configuration file [default: $ZREPLRS_CONFIG or /etc/zreplrs/zreplrs.toml]' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand holds; and not __fish_seen_subcommand_from list release-stale help" -s h -l help -d 'Print help'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand holds; and not __fish_seen_subcommand_from list release-stale help" -f -a "list" -d 'List step holds, last-received holds, cursors, tentative and v1 cursors'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand holds; and not __fish_seen_subcommand_from list release-stale help" -f -a "release-stale" -d 'Release step holds, tentative cursors, superseded cursors and last-received holds that no run needs'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand holds; and not __fish_seen_subcommand_from list release-stale help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand holds; and __fish_seen_subcommand_from list" -l job -d 'Only this job [default: every job in the configuration]' -r -f -a "(zreplrs config jobs --format human 2>/dev/null)"
complete -c zreplrs -n "__fish_zreplrs_using_subcommand holds; and __fish_seen_subcommand_from list" -l fs -d 'Only entries of this filesystem (sender or receiver name)' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand holds; and __fish_seen_subcommand_from list" -l format -d 'Result format [default: json when stdout is not a terminal, else human]' -r -f -a "json\t'Machine-readable JSON on stdout'
human\t'A summary table for people'"
complete -c zreplrs -n "__fish_zreplrs_using_subcommand holds; and __fish_seen_subcommand_from list" -l config -d 'Configuration file [default: $ZREPLRS_CONFIG or /etc/zreplrs/zreplrs.toml]' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand holds; and __fish_seen_subcommand_from list" -l json -d 'The same as `--format json` (kept for scripts written before `--format`)'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand holds; and __fish_seen_subcommand_from list" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand holds; and __fish_seen_subcommand_from release-stale" -l job -d 'Name of the job in the configuration' -r -f -a "(zreplrs config jobs --format human 2>/dev/null)"
complete -c zreplrs -n "__fish_zreplrs_using_subcommand holds; and __fish_seen_subcommand_from release-stale" -l lock-dir -d 'Directory of the per-job lock file (the job must not be running)' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand holds; and __fish_seen_subcommand_from release-stale" -l format -d 'Result format [default: json when stdout is not a terminal, else human]' -r -f -a "json\t'Machine-readable JSON on stdout'
human\t'A summary table for people'"
complete -c zreplrs -n "__fish_zreplrs_using_subcommand holds; and __fish_seen_subcommand_from release-stale" -l config -d 'Configuration file [default: $ZREPLRS_CONFIG or /etc/zreplrs/zreplrs.toml]' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand holds; and __fish_seen_subcommand_from release-stale" -l dry-run -d 'Show what would be released; change nothing'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand holds; and __fish_seen_subcommand_from release-stale" -l json -d 'The same as `--format json` (kept for scripts written before `--format`)'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand holds; and __fish_seen_subcommand_from release-stale" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand holds; and __fish_seen_subcommand_from help" -f -a "list" -d 'List step holds, last-received holds, cursors, tentative and v1 cursors'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand holds; and __fish_seen_subcommand_from help" -f -a "release-stale" -d 'Release step holds, tentative cursors, superseded cursors and last-received holds that no run needs'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand holds; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand migrate; and not __fish_seen_subcommand_from replication-cursor:v1-v2 help" -l config -d 'Configuration file [default: $ZREPLRS_CONFIG or /etc/zreplrs/zreplrs.toml]' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand migrate; and not __fish_seen_subcommand_from replication-cursor:v1-v2 help" -s h -l help -d 'Print help'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand migrate; and not __fish_seen_subcommand_from replication-cursor:v1-v2 help" -f -a "replication-cursor:v1-v2" -d 'Destroy zrepl\'s v1 cursor `#zrepl_replication_cursor` where a v2 cursor exists; report the rest'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand migrate; and not __fish_seen_subcommand_from replication-cursor:v1-v2 help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand migrate; and __fish_seen_subcommand_from replication-cursor:v1-v2" -l job -d 'Only this job [default: every job]' -r -f -a "(zreplrs config jobs --format human 2>/dev/null)"
complete -c zreplrs -n "__fish_zreplrs_using_subcommand migrate; and __fish_seen_subcommand_from replication-cursor:v1-v2" -l format -d 'Result format [default: json when stdout is not a terminal, else human]' -r -f -a "json\t'Machine-readable JSON on stdout'
human\t'A summary table for people'"
complete -c zreplrs -n "__fish_zreplrs_using_subcommand migrate; and __fish_seen_subcommand_from replication-cursor:v1-v2" -l config -d 'Configuration file [default: $ZREPLRS_CONFIG or /etc/zreplrs/zreplrs.toml]' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand migrate; and __fish_seen_subcommand_from replication-cursor:v1-v2" -l dry-run -d 'Show what would be destroyed; change nothing'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand migrate; and __fish_seen_subcommand_from replication-cursor:v1-v2" -l json -d 'The same as `--format json` (kept for scripts written before `--format`)'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand migrate; and __fish_seen_subcommand_from replication-cursor:v1-v2" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand migrate; and __fish_seen_subcommand_from help" -f -a "replication-cursor:v1-v2" -d 'Destroy zrepl\'s v1 cursor `#zrepl_replication_cursor` where a v2 cursor exists; report the rest'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand migrate; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand test; and not __fish_seen_subcommand_from filesystems decode-resume-token help" -l config -d 'Configuration file [default: $ZREPLRS_CONFIG or /etc/zreplrs/zreplrs.toml]' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand test; and not __fish_seen_subcommand_from filesystems decode-resume-token help" -s h -l help -d 'Print help'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand test; and not __fish_seen_subcommand_from filesystems decode-resume-token help" -f -a "filesystems" -d 'Which datasets the job\'s filter selects, and by which rule'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand test; and not __fish_seen_subcommand_from filesystems decode-resume-token help" -f -a "decode-resume-token" -d 'Decode a receive_resume_token and print its fields'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand test; and not __fish_seen_subcommand_from filesystems decode-resume-token help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand test; and __fish_seen_subcommand_from filesystems" -l job -d 'Name of the job in the configuration' -r -f -a "(zreplrs config jobs --format human 2>/dev/null)"
complete -c zreplrs -n "__fish_zreplrs_using_subcommand test; and __fish_seen_subcommand_from filesystems" -l format -d 'Result format [default: json when stdout is not a terminal, else human]' -r -f -a "json\t'Machine-readable JSON on stdout'
human\t'A summary table for people'"
complete -c zreplrs -n "__fish_zreplrs_using_subcommand test; and __fish_seen_subcommand_from filesystems" -l config -d 'Configuration file [default: $ZREPLRS_CONFIG or /etc/zreplrs/zreplrs.toml]' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand test; and __fish_seen_subcommand_from filesystems" -l json -d 'The same as `--format json` (kept for scripts written before `--format`)'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand test; and __fish_seen_subcommand_from filesystems" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand test; and __fish_seen_subcommand_from decode-resume-token" -l format -d 'Result format [default: json when stdout is not a terminal, else human]' -r -f -a "json\t'Machine-readable JSON on stdout'
human\t'A summary table for people'"
complete -c zreplrs -n "__fish_zreplrs_using_subcommand test; and __fish_seen_subcommand_from decode-resume-token" -l config -d 'Configuration file [default: $ZREPLRS_CONFIG or /etc/zreplrs/zreplrs.toml]' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand test; and __fish_seen_subcommand_from decode-resume-token" -l json -d 'The same as `--format json` (kept for scripts written before `--format`)'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand test; and __fish_seen_subcommand_from decode-resume-token" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand test; and __fish_seen_subcommand_from help" -f -a "filesystems" -d 'Which datasets the job\'s filter selects, and by which rule'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand test; and __fish_seen_subcommand_from help" -f -a "decode-resume-token" -d 'Decode a receive_resume_token and print its fields'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand test; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand recv-agent" -l root-fs -d 'Root dataset on the receiver; everything received goes strictly below it' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand recv-agent" -l client-identity -d 'Sub-directory of the root for this client (e.g. the sender\'s host name)' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand recv-agent" -l recv-set -d 'Override a property on every receive (`zfs receive -o PROP=VALUE`); repeatable' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand recv-agent" -l recv-inherit -d 'Inherit a property instead of taking the sent value (`zfs receive -x PROP`); repeatable' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand recv-agent" -l recv-allow -d 'Take the sent value of a property the agent overrides by default (mountpoint, sharenfs and sharesmb are inherited, setuid, devices and exec set off); repeatable' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand recv-agent" -l zfs-program -d 'Run this program instead of `zfs` (tests and benchmarks; `$ZREPLRS_ZFS` is ignored by the agent)' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand recv-agent" -l config -d 'Configuration file [default: $ZREPLRS_CONFIG or /etc/zreplrs/zreplrs.toml]' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand recv-agent" -l own-streams -d 'The sender is this host\'s own zreplrs running a job that sends no properties (how a `local:` target starts its agent): incremental receives leave out the defaults of --recv-allow, which such a stream gives nothing to act on and which ZFS applies as two transaction groups per received snapshot. Receives that create a filesystem keep them; --recv-set and --recv-inherit apply to every receive. Never give it to an agent that a remote host can reach (behind a forced command, where sshd sets SSH_ORIGINAL_COMMAND, SSH_CONNECTION or SSH_CLIENT, the agent refuses to start with it)'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand recv-agent" -l append-only -d 'Refuse every request that could lose received data: destroying snapshots, releasing last-received holds, and forced receives over anything but an empty placeholder. Recommended for push jobs: a compromised sender can then add snapshots but not remove any. Prune on the receiving host itself'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand recv-agent" -l allow-verify -d 'With --append-only, still serve `zreplrs verify --content`: the agent then clones a received snapshot and reads its files (mounted nosuid, nodev, noexec and read-only in a root-only directory, for at most an hour). Without this flag an append-only agent refuses that request, since the files come from the sender it does not trust'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand recv-agent" -l serve-restores -d 'Send received data back for `zreplrs restore` (and a failed-over job) run on the sending host: the peer may then list, send (raw only) and hold (with its job\'s step hold tag) snapshots below this agent\'s root, and nothing else on that connection — no receive, no rename; with --append-only no bookmark or destroy either (without it, the job\'s own cursor bookmarks). Without this flag a restore is refused'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand recv-agent" -s h -l help -d 'Print help'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand send-agent" -l root-fs -d 'Root dataset on the source; the agent sends only filesystems at or below it' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand send-agent" -l job-id -d 'The pull job\'s name: the only step hold tag and cursor bookmarks the agent creates, releases and destroys are this job\'s' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand send-agent" -l include -d 'Filesystems the agent may send, as a job\'s `[jobs.filesystems]` key (`pool/fs` or `pool/fs<` for a subtree); repeatable. Without any, everything at or below the root' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand send-agent" -l exclude -d 'Filesystems the agent must not send (same syntax as `--include`); repeatable' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand send-agent" -l max-zstd-level -d 'The highest zstd level the backup host may make this host compress a stream at (1..=19); a higher level asked for is lowered to it. Level 19 costs the source about 31 times the CPU of 3' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand send-agent" -l stall-timeout-secs -d 'Seconds a stream may make no progress towards the backup host (which stopped reading) before the agent stops `zfs send` and ends' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand send-agent" -l zfs-program -d 'Run this program instead of `zfs` (tests and benchmarks; `$ZREPLRS_ZFS` is ignored by the agent)' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand send-agent" -l config -d 'Configuration file [default: $ZREPLRS_CONFIG or /etc/zreplrs/zreplrs.toml]' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand send-agent" -l require-raw -d 'Send raw only (`zfs send -w`): encrypted filesystems never leave the source decrypted'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand send-agent" -s h -l help -d 'Print help'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand config; and not __fish_seen_subcommand_from check jobs help" -l config -d 'Configuration file [default: $ZREPLRS_CONFIG or /etc/zreplrs/zreplrs.toml]' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand config; and not __fish_seen_subcommand_from check jobs help" -s h -l help -d 'Print help'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand config; and not __fish_seen_subcommand_from check jobs help" -f -a "check" -d 'Parse and validate the configuration; exit 2 with the reason when it is invalid'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand config; and not __fish_seen_subcommand_from check jobs help" -f -a "jobs" -d 'The names of the configured jobs (one per line for people; the shell completions call it)'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand config; and not __fish_seen_subcommand_from check jobs help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand config; and __fish_seen_subcommand_from check" -l format -d 'Result format [default: json when stdout is not a terminal, else human]' -r -f -a "json\t'Machine-readable JSON on stdout'
human\t'A summary table for people'"
complete -c zreplrs -n "__fish_zreplrs_using_subcommand config; and __fish_seen_subcommand_from check" -l config -d 'Configuration file [default: $ZREPLRS_CONFIG or /etc/zreplrs/zreplrs.toml]' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand config; and __fish_seen_subcommand_from check" -l json -d 'The same as `--format json` (kept for scripts written before `--format`)'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand config; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand config; and __fish_seen_subcommand_from jobs" -l format -d 'Result format [default: json when stdout is not a terminal, else human]' -r -f -a "json\t'Machine-readable JSON on stdout'
human\t'A summary table for people'"
complete -c zreplrs -n "__fish_zreplrs_using_subcommand config; and __fish_seen_subcommand_from jobs" -l config -d 'Configuration file [default: $ZREPLRS_CONFIG or /etc/zreplrs/zreplrs.toml]' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand config; and __fish_seen_subcommand_from jobs" -l json -d 'The same as `--format json` (kept for scripts written before `--format`)'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand config; and __fish_seen_subcommand_from jobs" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "check" -d 'Parse and validate the configuration; exit 2 with the reason when it is invalid'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "jobs" -d 'The names of the configured jobs (one per line for people; the shell completions call it)'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand version" -l config -d 'Configuration file [default: $ZREPLRS_CONFIG or /etc/zreplrs/zreplrs.toml]' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand version" -s h -l help -d 'Print help'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand help; and not __fish_seen_subcommand_from replicate snapshot prune status verify restore failover failback check holds migrate test recv-agent send-agent config version help" -f -a "replicate" -d 'Replicate a job\'s filesystems to its receiver (plan, send, protect, report)'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand help; and not __fish_seen_subcommand_from replicate snapshot prune status verify restore failover failback check holds migrate test recv-agent send-agent config version help" -f -a "snapshot" -d 'Take the job\'s snapshots: one atomic `zfs snapshot` per pool, named <prefix><timestamp>'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand help; and not __fish_seen_subcommand_from replicate snapshot prune status verify restore failover failback check holds migrate test recv-agent send-agent config version help" -f -a "prune" -d 'Destroy snapshots that no keep rule of the job keeps (never the incremental base, never held ones)'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand help; and not __fish_seen_subcommand_from replicate snapshot prune status verify restore failover failback check holds migrate test recv-agent send-agent config version help" -f -a "status" -d 'Replication state from live ZFS on both sides: lag, pending snapshots and bytes, resumable, conflicts'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand help; and not __fish_seen_subcommand_from replicate snapshot prune status verify restore failover failback check holds migrate test recv-agent send-agent config version help" -f -a "verify" -d 'Compare sender snapshots with their received copies: GUIDs, and with --content the files'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand help; and not __fish_seen_subcommand_from replicate snapshot prune status verify restore failover failback check holds migrate test recv-agent send-agent config version help" -f -a "restore" -d 'Bring a filesystem back from a job\'s receiver, in place or to a new name, at the newest or a named snapshot: incremental from the newest snapshot both sides share (a full send only with --allow-full), with step holds, resume and retries; from a bucket (an s3:// target), its chain downloaded and checked part by part'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand help; and not __fish_seen_subcommand_from replicate snapshot prune status verify restore failover failback check holds migrate test recv-agent send-agent config version help" -f -a "failover" -d 'Make a job\'s replicas the writable primaries: a last replication, the originals read-only, the bookkeeping moved (cursors on the replicas, last-received holds on the originals), the replicas writable; from then on `replicate` sends from the replicas back to the originals. Every root filesystem of the job at once; run where the job runs (a push job on its sending host, a pull job on its backup host, reaching production through [jobs.restore])'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand help; and not __fish_seen_subcommand_from replicate snapshot prune status verify restore failover failback check holds migrate test recv-agent send-agent config version help" -f -a "failback" -d 'Undo a failover: a last run back from the replicas (a divergence is refused unless --rotate), the forward bookkeeping back in place, the replicas read-only, the originals writable again'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand help; and not __fish_seen_subcommand_from replicate snapshot prune status verify restore failover failback check holds migrate test recv-agent send-agent config version help" -f -a "check" -d 'A monitoring-plugin check for Nagios, Icinga or Checkmk: one status line with performance data, and exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand help; and not __fish_seen_subcommand_from replicate snapshot prune status verify restore failover failback check holds migrate test recv-agent send-agent config version help" -f -a "holds" -d 'List or release the holds and bookmarks zreplrs keeps on ZFS'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand help; and not __fish_seen_subcommand_from replicate snapshot prune status verify restore failover failback check holds migrate test recv-agent send-agent config version help" -f -a "migrate" -d 'One-time migrations of on-ZFS bookkeeping'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand help; and not __fish_seen_subcommand_from replicate snapshot prune status verify restore failover failback check holds migrate test recv-agent send-agent config version help" -f -a "test" -d 'Read-only checks: the filesystem filter, resume tokens'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand help; and not __fish_seen_subcommand_from replicate snapshot prune status verify restore failover failback check holds migrate test recv-agent send-agent config version help" -f -a "recv-agent" -d 'The receiving side; run by the sender over SSH (as a forced command) or as a local child'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand help; and not __fish_seen_subcommand_from replicate snapshot prune status verify restore failover failback check holds migrate test recv-agent send-agent config version help" -f -a "send-agent" -d 'The source side of a pull job; run by the backup host over SSH (as a forced command) or as a local child. It lists, sends, and manages its job\'s step holds and cursor bookmarks; nothing else'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand help; and not __fish_seen_subcommand_from replicate snapshot prune status verify restore failover failback check holds migrate test recv-agent send-agent config version help" -f -a "config" -d 'Configuration commands'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand help; and not __fish_seen_subcommand_from replicate snapshot prune status verify restore failover failback check holds migrate test recv-agent send-agent config version help" -f -a "version" -d 'Print the version of zreplrs'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand help; and not __fish_seen_subcommand_from replicate snapshot prune status verify restore failover failback check holds migrate test recv-agent send-agent config version help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand help; and __fish_seen_subcommand_from holds" -f -a "list" -d 'List step holds, last-received holds, cursors, tentative and v1 cursors'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand help; and __fish_seen_subcommand_from holds" -f -a "release-stale" -d 'Release step holds, tentative cursors, superseded cursors and last-received holds that no run needs'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand help; and __fish_seen_subcommand_from migrate" -f -a "replication-cursor:v1-v2" -d 'Destroy zrepl\'s v1 cursor `#zrepl_replication_cursor` where a v2 cursor exists; report the rest'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand help; and __fish_seen_subcommand_from test" -f -a "filesystems" -d 'Which datasets the job\'s filter selects, and by which rule'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand help; and __fish_seen_subcommand_from test" -f -a "decode-resume-token" -d 'Decode a receive_resume_token and print its fields'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "check" -d 'Parse and validate the configuration; exit 2 with the reason when it is invalid'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "jobs" -d 'The names of the configured jobs (one per line for people; the shell completions call it)'
