//! Scheduler models: the [`Scheduler`] trait the engine (and later the live server) calls,
//! and one file per model, chosen by name with [`model_by_name`]. A model decides; the
//! allocator of `cell/` owns the cluster state and does every placement, so placements of
//! different models are comparable. Models keep no clock and no global RNG: time and the
//! run's RNG come in through [`OfferContext`].
//!
//! - [`hived`]: the allocator as it is (VC cells, guaranteed / opportunistic, preemption).
//! - [`yarn_cs`]: YARN capacity scheduler, GPU-count quotas with borrowing and reclaim.
//! - [`fifo`]: one queue, strict order, packing, no VCs, no preemption.

pub mod fifo;
pub mod hived;
mod pool;
pub mod yarn_cs;

use std::collections::BTreeMap;

use rand_chacha::ChaCha8Rng;

use crate::cell::{GroupPlacement, GroupRequest, Victim};
use crate::config::CellConfig;
use crate::sim::SimTimeMs;

pub use fifo::Fifo;
pub use hived::Hived;
pub use yarn_cs::YarnCs;

/// Names of the models [`model_by_name`] knows, in the order reports list them.
pub const MODEL_NAMES: [&str; 3] = [hived::NAME, yarn_cs::NAME, fifo::NAME];

/// What a model answers when a waiting group is offered to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The group runs here now; the placement is committed.
    Start(GroupPlacement),
    /// These running groups must go first. The caller releases each victim with
    /// [`Scheduler::release`] (in the order given) and offers the same request again at
    /// the same time, which then answers `Start`.
    Preempt(Vec<Victim>),
    /// Not now; the reason is a sentence for a person. Offer it again later.
    Wait(String),
    /// Never, as written: the reason says what to change.
    Reject(String),
}

/// What the caller knows when it offers a group: the current time and the run's RNG
/// (one seeded RNG per run, passed explicitly; no model needs randomness today).
#[derive(Debug)]
pub struct OfferContext<'a> {
    /// Current simulation (or wall-clock) time.
    pub now_ms: SimTimeMs,
    /// The run's RNG.
    pub rng: &'a mut ChaCha8Rng,
}

/// A scheduler model. The engine offers waiting groups in queue order (priority, then
/// submit time, unless [`Scheduler::orders_by_priority`] is false), tells the model when
/// groups leave and when nodes fail or return.
pub trait Scheduler {
    /// The model's name as scenarios and the CLI spell it (`hived`, `yarn-cs`, `fifo`).
    fn name(&self) -> &'static str;

    /// What the model does and does not model, for `--help` and reports.
    fn describe(&self) -> &'static str;

    /// True when a waiting group blocks every group behind it in the queue (strict FIFO).
    fn head_of_line_blocking(&self) -> bool {
        false
    }

    /// True when the queue is ordered by priority first (then submit time); false for a
    /// pure submit-order queue.
    fn orders_by_priority(&self) -> bool {
        true
    }

    /// Decide about one group. `request.name` is unique among live groups.
    fn offer(&mut self, request: &GroupRequest, ctx: &mut OfferContext<'_>) -> Verdict;

    /// A group leaves (finished, killed, preempted, or its node failed). Unknown names are
    /// ignored, so releasing twice is harmless.
    fn release(&mut self, group: &str);

    /// Marks a node healthy or bad. Groups on a bad node keep their cells until released.
    /// Fails on an unknown node.
    fn set_node_health(&mut self, node: &str, healthy: bool) -> Result<(), String>;

    /// Running groups that were downgraded to opportunistic (lazy preemption) since the
    /// last call; they keep running. Models without lazy preemption return nothing.
    fn take_downgraded(&mut self) -> Vec<String> {
        Vec::new()
    }
}

/// Per-scenario settings of the models; defaults when a scenario says nothing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelOptions {
    /// `yarn-cs` settings.
    pub yarn_cs: yarn_cs::YarnOptions,
}

/// The model called `name`, over the cluster `config`, with default options.
pub fn model_by_name(name: &str, config: &CellConfig) -> Result<Box<dyn Scheduler>, String> {
    model_with_options(name, config, &ModelOptions::default())
}

/// The model called `name`, over the cluster `config`, with `options`.
pub fn model_with_options(
    name: &str,
    config: &CellConfig,
    options: &ModelOptions,
) -> Result<Box<dyn Scheduler>, String> {
    match name {
        hived::NAME => Ok(Box::new(Hived::new(config))),
        yarn_cs::NAME => Ok(Box::new(YarnCs::new(config, &options.yarn_cs)?)),
        fifo::NAME => Ok(Box::new(Fifo::new(config))),
        other => Err(format!(
            "unknown scheduler model {other:?}; use one of: {}",
            MODEL_NAMES.join(", ")
        )),
    }
}

/// What each model does and does not model, by name (for `--help` and reports).
pub fn model_descriptions() -> Vec<(&'static str, &'static str)> {
    vec![
        (hived::NAME, hived::DESCRIPTION),
        (yarn_cs::NAME, yarn_cs::DESCRIPTION),
        (fifo::NAME, fifo::DESCRIPTION),
    ]
}

/// GPUs (leaf cells) each VC of `config` is guaranteed: the leaf count of its virtual
/// cells plus its pinned cells.
pub fn guaranteed_gpus(config: &CellConfig) -> BTreeMap<String, u32> {
    config
        .virtual_clusters
        .iter()
        .map(|(name, spec)| {
            let virtual_cells: u64 = spec
                .virtual_cells
                .iter()
                .map(|c| u64::from(c.cell_number) * config.leaf_count_of(&c.cell_type))
                .sum();
            let pinned: u64 = spec
                .pinned_cells
                .iter()
                .filter_map(|id| config.pinned_cell(id))
                .map(|(cell, _)| cell.leaf_count())
                .sum();
            let total = u32::try_from(virtual_cells + pinned).unwrap_or(u32::MAX);
            (name.clone(), total)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_named_model_builds_and_says_its_name() {
        let config = crate::config::load_str(pool::tests::TWO_NODE_CLUSTER, "t").unwrap();
        for name in MODEL_NAMES {
            let model = model_by_name(name, &config).unwrap();
            assert_eq!(model.name(), name);
            assert!(!model.describe().is_empty());
        }
        let err = model_by_name("slurm", &config).err().unwrap();
        assert!(err.contains("hived, yarn-cs, fifo"), "{err}");
    }

    #[test]
    fn guarantees_count_devices_of_virtual_cells() {
        let config = crate::config::load_str(pool::tests::TWO_NODE_CLUSTER, "t").unwrap();
        let g = guaranteed_gpus(&config);
        assert_eq!(g["vc1"], 1);
        assert_eq!(g["default"], 1);
    }
}
