//! The `yarn-cs` layer: what most shared clusters run, the YARN capacity scheduler with
//! GPU-count quotas. Each VC's quota is the device count of its HiveD cells; a VC may
//! borrow idle GPUs of others up to its maximum capacity; when a VC within its quota
//! cannot place a group, GPUs are reclaimed by preempting groups of VCs that use more
//! than their quota, youngest first. Placement goes through the shared pool (`sched/pool.rs`) (same
//! cell tree and packing as `hived`, but no VC topology guarantees).

use std::collections::{BTreeMap, HashSet};

use super::Layer;
use crate::cell::{GroupMember, GroupRequest, Victim};
use crate::config::CellConfig;
use crate::sched::pool::{Pool, PoolAnswer};
use crate::sched::{OfferContext, Verdict, Wait, WaitKind};
use crate::sim::SimTimeMs;

/// The layer's name (and, alone, the model `yarn-cs+priority`).
pub const NAME: &str = "yarn-cs";

/// What the layer does and does not model.
pub const DESCRIPTION: &str = "YARN capacity scheduler with GPU-count quotas: each VC's quota \
is the number of GPUs in its HiveD cells; a VC may borrow idle GPUs of other VCs up to its \
maximum capacity (default 100% of the cluster, set with yarnCs.maxCapacityPercent in a \
scenario); when a VC within its quota cannot place a group, it reclaims GPUs by preempting \
groups of VCs above their quota, youngest first. Placement uses the same physical cell tree and \
packing as hived, but with no VC topology guarantee (a quota is a count, not a shape). Does not \
model: per-SKU quotas, user limits, priority preemption inside a queue (priority only orders \
the queue), opportunistic jobs (they count as ordinary jobs of their VC), pinned cells, \
container-level (partial gang) preemption.";

/// Settings of `yarn-cs`, from a scenario's `yarnCs` key.
#[derive(Debug, Clone, PartialEq)]
pub struct YarnOptions {
    /// Maximum capacity of every VC, in percent of the cluster's GPUs (default 100).
    pub max_capacity_percent: u32,
    /// Per-VC overrides of the maximum capacity, in percent.
    pub vc_max_capacity_percent: BTreeMap<String, u32>,
}

impl Default for YarnOptions {
    fn default() -> Self {
        Self {
            max_capacity_percent: 100,
            vc_max_capacity_percent: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone)]
struct Running {
    vc: String,
    priority: i32,
    gpus: u32,
    /// The chain (top-level cell type) its GPUs are in.
    chain: String,
    started_ms: SimTimeMs,
    /// Start order, to break ties between groups started at the same time.
    seq: u64,
}

/// The capacity scheduler: quotas and borrowing here, packing in the pool.
#[derive(Debug, Clone)]
pub struct YarnCs {
    pool: Pool,
    quota: BTreeMap<String, u32>,
    max_capacity: BTreeMap<String, u32>,
    total_gpus: u32,
    usage: BTreeMap<String, u32>,
    /// Per chain: its leaf cell type, its GPUs, and the GPUs running groups hold in it.
    /// Only for a cheap bound on what a reclaim could free (see `reclaim`).
    chains: BTreeMap<String, ChainUse>,
    /// Requests (by VC and shape) whose reclaim failed since the pool last changed: the
    /// same reclaim would fail again, and trying it copies the pool. Cleared on every
    /// start, release and node health change.
    failed_reclaims: HashSet<ReclaimKey>,
    running: BTreeMap<String, Running>,
    next_seq: u64,
}

/// What a reclaim's outcome depends on besides the model's state: the requesting VC and
/// the request's GPU type and pod shapes (not its name).
type ReclaimKey = (String, Option<String>, Vec<GroupMember>);

#[derive(Debug, Clone)]
struct ChainUse {
    leaf_type: String,
    gpus: u64,
    used: u64,
}

impl YarnCs {
    /// A `yarn-cs` model over `config`. Fails when an option names an unknown VC or a
    /// percentage outside 1..=100.
    pub fn new(config: &CellConfig, options: &YarnOptions) -> Result<YarnCs, String> {
        let quota = crate::sched::guaranteed_gpus(config);
        let total_gpus: u64 = config.physical_cells.iter().map(|c| c.leaf_count()).sum();
        let total_gpus = u32::try_from(total_gpus).unwrap_or(u32::MAX);
        let check = |what: &str, pct: u32| {
            if (1..=100).contains(&pct) {
                Ok(())
            } else {
                Err(format!(
                    "yarn-cs {what} is {pct}%: use a percentage from 1 to 100"
                ))
            }
        };
        check("maxCapacityPercent", options.max_capacity_percent)?;
        for (vc, &pct) in &options.vc_max_capacity_percent {
            if !quota.contains_key(vc) {
                return Err(format!(
                    "yarn-cs vcMaxCapacityPercent names VC {vc:?}, which is not in the cluster config; use one of: {}",
                    quota.keys().cloned().collect::<Vec<_>>().join(", ")
                ));
            }
            check(&format!("vcMaxCapacityPercent.{vc}"), pct)?;
        }
        let max_capacity = quota
            .iter()
            .map(|(vc, &q)| {
                let pct = options
                    .vc_max_capacity_percent
                    .get(vc)
                    .copied()
                    .unwrap_or(options.max_capacity_percent);
                let cap = (u64::from(total_gpus) * u64::from(pct) / 100) as u32;
                // A maximum below the guarantee would make the quota unusable.
                (vc.clone(), cap.max(q))
            })
            .collect();
        let mut chains: BTreeMap<String, ChainUse> = BTreeMap::new();
        for cell in &config.physical_cells {
            let entry = chains
                .entry(cell.cell_type.clone())
                .or_insert_with(|| ChainUse {
                    leaf_type: config.leaf_type_of(&cell.cell_type).to_string(),
                    gpus: 0,
                    used: 0,
                });
            entry.gpus += cell.leaf_count();
        }
        Ok(YarnCs {
            pool: Pool::new(config),
            chains,
            failed_reclaims: HashSet::new(),
            usage: quota.keys().map(|vc| (vc.clone(), 0)).collect(),
            quota,
            max_capacity,
            total_gpus,
            running: BTreeMap::new(),
            next_seq: 0,
        })
    }

    /// Places through `pool` from now on (a model's placement); called before any offer.
    pub(crate) fn replace_pool(&mut self, pool: Pool) {
        self.pool = pool;
    }

    /// GPUs each VC uses now.
    pub fn usage(&self) -> &BTreeMap<String, u32> {
        &self.usage
    }

    /// Running groups to preempt, youngest first, so that `request` fits; `None` when
    /// reclaiming from VCs above their quota cannot make it fit.
    fn reclaim(&mut self, request: &GroupRequest) -> Option<Vec<Victim>> {
        // Every running group of a VC above its quota (other than the requester's) is a
        // candidate, so what they hold is those VCs' usage: check that free plus
        // reclaimable GPUs can cover the request before looking at any group. This runs
        // for every waiting group on every pass, so it must not cost a scan of them all.
        let over_quota: Vec<&String> = self
            .usage
            .iter()
            .filter(|(vc, used)| *vc != &request.virtual_cluster && **used > self.quota[*vc])
            .map(|(vc, _)| vc)
            .collect();
        let used: u64 = self.usage.values().map(|&u| u64::from(u)).sum();
        let free = u64::from(self.total_gpus).saturating_sub(used);
        let reclaimable: u64 = over_quota.iter().map(|vc| u64::from(self.usage[*vc])).sum();
        if free + reclaimable < request.leaf_count() {
            return None;
        }
        let mut candidates: Vec<(&String, &Running)> = self
            .running
            .iter()
            .filter(|(_, r)| over_quota.contains(&&r.vc))
            .collect();
        // The same bound per GPU type: the request's GPUs must come from chains of its
        // type, so their free GPUs plus what candidates hold there must cover it.
        if let Some(leaf_type) = request.leaf_cell_type.as_deref() {
            let serves = |chain: &str| {
                self.chains
                    .get(chain)
                    .is_some_and(|c| c.leaf_type == leaf_type)
            };
            let free_here: u64 = self
                .chains
                .values()
                .filter(|c| c.leaf_type == leaf_type)
                .map(|c| c.gpus.saturating_sub(c.used))
                .sum();
            let reclaimable_here: u64 = candidates
                .iter()
                .filter(|(_, r)| serves(&r.chain))
                .map(|(_, r)| u64::from(r.gpus))
                .sum();
            if free_here + reclaimable_here < request.leaf_count() {
                return None;
            }
        }
        candidates.sort_by_key(|(name, r)| (std::cmp::Reverse((r.started_ms, r.seq)), *name));
        // Try on the pool itself, rolled back, so that a reclaim that cannot help changes
        // nothing and nothing is copied.
        let mut usage = self.usage.clone();
        let mut trial = self.pool.trial();
        let mut victims = Vec::new();
        for (name, r) in candidates {
            if usage[&r.vc] <= self.quota[&r.vc] {
                continue; // that VC is back within its quota
            }
            let pods = trial.placement(name).map(|p| p.pods).unwrap_or_default();
            trial.release(name);
            *usage.get_mut(&r.vc).expect("known VC") -= r.gpus;
            victims.push(Victim {
                group: name.clone(),
                virtual_cluster: r.vc.clone(),
                priority: r.priority,
                pods,
            });
            if trial.fits(request) {
                return Some(victims);
            }
        }
        None
    }
}

impl Layer for YarnCs {
    fn name(&self) -> &'static str {
        NAME
    }

    fn describe(&self) -> &'static str {
        DESCRIPTION
    }

    fn share_gpus(&self, vc: &str) -> Option<u64> {
        self.quota.get(vc).map(|&q| u64::from(q))
    }

    fn offer(&mut self, request: &GroupRequest, ctx: &mut OfferContext<'_>) -> Verdict {
        let vc = &request.virtual_cluster;
        let Some(&quota) = self.quota.get(vc) else {
            return Verdict::Reject(format!(
                "unknown virtual cluster {vc:?}; use one of the VCs in the config: {}",
                self.quota.keys().cloned().collect::<Vec<_>>().join(", ")
            ));
        };
        let needed = request.leaf_count();
        let max = self.max_capacity[vc];
        if needed > u64::from(max) {
            return Verdict::Reject(format!(
                "group {:?} needs {needed} GPUs but VC {vc:?} may use at most {max} (its yarn-cs maximum capacity); \
                 ask for fewer GPUs, use gangAllocation: false, or raise yarnCs.maxCapacityPercent",
                request.name
            ));
        }
        let used = self.usage[vc];
        if u64::from(used) + needed > u64::from(max) {
            return Verdict::Wait(Wait::new(
                WaitKind::Quota,
                needed,
                Some(u64::from(max.saturating_sub(used))),
                format!(
                    "waiting for VC capacity: VC {vc} uses {used} GPUs and may use at most {max} \
                     (its maximum capacity); this group needs {needed} more"
                ),
            ));
        }
        match self.pool.place(request) {
            PoolAnswer::Bind(placement) => {
                let gpus = u32::try_from(needed).unwrap_or(u32::MAX);
                *self.usage.get_mut(vc).expect("known VC") += gpus;
                if let Some(chain) = self.chains.get_mut(&placement.chain) {
                    chain.used += u64::from(gpus);
                }
                self.failed_reclaims.clear();
                self.running.insert(
                    request.name.clone(),
                    Running {
                        vc: vc.clone(),
                        priority: request.priority,
                        gpus,
                        chain: placement.chain.clone(),
                        started_ms: ctx.now_ms,
                        seq: self.next_seq,
                    },
                );
                self.next_seq += 1;
                Verdict::Start(placement)
            }
            PoolAnswer::Reject(reason) => Verdict::Reject(reason),
            PoolAnswer::Wait(reason) => {
                let within_quota = u64::from(used) + needed <= u64::from(quota);
                if within_quota {
                    let key: ReclaimKey = (
                        vc.clone(),
                        request.leaf_cell_type.clone(),
                        request.members.clone(),
                    );
                    if !self.failed_reclaims.contains(&key) {
                        if let Some(victims) = self.reclaim(request) {
                            return Verdict::Preempt(victims);
                        }
                        self.failed_reclaims.insert(key);
                    }
                    Verdict::Wait(reason)
                } else {
                    // Kept of the pool's kind: the group waits for free GPUs (or a
                    // shape) like one within its quota, it just may not reclaim them.
                    let sentence = format!(
                        "{reason}; VC {vc} would exceed its quota of {quota} GPUs, so it can only borrow idle GPUs"
                    );
                    Verdict::Wait(Wait { sentence, ..reason })
                }
            }
        }
    }

    fn fits_without(&mut self, request: &GroupRequest, released: &[String]) -> bool {
        // Quotas first: the released groups give their VCs' usage back.
        let vc = &request.virtual_cluster;
        let (Some(&used), Some(&max)) = (self.usage.get(vc), self.max_capacity.get(vc)) else {
            return false;
        };
        let freed: u64 = released
            .iter()
            .filter_map(|g| self.running.get(g))
            .filter(|r| &r.vc == vc)
            .map(|r| u64::from(r.gpus))
            .sum();
        if (u64::from(used) - freed) + request.leaf_count() > u64::from(max) {
            return false;
        }
        self.pool.fits_without(request, released)
    }

    fn release(&mut self, group: &str) {
        if let Some(r) = self.running.remove(group) {
            *self.usage.get_mut(&r.vc).expect("known VC") -= r.gpus;
            if let Some(chain) = self.chains.get_mut(&r.chain) {
                chain.used = chain.used.saturating_sub(u64::from(r.gpus));
            }
        }
        self.pool.release(group);
        self.failed_reclaims.clear();
    }

    fn set_node_health(&mut self, node: &str, healthy: bool) -> Result<(), String> {
        self.failed_reclaims.clear();
        self.pool.set_node_health(node, healthy)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::pool::tests::{TWO_NODE_CLUSTER, group};
    use rand::SeedableRng;

    #[test]
    fn a_vc_borrows_idle_gpus_and_the_owner_reclaims_them() {
        let config = crate::config::load_str(TWO_NODE_CLUSTER, "t").unwrap();
        let mut model = YarnCs::new(&config, &YarnOptions::default()).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let mut ctx = OfferContext {
            now_ms: 0,
            rng: &mut rng,
        };
        // vc1 (quota 1) runs two 1-GPU groups: the second borrows default's GPU.
        assert!(matches!(
            model.offer(&group("a", "vc1", 10, 1), &mut ctx),
            Verdict::Start(_)
        ));
        ctx.now_ms = 5;
        assert!(matches!(
            model.offer(&group("b", "vc1", 10, 1), &mut ctx),
            Verdict::Start(_)
        ));
        assert_eq!(model.usage()["vc1"], 2);
        // The owner, within its quota, reclaims: the youngest vc1 group goes.
        let owner = group("c", "default", 10, 1);
        let Verdict::Preempt(victims) = model.offer(&owner, &mut ctx) else {
            panic!("the owner should reclaim");
        };
        assert_eq!(
            victims.iter().map(|v| v.group.as_str()).collect::<Vec<_>>(),
            ["b"]
        );
        model.release("b");
        assert!(matches!(model.offer(&owner, &mut ctx), Verdict::Start(_)));
        // vc1 at its quota may not take default's GPU back.
        match model.offer(&group("b", "vc1", 10, 1), &mut ctx) {
            Verdict::Wait(reason) => assert!(reason.sentence.contains("quota of 1"), "{reason}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn maximum_capacity_limits_borrowing() {
        let config = crate::config::load_str(TWO_NODE_CLUSTER, "t").unwrap();
        let options = YarnOptions {
            max_capacity_percent: 50,
            ..YarnOptions::default()
        };
        let mut model = YarnCs::new(&config, &options).unwrap();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let mut ctx = OfferContext {
            now_ms: 0,
            rng: &mut rng,
        };
        assert!(matches!(
            model.offer(&group("a", "vc1", 10, 1), &mut ctx),
            Verdict::Start(_)
        ));
        match model.offer(&group("b", "vc1", 10, 1), &mut ctx) {
            Verdict::Wait(reason) => assert!(reason.sentence.contains("at most 1"), "{reason}"),
            other => panic!("{other:?}"),
        }
        assert!(
            YarnCs::new(
                &config,
                &YarnOptions {
                    max_capacity_percent: 0,
                    ..YarnOptions::default()
                }
            )
            .is_err()
        );
    }
}
