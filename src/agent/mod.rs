//! The receiving side: `zreplrs recv-agent` and its protocol.
//!
//! [`frame`] is the wire format, [`proto`] the messages, [`server`] the agent that runs on the receiver
//! (confined below its own `--root-fs[/--client-identity]`), [`client`] the sender's end of the connection,
//! [`convert`] maps listings to and from the wire, and [`splice`] moves stream bytes between pipes.

pub mod client;
pub mod convert;
pub mod frame;
pub mod proto;
pub mod server;
pub mod splice;
