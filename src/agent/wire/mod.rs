//! The protocol both ends speak: [`frame`] is the wire format, [`proto`] the messages, [`limits`] bounds what
//! decoding one may cost, [`convert`] maps listings to and from the wire, [`paging`] splits large ones into
//! pages; a stream's bytes move by [`splice`] between pipes, compressed in transit by [`codec`] and paced to a
//! bandwidth limit by [`throttle`]; `text` makes a peer's bytes printable.

pub mod codec;
pub mod convert;
pub mod frame;
pub mod limits;
pub mod paging;
pub mod proto;
pub mod splice;
pub(crate) mod text;
pub mod throttle;
