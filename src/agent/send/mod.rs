//! `zreplrs send-agent`, the source of a pull job: [`server`] answers the backup host's calls, [`policy`]
//! checks every one of them, and `watchdog` ends a session whose peer stalls.

pub mod policy;
pub mod server;
mod watchdog;
