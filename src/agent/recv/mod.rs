//! `zreplrs recv-agent`, the receiving side: [`server`] answers requests (confined below its own
//! `--root-fs[/--client-identity]`), [`config`] is what its command line sets, [`policy`] what
//! `--append-only` allows, `receive` checks every stream before `zfs receive` sees it, and `last_received`
//! keeps the last-received hold on what it received; [`restores`] sends it back (`--serve-restores`).

pub mod config;
mod last_received;
pub mod policy;
mod receive;
pub mod restores;
mod role;
mod rotate;
pub mod server;
