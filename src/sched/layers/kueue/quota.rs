//! Kueue's quota arithmetic over the cohort tree, per flavor of `nvidia.com/gpu`: each
//! ClusterQueue and Cohort is a node with its own nominal quota, borrowing and lending
//! limits; a node's subtree quota is its own nominal plus what its children lend; what a
//! ClusterQueue may still take is what it has unlent plus what its ancestors can give,
//! capped by its borrowing limit. This follows Kueue's hierarchical cohort accounting
//! (its `resource_node` and `available` rules); a flat cohort is a tree of depth one.
//! Usage changes only through [`QuotaTree::add_usage`], which keeps every ancestor's
//! usage in step.

use std::collections::BTreeMap;

use crate::kueue::{FlavorQuota, KueueConfig};

/// One ClusterQueue or Cohort.
#[derive(Debug, Clone)]
struct Node {
    parent: Option<usize>,
    /// Per flavor: own nominal quota.
    nominal: Vec<i64>,
    borrowing_limit: Vec<Option<i64>>,
    lending_limit: Vec<Option<i64>>,
    /// Per flavor: own nominal plus what children lend (a ClusterQueue: its nominal).
    subtree: Vec<i64>,
    /// Per flavor: usage (a ClusterQueue: GPUs admitted; a Cohort: what its children use
    /// beyond their guaranteed part).
    usage: Vec<i64>,
    /// `fairSharing.weight`.
    weight: f64,
}

impl Node {
    /// The part of its subtree quota a node keeps for itself (not lent to its parent).
    fn guaranteed(&self, f: usize) -> i64 {
        self.lending_limit[f].map_or(0, |l| (self.subtree[f] - l).max(0))
    }

    /// What the node's usage takes from its parent.
    fn used_in_parent(&self, f: usize) -> i64 {
        (self.usage[f] - self.guaranteed(f)).max(0)
    }
}

/// The cohort tree with its usage.
#[derive(Debug, Clone)]
pub(crate) struct QuotaTree {
    nodes: Vec<Node>,
    /// Node index of each ClusterQueue, by name; ClusterQueues come first.
    pub(crate) cq_index: BTreeMap<String, usize>,
    /// Flavor index by name.
    pub(crate) flavor_index: BTreeMap<String, usize>,
    /// The root of each node (itself for a ClusterQueue without cohort).
    root: Vec<usize>,
    /// Per node: its child Cohorts, then its child ClusterQueues (Kueue's tournament
    /// order), each by name.
    children: Vec<Vec<usize>>,
    /// Per node: what its parent could lend it with nothing running, all flavors
    /// together (the denominator of its share; quota alone decides it).
    lendable: Vec<i64>,
}

impl QuotaTree {
    /// The tree of `config`: ClusterQueues, Cohort objects, and cohorts only named by a
    /// ClusterQueue or as a parent (no quota of their own).
    pub(crate) fn new(config: &KueueConfig) -> QuotaTree {
        let flavor_index: BTreeMap<String, usize> = config
            .flavors
            .keys()
            .enumerate()
            .map(|(i, f)| (f.clone(), i))
            .collect();
        let nf = flavor_index.len();
        let node_of = |quotas: &[FlavorQuota], weight: f64| {
            let mut node = Node {
                weight,
                parent: None,
                nominal: vec![0; nf],
                borrowing_limit: vec![None; nf],
                lending_limit: vec![None; nf],
                subtree: vec![0; nf],
                usage: vec![0; nf],
            };
            for q in quotas {
                if let Some(&f) = flavor_index.get(&q.flavor) {
                    node.nominal[f] = clamp(q.nominal);
                    node.borrowing_limit[f] = q.borrowing_limit.map(clamp);
                    node.lending_limit[f] = q.lending_limit.map(clamp);
                }
            }
            node
        };
        let mut nodes: Vec<Node> = Vec::new();
        let mut cq_index = BTreeMap::new();
        for (name, cq) in &config.cluster_queues {
            cq_index.insert(name.clone(), nodes.len());
            nodes.push(node_of(&cq.flavors, cq.fair_weight));
        }
        // Cohorts: every one named anywhere, with its quota when it has an object.
        let mut cohort_index: BTreeMap<String, usize> = BTreeMap::new();
        let mut names: Vec<&String> = config.cohorts.keys().collect();
        names.extend(
            config
                .cluster_queues
                .values()
                .filter_map(|q| q.cohort.as_ref()),
        );
        names.extend(config.cohorts.values().filter_map(|c| c.parent.as_ref()));
        names.sort();
        names.dedup();
        for name in names {
            cohort_index.insert(name.clone(), nodes.len());
            let cohort = config.cohorts.get(name);
            let quotas = cohort.map_or(&[][..], |c| &c.flavors[..]);
            nodes.push(node_of(quotas, cohort.map_or(1.0, |c| c.fair_weight)));
        }
        for (name, cq) in &config.cluster_queues {
            nodes[cq_index[name]].parent = cq.cohort.as_ref().map(|c| cohort_index[c]);
        }
        for (name, cohort) in &config.cohorts {
            nodes[cohort_index[name]].parent = cohort.parent.as_ref().map(|p| cohort_index[p]);
        }
        let count = nodes.len();
        let mut tree = QuotaTree {
            root: vec![0; count],
            children: vec![Vec::new(); count],
            lendable: vec![0; count],
            nodes,
            cq_index,
            flavor_index,
        };
        for i in 0..tree.nodes.len() {
            let mut at = i;
            while let Some(p) = tree.nodes[at].parent {
                at = p;
            }
            tree.root[i] = at;
        }
        // Subtree quotas bottom-up: children before parents, by depth.
        let mut order: Vec<usize> = (0..tree.nodes.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(tree.depth(i)));
        for &i in &order {
            tree.nodes[i].subtree = tree.nodes[i].nominal.clone();
        }
        for &i in &order {
            if let Some(p) = tree.nodes[i].parent {
                for f in 0..nf {
                    let lent = tree.nodes[i].subtree[f] - tree.nodes[i].guaranteed(f);
                    tree.nodes[p].subtree[f] += lent;
                }
            }
        }
        // Cohorts (indices after the ClusterQueues, by name) first, then ClusterQueues.
        let cqs = tree.cq_index.len();
        for i in (cqs..count).chain(0..cqs) {
            if let Some(p) = tree.nodes[i].parent {
                tree.children[p].push(i);
            }
        }
        for i in 0..count {
            if let Some(p) = tree.nodes[i].parent {
                tree.lendable[i] = (0..nf).map(|f| tree.available_of(p, f, true)).sum();
            }
        }
        tree
    }

    fn depth(&self, mut i: usize) -> usize {
        let mut d = 0;
        while let Some(p) = self.nodes[i].parent {
            d += 1;
            i = p;
        }
        d
    }

    /// Adds `delta` GPUs of flavor `f` to ClusterQueue node `cq` and its ancestors.
    pub(crate) fn add_usage(&mut self, cq: usize, f: usize, delta: i64) {
        let mut at = cq;
        let mut delta = delta;
        loop {
            let before = self.nodes[at].used_in_parent(f);
            self.nodes[at].usage[f] += delta;
            let after = self.nodes[at].used_in_parent(f);
            match self.nodes[at].parent {
                Some(p) if after != before => {
                    delta = after - before;
                    at = p;
                }
                _ => break,
            }
        }
    }

    /// GPUs of flavor `f` ClusterQueue `cq` may still be admitted (Kueue's `available`).
    pub(crate) fn available(&self, cq: usize, f: usize) -> i64 {
        self.available_of(cq, f, false)
    }

    /// What `cq` could be admitted of `f` with nothing running anywhere.
    pub(crate) fn potential(&self, cq: usize, f: usize) -> i64 {
        self.available_of(cq, f, true)
    }

    fn available_of(&self, node: usize, f: usize, empty: bool) -> i64 {
        let n = &self.nodes[node];
        let usage = if empty { 0 } else { n.usage[f] };
        let Some(parent) = n.parent else {
            return n.subtree[f] - usage;
        };
        let guaranteed = n.guaranteed(f);
        let local = (guaranteed - usage).max(0);
        let mut from_parent = self.available_of(parent, f, empty);
        if let Some(limit) = n.borrowing_limit[f] {
            let stored_in_parent = n.subtree[f] - guaranteed;
            let used_in_parent = (usage - guaranteed).max(0);
            from_parent = from_parent.min(stored_in_parent - used_in_parent + limit);
        }
        local + from_parent
    }

    /// GPUs of `f` the ClusterQueue may hold by its own limits (nominal plus borrowing
    /// limit; unlimited in a cohort without one, nominal alone without a cohort), minus
    /// what it holds.
    pub(crate) fn own_room(&self, cq: usize, f: usize) -> Option<i64> {
        let n = &self.nodes[cq];
        match (n.parent, n.borrowing_limit[f]) {
            (None, _) => Some(n.nominal[f] - n.usage[f]),
            (Some(_), Some(limit)) => Some(n.nominal[f] + limit - n.usage[f]),
            (Some(_), None) => None,
        }
    }

    /// The root of the node's cohort tree (itself without a cohort), and how many nodes
    /// there are (for per-root tables).
    pub(crate) fn root_of(&self, node: usize) -> usize {
        self.root[node]
    }

    /// Nodes (ClusterQueues and cohorts) in the tree.
    pub(crate) fn node_count(&self) -> usize {
        self.nodes.len()
    }

    /// The ClusterQueue's usage of `f`.
    pub(crate) fn usage(&self, cq: usize, f: usize) -> i64 {
        self.nodes[cq].usage[f]
    }

    /// The ClusterQueue's nominal quota of `f`.
    pub(crate) fn nominal(&self, cq: usize, f: usize) -> i64 {
        self.nodes[cq].nominal[f]
    }

    /// Whether the ClusterQueue uses more of `f` than its nominal quota.
    pub(crate) fn borrowing(&self, cq: usize, f: usize) -> bool {
        self.nodes[cq].usage[f] > self.nodes[cq].nominal[f]
    }

    /// The node's parent Cohort.
    pub(crate) fn parent(&self, node: usize) -> Option<usize> {
        self.nodes[node].parent
    }

    /// The node's child Cohorts, then its child ClusterQueues.
    pub(crate) fn children(&self, node: usize) -> &[usize] {
        &self.children[node]
    }

    /// Whether the node (ClusterQueue or Cohort) uses more of `f` than its subtree quota,
    /// so takes it from its parent (Kueue's "borrowing on" a flavor).
    pub(crate) fn borrows_on(&self, node: usize, f: usize) -> bool {
        self.nodes[node].usage[f] > self.nodes[node].subtree[f]
    }

    /// The node's dominant resource share as Kueue computes it (`fair_sharing.go`),
    /// for the one resource modelled: the GPUs it uses beyond its subtree quota, summed
    /// over flavors, per thousand of what its parent could lend it with nothing running;
    /// zero without a parent or when it borrows nothing.
    pub(crate) fn share(&self, node: usize) -> Share {
        let n = &self.nodes[node];
        let mut share = Share {
            per_mille: 0.0,
            weight: n.weight,
            borrowing: false,
        };
        if n.parent.is_none() {
            return share;
        }
        let borrowed: i64 = (0..n.usage.len())
            .map(|f| (n.usage[f] - n.subtree[f]).max(0))
            .sum();
        if borrowed == 0 {
            return share;
        }
        share.borrowing = true;
        let lendable = self.lendable[node];
        if lendable > 0 {
            share.per_mille = borrowed as f64 * 1000.0 / lendable as f64;
        }
        share
    }

    /// Whether two ClusterQueues share a cohort tree (so one may borrow from the other).
    pub(crate) fn same_tree(&self, a: usize, b: usize) -> bool {
        self.root[a] == self.root[b] && self.nodes[a].parent.is_some()
    }
}

/// A dominant resource share (Kueue's `DRS`): compared with [`Share::cmp_fair`], lower
/// is served first and higher preempted first.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Share {
    /// Borrowed GPUs per thousand lendable, before the weight.
    per_mille: f64,
    /// `fairSharing.weight`.
    weight: f64,
    /// Uses more than its subtree quota of some flavor (even when nothing is lendable).
    pub(crate) borrowing: bool,
}

impl Share {
    /// The weighted share: per mille over the weight, infinite for a zero weight that
    /// borrows.
    pub(crate) fn value(self) -> f64 {
        if self.per_mille == 0.0 {
            0.0
        } else if self.weight == 0.0 {
            f64::INFINITY
        } else {
            self.per_mille / self.weight
        }
    }

    fn zero_weight_borrows(self) -> bool {
        self.weight == 0.0 && self.per_mille != 0.0
    }

    /// Kueue's `CompareDRS`: nodes that borrow on a zero weight rank above all others
    /// (and among themselves by their unweighted share); the rest by weighted share.
    pub(crate) fn cmp_fair(self, other: Share) -> std::cmp::Ordering {
        match (self.zero_weight_borrows(), other.zero_weight_borrows()) {
            (true, true) => self.per_mille.total_cmp(&other.per_mille),
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            (false, false) => self.value().total_cmp(&other.value()),
        }
    }
}

fn clamp(q: u64) -> i64 {
    i64::try_from(q).unwrap_or(i64::MAX / 4)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kueue::read_kueue_str;

    fn tree(text: &str) -> QuotaTree {
        QuotaTree::new(&read_kueue_str(text, "t").unwrap())
    }

    pub(crate) fn cq(name: &str, cohort: &str, quota: &str) -> String {
        format!(
            "---\napiVersion: kueue.x-k8s.io/v1beta1\nkind: ClusterQueue\nmetadata: {{name: {name}}}\nspec:\n  cohort: {cohort}\n  resourceGroups:\n  - coveredResources: [nvidia.com/gpu]\n    flavors:\n    - name: f\n      resources:\n      - {{name: nvidia.com/gpu, {quota}}}\n"
        )
    }

    const FLAVOR: &str =
        "apiVersion: kueue.x-k8s.io/v1beta1\nkind: ResourceFlavor\nmetadata: {name: f}\n";

    #[test]
    fn borrowing_stops_at_the_limit_and_at_what_others_lend() {
        let text = format!(
            "{FLAVOR}{}{}",
            cq("a", "c", "nominalQuota: 4, borrowingLimit: 2"),
            cq("b", "c", "nominalQuota: 8, lendingLimit: 3")
        );
        let t = tree(&text);
        let (a, b) = (t.cq_index["a"], t.cq_index["b"]);
        assert_eq!(t.available(a, 0), 6, "own 4 + borrowing limit 2");
        assert_eq!(t.available(b, 0), 12, "own 8 + a's 4");
        let mut t2 = t.clone();
        t2.add_usage(b, 0, 5);
        // b keeps 5 of its 8 for itself; it uses 5, so it lends 3 of which none is used.
        assert_eq!(t2.available(a, 0), 6);
        t2.add_usage(b, 0, 2);
        // b uses 7: 2 of its lendable 3; a can borrow only 1 more.
        assert_eq!(t2.available(a, 0), 5);
    }

    #[test]
    fn a_share_is_borrowed_gpus_per_mille_of_the_lendable_over_the_weight() {
        let text = format!(
            "{FLAVOR}{}{}",
            cq("a", "c", "nominalQuota: 4"),
            cq("b", "c", "nominalQuota: 8, lendingLimit: 4")
        );
        let text = text.replacen(
            "spec:\n  cohort: c\n",
            "spec:\n  cohort: c\n  fairSharing: {weight: 2}\n",
            1,
        );
        let mut t = tree(&text);
        let (a, b) = (t.cq_index["a"], t.cq_index["b"]);
        assert!(!t.share(a).borrowing);
        assert_eq!(t.share(a).value(), 0.0);
        // The cohort holds a's 4 and b's lendable 4: a borrowing 2 is 250 per mille,
        // halved by its weight of 2.
        t.add_usage(a, 0, 6);
        assert!(t.share(a).borrowing && t.borrows_on(a, 0));
        assert_eq!(t.share(a).value(), 125.0);
        // b uses its unlent 4: not borrowing, whatever the cohort holds.
        t.add_usage(b, 0, 4);
        assert_eq!(t.share(b).value(), 0.0);
    }

    #[test]
    fn a_zero_weight_that_borrows_ranks_above_every_share() {
        let text = format!(
            "{FLAVOR}{}{}",
            cq("a", "c", "nominalQuota: 4"),
            cq("z", "c", "nominalQuota: 4")
        );
        let text = text.replacen(
            "metadata: {name: z}\nspec:\n",
            "metadata: {name: z}\nspec:\n  fairSharing: {weight: 0}\n",
            1,
        );
        let mut t = tree(&text);
        let (a, z) = (t.cq_index["a"], t.cq_index["z"]);
        t.add_usage(a, 0, 8);
        assert_eq!(t.share(z).cmp_fair(t.share(a)), std::cmp::Ordering::Less);
        t.add_usage(z, 0, 5);
        assert!(t.share(z).value().is_infinite());
        assert_eq!(t.share(z).cmp_fair(t.share(a)), std::cmp::Ordering::Greater);
    }

    #[test]
    fn a_queue_without_cohort_has_its_nominal_only() {
        let text = format!(
            "{FLAVOR}{}",
            cq("a", "\"\"", "nominalQuota: 4, borrowingLimit: 2")
        );
        let mut t = tree(&text);
        let a = t.cq_index["a"];
        assert_eq!(t.available(a, 0), 4);
        t.add_usage(a, 0, 3);
        assert_eq!(t.available(a, 0), 1);
        assert_eq!(t.potential(a, 0), 4);
    }

    #[test]
    fn a_parent_cohort_lends_its_own_quota() {
        let text = format!(
            "{FLAVOR}{}---\napiVersion: kueue.x-k8s.io/v1beta2\nkind: Cohort\nmetadata: {{name: c}}\nspec:\n  parentName: root\n---\napiVersion: kueue.x-k8s.io/v1beta2\nkind: Cohort\nmetadata: {{name: root}}\nspec:\n  resourceGroups:\n  - coveredResources: [nvidia.com/gpu]\n    flavors:\n    - name: f\n      resources:\n      - {{name: nvidia.com/gpu, nominalQuota: 10}}\n",
            cq("a", "c", "nominalQuota: 2")
        );
        let t = tree(&text);
        assert_eq!(t.available(t.cq_index["a"], 0), 12);
    }
}
