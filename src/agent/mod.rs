//! The agents and their protocol, by role:
//!
//! - [`wire`]: the protocol both ends speak — frames, messages, listing pages, zstd in transit, the
//!   bandwidth limit, splice, and the bound on what decoding a message may cost;
//! - [`client`]: the run's end of a connection, to either agent;
//! - [`recv`]: `zreplrs recv-agent`, the receiving side (confined below its own root; every stream checked
//!   before `zfs receive` sees it; `--append-only`);
//! - [`send`]: `zreplrs send-agent`, the source of a pull job (every call checked by its policy);
//! - `request`: what the two agents' request handlers share.

pub mod client;
pub mod recv;
mod request;
pub mod send;
pub mod wire;
