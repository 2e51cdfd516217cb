//! The cell allocator with HiveD semantics (`spec/hived-semantics.md`). No I/O, no clock,
//! no global RNG: the simulator and the live server both place through this API.
//!
//! Shape: [`Allocator::schedule`] answers a [`GroupRequest`] with a [`Decision`]
//! (bind / preempt / wait / reject); pods then take their slots with
//! [`Allocator::confirm_pod`]; [`Allocator::release_group`] / [`Allocator::release_pod`]
//! free cells; [`Allocator::set_node_health`] marks nodes; bind records rebuild state;
//! [`Allocator::trial`] asks what-ifs that are rolled back. [`leaf_share`] keeps GPU
//! shares (pods asking for part of one GPU) on leaves held through this API.

mod allocator;
mod bindinfo;
mod buddy;
mod decision;
mod health;
mod inspect;
pub mod leaf_share;
mod packing;
mod rank;
pub mod request;
pub mod sharing;
pub mod topology;
mod trial;

pub use allocator::{Allocator, AllocatorError, FREE_PRIORITY, GroupState, SchedulePhase};
pub use bindinfo::*;
pub use decision::*;
pub use inspect::*;
pub use request::*;
pub use trial::Trial;
