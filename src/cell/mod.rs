//! The cell allocator with HiveD semantics (`spec/hived-semantics.md`). No I/O, no clock,
//! no global RNG: the simulator and the live server both place through this API.

pub mod request;

pub use request::*;
