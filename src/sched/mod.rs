//! Scheduler models. A model is an inter-VC **layer** (who may use which GPUs:
//! [`layers`]) plus an intra-VC **policy** (which waiting group goes next and which
//! running one yields: [`policies`]), named `LAYER+POLICY` (`hived+tiresias`,
//! `yarn-cs+srtf`) and built by [`model_by_name`]. The engine sees a model only through
//! the [`Scheduler`] trait; [`Model`] composes a layer and a policy into one.
//!
//! The allocator of `cell/` owns the cluster state and does every placement, so
//! placements of different models are comparable. Models keep no clock and no global
//! RNG: time and the run's RNG come in through [`OfferContext`], job progress through
//! [`GroupProgress`].
//!
//! Today's three names keep their meaning: `hived` = `hived+priority`, `yarn-cs` =
//! `yarn-cs+priority` (its queue has always been ordered by priority, then submit time),
//! `fifo` = `shared+fifo` (one queue, strict order); `kueue` = `kueue+priority` (Kueue's
//! own order: priority, then creation).
//!
//! A third part names the placement scorer the layer places with,
//! `LAYER+POLICY+PLACEMENT` (`shared+fifo+fgd`): one of [`crate::placement::NAMES`].
//! Without it, placement is `topology`, today's packing on the cell tree. The layers
//! that place through the pool (`shared`, `yarn-cs`, `kueue`) take any placement;
//! `hived` and `isolated` place by their VCs' cells and take only `topology`.

pub mod layers;
mod model;
pub mod policies;
mod pool;
mod progress;
mod share_pool;
mod wait;

use std::collections::BTreeMap;

use rand_chacha::ChaCha8Rng;

use crate::cell::{GroupPlacement, GroupRequest, Victim};
use crate::config::CellConfig;
use crate::sim::SimTimeMs;

pub use layers::hived::{self, Hived};
pub use layers::yarn_cs::{self, YarnCs};
pub use layers::{LAYER_NAMES, Layer, layer_by_name};
pub use model::Model;
pub use policies::{POLICY_NAMES, Policy, policy_by_name};
pub use progress::GroupProgress;
pub use share_pool::ShareOptions;
pub use wait::{Wait, WaitKind};

/// The models runs use when a scenario names none, in the order reports list them:
/// today's three (`hived`, `yarn-cs`, `fifo`). Any `LAYER+POLICY` name is valid too
/// ([`check_model_name`]).
pub const MODEL_NAMES: [&str; 3] = [hived::NAME, yarn_cs::NAME, FIFO];

/// The short name of `shared+fifo`, today's `fifo` model.
pub const FIFO: &str = "fifo";

/// The short names and the `LAYER+POLICY` pair each one means.
pub const ALIASES: [(&str, &str, &str); 4] = [
    (hived::NAME, layers::hived::NAME, policies::priority::NAME),
    (
        yarn_cs::NAME,
        layers::yarn_cs::NAME,
        policies::priority::NAME,
    ),
    (FIFO, layers::shared::NAME, policies::fifo::NAME),
    (
        layers::kueue::NAME,
        layers::kueue::NAME,
        policies::priority::NAME,
    ),
];

/// What a model answers when a waiting group is offered to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The group runs here now; the placement is committed.
    Start(GroupPlacement),
    /// These running groups must go first; they restart from their last checkpoint (the
    /// layer's preemption: HiveD priorities, YARN reclaim). The caller releases each
    /// victim with [`Scheduler::release`] (in the order given) and offers the same
    /// request again at the same time, which then answers `Start`.
    Preempt(Vec<Victim>),
    /// These running groups (by name) are suspended and keep their progress (a
    /// preemptive policy: SRTF, Tiresias); then the request is offered again, as for
    /// `Preempt`.
    Suspend(Vec<String>),
    /// Not now. Offer it again later.
    Wait(Wait),
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

/// How strictly the queue is served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StrictOrder {
    /// Every waiting group is offered; a group that must wait blocks nobody.
    No,
    /// A group that must wait blocks the later groups of its VC (head-of-line blocking
    /// per VC queue).
    PerVc,
    /// A group that must wait blocks every later group (one queue).
    Global,
}

/// The engine's shortcuts a model declares safe. Each one skips offers whose answer
/// cannot have changed; a policy whose answers depend on more than free cells turns
/// them off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shortcuts {
    /// A group that waited is offered again only after something was freed (or at a
    /// timer): until then its answer would not change.
    pub waits_hold_until_free: bool,
    /// Within a pass, once a group of some request class (VC, priority, shape) waited,
    /// later groups of that class wait for the same reason without being asked.
    pub same_class_same_answer: bool,
}

impl Shortcuts {
    /// Both shortcuts on: the answer depends only on the request's class and on free
    /// cells, and a later group in queue order never gets more than an earlier one.
    pub const ALL: Shortcuts = Shortcuts {
        waits_hold_until_free: true,
        same_class_same_answer: true,
    };
    /// Both off: every waiting group is offered in every pass.
    pub const NONE: Shortcuts = Shortcuts {
        waits_hold_until_free: false,
        same_class_same_answer: false,
    };
}

/// Which of the engine's calls a model listens to besides offers and releases; the
/// engine skips the others (they cost a call per start, stop and pass on the fast path).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hooks {
    /// [`Scheduler::started`] and [`Scheduler::stopped`].
    pub runs: bool,
    /// [`Scheduler::pass_started`].
    pub passes: bool,
    /// [`Scheduler::next_timer`] and [`Scheduler::on_timer`].
    pub timers: bool,
}

impl Hooks {
    /// Every hook.
    pub const ALL: Hooks = Hooks {
        runs: true,
        passes: true,
        timers: true,
    };
    /// None: the model only ranks, answers offers and hears releases.
    pub const NONE: Hooks = Hooks {
        runs: false,
        passes: false,
        timers: false,
    };
}

/// A scheduler model as the engine sees it. The engine offers waiting groups in queue
/// order (the model's [`Scheduler::rank`], then submit time, then job and group order),
/// tells the model when groups start and stop, when nodes fail or return, and wakes it at
/// the timers it asks for.
pub trait Scheduler {
    /// The model's name as scenarios and the CLI spell it (`hived`, `yarn-cs+srtf`).
    fn name(&self) -> &str;

    /// What the model does and does not model, for `--help` and reports.
    fn describe(&self) -> String;

    /// How strictly the queue is served (default: not at all).
    fn strict_order(&self) -> StrictOrder {
        StrictOrder::No
    }

    /// The engine shortcuts this model is safe with (default: all).
    fn shortcuts(&self) -> Shortcuts {
        Shortcuts::ALL
    }

    /// The hooks the model listens to (default: all); asked once per run.
    fn hooks(&self) -> Hooks {
        Hooks::ALL
    }

    /// The group's place in the queue: lower goes first; ties go by submit time, then
    /// job and group order. Asked when the group joins the queue (and again when
    /// [`Scheduler::on_timer`] names it). Default: priority, highest first.
    fn rank(&mut self, group: &GroupProgress<'_>) -> i64 {
        -i64::from(group.request.priority)
    }

    /// Decide about one group. `request.name` is unique among live groups.
    fn offer(&mut self, request: &GroupRequest, ctx: &mut OfferContext<'_>) -> Verdict;

    /// A group leaves (finished, killed, preempted, suspended, or its node failed).
    /// Unknown names are ignored, so releasing twice is harmless.
    fn release(&mut self, group: &str);

    /// Marks a node healthy or bad. Groups on a bad node keep their cells until released.
    /// Fails on an unknown node.
    fn set_node_health(&mut self, node: &str, healthy: bool) -> Result<(), String>;

    /// Running groups that were downgraded to opportunistic (lazy preemption) since the
    /// last call; they keep running. Models without lazy preemption return nothing.
    fn take_downgraded(&mut self) -> Vec<String> {
        Vec::new()
    }

    /// A group started running (after an offer answered `Start`).
    fn started(&mut self, _group: &GroupProgress<'_>) {}

    /// A running group stops (finished, killed, preempted, suspended, node failed),
    /// before it is released; its progress includes the run that ends.
    fn stopped(&mut self, _group: &GroupProgress<'_>) {}

    /// A pass over the queue begins at `now_ms`.
    fn pass_started(&mut self, _now_ms: SimTimeMs) {}

    /// The next time the model wants to be woken (a queue threshold, a promotion), if
    /// any: asked after every pass; times not after the current one are ignored.
    fn next_timer(&self) -> Option<SimTimeMs> {
        None
    }

    /// The timer came: returns the waiting groups whose rank changed (the engine asks
    /// their rank again). A full pass follows.
    fn on_timer(&mut self, _now_ms: SimTimeMs) -> Vec<String> {
        Vec::new()
    }

    /// Extra run time a suspended group needs when it resumes (restoring its state).
    fn resume_delay_ms(&self) -> SimTimeMs {
        0
    }

    /// The waiting groups whose answer may have changed since they last waited, for a
    /// model that tracks them (Kueue requeues only the workloads of a cohort tree where
    /// quota was released): appends their names to `woken` and returns true. Asked
    /// before each pass of a model without strict order; while it returns true the
    /// engine offers only the groups named and the new ones, not every waiting group
    /// after each release. The default returns false (the model does not track them):
    /// every waiting group is offered after something is freed. A wrapper that does
    /// not forward this call thus only loses speed, never a wake-up.
    fn take_woken(&mut self, _woken: &mut Vec<String>) -> bool {
        false
    }

    /// True when the model picks the order in which the groups of a pass are offered
    /// (Kueue's fair sharing orders across ClusterQueues by share, which changes with
    /// each admission). The engine then hands it each pass's groups in queue order
    /// ([`Scheduler::plan_offers`]) and offers them in the order
    /// [`Scheduler::next_offer`] names. Asked once per run; default false.
    fn orders_offers(&self) -> bool {
        false
    }

    /// The groups a pass is about to offer, in queue order.
    fn plan_offers(&mut self, _groups: &[&GroupRequest]) {}

    /// The index, in the last [`Scheduler::plan_offers`] list, of the group to offer
    /// next, each once; `None` when the pass is done.
    fn next_offer(&mut self) -> Option<usize> {
        None
    }
}

/// Per-scenario settings of the models; defaults when a scenario says nothing.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ModelOptions {
    /// `yarn-cs` layer settings.
    pub yarn_cs: yarn_cs::YarnOptions,
    /// `tiresias` policy settings.
    pub tiresias: policies::tiresias::TiresiasOptions,
    /// `easy` policy settings.
    pub easy: policies::easy::EasyOptions,
    /// `kueue` layer settings: the Kueue objects and each flavor's nodes (replay
    /// `--kueue`); `None` reads the cluster's VCs as ClusterQueues.
    pub kueue: Option<std::sync::Arc<layers::kueue::KueueOptions>>,
    /// Extra run time a suspended group needs to resume, for preemptive policies
    /// (`srtf`, `tiresias`).
    pub resume_delay_ms: SimTimeMs,
    /// GPU sharing: nodes' CPU and memory, the workload's typical pods (for `fgd`),
    /// whether pods carry shares; `None`: whole GPUs, unlimited CPU and memory, typical
    /// pods estimated from nothing (one whole GPU).
    pub sharing: Option<std::sync::Arc<ShareOptions>>,
}

/// The layer and policy a model name means: `LAYER+POLICY[+PLACEMENT]`, or one of the
/// short names of [`ALIASES`]. The error lists what is known.
pub fn parse_model_name(name: &str) -> Result<(&'static str, &'static str), String> {
    parse_model_parts(name).map(|(layer, policy, _)| (layer, policy))
}

/// The layer, policy and placement (`None` when the name has no third part) a model
/// name means (see [`parse_model_name`]). A layer that places by its own cells refuses a
/// placement other than `topology`.
pub fn parse_model_parts(
    name: &str,
) -> Result<(&'static str, &'static str, Option<&'static str>), String> {
    let (pair, placement) = match name.split('+').collect::<Vec<_>>().as_slice() {
        [layer, policy, placement] => (&name[..layer.len() + 1 + policy.len()], Some(*placement)),
        _ => (name, None),
    };
    let (layer, policy) = parse_pair(pair, name)?;
    let Some(placement) = placement else {
        return Ok((layer, policy, None));
    };
    let placement = crate::placement::NAMES
        .iter()
        .find(|p| **p == placement)
        .ok_or_else(|| {
            format!(
                "unknown placement {placement:?} in model {name:?}; use LAYER+POLICY+PLACEMENT with a placement of {}",
                crate::placement::NAMES.join(", ")
            )
        })?;
    if *placement != crate::placement::NAMES[0] && !layers::takes_placement(layer) {
        return Err(format!(
            "model {name:?}: the {layer} layer places by its virtual clusters' cells (HiveD's cell \
             tree) and takes no placement but topology; use placement {placement} with a layer \
             that places through the shared pool ({}), or drop \"+{placement}\"",
            layers::POOL_LAYERS.join(", ")
        ));
    }
    Ok((layer, policy, Some(*placement)))
}

/// [`parse_model_parts`] without the placement: `LAYER+POLICY` or a short name.
fn parse_pair(name: &str, full: &str) -> Result<(&'static str, &'static str), String> {
    if let Some(&(_, layer, policy)) = ALIASES.iter().find(|(alias, _, _)| *alias == name) {
        return Ok((layer, policy));
    }
    let known = || {
        format!(
            "use LAYER+POLICY[+PLACEMENT] with a layer of {} and a policy of {} (e.g. hived+tiresias), or one of {}",
            LAYER_NAMES.join(", "),
            POLICY_NAMES.join(", "),
            MODEL_NAMES.join(", ")
        )
    };
    let Some((layer, policy)) = name.split_once('+') else {
        return Err(format!("unknown model {full:?}; {}", known()));
    };
    let layer = LAYER_NAMES
        .iter()
        .find(|l| **l == layer)
        .ok_or_else(|| format!("unknown layer {layer:?} in model {full:?}; {}", known()))?;
    let policy = POLICY_NAMES
        .iter()
        .find(|p| **p == policy)
        .ok_or_else(|| format!("unknown policy {policy:?} in model {full:?}; {}", known()))?;
    Ok((layer, policy))
}

/// Checks that `name` names a model (see [`parse_model_name`]).
pub fn check_model_name(name: &str) -> Result<(), String> {
    parse_model_name(name).map(|_| ())
}

/// The model called `name`, over the cluster `config`, with default options.
pub fn model_by_name(name: &str, config: &CellConfig) -> Result<Box<dyn Scheduler>, String> {
    model_with_options(name, config, &ModelOptions::default())
}

/// The model called `name` (`LAYER+POLICY` or a short name), over the cluster `config`,
/// with `options`. The model keeps the name it was asked by.
pub fn model_with_options(
    name: &str,
    config: &CellConfig,
    options: &ModelOptions,
) -> Result<Box<dyn Scheduler>, String> {
    let (layer, policy, placement) = parse_model_parts(name)?;
    let layer = layers::layer_for_model(layer, placement, config, options)?;
    let policy = policy_by_name(policy, options)?;
    Ok(Box::new(Model::new(name, layer, policy)))
}

/// The short names, layers and policies with a one-line summary and what each does and
/// does not model, for `cellsim models` and `--help`: (kind, name, summary, description).
pub fn model_descriptions() -> Vec<(&'static str, &'static str, String, String)> {
    let mut rows = Vec::new();
    for (alias, layer, policy) in ALIASES {
        let pair = format!("= {layer}+{policy}");
        rows.push(("model", alias, pair.clone(), pair));
    }
    for (name, summary, description) in layers::descriptions() {
        rows.push(("layer", name, summary.to_string(), description.to_string()));
    }
    for (name, summary, description) in policies::descriptions() {
        rows.push(("policy", name, summary.to_string(), description.to_string()));
    }
    rows
}

/// `cellsim models`: one line per short name, layer and policy (the first sentence of
/// each description), and how to name a model.
pub fn models_listing() -> String {
    let mut text = String::from("A model is LAYER+POLICY, e.g. hived+tiresias.\n");
    let mut kind_seen = "";
    for (kind, name, summary, _) in model_descriptions() {
        if kind != kind_seen {
            let heading = match kind {
                "model" => "short names",
                "layer" => "layers (who may use which GPUs)",
                _ => "policies (which waiting job goes next, which running one yields)",
            };
            text.push_str(&format!("\n{heading}:\n"));
            kind_seen = kind;
        }
        text.push_str(&format!("  {name:<9} {summary}\n"));
    }
    text.push_str(&format!(
        "\nplacements (optional third part, LAYER+POLICY+PLACEMENT, for {}; default topology):\n  {}\n",
        layers::POOL_LAYERS.join(", "),
        crate::placement::NAMES.join(", ")
    ));
    text
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
        for layer in LAYER_NAMES {
            for policy in POLICY_NAMES {
                let name = format!("{layer}+{policy}");
                let model = model_by_name(&name, &config).unwrap();
                assert_eq!(model.name(), name);
            }
        }
        let err = model_by_name("slurm", &config).err().unwrap();
        assert!(err.contains("hived, yarn-cs, fifo"), "{err}");
        let err = model_by_name("hived+lottery", &config).err().unwrap();
        assert!(err.contains("unknown policy \"lottery\""), "{err}");
        assert!(err.contains("tiresias"), "{err}");
    }

    #[test]
    fn short_names_mean_todays_pairs() {
        assert_eq!(parse_model_name("hived"), Ok(("hived", "priority")));
        assert_eq!(parse_model_name("yarn-cs"), Ok(("yarn-cs", "priority")));
        assert_eq!(parse_model_name("fifo"), Ok(("shared", "fifo")));
        assert_eq!(parse_model_name("isolated+sjf"), Ok(("isolated", "sjf")));
    }

    #[test]
    fn guarantees_count_devices_of_virtual_cells() {
        let config = crate::config::load_str(pool::tests::TWO_NODE_CLUSTER, "t").unwrap();
        let g = guaranteed_gpus(&config);
        assert_eq!(g["vc1"], 1);
        assert_eq!(g["default"], 1);
    }
}
