//! GPU shares under the HiveD layers (issue 18, `cell/leaf_share.rs`): hand-made cases
//! (two half-GPU pods of one VC share a leaf, two VCs' pods never do, a guaranteed group
//! preempting an opportunistic shared leaf makes every pod on it a victim, a gang rolls
//! back whole) and a model test: random clusters and random sequences of share groups,
//! whole-GPU groups and releases through the `hived` layer, checked after every step
//! against a reference kept here: no leaf over 1000 milli, a leaf's use is its pods'
//! shares, no leaf held twice or used by a whole-GPU group too, one VC per leaf, and
//! releasing everything gives back the allocator as it started.

use std::collections::{BTreeMap, BTreeSet};

use cellsim::cell::leaf_share::SharedLeaf;
use cellsim::cell::{GroupMember, GroupRequest, PodResources};
use cellsim::sched::layers::isolated::Isolated;
use cellsim::sched::{Hived, Layer, OfferContext, Verdict, WaitKind};
use proptest::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// One node of two GPUs; VCs `a` and `b` own one GPU each.
const TWO_VCS: &str = "
physicalCluster:
  cellTypes:
    NODE: {childCellType: T4, childCellNumber: 2, isNodeLevel: true}
  physicalCells:
  - {cellType: NODE, cellAddress: n0}
virtualClusters:
  a: {virtualCells: [{cellType: NODE.T4, cellNumber: 1}]}
  b: {virtualCells: [{cellType: NODE.T4, cellNumber: 1}]}
";

fn share_group(name: &str, vc: &str, priority: i32, shares: &[u32]) -> GroupRequest {
    GroupRequest {
        name: name.into(),
        virtual_cluster: vc.into(),
        priority,
        leaf_cell_type: None,
        pinned_cell_id: None,
        lazy_preemption_enable: false,
        ignore_k8s_suggested_nodes: true,
        members: shares
            .iter()
            .map(|&m| GroupMember {
                pod_number: 1,
                leaf_cell_number: 1,
                resources: Some(PodResources {
                    gpu_milli: Some(m),
                    ..PodResources::default()
                }),
            })
            .collect(),
    }
}

fn whole_group(name: &str, vc: &str, priority: i32, pods: u32) -> GroupRequest {
    GroupRequest {
        members: vec![GroupMember::whole(pods, 1)],
        ..share_group(name, vc, priority, &[])
    }
}

fn hived(config: &str) -> Hived {
    Hived::new(&cellsim::config::load_str(config, "t.yaml").unwrap())
}

fn offer(layer: &mut dyn Layer, request: &GroupRequest) -> Verdict {
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let mut ctx = OfferContext {
        now_ms: 0,
        rng: &mut rng,
    };
    layer.offer(request, &mut ctx)
}

fn devices(verdict: &Verdict) -> Vec<(String, Vec<u32>)> {
    match verdict {
        Verdict::Start(p) => p
            .pods
            .iter()
            .map(|pod| (pod.node.clone(), pod.devices.clone()))
            .collect(),
        other => panic!("expected a start, got {other:?}"),
    }
}

#[test]
fn two_half_gpu_pods_of_one_vc_share_a_leaf_and_a_third_waits() {
    let mut layer = hived(TWO_VCS);
    let first = devices(&offer(&mut layer, &share_group("p1", "a", 10, &[500])));
    let second = devices(&offer(&mut layer, &share_group("p2", "a", 10, &[500])));
    assert_eq!(first, second, "the second half goes onto the first's leaf");
    let leaves = layer.leaf_shares().leaves();
    assert_eq!(leaves.len(), 1);
    assert_eq!(leaves[0].used_milli, 1000);
    // VC a's one GPU is full: a third share of a waits for its quota.
    match offer(&mut layer, &share_group("p3", "a", 10, &[100])) {
        Verdict::Wait(w) => assert_eq!(w.kind, WaitKind::Quota, "{w}"),
        other => panic!("{other:?}"),
    }
    // The leaf goes back to the allocator with its last pod, exactly as taken.
    Layer::release(&mut layer, "p1");
    assert_eq!(layer.leaf_shares().leaves()[0].used_milli, 500);
    Layer::release(&mut layer, "p2");
    assert!(layer.leaf_shares().leaves().is_empty());
    assert_eq!(layer.allocator().group_count(), 0);
}

#[test]
fn pods_of_two_vcs_never_share_a_leaf() {
    let mut layer = hived(TWO_VCS);
    let a = devices(&offer(&mut layer, &share_group("pa", "a", 10, &[300])));
    let b = devices(&offer(&mut layer, &share_group("pb", "b", 10, &[300])));
    assert_ne!(a, b, "each VC takes its own leaf");
    // Nor do two priorities of one VC: a higher one does not join a lower one's leaf (a
    // preemptor between the two could take it); with a's one GPU held, it preempts.
    match offer(&mut layer, &share_group("pa-prod", "a", 100, &[300])) {
        Verdict::Preempt(victims) => {
            let names: Vec<&str> = victims.iter().map(|v| v.group.as_str()).collect();
            assert_eq!(
                names,
                ["pa"],
                "a higher priority takes the leaf, not a share"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_guaranteed_group_preempts_every_pod_on_an_opportunistic_shared_leaf() {
    let mut layer = hived(TWO_VCS);
    let o1 = devices(&offer(&mut layer, &share_group("o1", "b", -1, &[500])));
    let o2 = devices(&offer(&mut layer, &share_group("o2", "b", -1, &[400])));
    assert_eq!(o1, o2, "opportunistic shares of one VC share a leaf");
    // b's guaranteed GPU goes to the free leaf; a then needs the shared one.
    let _ = devices(&offer(&mut layer, &whole_group("gb", "b", 10, 1)));
    let guaranteed = whole_group("ga", "a", 10, 1);
    match offer(&mut layer, &guaranteed) {
        Verdict::Preempt(victims) => {
            let names: BTreeSet<&str> = victims.iter().map(|v| v.group.as_str()).collect();
            assert_eq!(names, BTreeSet::from(["o1", "o2"]));
            assert!(
                victims
                    .iter()
                    .all(|v| v.priority == -1 && v.pods.len() == 1)
            );
        }
        other => panic!("{other:?}"),
    }
    Layer::release(&mut layer, "o1");
    Layer::release(&mut layer, "o2");
    assert_eq!(devices(&offer(&mut layer, &guaranteed)), o1);
    assert!(layer.leaf_shares().leaves().is_empty());
}

#[test]
fn a_share_preemptor_waits_for_its_victims_then_starts() {
    let mut layer = hived(TWO_VCS);
    let _ = devices(&offer(&mut layer, &share_group("o1", "b", -1, &[500])));
    let _ = devices(&offer(&mut layer, &whole_group("gb", "b", 10, 1)));
    let preemptor = share_group("sa", "a", 10, &[200, 200]);
    match offer(&mut layer, &preemptor) {
        Verdict::Preempt(victims) => assert_eq!(victims[0].group, "o1"),
        other => panic!("{other:?}"),
    }
    Layer::release(&mut layer, "o1");
    let pods = devices(&offer(&mut layer, &preemptor));
    assert_eq!(pods[0], pods[1], "both shares on the one leaf a holds");
    assert_eq!(layer.leaf_shares().leaves()[0].used_milli, 400);
}

#[test]
fn a_gang_of_shares_that_does_not_fit_gives_back_what_it_took() {
    let mut layer = hived(TWO_VCS);
    let _ = devices(&offer(&mut layer, &share_group("p1", "a", 10, &[600])));
    let before = layer.leaf_shares().leaves();
    // 300 fits beside p1, 700 needs a second leaf a does not have.
    match offer(&mut layer, &share_group("gang", "a", 10, &[300, 700])) {
        Verdict::Wait(_) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(layer.leaf_shares().leaves(), before);
    assert!(matches!(
        offer(&mut layer, &share_group("fits", "a", 10, &[400])),
        Verdict::Start(_)
    ));
}

#[test]
fn bad_share_requests_are_rejected_with_a_fix() {
    let mut layer = hived(TWO_VCS);
    let mut mixed = share_group("mixed", "a", 10, &[500]);
    mixed.members.push(GroupMember::whole(1, 1));
    match offer(&mut layer, &mixed) {
        Verdict::Reject(e) => assert!(e.contains("split it into two groups"), "{e}"),
        other => panic!("{other:?}"),
    }
    let mut two_leaves = share_group("two", "a", 10, &[500]);
    two_leaves.members[0].leaf_cell_number = 2;
    match offer(&mut layer, &two_leaves) {
        Verdict::Reject(e) => assert!(e.contains("leafCellNumber to 1"), "{e}"),
        other => panic!("{other:?}"),
    }
    match offer(&mut layer, &share_group("x", "nope", 10, &[500])) {
        Verdict::Reject(e) => assert!(e.contains("unknown virtual cluster"), "{e}"),
        other => panic!("{other:?}"),
    }
    match offer(&mut layer, &share_group("shared leaf #1", "a", 10, &[500])) {
        Verdict::Reject(e) => assert!(e.contains("rename the group"), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn isolated_shares_leaves_within_a_vc_only() {
    let config = cellsim::config::load_str(TWO_VCS, "t.yaml").unwrap();
    let mut layer = Isolated::new(&config);
    let a1 = devices(&offer(&mut layer, &share_group("a1", "a", -1, &[500])));
    let a2 = devices(&offer(&mut layer, &share_group("a2", "a", 10, &[500])));
    assert_eq!(a1, a2, "isolated counts every pod as priority 0 of its VC");
    match offer(&mut layer, &share_group("a3", "a", 10, &[500])) {
        Verdict::Wait(w) => assert_eq!(w.kind, WaitKind::Quota, "{w}"),
        other => panic!("{other:?}"),
    }
    let b = devices(&offer(&mut layer, &share_group("b1", "b", 10, &[500])));
    assert_ne!(a1, b);
}

#[test]
fn fits_without_counts_a_leaf_free_only_when_its_last_pod_goes() {
    let mut layer = hived(TWO_VCS);
    let _ = devices(&offer(&mut layer, &share_group("p1", "a", 10, &[500])));
    let _ = devices(&offer(&mut layer, &share_group("p2", "a", 10, &[300])));
    let whole = whole_group("w", "a", 10, 1);
    assert!(!layer.fits_without(&whole, &["p1".to_string()]));
    assert!(layer.fits_without(&whole, &["p1".to_string(), "p2".to_string()]));
    assert!(layer.fits_without(&share_group("s", "a", 10, &[600]), &["p1".to_string()]));
    assert!(!layer.fits_without(&share_group("s", "a", 10, &[800]), &["p1".to_string()]));
    // The trials changed nothing.
    assert_eq!(layer.leaf_shares().leaves()[0].used_milli, 800);
    assert!(matches!(
        offer(&mut layer, &share_group("p3", "a", 10, &[200])),
        Verdict::Start(_)
    ));
}

// ---- model test ----

#[derive(Debug, Clone)]
enum Op {
    Shares {
        vc: usize,
        priority: i32,
        shares: Vec<u32>,
        lazy: bool,
    },
    Whole {
        vc: usize,
        priority: i32,
        pods: u32,
    },
    Release(usize),
    Fits(usize, Vec<u32>),
}

fn op_strategy() -> impl Strategy<Value = Op> {
    let priority = prop::sample::select(vec![-1, -1, 0, 10, 100]);
    let shares = prop::collection::vec(
        prop::sample::select(vec![100u32, 250, 300, 460, 500, 700, 999]),
        1..=3,
    );
    prop_oneof![
        5 => (0usize..3, priority.clone(), shares.clone(), prop::bool::weighted(0.2))
            .prop_map(|(vc, priority, shares, lazy)| Op::Shares { vc, priority, shares, lazy }),
        2 => (0usize..3, priority, 1u32..=2).prop_map(|(vc, priority, pods)| Op::Whole { vc, priority, pods }),
        3 => (0usize..64).prop_map(Op::Release),
        1 => (0usize..64, shares).prop_map(|(i, s)| Op::Fits(i, s)),
    ]
}

/// A cluster of `nodes` nodes of `gpus` GPUs each, in one chain; VC `vcN` owns
/// `cells[N]` single GPUs (as many VCs as entries).
fn cluster(nodes: u32, gpus: u32, cells: &[u32]) -> String {
    let mut text = format!(
        "physicalCluster:\n  cellTypes:\n    NODE: {{childCellType: T4, childCellNumber: {gpus}, isNodeLevel: true}}\n  physicalCells:\n"
    );
    for n in 0..nodes {
        text.push_str(&format!("  - {{cellType: NODE, cellAddress: n{n}}}\n"));
    }
    text.push_str("virtualClusters:\n");
    let total = nodes * gpus;
    let mut left = total;
    for (v, &c) in cells.iter().enumerate() {
        let c = c.min(left);
        left -= c;
        text.push_str(&format!(
            "  vc{v}: {{virtualCells: [{{cellType: NODE.T4, cellNumber: {c}}}]}}\n"
        ));
    }
    text
}

/// What the test knows of a live group.
#[derive(Debug, Clone)]
struct Live {
    vc: String,
    priority: i32,
    /// Shares per pod; empty for a whole-GPU group.
    shares: Vec<u32>,
}

fn check(layer: &Hived, live: &BTreeMap<String, Live>) -> Result<(), TestCaseError> {
    let leaves: Vec<SharedLeaf> = layer.leaf_shares().leaves();
    let alloc = layer.allocator();
    let mut held: BTreeSet<(String, u32)> = BTreeSet::new();
    let mut used_by_group: BTreeMap<&str, u32> = BTreeMap::new();
    for leaf in &leaves {
        prop_assert!(leaf.used_milli <= 1000, "{leaf:?} over one GPU");
        prop_assert!(!leaf.pods.is_empty(), "{leaf:?} held with no pod");
        let sum: u32 = leaf.pods.iter().map(|(_, m)| m).sum();
        prop_assert_eq!(sum, leaf.used_milli, "{:?}", leaf);
        prop_assert!(
            held.insert((leaf.node.clone(), leaf.device)),
            "leaf {leaf:?} held twice"
        );
        for (group, milli) in &leaf.pods {
            let g = live.get(group.as_str());
            prop_assert!(g.is_some(), "{group} on {leaf:?} is not live");
            prop_assert_eq!(&g.unwrap().vc, &leaf.vc, "two VCs on one leaf: {:?}", leaf);
            prop_assert_eq!(
                g.unwrap().priority,
                leaf.priority,
                "two priorities on one leaf: {:?}",
                leaf
            );
            *used_by_group.entry(group.as_str()).or_default() += milli;
        }
        // The allocator's holder is on this very leaf.
        let placement = alloc.placement(&leaf.holder);
        prop_assert!(placement.is_some(), "{} not in the allocator", leaf.holder);
        let placement = placement.unwrap();
        prop_assert_eq!(&placement.pods[0].node, &leaf.node);
        prop_assert_eq!(&placement.pods[0].devices, &vec![leaf.device]);
    }
    for (name, g) in live {
        if g.shares.is_empty() {
            // A whole-GPU group's leaves are never shared ones.
            let placement = alloc.placement(name);
            prop_assert!(placement.is_some(), "{name} not placed");
            for pod in placement.unwrap().pods {
                for d in pod.devices {
                    prop_assert!(
                        !held.contains(&(pod.node.clone(), d)),
                        "{name} on a shared leaf"
                    );
                }
            }
        } else {
            // Every pod of a live share group is on a leaf: conservation.
            prop_assert_eq!(
                used_by_group.get(name.as_str()).copied().unwrap_or(0),
                g.shares.iter().sum::<u32>(),
                "{}",
                name
            );
        }
    }
    Ok(())
}

fn run_case(nodes: u32, gpus: u32, cells: Vec<u32>, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let config = cellsim::config::load_str(&cluster(nodes, gpus, &cells), "model.yaml").unwrap();
    let mut layer = Hived::new(&config);
    let empty = serde_json::to_string(&layer.allocator().physical_view()).unwrap();
    let vc = |v: usize| format!("vc{}", v % cells.len());
    let mut live: BTreeMap<String, Live> = BTreeMap::new();
    let mut counter = 0;
    for op in ops {
        let (request, shares) = match op {
            Op::Shares {
                vc: v,
                priority,
                shares,
                lazy,
            } => {
                counter += 1;
                let mut r = share_group(&format!("s{counter}"), &vc(v), priority, &shares);
                r.lazy_preemption_enable = lazy && priority >= 0;
                (r, shares)
            }
            Op::Whole {
                vc: v,
                priority,
                pods,
            } => {
                counter += 1;
                (
                    whole_group(&format!("w{counter}"), &vc(v), priority, pods),
                    Vec::new(),
                )
            }
            Op::Release(i) => {
                if let Some(name) = live.keys().nth(i % live.len().max(1)).cloned() {
                    Layer::release(&mut layer, &name);
                    live.remove(&name);
                }
                check(&layer, &live)?;
                continue;
            }
            Op::Fits(i, shares) => {
                let released: Vec<String> = live
                    .keys()
                    .nth(i % live.len().max(1))
                    .cloned()
                    .into_iter()
                    .collect();
                let before = layer.leaf_shares().leaves();
                let view = serde_json::to_string(&layer.allocator().physical_view()).unwrap();
                let _ = layer.fits_without(&share_group("trial", "vc0", 0, &shares), &released);
                prop_assert_eq!(
                    layer.leaf_shares().leaves(),
                    before,
                    "a trial changed the shares"
                );
                prop_assert_eq!(
                    serde_json::to_string(&layer.allocator().physical_view()).unwrap(),
                    view,
                    "a trial changed the allocator"
                );
                continue;
            }
        };
        let entry = Live {
            vc: request.virtual_cluster.clone(),
            priority: request.priority,
            shares,
        };
        match offer(&mut layer, &request) {
            Verdict::Start(_) => {
                live.insert(request.name.clone(), entry);
            }
            Verdict::Preempt(victims) => {
                for v in &victims {
                    prop_assert!(live.contains_key(&v.group), "victim {} not live", v.group);
                    Layer::release(&mut layer, &v.group);
                    live.remove(&v.group);
                }
                // The engine offers again at once, with the victims gone: it starts.
                match offer(&mut layer, &request) {
                    Verdict::Start(_) => {
                        live.insert(request.name.clone(), entry);
                    }
                    other => prop_assert!(false, "after its victims left: {other:?}"),
                }
            }
            Verdict::Wait(_) | Verdict::Reject(_) => {}
            Verdict::Suspend(_) => prop_assert!(false, "the layer never suspends"),
        }
        let _ = Layer::take_downgraded(&mut layer);
        check(&layer, &live)?;
    }
    for name in live.keys().cloned().collect::<Vec<_>>() {
        Layer::release(&mut layer, &name);
    }
    prop_assert!(layer.leaf_shares().leaves().is_empty());
    prop_assert_eq!(layer.allocator().group_count(), 0);
    prop_assert_eq!(
        serde_json::to_string(&layer.allocator().physical_view()).unwrap(),
        empty,
        "releasing everything gives back the empty allocator"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, max_shrink_iters: 2000, ..ProptestConfig::default() })]

    #[test]
    fn shares_under_hived_keep_their_invariants(
        nodes in 1u32..=3,
        gpus in prop::sample::select(vec![1u32, 2, 4]),
        cells in prop::collection::vec(0u32..=3, 1..=3),
        ops in prop::collection::vec(op_strategy(), 1..40),
    ) {
        run_case(nodes, gpus, cells, ops)?;
    }
}
