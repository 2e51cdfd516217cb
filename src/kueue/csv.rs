//! A CSV trace for a Kueue replay: cellsim's native columns with a `queue` column naming
//! the LocalQueue each job is submitted to, read into [`KueueWorkload`]s so that the
//! Workload dump and the CSV go through the same steps afterwards
//! ([`super::workloads::sim_jobs`]).
//!
//! ```text
//! id,submit_s,duration_s,gpus,queue,priority,pods
//! j1,0,3600,16,team-a/default,100,2
//! j2,60,600,4,research/train,,
//! ```
//!
//! - `submit_s`, `duration_s`, `gpus`: as in the native trace (seconds, GPUs in all).
//! - `queue`: the LocalQueue, `namespace/name`; or only its name with a `namespace`
//!   column. A LocalQueue the Kueue objects do not define is an error naming the line
//!   and the LocalQueues they do define.
//! - `id` (optional): the job's name in its namespace; empty or absent means
//!   `<file-stem>-<line>`.
//! - `namespace` (optional): the namespace, when `queue` has none.
//! - `priority` (optional, empty allowed): a whole number or the name of a
//!   WorkloadPriorityClass; default 0, as for a Workload without one.
//! - `pods` (optional, empty allowed): pods the GPUs are split into (evenly); default
//!   the fewest pods of equal size that fit the largest node, as for other CSV traces.
//!
//! The row readers and field parsers are the native trace's ([`crate::workload::source`]);
//! only the columns differ. Every bad row is an error: a Kueue replay stops at the first.

use std::collections::BTreeMap;
use std::path::Path;

use super::objects::KueueConfig;
use super::workloads::{KueueWorkload, PodSet};
use crate::sim::from_trace::pod_size;
use crate::workload::TraceError;
use crate::workload::source::{
    CsvRows, check_columns, duration_field, file_stem, gpus_field, time_field,
};

const REQUIRED: [&str; 4] = ["submit_s", "duration_s", "gpus", "queue"];
const OPTIONAL: [&str; 4] = ["id", "namespace", "priority", "pods"];

/// Whether `text`'s first non-blank line is a CSV header with a `queue` column: a Kueue
/// CSV trace rather than a Workload dump.
pub fn looks_like_queue_csv(text: &str) -> bool {
    text.lines()
        .map(|l| l.trim_start_matches('\u{feff}').trim())
        .find(|l| !l.is_empty())
        .is_some_and(|header| {
            header.contains(',')
                && header
                    .split(',')
                    .any(|c| c.trim().trim_matches('"') == "queue")
        })
}

/// Reads the CSV trace at `path` as workloads of `kueue`'s LocalQueues; `node_gpus` (the
/// largest node's GPUs) shapes the pods of rows without a `pods` column.
pub fn read_queue_csv(
    path: &Path,
    kueue: &KueueConfig,
    node_gpus: u32,
) -> Result<Vec<KueueWorkload>, TraceError> {
    let mut rows = CsvRows::open(path, b',', true)?;
    check_columns(&rows, "Kueue CSV", &REQUIRED, &OPTIONAL, true)?;
    let column = |name: &str| rows.index_of(name);
    let [submit, duration, gpus, queue] = REQUIRED.map(|name| column(name).unwrap_or(usize::MAX));
    let [id, namespace, priority, pods] = OPTIONAL.map(column);
    let stem = file_stem(path);
    let mut out = Vec::new();
    // A workload is named by namespace and id, as in Kubernetes: a repeat would make two
    // jobs of one name.
    let mut seen: BTreeMap<(String, String), u64> = BTreeMap::new();
    while let Some(row) = rows.advance() {
        row?;
        let submit_ms = time_field(&rows, submit, "seconds", 1000)?;
        let duration_ms = duration_field(&rows, duration, "seconds", 1000)?;
        let total = gpus_field(&rows, gpus)?;
        let (ns, name) = local_queue(&rows, queue, namespace, kueue)?;
        let priority = match priority {
            Some(i) => priority_value(&rows, i, kueue)?,
            None => 0,
        };
        let pod_count = match pods {
            Some(i) if !rows.field(i)?.is_empty() => {
                let text = rows.field(i)?;
                match text.parse::<u32>() {
                    Ok(n) if n >= 1 && total.is_multiple_of(n) => n,
                    _ => {
                        return Err(rows.error(
                            i,
                            format!(
                                "a whole number of pods from 1 that divides the row's {total} GPUs evenly (e.g. 1 or 2)"
                            ),
                        ));
                    }
                }
            }
            _ => total / pod_size(total, node_gpus),
        };
        let job = match id.map(|i| rows.field(i)).transpose()? {
            Some(text) if !text.is_empty() => text.to_string(),
            _ => format!("{stem}-{}", rows.line),
        };
        if let Some(first) = seen.insert((ns.clone(), job.clone()), rows.line) {
            return Err(rows.error(
                id.unwrap_or(queue),
                format!(
                    "an id not used before in namespace {ns}, but line {first} has {job:?} too; give each row its own id"
                ),
            ));
        }
        out.push(KueueWorkload {
            namespace: ns,
            name: job,
            queue: name,
            admitted_to: None,
            priority,
            priority_class: None,
            // Seconds from the trace's start, as the native trace; sim_jobs moves the
            // first to 0 as it does for creation times.
            created_ms: submit_ms as i64,
            pod_sets: vec![PodSet {
                count: pod_count,
                gpus: total / pod_count,
                ..PodSet::default()
            }],
            run_ms: Some(duration_ms),
            topology_requests: 0,
            topology: None,
        });
    }
    Ok(out)
}

/// The (namespace, name) of the row's LocalQueue, which `kueue` must define.
fn local_queue(
    rows: &CsvRows,
    queue: usize,
    namespace: Option<usize>,
    kueue: &KueueConfig,
) -> Result<(String, String), TraceError> {
    let text = rows.field(queue)?;
    let ns_column = namespace.map(|i| rows.field(i)).transpose()?.unwrap_or("");
    let (ns, name) = match text.split_once('/') {
        Some((ns, name)) => (ns.trim(), name.trim()),
        None if !ns_column.is_empty() => (ns_column, text),
        None => {
            return Err(rows.error(
                queue,
                "a LocalQueue as namespace/name (e.g. team-a/default), or add a namespace column",
            ));
        }
    };
    if kueue.cluster_queue_of(ns, name).is_none() {
        let known: Vec<String> = kueue
            .local_queues
            .keys()
            .map(|(ns, name)| format!("{ns}/{name}"))
            .collect();
        return Err(rows.error(
            queue,
            format!(
                "a LocalQueue the Kueue objects define, but there is no LocalQueue {ns}/{name}; \
                 they define {}",
                if known.is_empty() {
                    "none (add LocalQueue objects)".to_string()
                } else {
                    known.join(", ")
                }
            ),
        ));
    }
    Ok((ns.to_string(), name.to_string()))
}

/// A priority: empty (0), a whole number, or a WorkloadPriorityClass of `kueue`.
fn priority_value(rows: &CsvRows, i: usize, kueue: &KueueConfig) -> Result<i32, TraceError> {
    let text = rows.field(i)?;
    if text.is_empty() {
        return Ok(0);
    }
    if let Ok(p) = text.parse::<i32>() {
        return Ok(p);
    }
    let classes: &BTreeMap<String, i32> = &kueue.priority_classes;
    classes.get(text).copied().ok_or_else(|| {
        let names: Vec<&str> = classes.keys().map(String::as_str).collect();
        rows.error(
            i,
            format!(
                "a whole number or a WorkloadPriorityClass ({})",
                if names.is_empty() {
                    "the Kueue objects define none".to_string()
                } else {
                    names.join(", ")
                }
            ),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> KueueConfig {
        let mut config = KueueConfig::default();
        config
            .local_queues
            .insert(("team-a".into(), "default".into()), "cq-a".into());
        config
            .local_queues
            .insert(("team-b".into(), "default".into()), "cq-b".into());
        config.priority_classes.insert("high".into(), 1000);
        config
    }

    fn read(text: &str) -> Result<Vec<KueueWorkload>, TraceError> {
        let dir = std::env::temp_dir().join(format!("cellsim-kueue-csv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        // Tests run at once: each file gets its own name.
        static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = dir.join(format!("t{n}.csv"));
        std::fs::write(&path, text).unwrap();
        let read = read_queue_csv(&path, &config(), 8);
        let _ = std::fs::remove_file(&path);
        read
    }

    #[test]
    fn rows_become_workloads_of_their_local_queue() {
        let w = read("id,submit_s,duration_s,gpus,queue,priority,pods\nj1,5,60,16,team-a/default,high,\nj2,7,30,4,team-b/default,3,2\n").unwrap();
        assert_eq!(w.len(), 2);
        assert_eq!(
            (w[0].namespace.as_str(), w[0].queue.as_str()),
            ("team-a", "default")
        );
        assert_eq!(w[0].priority, 1000);
        let set = |count, gpus| PodSet {
            count,
            gpus,
            ..PodSet::default()
        };
        assert_eq!(w[0].pod_sets, [set(2, 8)]);
        assert_eq!(w[1].pod_sets, [set(2, 2)]);
        assert_eq!(w[1].run_ms, Some(30_000));
        assert_eq!(w[1].created_ms, 7_000);
    }

    #[test]
    fn a_namespace_column_completes_a_bare_queue_name() {
        let w = read("submit_s,duration_s,gpus,namespace,queue\n0,1,1,team-b,default\n").unwrap();
        assert_eq!(w[0].namespace, "team-b");
        assert!(w[0].name.ends_with("-2"), "{}", w[0].name);
    }

    #[test]
    fn an_unknown_queue_names_the_line_and_the_known_queues() {
        let err = read("submit_s,duration_s,gpus,queue\n0,1,1,team-a/default\n0,1,1,team-c/x\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(".csv:3: column queue: value \"team-c/x\""),
            "{err}"
        );
        assert!(err.contains("team-a/default, team-b/default"), "{err}");
    }

    #[test]
    fn a_repeated_id_in_a_namespace_names_both_lines() {
        let err = read("id,submit_s,duration_s,gpus,queue\na,0,1,1,team-a/default\na,0,1,1,team-b/default\na,1,1,1,team-a/default\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains(":4: column id: value \"a\""), "{err}");
        assert!(err.contains("line 2 has \"a\" too"), "{err}");
    }

    #[test]
    fn pods_must_divide_the_gpus() {
        let err = read("submit_s,duration_s,gpus,queue,pods\n0,1,6,team-a/default,4\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains(":2: column pods"), "{err}");
    }

    #[test]
    fn headers_with_a_queue_column_are_recognised() {
        assert!(looks_like_queue_csv("\n\u{feff}submit_s,gpus,\"queue\"\n"));
        assert!(!looks_like_queue_csv("apiVersion: v1\nkind: List\n"));
        assert!(!looks_like_queue_csv("# queue, comment\nkind: List"));
    }
}
