//! Entry point: parse the command line, run the subcommand, map the outcome to an exit code.

use std::process::ExitCode;

fn main() -> ExitCode {
    zreplrs::failpoint::setup();
    zreplrs::cmd::main()
}
