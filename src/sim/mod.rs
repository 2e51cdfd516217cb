//! The discrete-event simulator: integer time, a `(time, seq)` event queue, the job
//! lifecycle, and what a run produces.

pub mod record;

pub use record::*;
