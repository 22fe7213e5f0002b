//! The receiving side: `zreplrs recv-agent` and its protocol.
//!
//! [`frame`] is the wire format, [`proto`] the messages, [`server`] the agent that runs on the receiver
//! (confined below its own `--root-fs[/--client-identity]`, and by [`policy`] with `--append-only`), [`client`] the sender's end of the connection,
//! [`convert`] maps listings to and from the wire, [`paging`] splits large ones into pages, [`splice`] moves stream bytes between pipes, and [`wire`] bounds what decoding a message may cost.

pub mod client;
pub mod convert;
pub mod frame;
pub mod paging;
pub mod policy;
pub mod proto;
pub mod server;
pub mod splice;
pub mod wire;
