//! One behaviour per test, each on a small hand-made cluster and Kueue setup (the rules
//! issue 17 lists under "Done when").

use std::collections::BTreeMap;

use rand::SeedableRng;

use super::*;
use crate::cell::GroupMember;
use crate::config::{BuildOptions, build_cluster};
use crate::kueue::read_kueue_str;

const FLAVORS: &str = "apiVersion: kueue.x-k8s.io/v1beta1\nkind: ResourceFlavor\nmetadata: {name: f}\n---\napiVersion: kueue.x-k8s.io/v1beta1\nkind: ResourceFlavor\nmetadata: {name: g}\n";

/// A ClusterQueue with one GPU quota per `(flavor, quota fields)` and `extra` spec lines.
fn cq(name: &str, cohort: &str, quotas: &[(&str, &str)], extra: &str) -> String {
    let mut flavors = String::new();
    for (flavor, quota) in quotas {
        flavors.push_str(&format!(
            "    - name: {flavor}\n      resources:\n      - {{name: nvidia.com/gpu, {quota}}}\n"
        ));
    }
    format!(
        "---\napiVersion: kueue.x-k8s.io/v1beta1\nkind: ClusterQueue\nmetadata: {{name: {name}}}\nspec:\n  cohort: {cohort}\n{extra}  resourceGroups:\n  - coveredResources: [nvidia.com/gpu]\n    flavors:\n{flavors}"
    )
}

/// The layer over 4 nodes of 8 GPUs; flavor `f` is nodes 0-1, `g` nodes 2-3.
fn layer(queues: &[String]) -> Kueue {
    let cluster = build_cluster("4x A100x8", None, &BuildOptions::default()).unwrap();
    let text = format!("{FLAVORS}{}", queues.concat());
    let config = read_kueue_str(&text, "t").unwrap();
    let options = KueueOptions {
        config,
        flavor_nodes: BTreeMap::from([
            (
                "f".to_string(),
                vec!["a100-0".to_string(), "a100-1".to_string()],
            ),
            (
                "g".to_string(),
                vec!["a100-2".to_string(), "a100-3".to_string()],
            ),
        ]),
        tas: TasOptions::default(),
    };
    Kueue::new(&cluster, &options).unwrap()
}

fn request(name: &str, cq: &str, priority: i32, pods: u32, gpus: u32) -> GroupRequest {
    GroupRequest {
        name: name.to_string(),
        virtual_cluster: cq.to_string(),
        priority,
        leaf_cell_type: None,
        pinned_cell_id: None,
        lazy_preemption_enable: false,
        ignore_k8s_suggested_nodes: true,
        members: vec![GroupMember::whole(pods, gpus)],
    }
}

/// Offers `name` at `now_ms`: "start", "wait:<kind>", "preempt:<victims>" or "reject".
fn offer(layer: &mut Kueue, r: &GroupRequest, now_ms: SimTimeMs) -> String {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let mut ctx = OfferContext {
        now_ms,
        rng: &mut rng,
    };
    match layer.offer(r, &mut ctx) {
        Verdict::Start(_) => "start".to_string(),
        Verdict::Wait(w) => format!("wait:{}", w.kind),
        Verdict::Preempt(v) => format!(
            "preempt:{}",
            v.iter()
                .map(|v| v.group.as_str())
                .collect::<Vec<_>>()
                .join(",")
        ),
        Verdict::Suspend(_) => "suspend".to_string(),
        Verdict::Reject(_) => "reject".to_string(),
    }
}

#[test]
fn borrowing_goes_up_to_the_borrowing_limit_and_not_beyond() {
    let mut k = layer(&[
        cq("a", "c", &[("f", "nominalQuota: 4, borrowingLimit: 4")], ""),
        cq("b", "c", &[("f", "nominalQuota: 8")], ""),
    ]);
    assert_eq!(offer(&mut k, &request("a1", "a", 0, 1, 4), 0), "start");
    // 4 more is borrowing, within the limit of 4.
    assert_eq!(offer(&mut k, &request("a2", "a", 0, 1, 4), 0), "start");
    assert_eq!(k.usage("a", "f"), Some(8));
    // One more GPU would be 9 > 4 + 4: the ClusterQueue's own quota stops it.
    assert_eq!(offer(&mut k, &request("a3", "a", 0, 1, 1), 0), "wait:quota");
}

#[test]
fn lending_limit_caps_what_others_borrow() {
    let mut k = layer(&[
        cq("a", "c", &[("f", "nominalQuota: 4")], ""),
        cq("b", "c", &[("f", "nominalQuota: 12, lendingLimit: 2")], ""),
    ]);
    assert_eq!(offer(&mut k, &request("a1", "a", 0, 1, 4), 0), "start");
    assert_eq!(offer(&mut k, &request("a2", "a", 0, 1, 2), 0), "start");
    // b lends at most 2 and they are taken: a's own limits allow more, the cohort not.
    assert_eq!(
        offer(&mut k, &request("a3", "a", 0, 1, 1), 0),
        "wait:capacity"
    );
    // b itself still has its 10 unlent GPUs.
    assert_eq!(offer(&mut k, &request("b1", "b", 0, 1, 8), 0), "start");
}

#[test]
fn reclaim_preempts_a_borrower_and_not_a_workload_within_its_nominal_quota() {
    let mut k = layer(&[
        cq(
            "a",
            "c",
            &[("f", "nominalQuota: 8")],
            "  preemption: {reclaimWithinCohort: Any}\n",
        ),
        cq("b", "c", &[("f", "nominalQuota: 8")], ""),
    ]);
    // b runs 8 within its quota and 8 borrowed from a.
    assert_eq!(offer(&mut k, &request("b-own", "b", 0, 1, 8), 0), "start");
    assert_eq!(
        offer(&mut k, &request("b-borrowed", "b", 0, 1, 8), 1),
        "start"
    );
    // a reclaims: only the borrowing part can go, whichever of b's workloads it is, so
    // the most recently admitted (b-borrowed) is the victim, not b-own.
    assert_eq!(
        offer(&mut k, &request("a1", "a", 0, 1, 8), 2),
        "preempt:b-borrowed"
    );
    k.release("b-borrowed");
    assert_eq!(offer(&mut k, &request("a1", "a", 0, 1, 8), 2), "start");
    // Now b is within its quota: a second a-workload (a would borrow) may not preempt it.
    assert_eq!(
        offer(&mut k, &request("a2", "a", 0, 1, 8), 3),
        "wait:capacity"
    );
}

#[test]
fn reclaim_never_leaves_borrowers_alone() {
    let mut k = layer(&[
        cq("a", "c", &[("f", "nominalQuota: 8")], ""),
        cq("b", "c", &[("f", "nominalQuota: 8")], ""),
    ]);
    assert_eq!(offer(&mut k, &request("b1", "b", 0, 2, 8), 0), "start");
    assert_eq!(
        offer(&mut k, &request("a1", "a", 0, 1, 8), 1),
        "wait:capacity"
    );
}

#[test]
fn strict_fifo_blocks_behind_its_head_and_best_effort_does_not() {
    for (strategy, expected) in [("StrictFIFO", "wait:queue"), ("BestEffortFIFO", "start")] {
        let extra = format!("  queueingStrategy: {strategy}\n");
        let mut k = layer(&[cq("a", "\"\"", &[("f", "nominalQuota: 8")], &extra)]);
        assert_eq!(offer(&mut k, &request("small", "a", 0, 1, 4), 0), "start");
        // The head needs 8: it waits for quota.
        assert_eq!(
            offer(&mut k, &request("head", "a", 0, 1, 8), 1),
            "wait:quota"
        );
        // A later one that would fit.
        assert_eq!(
            offer(&mut k, &request("later", "a", 0, 1, 2), 2),
            expected,
            "{strategy}"
        );
    }
}

#[test]
fn strict_fifo_lets_a_higher_priority_workload_pass_the_blocked_head() {
    let mut k = layer(&[cq(
        "a",
        "\"\"",
        &[("f", "nominalQuota: 8")],
        "  queueingStrategy: StrictFIFO\n",
    )]);
    assert_eq!(offer(&mut k, &request("small", "a", 0, 1, 4), 0), "start");
    assert_eq!(
        offer(&mut k, &request("head", "a", 0, 1, 8), 1),
        "wait:quota"
    );
    // Kueue orders by priority first: a higher priority workload is ahead of the head.
    assert_eq!(offer(&mut k, &request("urgent", "a", 5, 1, 2), 2), "start");
}

#[test]
fn lower_or_newer_equal_priority_preempts_the_newer_equal_priority_workload_only() {
    let extra = "  preemption: {withinClusterQueue: LowerOrNewerEqualPriority}\n";
    let mut k = layer(&[cq("a", "\"\"", &[("f", "nominalQuota: 8")], extra)]);
    assert_eq!(offer(&mut k, &request("a", "a", 0, 1, 8), 0), "start");
    // b is newer than the running a: it may not preempt it.
    assert_eq!(offer(&mut k, &request("b", "a", 0, 1, 8), 1), "wait:quota");
    assert_eq!(offer(&mut k, &request("c", "a", 0, 1, 4), 2), "wait:quota");
    k.release("a");
    // c (queued after b) gets in first on half the quota.
    assert_eq!(offer(&mut k, &request("c", "a", 0, 1, 4), 3), "start");
    // b is older than c at the same priority: c is its victim.
    assert_eq!(offer(&mut k, &request("b", "a", 0, 1, 8), 3), "preempt:c");
    // d is newer than c: c is not its victim.
    assert_eq!(offer(&mut k, &request("d", "a", 0, 1, 8), 4), "wait:quota");
    // Under LowerPriority the same older workload may not preempt c.
    let extra = "  preemption: {withinClusterQueue: LowerPriority}\n";
    let mut k = layer(&[cq("a", "\"\"", &[("f", "nominalQuota: 8")], extra)]);
    assert_eq!(offer(&mut k, &request("b", "a", 0, 1, 8), 1), "start");
    k.release("b");
    assert_eq!(offer(&mut k, &request("b", "a", 0, 1, 8), 1), "start");
    assert_eq!(offer(&mut k, &request("x", "a", 0, 1, 8), 1), "wait:quota");
}

#[test]
fn lower_priority_preemption_takes_the_fewest_victims() {
    let extra = "  preemption: {withinClusterQueue: LowerPriority}\n";
    let mut k = layer(&[cq("a", "\"\"", &[("f", "nominalQuota: 16")], extra)]);
    assert_eq!(offer(&mut k, &request("small-1", "a", 0, 1, 2), 0), "start");
    assert_eq!(offer(&mut k, &request("small-2", "a", 0, 1, 2), 1), "start");
    assert_eq!(offer(&mut k, &request("big", "a", 0, 1, 8), 2), "start");
    assert_eq!(offer(&mut k, &request("mid", "a", 1, 1, 4), 3), "start");
    // 8 GPUs at priority 5: the most recently admitted lower-priority ones are taken
    // first (mid, big) until it fits, then mid is given back (big alone is enough).
    assert_eq!(
        offer(&mut k, &request("urgent", "a", 5, 1, 8), 4),
        "preempt:big"
    );
    // Equal priority is never a victim under LowerPriority.
    assert_eq!(
        offer(&mut k, &request("peer", "a", 1, 2, 8), 5),
        "wait:quota"
    );
}

#[test]
fn flavors_are_tried_in_order_and_try_next_flavor_avoids_borrowing() {
    let quotas = [("f", "nominalQuota: 4"), ("g", "nominalQuota: 8")];
    let mut k = layer(&[
        cq("a", "c", &quotas, ""),
        cq("b", "c", &[("f", "nominalQuota: 8")], ""),
    ]);
    assert_eq!(offer(&mut k, &request("a1", "a", 0, 1, 4), 0), "start");
    assert_eq!(k.usage("a", "f"), Some(4));
    // whenCanBorrow: Borrow (default) stops at f, borrowing from b.
    assert_eq!(offer(&mut k, &request("a2", "a", 0, 1, 4), 0), "start");
    assert_eq!(k.usage("a", "f"), Some(8));
    let mut k = layer(&[
        cq(
            "a",
            "c",
            &quotas,
            "  flavorFungibility: {whenCanBorrow: TryNextFlavor}\n",
        ),
        cq("b", "c", &[("f", "nominalQuota: 8")], ""),
    ]);
    assert_eq!(offer(&mut k, &request("a1", "a", 0, 1, 4), 0), "start");
    // TryNextFlavor: g fits without borrowing, so g it is.
    assert_eq!(offer(&mut k, &request("a2", "a", 0, 1, 4), 0), "start");
    assert_eq!(k.usage("a", "f"), Some(4));
    assert_eq!(k.usage("a", "g"), Some(4));
}

#[test]
fn pods_are_placed_on_the_nodes_of_their_flavor() {
    let mut k = layer(&[cq("a", "\"\"", &[("g", "nominalQuota: 32")], "")]);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let mut ctx = OfferContext {
        now_ms: 0,
        rng: &mut rng,
    };
    let Verdict::Start(p) = k.offer(&request("w", "a", 0, 2, 8), &mut ctx) else {
        panic!("should start");
    };
    let mut nodes: Vec<&str> = p.pods.iter().map(|p| p.node.as_str()).collect();
    nodes.sort();
    assert_eq!(nodes, ["a100-2", "a100-3"]);
    // Quota allows 16 more and f's nodes are free, but g's two nodes are full: a
    // placement wait (the allocator sees free GPUs, not where this workload may go).
    assert_eq!(offer(&mut k, &request("x", "a", 0, 1, 8), 0), "wait:shape");
}

#[test]
fn a_workload_no_flavor_can_ever_hold_is_rejected() {
    let mut k = layer(&[cq("a", "\"\"", &[("f", "nominalQuota: 8")], "")]);
    assert_eq!(offer(&mut k, &request("huge", "a", 0, 2, 8), 0), "reject");
    assert_eq!(
        offer(&mut k, &request("x", "nowhere", 0, 1, 1), 0),
        "reject"
    );
}

/// Three ClusterQueues of cohort c: `a` (nominal 4) may preempt borrowers of priority up
/// to `threshold` while borrowing itself; `b` (nominal 4) runs two 8-GPU workloads of
/// priority 50, borrowing 12 of `d`'s 8 and `a`'s 4.
fn b_borrows_what_a_may_reclaim(threshold: u32) -> Kueue {
    let extra = format!(
        "  preemption:\n    reclaimWithinCohort: LowerPriority\n    borrowWithinCohort: {{policy: LowerPriority, maxPriorityThreshold: {threshold}}}\n"
    );
    let mut k = layer(&[
        cq("a", "c", &[("f", "nominalQuota: 4")], &extra),
        cq("b", "c", &[("f", "nominalQuota: 4")], ""),
        cq("d", "c", &[("f", "nominalQuota: 8")], ""),
    ]);
    assert_eq!(offer(&mut k, &request("b1", "b", 50, 1, 8), 0), "start");
    assert_eq!(offer(&mut k, &request("b2", "b", 50, 1, 8), 1), "start");
    k
}

#[test]
fn borrow_within_cohort_preempts_low_priority_borrowers_while_borrowing() {
    let mut k = b_borrows_what_a_may_reclaim(100);
    // a needs 8: 4 of its own and 4 borrowed. Without borrowWithinCohort it could only
    // reclaim to fit its nominal 4; with it, b's youngest borrower (priority 50 <= 100)
    // goes although a itself then borrows.
    assert_eq!(
        offer(&mut k, &request("a1", "a", 500, 1, 8), 2),
        "preempt:b2"
    );
}

#[test]
fn a_workload_above_the_threshold_is_not_preempted_for_borrowing() {
    let mut k = b_borrows_what_a_may_reclaim(10);
    // Priority 50 is above the threshold 10: a may only reclaim to fit its nominal 4,
    // which needs 8 here, so it waits.
    assert_eq!(
        offer(&mut k, &request("a1", "a", 500, 1, 8), 2),
        "wait:capacity"
    );
}

/// The names the layer woke since the engine last asked, sorted.
fn woken(layer: &mut Kueue) -> Vec<String> {
    let mut names = Vec::new();
    assert!(Layer::take_woken(layer, &mut names));
    names.sort();
    names.dedup();
    names
}

#[test]
fn an_admitted_workload_whose_pods_do_not_fit_holds_its_quota() {
    // Flavor f has 16 GPUs of nodes but a quota of 24: a workload can be admitted by
    // quota with no room for its pods, as in Kueue (kube-scheduler places the pods).
    let mut k = layer(&[
        cq("a", "c", &[("f", "nominalQuota: 24")], ""),
        cq("b", "c", &[("f", "nominalQuota: 0")], ""),
    ]);
    assert_eq!(offer(&mut k, &request("a1", "a", 0, 2, 8), 0), "start");
    // Admitted by quota, pods pending: a placement wait, and the quota is held.
    assert_eq!(offer(&mut k, &request("a2", "a", 0, 1, 8), 1), "wait:shape");
    assert_eq!(k.usage("a", "f"), Some(24));
    // So the cohort has nothing to lend to b: a borrowing wait (kind capacity).
    assert_eq!(
        offer(&mut k, &request("b1", "b", 0, 1, 1), 2),
        "wait:capacity"
    );
    // a1 leaves: its cohort's waiters are woken; a2 starts on the quota it holds, and
    // b1 borrows from the 16 GPUs of a's quota that a1 gave back.
    k.release("a1");
    assert_eq!(woken(&mut k), ["a2", "b1"]);
    assert_eq!(offer(&mut k, &request("a2", "a", 0, 1, 8), 3), "start");
    assert_eq!(k.usage("a", "f"), Some(8));
    assert_eq!(offer(&mut k, &request("b1", "b", 0, 1, 1), 3), "start");
    assert_eq!(k.usage("b", "f"), Some(1));
}

#[test]
fn a_killed_workload_with_pending_pods_gives_its_quota_back() {
    let mut k = layer(&[cq("a", "\"\"", &[("f", "nominalQuota: 24")], "")]);
    assert_eq!(offer(&mut k, &request("a1", "a", 0, 2, 8), 0), "start");
    assert_eq!(offer(&mut k, &request("a2", "a", 0, 1, 8), 1), "wait:shape");
    assert_eq!(k.usage("a", "f"), Some(24));
    k.release("a2");
    assert_eq!(k.usage("a", "f"), Some(16));
}

#[test]
fn a_preempted_workload_returns_to_the_queue_at_its_creation_time() {
    let extra = "  preemption: {withinClusterQueue: LowerPriority}\n";
    let mut k = layer(&[cq("a", "\"\"", &[("f", "nominalQuota: 8")], extra)]);
    assert_eq!(offer(&mut k, &request("low", "a", 0, 1, 8), 0), "start");
    assert_eq!(
        offer(&mut k, &request("high", "a", 5, 1, 8), 100),
        "preempt:low"
    );
    k.release("low");
    assert_eq!(k.queued["low"].0, 0, "Kueue orders it by its creation time");
    assert_eq!(offer(&mut k, &request("high", "a", 5, 1, 8), 100), "start");
    assert_eq!(
        offer(&mut k, &request("low", "a", 0, 1, 8), 100),
        "wait:quota"
    );
}

#[test]
fn a_release_wakes_only_its_cohort_tree() {
    let mut k = layer(&[
        cq("a", "c", &[("f", "nominalQuota: 8")], ""),
        cq("b", "c", &[("f", "nominalQuota: 0")], ""),
        cq("x", "other", &[("g", "nominalQuota: 8")], ""),
    ]);
    assert_eq!(offer(&mut k, &request("a1", "a", 0, 1, 8), 0), "start");
    assert_eq!(offer(&mut k, &request("x1", "x", 0, 1, 8), 0), "start");
    assert_eq!(
        offer(&mut k, &request("b1", "b", 0, 1, 4), 1),
        "wait:capacity"
    );
    assert_eq!(
        offer(&mut k, &request("x2", "x", 0, 1, 4), 1),
        "wait:capacity"
    );
    assert!(woken(&mut k).is_empty(), "admissions wake nobody");
    k.release("a1");
    // Quota came back in cohort c only: x2 (cohort other, flavor g) sleeps on.
    assert_eq!(woken(&mut k), ["b1"]);
}
