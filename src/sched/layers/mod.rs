//! Inter-VC layers: who may use which GPUs. A layer places groups through the allocator
//! of `cell/` and answers `Start`, `Preempt` (its own preemption: HiveD priorities, YARN
//! reclaim), `Wait` or `Reject`; it never orders the queue (the policy does). One file
//! per layer:
//!
//! - [`hived`]: VC cells, guaranteed / opportunistic, priority preemption (the allocator
//!   as it runs in production).
//! - [`yarn_cs`]: GPU-count quotas with borrowing and reclaim.
//! - [`isolated`]: each VC alone on its own share, no borrowing (HiveD's "private
//!   cluster").
//! - [`kueue`]: Kubernetes Kueue's ClusterQueues, cohorts, flavors and preemption.
//! - [`shared`]: one pool, no VCs.

pub mod hived;
pub mod isolated;
pub mod kueue;
pub mod shared;
pub mod yarn_cs;

use super::{ModelOptions, OfferContext, Shortcuts, Verdict, Wait, WaitKind};
use crate::cell::{GroupRequest, WaitReason};
use crate::config::CellConfig;

/// Names of the layers [`layer_by_name`] knows.
pub const LAYER_NAMES: [&str; 5] = [
    hived::NAME,
    yarn_cs::NAME,
    isolated::NAME,
    shared::NAME,
    kueue::NAME,
];

/// The layers that place through the pool (`sched/pool.rs`) and so take any placement
/// scorer and pods with GPU shares, CPU or memory.
pub const POOL_LAYERS: [&str; 3] = [shared::NAME, yarn_cs::NAME, kueue::NAME];

/// Whether `layer` takes a placement other than `topology` (see [`POOL_LAYERS`]).
pub fn takes_placement(layer: &str) -> bool {
    POOL_LAYERS.contains(&layer)
}

/// The layer called `name` placing with `placement` (a model's third part; `None`:
/// topology). `hived` and `isolated` place by their VCs' cells: they refuse another
/// placement, and place pods with GPU shares on leaves their VCs hold for them
/// ([`crate::cell::leaf_share`]), with CPU and memory unlimited.
pub fn layer_for_model(
    name: &str,
    placement: Option<&str>,
    config: &CellConfig,
    options: &ModelOptions,
) -> Result<Box<dyn Layer>, String> {
    let sharing = options.sharing.as_deref();
    if !crate::sched::pool::needs_share_pool(placement, sharing) {
        return layer_by_name(name, config, options);
    }
    if !takes_placement(name) {
        if let Some(other) = placement.filter(|&p| p != crate::placement::NAMES[0]) {
            return Err(format!(
                "the {name} layer places by its virtual clusters' cells and takes no placement \
                 but topology (not {other}); use a layer that places through the shared pool \
                 ({})",
                POOL_LAYERS.join(", ")
            ));
        }
        return layer_by_name(name, config, options);
    }
    let pool = crate::sched::pool::Pool::for_model(config, placement, sharing)?;
    match name {
        shared::NAME => Ok(Box::new(shared::Shared::with_pool(config, pool))),
        yarn_cs::NAME => {
            let mut layer = yarn_cs::YarnCs::new(config, &options.yarn_cs)?;
            layer.replace_pool(pool);
            Ok(Box::new(layer))
        }
        _ => {
            let mut layer = match &options.kueue {
                Some(kueue) => kueue::Kueue::new(config, kueue)?,
                None => kueue::Kueue::new(config, &kueue::KueueOptions::of_cluster(config))?,
            };
            layer.replace_pool(pool);
            Ok(Box::new(layer))
        }
    }
}

/// An inter-VC layer: which GPUs a group may use, and the placement on them.
pub trait Layer {
    /// The layer's name (`hived`, `yarn-cs`, `isolated`, `shared`).
    fn name(&self) -> &'static str;

    /// What the layer does and does not model.
    fn describe(&self) -> &'static str;

    /// True when the layer has one queue for the whole cluster (no VCs): a policy's
    /// strict order and its victims then span every VC.
    fn one_queue(&self) -> bool {
        false
    }

    /// True when the layer decides itself which waiting groups block others (Kueue's
    /// per-ClusterQueue queueing strategy): the policy's strict order is then not applied.
    fn owns_queue_order(&self) -> bool {
        false
    }

    /// True when the layer picks the order in which the groups of a pass are offered
    /// (Kueue's fair sharing, across ClusterQueues); see
    /// [`crate::sched::Scheduler::orders_offers`]. Default: false.
    fn orders_offers(&self) -> bool {
        false
    }

    /// The groups a pass is about to offer, in the policy's order (only asked when
    /// [`Layer::orders_offers`]).
    fn plan_offers(&mut self, _groups: &[&GroupRequest]) {}

    /// The index, in the last [`Layer::plan_offers`] list, of the group to offer next,
    /// each once; `None` when the pass is done.
    fn next_offer(&mut self) -> Option<usize> {
        None
    }

    /// GPUs a group of `vc` can count on when nobody else uses them (its share: the
    /// whole cluster, its guaranteed cells, its quota), for reservations; `None` for an
    /// unknown VC.
    fn share_gpus(&self, vc: &str) -> Option<u64>;

    /// Decide about one group: `Start`, `Preempt`, `Wait` or `Reject` (never `Suspend`).
    fn offer(&mut self, request: &GroupRequest, ctx: &mut OfferContext<'_>) -> Verdict;

    /// Whether `request` would start now if the running groups `released` were gone,
    /// answered by a trial placement that is rolled back (the layer is left as it was).
    /// A preemptive policy's suspension is carried out only when it holds: a victim
    /// whose release does not let the preemptor start (its GPUs are not in the shape the
    /// group needs) would be resumed at once and suspended again on the next pass.
    fn fits_without(&mut self, request: &GroupRequest, released: &[String]) -> bool;

    /// A group leaves; unknown names are ignored.
    fn release(&mut self, group: &str);

    /// Marks a node healthy or bad. Fails on an unknown node.
    fn set_node_health(&mut self, node: &str, healthy: bool) -> Result<(), String>;

    /// Running groups downgraded to opportunistic since the last call.
    fn take_downgraded(&mut self) -> Vec<String> {
        Vec::new()
    }

    /// True when the layer has already admitted this waiting group and holds resources
    /// for it, so that it only waits for room (Kueue: admitted by quota, pods pending):
    /// the policy may not hold it back, or it would keep what others wait for.
    /// Default: false.
    fn admitted_waiting(&self, _request: &GroupRequest) -> bool {
        false
    }

    /// The engine shortcuts the layer's answers are safe with (default: all); the
    /// model uses those both its layer and its policy allow.
    fn shortcuts(&self) -> Shortcuts {
        Shortcuts::ALL
    }

    /// See [`crate::sched::Scheduler::take_woken`]: a layer that tracks which waiting
    /// groups a change concerns names them and returns true (default: false).
    fn take_woken(&mut self, _woken: &mut Vec<String>) -> bool {
        false
    }
}

/// The layer called `name` over `config`.
pub fn layer_by_name(
    name: &str,
    config: &CellConfig,
    options: &ModelOptions,
) -> Result<Box<dyn Layer>, String> {
    match name {
        hived::NAME => Ok(Box::new(hived::Hived::new(config))),
        yarn_cs::NAME => Ok(Box::new(yarn_cs::YarnCs::new(config, &options.yarn_cs)?)),
        isolated::NAME => Ok(Box::new(isolated::Isolated::new(config))),
        shared::NAME => Ok(Box::new(shared::Shared::new(config))),
        kueue::NAME => {
            let kueue = match &options.kueue {
                Some(kueue) => kueue::Kueue::new(config, kueue)?,
                None => kueue::Kueue::new(config, &kueue::KueueOptions::of_cluster(config))?,
            };
            Ok(Box::new(kueue))
        }
        other => Err(format!(
            "unknown layer {other:?}; use one of: {}",
            LAYER_NAMES.join(", ")
        )),
    }
}

/// Each layer's name, one-line summary and description.
pub fn descriptions() -> Vec<(&'static str, &'static str, &'static str)> {
    vec![
        (
            hived::NAME,
            "HiveD VC cells: guaranteed/opportunistic, priority preemption, VC safety",
            hived::DESCRIPTION,
        ),
        (
            yarn_cs::NAME,
            "YARN capacity scheduler: GPU-count quotas, borrowing, reclaim",
            yarn_cs::DESCRIPTION,
        ),
        (
            isolated::NAME,
            "each VC alone on its own cells, no borrowing (private clusters)",
            isolated::DESCRIPTION,
        ),
        (
            shared::NAME,
            "one pool for the whole cluster, no VCs",
            shared::DESCRIPTION,
        ),
        (
            kueue::NAME,
            "Kubernetes Kueue: ClusterQueue quotas, cohorts, flavors, preemption",
            kueue::DESCRIPTION,
        ),
    ]
}

/// The rejection `hived` and `isolated` give a group of CPU-only pods (no GPU, as openb's
/// CPU pods under `--fractional share`): the HiveD allocator places GPUs, and in a real
/// cluster kube-scheduler places such pods beside HiveD; `None` for a group with GPUs.
pub(crate) fn refuse_cpu_only(request: &GroupRequest, layer: &str) -> Option<Verdict> {
    request
        .members
        .iter()
        .all(|m| m.leaf_cell_number == 0)
        .then(|| {
            Verdict::Reject(format!(
                "its pods ask for no GPU, and the {layer} layer places GPUs only (kube-scheduler \
                 places CPU-only pods beside HiveD); replay it under a pool layer ({}), or \
                 with --fractional whole or skip to leave CPU-only pods out",
                POOL_LAYERS.join(", ")
            ))
        })
}

/// The kind and numbers of an allocator wait reason, with `sentence` for people.
/// Fragmentation is a gang wait when the group has more than one pod (its GPUs are free
/// but not all at once where its pods fit), a shape wait otherwise.
pub(crate) fn allocator_wait(
    reason: &WaitReason,
    request: &GroupRequest,
    sentence: String,
) -> Wait {
    let needed = request.leaf_count();
    let (kind, free) = match reason {
        WaitReason::Quota { available, .. } => (WaitKind::Quota, Some(*available)),
        WaitReason::Fragmentation { available, .. } => {
            let kind = if request.pod_count() > 1 {
                WaitKind::Gang
            } else {
                WaitKind::Shape
            };
            (kind, Some(*available))
        }
        WaitReason::BadNodes { .. } => (WaitKind::BadNode, None),
        WaitReason::InsufficientCapacity { available, .. } => {
            (WaitKind::Capacity, Some(*available))
        }
        WaitReason::PreemptionInProgress { .. } => (WaitKind::Preempting, None),
        // The simulator suggests no nodes, so only a bad node cancels a preemption.
        WaitReason::PreemptionCanceled { .. } => (WaitKind::BadNode, None),
    };
    Wait::new(kind, needed, free, sentence)
}

/// The reason's sentence. Most offers on a busy cluster wait, so the text is written into
/// a buffer sized for it at once instead of one grown piece by piece.
pub(crate) fn reason_text(reason: &WaitReason) -> String {
    use std::fmt::Write as _;
    /// Room for the longest usual wait sentence (the quota one, about 200 bytes).
    const WAIT_TEXT_CAPACITY: usize = 256;
    let mut text = String::with_capacity(WAIT_TEXT_CAPACITY);
    let _ = write!(text, "{reason}");
    text
}
