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
complete -c zreplrs -n "__fish_zreplrs_needs_command" -f -a "recv-agent" -d 'The receiving side; run by the sender over SSH (as a forced command) or as a local child'
complete -c zreplrs -n "__fish_zreplrs_needs_command" -f -a "config" -d 'Configuration commands'
complete -c zreplrs -n "__fish_zreplrs_needs_command" -f -a "version" -d 'Print the version of zreplrs'
complete -c zreplrs -n "__fish_zreplrs_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand replicate" -l job -d 'Name of the job in the configuration' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand replicate" -l format -d 'Result format [default: json when stdout is not a terminal, else human]' -r -f -a "json\t'Machine-readable JSON on stdout'
human\t'A summary table for people'"
complete -c zreplrs -n "__fish_zreplrs_using_subcommand replicate" -l textfile-dir -d 'Write the Prometheus textfile here (overrides the configuration)' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand replicate" -l lock-dir -d 'Directory of the per-job lock file [default: /run/lock, else $XDG_RUNTIME_DIR]' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand replicate" -l config -d 'Configuration file [default: $ZREPLRS_CONFIG or /etc/zreplrs/zreplrs.toml]' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand replicate" -l dry-run -d 'Plan and estimate sizes; change nothing on either side'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand replicate" -s q -l quiet -d 'No progress bars on stderr'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand replicate" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand recv-agent" -l root-fs -d 'Root dataset on the receiver; everything received goes strictly below it' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand recv-agent" -l client-identity -d 'Sub-directory of the root for this client (e.g. the sender\'s host name)' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand recv-agent" -l recv-set -d 'Override a property on every receive (`zfs receive -o PROP=VALUE`); repeatable' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand recv-agent" -l recv-inherit -d 'Inherit a property instead of taking the sent value (`zfs receive -x PROP`); repeatable' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand recv-agent" -l config -d 'Configuration file [default: $ZREPLRS_CONFIG or /etc/zreplrs/zreplrs.toml]' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand recv-agent" -s h -l help -d 'Print help'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand config; and not __fish_seen_subcommand_from check help" -l config -d 'Configuration file [default: $ZREPLRS_CONFIG or /etc/zreplrs/zreplrs.toml]' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand config; and not __fish_seen_subcommand_from check help" -s h -l help -d 'Print help'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand config; and not __fish_seen_subcommand_from check help" -f -a "check" -d 'Parse and validate the configuration; exit 2 with the reason when it is invalid'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand config; and not __fish_seen_subcommand_from check help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand config; and __fish_seen_subcommand_from check" -l config -d 'Configuration file [default: $ZREPLRS_CONFIG or /etc/zreplrs/zreplrs.toml]' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand config; and __fish_seen_subcommand_from check" -s h -l help -d 'Print help'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "check" -d 'Parse and validate the configuration; exit 2 with the reason when it is invalid'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand version" -l config -d 'Configuration file [default: $ZREPLRS_CONFIG or /etc/zreplrs/zreplrs.toml]' -r
complete -c zreplrs -n "__fish_zreplrs_using_subcommand version" -s h -l help -d 'Print help'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand help; and not __fish_seen_subcommand_from replicate recv-agent config version help" -f -a "replicate" -d 'Replicate a job\'s filesystems to its receiver (plan, send, protect, report)'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand help; and not __fish_seen_subcommand_from replicate recv-agent config version help" -f -a "recv-agent" -d 'The receiving side; run by the sender over SSH (as a forced command) or as a local child'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand help; and not __fish_seen_subcommand_from replicate recv-agent config version help" -f -a "config" -d 'Configuration commands'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand help; and not __fish_seen_subcommand_from replicate recv-agent config version help" -f -a "version" -d 'Print the version of zreplrs'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand help; and not __fish_seen_subcommand_from replicate recv-agent config version help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c zreplrs -n "__fish_zreplrs_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "check" -d 'Parse and validate the configuration; exit 2 with the reason when it is invalid'
