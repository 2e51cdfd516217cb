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

/// The layer with fair sharing on (Kueue's Configuration, `strategies` as written there).
fn fair_layer(queues: &[String], strategies: &str) -> Kueue {
    let configuration = format!(
        "---\napiVersion: config.kueue.x-k8s.io/v1beta1\nkind: Configuration\nfairSharing:\n  enable: true\n  preemptionStrategies: {strategies}\n"
    );
    let mut documents = vec![configuration];
    documents.extend_from_slice(queues);
    layer(&documents)
}

const BOTH: &str = "[LessThanOrEqualToFinalShare, LessThanInitialShare]";

/// Offers `requests` (in the policy's order) as the engine does under fair sharing:
/// the layer names the next one each time. Returns the ones started, in order.
fn fair_pass(k: &mut Kueue, requests: &[GroupRequest]) -> Vec<String> {
    let refs: Vec<&GroupRequest> = requests.iter().collect();
    k.plan_offers(&refs);
    let mut started = Vec::new();
    while let Some(i) = k.next_offer() {
        if offer(k, &requests[i], 0) == "start" {
            started.push(requests[i].name.clone());
        }
    }
    started
}

/// A ClusterQueue that only borrows (nominal 0) in cohort `c`, with `weight`.
fn borrower(name: &str, weight: &str) -> String {
    cq(
        name,
        "c",
        &[("f", "nominalQuota: 0")],
        &format!(
            "  fairSharing: {{weight: {weight}}}\n  preemption: {{reclaimWithinCohort: Any}}\n"
        ),
    )
}

/// The cohort's lender: 12 GPUs of flavor f, nothing of its own to run.
fn lender() -> String {
    cq("lender", "c", &[("f", "nominalQuota: 12")], "")
}

#[test]
fn fair_sharing_admits_in_proportion_to_the_weights() {
    let mut k = fair_layer(&[lender(), borrower("a", "1"), borrower("b", "2")], BOTH);
    // Eight 1-GPU workloads each, a's first in the queue.
    let mut requests: Vec<GroupRequest> = (0..8)
        .map(|i| request(&format!("a{i}"), "a", 0, 1, 1))
        .collect();
    requests.extend((0..8).map(|i| request(&format!("b{i}"), "b", 0, 1, 1)));
    let started = fair_pass(&mut k, &requests);
    // The cohort's 12 GPUs are shared 1:2, although a's workloads came first.
    assert_eq!(k.usage("a", "f"), Some(4));
    assert_eq!(k.usage("b", "f"), Some(8));
    // Lowest share after admission first: b (1/24) before a (1/12), then a on the tie.
    assert_eq!(started[..4], ["b0", "a0", "b1", "b2"]);
}

#[test]
fn without_fair_sharing_the_queue_order_decides() {
    // The same set-up with the Configuration left out: a's workloads come first and
    // take what they can.
    let mut k = layer(&[lender(), borrower("a", "1"), borrower("b", "2")]);
    for i in 0..8 {
        assert_eq!(
            offer(&mut k, &request(&format!("a{i}"), "a", 0, 1, 1), 0),
            "start"
        );
    }
    assert_eq!(k.usage("a", "f"), Some(8));
    assert!(!k.orders_offers());
}

#[test]
fn a_zero_weight_borrows_only_what_nobody_else_wants() {
    let mut k = fair_layer(&[lender(), borrower("a", "1"), borrower("z", "0")], BOTH);
    let mut requests: Vec<GroupRequest> = (0..8)
        .map(|i| request(&format!("z{i}"), "z", 0, 1, 2))
        .collect();
    requests.extend((0..4).map(|i| request(&format!("a{i}"), "a", 0, 1, 2)));
    let started = fair_pass(&mut k, &requests);
    // z's workloads are first in the queue, yet every a workload goes before any of z's;
    // z then gets the 4 GPUs a left.
    assert_eq!(started, ["a0", "a1", "a2", "a3", "z0", "z1"]);
    assert_eq!(k.usage("z", "f"), Some(4));
}

/// a (nothing running) wants 4 GPUs of a full cohort where b borrows 8 in `b_pods`
/// workloads and c borrows 4; the verdict for a.
fn reclaim_by_share(strategies: &str, b_sizes: &[u32]) -> String {
    let mut k = fair_layer(
        &[
            lender(),
            borrower("a", "1"),
            borrower("b", "1"),
            borrower("c", "1"),
        ],
        strategies,
    );
    for (i, &gpus) in b_sizes.iter().enumerate() {
        let r = request(&format!("b{i}"), "b", 0, 1, gpus);
        assert_eq!(offer(&mut k, &r, i as SimTimeMs), "start");
    }
    assert_eq!(offer(&mut k, &request("c0", "c", 0, 1, 4), 5), "start");
    offer(&mut k, &request("a0", "a", 0, 1, 4), 10)
}

#[test]
fn fair_preemption_takes_from_the_borrower_with_the_highest_share() {
    // b's share (8/12) is above c's (4/12); a's share with its workload (4/12) is at
    // most b's after losing one 4-GPU workload (4/12): b's most recent one goes, not c's.
    assert_eq!(reclaim_by_share(BOTH, &[4, 4]), "preempt:b1");
    assert_eq!(
        reclaim_by_share("[LessThanOrEqualToFinalShare]", &[4, 4]),
        "preempt:b1"
    );
}

#[test]
fn the_strategy_decides_whether_a_big_borrower_may_be_preempted() {
    // b borrows its 8 GPUs in one workload: without it b's share would be 0, below a's
    // 4/12, so LessThanOrEqualToFinalShare forbids it (and c's alike): a waits.
    assert_eq!(
        reclaim_by_share("[LessThanOrEqualToFinalShare]", &[8]),
        "wait:capacity"
    );
    // LessThanInitialShare compares with b's share before (8/12 > 4/12): allowed.
    assert_eq!(reclaim_by_share(BOTH, &[8]), "preempt:b0");
    assert_eq!(
        reclaim_by_share("[LessThanInitialShare]", &[8]),
        "preempt:b0"
    );
}

/// A workload admitted at this instant is no fair-sharing victim until a later one: an
/// eviction takes time in Kueue. Without this two ClusterQueues took GPUs back and forth
/// at one instant of the 5k scale trace (17,500 preemptions, see the README).
#[test]
fn a_workload_admitted_this_instant_is_not_a_fair_sharing_victim() {
    let setup = || {
        let mut k = fair_layer(
            &[
                lender(),
                borrower("a", "1"),
                borrower("b", "1"),
                borrower("c", "1"),
            ],
            BOTH,
        );
        assert_eq!(offer(&mut k, &request("c0", "c", 0, 1, 4), 0), "start");
        assert_eq!(offer(&mut k, &request("b0", "b", 0, 1, 8), 10), "start");
        k
    };
    // At b0's own instant a waits; at the next instant b0 goes (LessThanInitialShare).
    assert_eq!(
        offer(&mut setup(), &request("a0", "a", 0, 1, 4), 10),
        "wait:capacity"
    );
    assert_eq!(
        offer(&mut setup(), &request("a0", "a", 0, 1, 4), 11),
        "preempt:b0"
    );
}

#[test]
fn a_queue_at_its_fair_share_does_not_preempt_its_equals() {
    let mut k = fair_layer(
        &[
            lender(),
            borrower("a", "1"),
            borrower("b", "1"),
            borrower("c", "1"),
        ],
        BOTH,
    );
    for (i, q) in ["a", "b", "c"].iter().enumerate() {
        let r = request(&format!("{q}0"), q, 0, 1, 4);
        assert_eq!(offer(&mut k, &r, i as SimTimeMs), "start");
    }
    // a already has its third: with 4 more its share (8/12) would pass b's and c's.
    assert_eq!(
        offer(&mut k, &request("a1", "a", 0, 1, 4), 10),
        "wait:capacity"
    );
}

#[test]
fn fair_sharing_reclaims_within_the_nominal_quota_unconditionally() {
    // a lends its 8 to b; taking them back keeps a within its nominal quota, so b's
    // borrowing workload goes whatever the shares say.
    let mut k = fair_layer(
        &[
            cq(
                "a",
                "c",
                &[("f", "nominalQuota: 8")],
                "  preemption: {reclaimWithinCohort: Any}\n",
            ),
            cq("b", "c", &[("f", "nominalQuota: 8")], ""),
        ],
        "[LessThanOrEqualToFinalShare]",
    );
    assert_eq!(offer(&mut k, &request("b0", "b", 0, 1, 8), 0), "start");
    assert_eq!(offer(&mut k, &request("b1", "b", 0, 1, 8), 1), "start");
    assert_eq!(offer(&mut k, &request("a0", "a", 0, 1, 8), 2), "preempt:b1");
}

/// See: reports/2026-12-06-kueue-fair (729,554 preemptions in two simulated days). The
/// give-back step took the preemptor's own usage out twice, so it gave back victims the
/// workload needed: it then did not fit after they left and preempted again, forever.
#[test]
fn fair_preemption_keeps_every_victim_the_workload_needs() {
    let mut k = fair_layer(
        &[cq(
            "a",
            "\"\"",
            &[("f", "nominalQuota: 16")],
            "  preemption: {withinClusterQueue: LowerPriority}\n",
        )],
        BOTH,
    );
    for i in 0..4 {
        let r = request(&format!("low{i}"), "a", 0, 1, 4);
        assert_eq!(offer(&mut k, &r, i), "start");
    }
    // 8 GPUs need two of the four 4-GPU workloads to go, the most recent first.
    assert_eq!(
        offer(&mut k, &request("high", "a", 10, 1, 8), 10),
        "preempt:low3,low2"
    );
}
