//! What a model sees of a group besides its request: how far it got ([`GroupProgress`]).
//! The engine fills it in; policies that order by remaining time or attained service read
//! it, the others ignore it.

use crate::cell::GroupRequest;
use crate::sim::SimTimeMs;

/// A group's progress at `now_ms`, as the engine knows it.
#[derive(Debug, Clone, Copy)]
pub struct GroupProgress<'a> {
    /// The group's request (name, VC, priority, shape).
    pub request: &'a GroupRequest,
    /// GPUs the group holds when it runs.
    pub gpus: u32,
    /// When its job was submitted.
    pub submit_ms: SimTimeMs,
    /// Run time the group needs in all (the trace's duration).
    pub duration_ms: SimTimeMs,
    /// Work done and kept so far (checkpoints after a preemption, all of it after a
    /// suspension), including the current run if it runs.
    pub work_done_ms: SimTimeMs,
    /// Run time so far over all its runs, including work lost to preemptions and the
    /// current run if it runs.
    pub attained_ms: SimTimeMs,
    /// The time of the call.
    pub now_ms: SimTimeMs,
}

impl GroupProgress<'_> {
    /// Run time still needed (the duration less the work kept).
    pub fn remaining_ms(&self) -> SimTimeMs {
        self.duration_ms.saturating_sub(self.work_done_ms)
    }

    /// Attained service in GPU-milliseconds: GPUs x run time so far (Tiresias' 2D
    /// attained service).
    pub fn attained_gpu_ms(&self) -> u64 {
        self.attained_ms.saturating_mul(u64::from(self.gpus))
    }

    /// The group's name.
    pub fn name(&self) -> &str {
        &self.request.name
    }

    /// The group's VC.
    pub fn vc(&self) -> &str {
        &self.request.virtual_cluster
    }
}
