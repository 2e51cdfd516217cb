//! cellsim: a discrete-event GPU-cluster simulator and scheduling benchmark built around
//! one cell allocator with HiveD semantics (see `cell`).
#![warn(missing_docs)]

pub mod cell;
pub mod cli;
pub mod config;
pub mod fill;
pub mod kueue;
pub mod labs;
#[cfg(feature = "live")]
pub mod live;
pub mod placement;
pub mod replay;
pub mod report;
pub mod run;
pub mod sched;
pub mod sim;
pub mod sweep;
pub mod time;
pub mod workload;
