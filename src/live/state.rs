//! The live server's state: the allocator plus what it knows about pods, and the answers
//! to the extender verbs (HiveD's filter / bind / preempt routines), pod releases and node
//! health. No HTTP and no Kubernetes client here.
//!
//! Standalone mode journals what was *decided*, never the inputs of a decision: a placed
//! pod's bind record (its node and devices and its group's whole placement), binds,
//! releases and node health. A restart rebuilds the allocator from those records
//! ([`Allocator::from_records`]), so every placement comes back on the same node and
//! devices and nothing is decided again. A preemption in flight is not journaled (a
//! reservation is not a placement): after a restart the preemptor is decided again when
//! kube-scheduler retries it. Entries are queued under the state lock and made durable by
//! the journal's writer thread (group commit); a caller acknowledges a change only after
//! its [`Ticket`] is durable. The HTTP layer waits so for binds, deletes and node changes,
//! not for a filter's placement: one lost in a crash was never bound, so its bind is
//! refused and kube-scheduler filters the pod again.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, OnceLock};

use serde::Serialize;
use serde_json::Value;

use super::extender::{ExtenderFilterResult, ExtenderPreemptionResult, MetaPod, MetaVictims};
use super::journal::{Entry, GroupCommit, Journal, JournalError, OpenReport, SnapshotPod, Ticket};
use super::metrics::{Metrics, Outcome};
use super::pod::PodInfo;
use crate::cell::{
    Allocator, BindRecord, Decision, GroupState, PodSchedulingSpec, RebuildReport, SchedulePhase,
    Victim,
};
use crate::config::CellConfig;

/// The `FailedNodes` key of a waiting pod (HiveD's component name).
pub const WAIT_KEY: &str = "hivedscheduler";

/// Lines after which the journal is compacted into a snapshot, by default.
pub const COMPACT_AFTER: usize = 10_000;

/// Where a known pod is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PodPhase {
    /// Its group reserved cells; victims are leaving.
    Preempting,
    /// Placed on a node; bind not yet acknowledged.
    Binding,
    /// Bound.
    Bound,
}

/// A pod the server placed (or is preempting for).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodEntry {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Its affinity group.
    pub group: String,
    /// Node, once placed.
    pub node: Option<String>,
    /// Devices on that node.
    pub devices: Vec<u32>,
    /// Phase.
    pub phase: PodPhase,
    /// Its bind record once placed (what a bind writes and the journal keeps); built once
    /// when the pod is placed, so a bind or a snapshot builds none.
    pub record: Option<Arc<BindRecord>>,
}

impl PodEntry {
    fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    fn snapshot(&self) -> Option<SnapshotPod> {
        Some(SnapshotPod {
            namespace: self.namespace.clone(),
            name: self.name.clone(),
            bound: self.phase == PodPhase::Bound,
            record: self.record.clone()?,
        })
    }
}

/// The state can no longer be made durable (a journal write failed): the server refuses
/// changes until restarted, so nothing acknowledged is ever lost.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the server cannot record changes ({0}); fix the disk problem and restart it")]
pub struct Unavailable(pub String);

/// Why a bind was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BindError {
    /// Refused (HiveD's wording): goes into `ExtenderBindingResult.Error`.
    #[error("{0}")]
    Refused(String),
    /// See [`Unavailable`].
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

/// What a bind writes on the pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindPlan {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// Uid.
    pub uid: String,
    /// Node.
    pub node: String,
    /// The bind record; its annotations go on the pod.
    pub record: Arc<BindRecord>,
}

/// A node and its health, as `GET /v1/nodes` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeStatus {
    /// Node name.
    pub name: String,
    /// Healthy (Ready and schedulable) or bad.
    pub healthy: bool,
}

/// What releasing a pod did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Released {
    /// `namespace/name`.
    pub pod: String,
    /// Its group.
    pub group: String,
    /// True when that was the group's last pod, so its cells are free.
    pub group_freed: bool,
}

/// What opening a journal restored, besides the state.
#[derive(Debug, Default)]
pub struct Restored {
    /// When the config changed since the journal was written: what carrying the running
    /// groups over to it did.
    pub reconfigured: Option<RebuildReport>,
    /// What reading the file found (a torn tail moved aside, an interrupted compaction).
    pub file: OpenReport,
    /// Pods restored.
    pub pods: usize,
}

/// The journal of a standalone server and its bookkeeping.
#[derive(Debug)]
struct Journaling {
    writer: GroupCommit,
    /// Lines queued since the last snapshot.
    lines: usize,
    /// Compact after this many lines.
    compact_after: usize,
    /// The ticket of the last queued entry.
    last: Option<Ticket>,
}

/// The live server's state. See the module docs.
#[derive(Debug)]
pub struct LiveState {
    alloc: Allocator,
    config_text: String,
    pods: BTreeMap<String, PodEntry>,
    journal: Option<Journaling>,
    /// Set (once) when the journal cannot be written: changes are refused from then on.
    failed: Arc<OnceLock<String>>,
    metrics: Metrics,
    /// The allocator's downgrade count when downgrades were last journaled.
    downgrades_seen: u64,
}

impl LiveState {
    /// A state with all cells free and no journal (Kubernetes mode rebuilds with
    /// [`LiveState::from_records`]; tests use this directly).
    pub fn new(config: &CellConfig) -> LiveState {
        let alloc = Allocator::new(config);
        LiveState {
            downgrades_seen: alloc.downgrade_count(),
            alloc,
            config_text: String::new(),
            pods: BTreeMap::new(),
            journal: None,
            failed: Arc::new(OnceLock::new()),
            metrics: Metrics::new(),
        }
    }

    /// Rebuilds from bound pods' records (Kubernetes mode start-up, reconfiguration,
    /// journal restore). `pods` are `(namespace, name, bound, record)`; the record's `pod`
    /// is the uid. Every restored pod keeps the node and devices of its record.
    pub fn from_records(
        config: &CellConfig,
        pods: &[(String, String, bool, BindRecord)],
    ) -> (LiveState, RebuildReport) {
        let records: Vec<BindRecord> = pods.iter().map(|p| p.3.clone()).collect();
        let (alloc, report) = Allocator::from_records(config, &records);
        let mut state = LiveState::new(config);
        state.downgrades_seen = alloc.downgrade_count();
        state.alloc = alloc;
        let lost: HashSet<&str> = report.lost.iter().map(|(g, _)| g.as_str()).collect();
        for (namespace, name, bound, record) in pods {
            let group = &record.scheduling_spec.affinity_group.name;
            if lost.contains(group.as_str()) {
                continue;
            }
            state.pods.insert(
                record.pod.clone(),
                PodEntry {
                    namespace: namespace.clone(),
                    name: name.clone(),
                    group: group.clone(),
                    node: Some(record.bind_info.node.clone()),
                    devices: record.bind_info.leaf_cell_isolation.clone(),
                    phase: if *bound {
                        PodPhase::Bound
                    } else {
                        PodPhase::Binding
                    },
                    record: None,
                },
            );
        }
        state.refresh_records();
        (state, report)
    }

    /// Rebuilds every known pod's bind record from the allocator (after a rebuild, where a
    /// group may have been lazily preempted): one pass over all groups.
    fn refresh_records(&mut self) {
        for record in self.alloc.bind_records() {
            if let Some(p) = self.pods.get_mut(&record.pod) {
                p.record = Some(Arc::new(record));
            }
        }
    }

    /// Opens the standalone journal and restores the state it records: the placed pods'
    /// bind records are put back exactly (no decision is made again), then bind, release
    /// and health changes applied. When `config` (read from `config_text`) differs from
    /// the journal's, running groups are then carried over to it as on a live
    /// reconfiguration. The journal is then compacted (rewritten as one snapshot) and
    /// `compact_after` lines later again.
    pub fn open_journal(
        config: &CellConfig,
        config_text: &str,
        path: &std::path::Path,
        compact_after: usize,
    ) -> Result<(LiveState, Restored), JournalError> {
        let (journal, entries, file) = Journal::open(path)?;
        let inconsistent = |line: usize, message: String| JournalError::Inconsistent {
            path: path.display().to_string(),
            line,
            message,
        };
        let mut journal_config: Option<(CellConfig, String)> = None;
        let mut journal_text: Option<String> = None;
        let mut pods: BTreeMap<String, SnapshotPod> = BTreeMap::new();
        let mut bad: BTreeSet<String> = BTreeSet::new();
        for (i, entry) in entries.into_iter().enumerate() {
            let line = i + 1;
            match entry {
                Entry::Config { text } if i == 0 => {
                    let old =
                        crate::config::load_str(&text, "the journal's config").map_err(|e| {
                            inconsistent(line, format!("its config does not load: {e}"))
                        })?;
                    journal_config = Some((old, text));
                }
                Entry::Config { .. } => {
                    return Err(inconsistent(line, "a config line after the first".into()));
                }
                _ if i == 0 => {
                    return Err(inconsistent(
                        line,
                        "the first line is not the config".into(),
                    ));
                }
                Entry::Restore { pods: snapshot } => {
                    pods = snapshot
                        .into_iter()
                        .map(|p| (p.record.pod.clone(), p))
                        .collect();
                }
                Entry::Place { pods: placed } => {
                    for p in placed {
                        pods.insert(p.record.pod.clone(), p);
                    }
                }
                Entry::Bind { uid } => match pods.get_mut(&uid) {
                    Some(p) => p.bound = true,
                    None => {
                        return Err(inconsistent(
                            line,
                            format!("bind of pod {uid:?}, which was not placed"),
                        ));
                    }
                },
                Entry::Release { uid } => {
                    // A preemptor's pods are not journaled; their release is a no-op.
                    pods.remove(&uid);
                }
                Entry::Health { node, healthy } => {
                    if healthy {
                        bad.remove(&node);
                    } else {
                        bad.insert(node);
                    }
                }
            }
        }
        let failed = Arc::new(OnceLock::new());
        let metrics = Metrics::new();
        let restored_pods = pods.len();
        let mut state = match journal_config {
            None => LiveState::new(config),
            Some((old, text)) => {
                journal_text = Some(text);
                let list: Vec<(String, String, bool, BindRecord)> = pods
                    .into_values()
                    .map(|p| {
                        let record = Arc::unwrap_or_clone(p.record);
                        (p.namespace, p.name, p.bound, record)
                    })
                    .collect();
                let (mut state, report) = LiveState::from_records(&old, &list);
                if let Some((group, why)) = report.lost.first() {
                    return Err(inconsistent(
                        0,
                        format!("group {group:?} cannot be restored: {why}"),
                    ));
                }
                for node in &bad {
                    state
                        .alloc
                        .set_node_health(node, false)
                        .map_err(|e| inconsistent(0, format!("node {node:?} marked bad: {e}")))?;
                }
                state
            }
        };
        state.metrics = metrics.clone();
        state.failed = failed.clone();
        let writer = GroupCommit::start(journal, metrics, failed)?;
        state.journal = Some(Journaling {
            writer,
            lines: 0,
            compact_after: compact_after.max(1),
            last: None,
        });
        let io = |e: Unavailable| JournalError::Io {
            path: path.display().to_string(),
            source: std::io::Error::other(e.0),
        };
        let mut restored = Restored {
            reconfigured: None,
            file,
            pods: restored_pods,
        };
        if let Some(text) = journal_text.filter(|t| t != config_text) {
            state.config_text = text;
            restored.reconfigured = Some(state.reconfigure(config, config_text).map_err(io)?);
        } else {
            state.config_text = config_text.to_string();
            state.compact().map_err(io)?;
        }
        if let Some(t) = state.ticket() {
            t.durable_blocking().map_err(|e| io(Unavailable(e)))?;
        }
        Ok((state, restored))
    }

    /// The snapshot entries of the current state: the config, every placed pod's record
    /// (shared, not copied), bad nodes.
    fn snapshot(&self) -> Vec<Entry> {
        let mut entries = vec![
            Entry::Config {
                text: self.config_text.clone(),
            },
            Entry::Restore {
                pods: self.pods.values().filter_map(PodEntry::snapshot).collect(),
            },
        ];
        for node in self.alloc.bad_nodes() {
            entries.push(Entry::Health {
                node,
                healthy: false,
            });
        }
        entries
    }

    /// Queues a rewrite of the journal as one snapshot. A preemption in flight does not
    /// stop it: reservations are not journaled.
    fn compact(&mut self) -> Result<(), Unavailable> {
        self.check_available()?;
        let entries = self.snapshot();
        if let Some(j) = self.journal.as_mut() {
            j.last = Some(j.writer.rewrite(entries));
            j.lines = 0;
        }
        Ok(())
    }

    fn check_available(&self) -> Result<(), Unavailable> {
        match self.failed.get() {
            Some(m) => Err(Unavailable(m.clone())),
            None => Ok(()),
        }
    }

    /// Queues `entry` for the journal, if there is one; the change is acknowledged only
    /// once [`LiveState::ticket`] is durable.
    fn record(&mut self, entry: Entry) -> Result<(), Unavailable> {
        self.check_available()?;
        let Some(j) = self.journal.as_mut() else {
            return Ok(());
        };
        j.last = Some(j.writer.append(entry));
        j.lines += 1;
        if j.lines > j.compact_after {
            self.compact()?;
        }
        Ok(())
    }

    /// Journals what the last decision for pod `uid` of `group` placed: the pod's bind
    /// record, and the records of groups it lazily preempted (their pods now run as
    /// opportunistic). Records are built from the groups concerned only.
    fn record_decision(&mut self, uid: &str, group: &str) -> Result<(), Unavailable> {
        let mut placed = Vec::new();
        if let Some(p) = self.pods.get_mut(uid)
            && p.phase == PodPhase::Binding
            && p.record.is_none()
            && let Some(record) = self.alloc.pod_bind_record(group, uid)
        {
            p.record = Some(Arc::new(record));
            placed.extend(p.snapshot());
        }
        let downgrades = self.alloc.downgrade_count();
        if downgrades != self.downgrades_seen {
            self.downgrades_seen = downgrades;
            for victim in self.alloc.groups_downgraded_by(group) {
                for record in self.alloc.group_bind_records(&victim) {
                    if let Some(p) = self.pods.get_mut(&record.pod) {
                        p.record = Some(Arc::new(record));
                        placed.extend(p.snapshot());
                    }
                }
            }
        }
        if placed.is_empty() {
            return Ok(());
        }
        self.record(Entry::Place { pods: placed })
    }

    /// The ticket of the last change queued for the journal (`None` without a journal):
    /// wait for it to be durable before acknowledging a change.
    pub fn ticket(&self) -> Option<Ticket> {
        self.journal.as_ref().and_then(|j| j.last.clone())
    }

    /// Why the server cannot take changes, if it cannot.
    pub fn failure(&self) -> Option<&str> {
        self.failed.get().map(String::as_str)
    }

    /// The failure flag, shared: readable without the state lock (`/healthz`).
    pub fn failure_flag(&self) -> Arc<OnceLock<String>> {
        self.failed.clone()
    }

    /// How long to hold back the answer to a waiting pod (HiveD's
    /// `waitingPodSchedulingBlockMilliSec`): kube-scheduler places one pod at a time, so
    /// this blocks the scheduling of the pods behind it, for a better FIFO order.
    pub fn wait_block(&self) -> Option<std::time::Duration> {
        self.alloc
            .config()
            .server
            .waiting_pod_scheduling_block_ms
            .filter(|ms| *ms > 0)
            .map(std::time::Duration::from_millis)
    }

    /// The allocator (inspect views).
    pub fn allocator(&self) -> &Allocator {
        &self.alloc
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Known pods by uid.
    pub fn pods(&self) -> &BTreeMap<String, PodEntry> {
        &self.pods
    }

    /// The uid of the known pod `namespace/name`.
    pub fn uid_of(&self, namespace: &str, name: &str) -> Option<String> {
        self.pods
            .iter()
            .find(|(_, p)| p.namespace == namespace && p.name == name)
            .map(|(uid, _)| uid.clone())
    }

    /// Schedules for `spec` in `phase` and records what changed in the pod table; the
    /// answer is the decision, for a bind this pod's node, and whether the call changed
    /// the allocator (and so must be journaled). Shared by the verbs and journal replay.
    fn decide(
        &mut self,
        uid: &str,
        namespace: &str,
        name: &str,
        spec: &PodSchedulingSpec,
        suggested: Option<&[String]>,
        phase: SchedulePhase,
    ) -> (Decision, Result<Option<String>, String>, bool) {
        let request = spec.group_request();
        // An ignored suggestion list (the default) is not even hashed: kube-scheduler sends
        // every candidate node, 1,280 names on a large cluster.
        let suggested = suggested.filter(|_| !spec.ignore_k8s_suggested_nodes);
        let suggested_set: Option<HashSet<String>> = suggested.map(|s| s.iter().cloned().collect());
        let downgrades = self.alloc.downgrades;
        let decision = self
            .alloc
            .schedule_in_phase(&request, suggested_set.as_ref(), phase);
        let reserved = matches!(
            self.alloc.group_status(&request.name),
            Some((GroupState::Preempting, _, _))
        );
        let mut changed = self.alloc.downgrades != downgrades;
        let placed = match &decision {
            Decision::Bind(_) => {
                changed = true;
                match self
                    .alloc
                    .confirm_pod(&request.name, uid, spec.leaf_cell_number)
                {
                    Ok(p) => {
                        self.pods.insert(
                            uid.to_string(),
                            PodEntry {
                                namespace: namespace.to_string(),
                                name: name.to_string(),
                                group: request.name.clone(),
                                node: Some(p.node.clone()),
                                devices: p.devices,
                                phase: PodPhase::Binding,
                                record: None,
                            },
                        );
                        Ok(Some(p.node))
                    }
                    Err(e) => Err(format!(
                        "pod {namespace}/{name} cannot join its placed group: {e}"
                    )),
                }
            }
            // Only a reservation (Preempting phase) makes the pod a preemptor; a filter
            // call merely reports the victims.
            Decision::Preempt { .. } if reserved => {
                changed = true;
                self.pods.insert(
                    uid.to_string(),
                    PodEntry {
                        namespace: namespace.to_string(),
                        name: name.to_string(),
                        group: request.name.clone(),
                        node: None,
                        devices: Vec::new(),
                        phase: PodPhase::Preempting,
                        record: None,
                    },
                );
                Ok(None)
            }
            _ => {
                if !reserved && self.alloc.group_status(&request.name).is_none() {
                    // A preemption of this group that was cancelled leaves no preemptor.
                    let before = self.pods.len();
                    self.pods.retain(|_, p| {
                        !(p.group == request.name && p.phase == PodPhase::Preempting)
                    });
                    changed |= self.pods.len() != before;
                }
                Ok(None)
            }
        };
        (decision, placed, changed)
    }

    /// Victim pods per node: the known pods of each victim group (uid and key).
    fn victims_by_node(&self, victims: &[Victim]) -> BTreeMap<String, Vec<(String, String)>> {
        let groups: HashSet<&str> = victims.iter().map(|v| v.group.as_str()).collect();
        let mut out: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
        for (uid, p) in &self.pods {
            if p.phase != PodPhase::Preempting
                && groups.contains(p.group.as_str())
                && let Some(node) = &p.node
            {
                out.entry(node.clone())
                    .or_default()
                    .push((uid.clone(), p.key()));
            }
        }
        // A victim slot whose pod the server never saw still blocks its node.
        for v in victims {
            for pod in &v.pods {
                out.entry(pod.node.clone()).or_default();
            }
        }
        out
    }

    /// HiveD's filter routine for a participating (or not) pod. `candidates` are the
    /// node names of the call, `nodes` its `v1.NodeList` when it sent one.
    pub fn filter(
        &mut self,
        pod: &PodInfo,
        candidates: Option<Vec<String>>,
        nodes: Option<&Value>,
    ) -> Result<(ExtenderFilterResult, Outcome), Unavailable> {
        let only = |node: &str| {
            let mut r = ExtenderFilterResult::default();
            match nodes {
                // Not node-cache capable: kube-scheduler sent (and reads back) a NodeList.
                Some(list) => {
                    let mut list = list.clone();
                    if let Some(Value::Array(items)) = list.get_mut("items") {
                        items.retain(|n| {
                            n.get("metadata")
                                .and_then(|m| m.get("name"))
                                .and_then(Value::as_str)
                                == Some(node)
                        });
                    }
                    r.nodes = Some(list);
                }
                _ => r.node_names = Some(vec![node.to_string()]),
            }
            r
        };
        if !pod.participates {
            // Not ours: every candidate passes.
            let r = ExtenderFilterResult {
                nodes: nodes.cloned(),
                node_names: if nodes.is_some() { None } else { candidates },
                ..Default::default()
            };
            return Ok((r, Outcome::Ignored));
        }
        self.check_available()?;
        if let Some(p) = self.pods.get(&pod.uid)
            && p.phase != PodPhase::Preempting
            && let Some(node) = &p.node
        {
            // Insist on the earlier placement: binding is idempotent (HiveD).
            return Ok((only(node), Outcome::Bind));
        }
        let spec = match pod.scheduling_spec() {
            Ok(s) => s,
            Err(error) => {
                return Ok((
                    ExtenderFilterResult {
                        error,
                        ..Default::default()
                    },
                    Outcome::Reject,
                ));
            }
        };
        let (decision, placed, changed) = self.decide(
            &pod.uid,
            &pod.namespace,
            &pod.name,
            &spec,
            candidates.as_deref(),
            SchedulePhase::Filtering,
        );
        if changed || matches!(decision, Decision::Bind(_)) {
            self.record_decision(&pod.uid, &spec.affinity_group.name)?;
        }
        Ok(match decision {
            Decision::Bind(_) => match placed {
                Ok(Some(node)) => (only(&node), Outcome::Bind),
                Ok(None) | Err(_) => (
                    ExtenderFilterResult {
                        error: placed.err().unwrap_or_default(),
                        ..Default::default()
                    },
                    Outcome::Reject,
                ),
            },
            Decision::Preempt { victims } => {
                let mut failed = BTreeMap::new();
                for (node, pods) in self.victims_by_node(&victims) {
                    let names: Vec<String> = if pods.is_empty() {
                        victims
                            .iter()
                            .filter(|v| v.pods.iter().any(|p| p.node == node))
                            .map(|v| format!("group {}", v.group))
                            .collect()
                    } else {
                        pods.into_iter().map(|(_, key)| key).collect()
                    };
                    failed.insert(
                        node.clone(),
                        format!(
                            "node({node}) is waiting for victim Pod(s) to be preempted: {}",
                            names.join(", ")
                        ),
                    );
                }
                (
                    ExtenderFilterResult {
                        failed_nodes: failed,
                        ..Default::default()
                    },
                    Outcome::Preempt,
                )
            }
            Decision::Wait { reason } => {
                let mut failed = BTreeMap::new();
                failed.insert(
                    WAIT_KEY.to_string(),
                    format!("Pod is waiting for preemptible or free resource to appear: {reason}"),
                );
                (
                    ExtenderFilterResult {
                        failed_nodes: failed,
                        ..Default::default()
                    },
                    Outcome::Wait,
                )
            }
            Decision::Reject { error } => (
                ExtenderFilterResult {
                    error: format!("pod {}: {error}", pod.key()),
                    ..Default::default()
                },
                Outcome::Reject,
            ),
        })
    }

    /// HiveD's preempt routine: schedules again with the preemption candidates as
    /// suggested nodes and answers the victims per node (empty when none are needed).
    /// `Err(Ok(message))` is a bad request (a bound pod, a bad spec).
    pub fn preempt(
        &mut self,
        pod: &PodInfo,
        nodes: &[String],
    ) -> Result<(ExtenderPreemptionResult, Outcome), Result<String, Unavailable>> {
        if !pod.participates {
            return Ok((ExtenderPreemptionResult::default(), Outcome::Ignored));
        }
        self.check_available().map_err(Err)?;
        if let Some(p) = self.pods.get(&pod.uid)
            && p.phase != PodPhase::Preempting
        {
            return Err(Ok(format!(
                "pod {} has already been placed on node {}; it needs no preemption",
                pod.key(),
                p.node.as_deref().unwrap_or("")
            )));
        }
        let spec = pod.scheduling_spec().map_err(Ok)?;
        let suggested = (!nodes.is_empty()).then(|| nodes.to_vec());
        let (decision, _, changed) = self.decide(
            &pod.uid,
            &pod.namespace,
            &pod.name,
            &spec,
            suggested.as_deref(),
            SchedulePhase::Preempting,
        );
        if changed || matches!(decision, Decision::Bind(_)) {
            self.record_decision(&pod.uid, &spec.affinity_group.name)
                .map_err(Err)?;
        }
        Ok(match decision {
            Decision::Preempt { victims } => {
                let mut out = BTreeMap::new();
                for (node, pods) in self.victims_by_node(&victims) {
                    out.insert(
                        node,
                        MetaVictims {
                            pods: pods.into_iter().map(|(uid, _)| MetaPod { uid }).collect(),
                            num_pdb_violations: 0,
                        },
                    );
                }
                (
                    ExtenderPreemptionResult {
                        node_name_to_meta_victims: out,
                    },
                    Outcome::Preempt,
                )
            }
            Decision::Bind(_) => (ExtenderPreemptionResult::default(), Outcome::Bind),
            Decision::Wait { .. } => (ExtenderPreemptionResult::default(), Outcome::Wait),
            Decision::Reject { .. } => (ExtenderPreemptionResult::default(), Outcome::Reject),
        })
    }

    /// Checks a bind against the pod's placement and returns what to write on the pod.
    pub fn plan_bind(
        &self,
        namespace: &str,
        name: &str,
        uid: &str,
        node: &str,
    ) -> Result<BindPlan, BindError> {
        self.check_available()?;
        let Some(p) = self.pods.get(uid) else {
            return Err(BindError::Refused(format!(
                "Pod cannot be bound without a scheduling placement: pod {namespace}/{name} (uid {uid}) \
                 was not placed by this scheduler; call filter first (received node {node})"
            )));
        };
        let Some(placed) = p
            .node
            .as_deref()
            .filter(|_| p.phase != PodPhase::Preempting)
        else {
            return Err(BindError::Refused(format!(
                "Pod cannot be bound without a scheduling placement: pod {namespace}/{name} is still \
                 preempting, received node {node}"
            )));
        };
        if placed != node {
            return Err(BindError::Refused(format!(
                "Pod binding node mismatch: expected {placed}, received {node}"
            )));
        }
        // Built when the pod was placed; a group's record is built alone otherwise.
        let record = match &p.record {
            Some(r) => r.clone(),
            None => Arc::new(self.alloc.pod_bind_record(&p.group, uid).ok_or_else(|| {
                BindError::Refused(format!(
                    "pod {namespace}/{name} has no bind record (its group is not allocated)"
                ))
            })?),
        };
        Ok(BindPlan {
            namespace: p.namespace.clone(),
            name: p.name.clone(),
            uid: uid.to_string(),
            node: node.to_string(),
            record,
        })
    }

    /// Marks a planned bind done (acknowledged by Kubernetes, or locally in standalone
    /// mode) and records it.
    pub fn commit_bind(&mut self, uid: &str) -> Result<(), Unavailable> {
        self.check_available()?;
        let Some(p) = self.pods.get_mut(uid) else {
            // The pod went away while Kubernetes bound it; its delete event releases it.
            return Ok(());
        };
        if p.phase == PodPhase::Bound {
            return Ok(());
        }
        p.phase = PodPhase::Bound;
        self.record(Entry::Bind {
            uid: uid.to_string(),
        })
    }

    fn release_uid(&mut self, uid: &str) -> Option<Released> {
        let p = self.pods.remove(uid)?;
        match p.phase {
            PodPhase::Binding | PodPhase::Bound => {
                let _ = self.alloc.release_pod(&p.group, uid);
            }
            PodPhase::Preempting => {
                // The preemptor gave up: its reservation goes unless another of its pods waits.
                if !self.pods.values().any(|o| o.group == p.group) {
                    let _ = self.alloc.release_group(&p.group);
                }
            }
        }
        Some(Released {
            pod: p.key(),
            group_freed: self.alloc.placement(&p.group).is_none(),
            group: p.group,
        })
    }

    /// A pod is gone (deleted or finished). `Ok(None)` when the server did not know it.
    pub fn release(&mut self, uid: &str) -> Result<Option<Released>, Unavailable> {
        self.check_available()?;
        let released = self.release_uid(uid);
        if released.is_some() {
            self.record(Entry::Release {
                uid: uid.to_string(),
            })?;
        }
        Ok(released)
    }

    /// Marks a node. `Ok(false)` for a node not in the config.
    pub fn set_node_health(&mut self, node: &str, healthy: bool) -> Result<bool, Unavailable> {
        self.check_available()?;
        if self.alloc.node_healthy(node).is_none() {
            return Ok(false);
        }
        if self.alloc.node_healthy(node) == Some(healthy) {
            return Ok(true);
        }
        let _ = self.alloc.set_node_health(node, healthy);
        self.record(Entry::Health {
            node: node.to_string(),
            healthy,
        })?;
        Ok(true)
    }

    /// Nodes of the config with their health, in topology order.
    pub fn nodes(&self) -> Vec<NodeStatus> {
        self.alloc
            .topology()
            .nodes
            .iter()
            .map(|n| NodeStatus {
                name: n.name.clone(),
                healthy: self.alloc.node_healthy(&n.name).unwrap_or(false),
            })
            .collect()
    }

    /// Work-preserving reconfiguration: running groups are carried over to `config`
    /// (groups their VC no longer covers are lazily preempted, groups whose cells are gone
    /// are lost and reported); node health is kept; preemptions in flight are dropped
    /// (their pods are filtered again). In standalone mode the journal is rewritten.
    pub fn reconfigure(
        &mut self,
        config: &CellConfig,
        config_text: &str,
    ) -> Result<RebuildReport, Unavailable> {
        self.check_available()?;
        let pods: Vec<(String, String, bool, BindRecord)> = self
            .pods
            .values()
            .filter_map(|p| {
                let record = p.record.as_deref()?.clone();
                Some((
                    p.namespace.clone(),
                    p.name.clone(),
                    p.phase == PodPhase::Bound,
                    record,
                ))
            })
            .collect();
        let bad = self.alloc.bad_nodes();
        let (mut next, report) = LiveState::from_records(config, &pods);
        for node in bad {
            let _ = next.alloc.set_node_health(&node, false);
        }
        next.refresh_records();
        self.downgrades_seen = next.downgrades_seen;
        self.alloc = std::mem::replace(&mut next.alloc, Allocator::new(config));
        self.pods = std::mem::take(&mut next.pods);
        self.config_text = config_text.to_string();
        self.compact()?;
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::pod::parse_pod;
    use serde_json::json;

    const CLUSTER: &str = "
physicalCluster:
  cellTypes:
    NODE: {childCellType: GPU, childCellNumber: 2, isNodeLevel: true}
    RACK: {childCellType: NODE, childCellNumber: 2}
  physicalCells:
  - cellType: RACK
    cellChildren: [{cellAddress: n1}, {cellAddress: n2}]
virtualClusters:
  vc: {virtualCells: [{cellType: RACK.NODE, cellNumber: 2}]}
";

    fn pod(name: &str, priority: i32, gpus: u32) -> PodInfo {
        let spec = format!("virtualCluster: vc\npriority: {priority}\nleafCellNumber: {gpus}\n");
        parse_pod(json!({
            "metadata": {"name": name, "namespace": "ns", "uid": name,
                         "annotations": {crate::cell::SCHEDULING_SPEC_ANNOTATION: spec}},
            "spec": {"containers": [{"resources": {"limits": {super::super::pod::SCHEDULING_ENABLE_RESOURCE: 1}}}]}
        }))
        .unwrap()
    }

    fn state() -> LiveState {
        LiveState::new(&crate::config::load_str(CLUSTER, "t").unwrap())
    }

    #[test]
    fn an_abandoned_preemption_frees_its_reservation() {
        let mut s = state();
        for name in ["a", "b"] {
            let (r, o) = s.filter(&pod(name, 10, 2), None, None).unwrap();
            assert_eq!(o, Outcome::Bind, "{r:?}");
        }
        let (_, o) = s.filter(&pod("c", 100, 2), None, None).unwrap();
        assert_eq!(o, Outcome::Preempt);
        assert!(
            !s.pods().contains_key("c"),
            "filter only reports the victims"
        );
        let (_, o) = s.preempt(&pod("c", 100, 2), &[]).unwrap();
        assert_eq!(o, Outcome::Preempt);
        assert_eq!(s.pods()["c"].phase, PodPhase::Preempting);
        let released = s.release("c").unwrap().unwrap();
        assert!(released.group_freed);
        assert!(s.allocator().placement("ns/c").is_none());
        assert_eq!(s.allocator().group_count(), 2);
    }

    #[test]
    fn bind_needs_the_placed_node_and_is_idempotent() {
        let mut s = state();
        let (r, _) = s.filter(&pod("a", 10, 1), None, None).unwrap();
        let node = r.node_names.unwrap()[0].clone();
        assert!(matches!(
            s.plan_bind("ns", "a", "a", "elsewhere"),
            Err(BindError::Refused(_))
        ));
        let plan = s.plan_bind("ns", "a", "a", &node).unwrap();
        assert_eq!(plan.record.bind_info.node, node);
        s.commit_bind("a").unwrap();
        s.commit_bind("a").unwrap();
        assert_eq!(s.pods()["a"].phase, PodPhase::Bound);
    }

    #[test]
    fn unknown_nodes_and_pods_are_reported_not_errors() {
        let mut s = state();
        assert_eq!(s.set_node_health("ghost", false), Ok(false));
        assert_eq!(s.release("ghost"), Ok(None));
        assert_eq!(s.set_node_health("n1", false), Ok(true));
        assert_eq!(
            s.nodes()[0],
            NodeStatus {
                name: "n1".into(),
                healthy: false
            }
        );
    }

    #[test]
    fn reconfiguration_keeps_running_groups() {
        let mut s = state();
        s.filter(&pod("a", 10, 2), None, None).unwrap();
        let bigger = CLUSTER
            .replace(
                "childCellNumber: 2}\n  physicalCells",
                "childCellNumber: 3}\n  physicalCells",
            )
            .replace(
                "{cellAddress: n2}]",
                "{cellAddress: n2}, {cellAddress: n3}]",
            );
        let config = crate::config::load_str(&bigger, "t").unwrap();
        let report = s.reconfigure(&config, &bigger).unwrap();
        assert_eq!(report.restored, vec!["ns/a".to_string()]);
        assert_eq!(s.nodes().len(), 3);
        assert_eq!(s.pods()["a"].phase, PodPhase::Binding);
    }
}
