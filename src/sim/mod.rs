//! The discrete-event simulator: integer time, a `(time, seq)` event queue, the job
//! lifecycle, and what a run produces.
//!
//! - [`scenario`]: reading scenario files (cluster, jobs, models, node events).
//! - [`engine`]: running one scenario through one scheduler model.
//! - [`queue`]: the event queue.
//! - [`record`]: what a run produces ([`RunResult`]).
//! - [`source`]: where a run's jobs come from, in submit order.
//! - [`sink`]: where a run's output goes as it is made.
//! - [`from_trace`]: trace jobs as scenario jobs for a given cluster (pod shapes).

pub mod engine;
pub mod from_trace;
pub mod queue;
pub mod record;
pub mod scenario;
pub mod sink;
pub mod source;

pub use engine::{PROGRESS_EVERY_EVENTS, run_model, simulate, simulate_with_progress};
pub use record::*;
pub use scenario::{Scenario, ScenarioError, SimJob};
