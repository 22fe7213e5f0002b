//! The agents and their protocol: `zreplrs recv-agent` (the receiving side) and `zreplrs send-agent` (the
//! source of a pull job).
//!
//! [`frame`] is the wire format, [`proto`] the messages, [`server`] the agent that runs on the receiver
//! (confined below its own `--root-fs[/--client-identity]`, and by [`policy`] with `--append-only`; its
//! [`recv_config`] from its command line, `receive` checks every stream before `zfs receive` sees it),
//! `request` what both agents' handlers share,
//! [`send_server`] the send-agent (every call checked by [`send_policy`]), [`client`] the other end of either,
//! [`convert`] maps listings to and from the wire, [`paging`] splits large ones into pages, [`splice`] moves stream bytes between pipes, [`codec`] compresses them in transit, [`throttle`] paces them to a bandwidth limit, and [`wire`] bounds what decoding a message may cost.

pub mod client;
pub mod codec;
pub mod convert;
pub mod frame;
mod last_received;
pub mod paging;
pub mod policy;
pub mod proto;
mod receive;
pub mod recv_config;
mod request;
pub mod send_policy;
pub mod send_server;
pub mod server;
pub mod splice;
mod text;
pub mod throttle;
mod watchdog;
pub mod wire;
