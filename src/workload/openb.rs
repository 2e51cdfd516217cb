//! Alibaba GPU cluster trace v2023 ("openb", ATC'23) pod lists, read row by row
//! ([`read_openb`]).
//!
//! Columns: `name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,
//! creation_time,deletion_time,scheduled_time`, times in seconds from the start of the
//! trace (they are not shifted). How a pod becomes a job:
//!
//! - id = `name`; VC = `default` (the trace has no tenants); priority = the default
//!   (`qos` is not mapped to priorities). CPU and memory are read only with
//!   [`Fractional::Share`].
//! - `num_gpu` 0 (CPU-only pod): skipped, counted under [`CPU_ONLY_SKIPPED`]; with
//!   [`Fractional::Share`] kept as a pod of CPU and memory only (its `gpu_milli` is not
//!   read), counted under [`CPU_ONLY_KEPT`].
//! - `gpu_milli` 1000: `num_gpu` whole GPUs. `gpu_milli` below 1000 is a share of each GPU
//!   (in the trace only single-GPU pods have one): by [`OpenbOptions::fractional`], either
//!   rounded up to `num_gpu` whole GPUs and counted under [`FRACTIONAL_ROUNDED_UP`] (once
//!   the row is read without error), or skipped and counted under [`FRACTIONAL_SKIPPED`]
//!   (without reading its times, like a CPU-only pod), or kept as a share
//!   ([`Fractional::Share`], counted under [`FRACTIONAL_KEPT`]): then every pod's
//!   [`TraceJob::resources`] carries its share, `cpu_milli`, `memory_mib` and whole
//!   `gpu_spec`, for the layers that place on a shared cluster.
//! - `gpu_spec` (the GPU models the pod may use, `|`-separated, e.g. `P100|V100M16`) is
//!   kept **as written** in [`TraceJob::gpu_type`]: keeping only the first model would
//!   make the constraint stricter than the trace; see [`TraceJob::gpu_types`]. Empty
//!   means any model.
//! - submit = `creation_time`. duration, by [`OpenbOptions::duration_from`]: by default
//!   `deletion_time - scheduled_time` (the time the pod ran; the simulator adds its own
//!   wait), or `deletion_time - creation_time`. A pod never scheduled (`scheduled_time`
//!   empty, the `Pending` pods) uses `creation_time` and is counted under
//!   [`NEVER_SCHEDULED`]. A duration of 0 is an error for that row.
//! - `qos`, `pod_phase` must be present in the header but are not read (nor are
//!   `cpu_milli`, `memory_mib` but with [`Fractional::Share`]).
//!
//! The `multigpu*` sample files carry only the first five columns (no times): they
//! cannot be replayed and are refused when opened.

use std::io::Read;
use std::path::Path;

use super::source::{
    CsvFormat, CsvRows, CsvTrace, RowInfo, check_columns, default_priority, number_to_ms,
    time_field, trace_error,
};
use super::trace::{IngestReport, TraceError, TraceJob};

/// Kind noted for a skipped pod without GPUs.
pub const CPU_ONLY_SKIPPED: &str = "CPU-only pod (skipped)";
/// Kind noted for a pod without GPUs kept as CPU and memory ([`Fractional::Share`]).
pub const CPU_ONLY_KEPT: &str = "CPU-only pod (kept: CPU and memory only)";
/// Kind noted for a fractional-GPU pod read as whole GPUs.
pub const FRACTIONAL_ROUNDED_UP: &str = "fractional-GPU pod (read as whole GPUs)";
/// Kind noted for a skipped fractional-GPU pod.
pub const FRACTIONAL_SKIPPED: &str = "fractional-GPU pod (skipped)";
/// Kind noted for a fractional-GPU pod kept as a share of one GPU.
pub const FRACTIONAL_KEPT: &str = "fractional-GPU pod (kept as a share of one GPU)";
/// Kind noted for a pod without `scheduled_time`, whose duration counts from creation.
pub const NEVER_SCHEDULED: &str = "pod never scheduled (duration from creation_time)";

/// The columns an openb pod list must have.
pub const OPENB_COLUMNS: [&str; 11] = [
    "name",
    "cpu_milli",
    "memory_mib",
    "num_gpu",
    "gpu_milli",
    "gpu_spec",
    "qos",
    "pod_phase",
    "creation_time",
    "deletion_time",
    "scheduled_time",
];

/// What to do with a pod that asks for a share of a GPU (`gpu_milli` below 1000): read it
/// as whole GPUs, skip it, or keep the share for the layers that place shares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fractional {
    /// Read it as `num_gpu` whole GPUs (overstates its demand; keeps the arrival pattern).
    #[default]
    WholeGpu,
    /// Skip it.
    Skip,
    /// Keep the share, and every pod's CPU and memory ([`TraceJob::resources`]): for the
    /// layers that place on a shared cluster (`shared`, `yarn-cs`, `kueue`).
    Share,
}

/// Where an openb pod's run time starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DurationFrom {
    /// `deletion_time - scheduled_time`: the time it ran (creation for never-scheduled
    /// pods).
    #[default]
    Scheduled,
    /// `deletion_time - creation_time`: its whole life, including its wait in the
    /// original cluster.
    Creation,
}

/// Choices for reading openb pod lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OpenbOptions {
    /// Fractional-GPU pods: as whole GPUs (default) or skipped.
    pub fractional: Fractional,
    /// Duration start: scheduling (default) or creation.
    pub duration_from: DurationFrom,
}

/// Reads an openb pod list row by row, in file order. See the module docs.
pub type OpenbReader = CsvTrace<OpenbFormat>;

/// The openb pod list's columns, found by name in the header, and the reading options.
pub struct OpenbFormat {
    options: OpenbOptions,
    /// name, num_gpu, gpu_milli, gpu_spec, creation, deletion, scheduled, cpu_milli,
    /// memory_mib.
    columns: [usize; 9],
}

/// Opens an openb pod list and checks its header.
pub fn read_openb(path: &Path, options: OpenbOptions) -> Result<OpenbReader, TraceError> {
    OpenbFormat::reader(CsvRows::open(path, b',', true)?, options)
}

impl OpenbReader {
    /// Reads an openb pod list from `input`, naming it `name` in errors.
    pub fn from_reader(
        name: &Path,
        input: impl Read + Send + 'static,
        options: OpenbOptions,
    ) -> Result<OpenbReader, TraceError> {
        OpenbFormat::reader(
            CsvRows::from_reader(name, Box::new(input), b',', true)?,
            options,
        )
    }
}

impl OpenbFormat {
    fn reader(rows: CsvRows, options: OpenbOptions) -> Result<OpenbReader, TraceError> {
        if rows.index_of("num_gpu").is_some() && rows.index_of("creation_time").is_none() {
            return Err(trace_error(
                rows.path(),
                1,
                Some("creation_time"),
                None,
                "creation_time, deletion_time and scheduled_time columns: this pod list has \
                 no times (like the multigpu* samples) and cannot be replayed; use a pod list \
                 with times, e.g. openb_pod_list_default.csv",
            ));
        }
        check_columns(&rows, "openb pod list", &OPENB_COLUMNS, &[], false)?;
        let index = |name: &str| rows.index_of(name).unwrap_or(usize::MAX);
        let columns = [
            "name",
            "num_gpu",
            "gpu_milli",
            "gpu_spec",
            "creation_time",
            "deletion_time",
            "scheduled_time",
            "cpu_milli",
            "memory_mib",
        ]
        .map(index);
        Ok(CsvTrace::new(rows, OpenbFormat { options, columns }))
    }
}

impl CsvFormat for OpenbFormat {
    /// The current row as a job; `Ok(None)` when it is skipped (and noted).
    fn job(
        &self,
        rows: &CsvRows,
        _row: &mut RowInfo,
        skipped: &mut IngestReport,
    ) -> Result<Option<TraceJob>, TraceError> {
        let [
            name,
            num_gpu,
            gpu_milli,
            gpu_spec,
            creation,
            deletion,
            scheduled,
            cpu_milli,
            memory_mib,
        ] = self.columns;
        let line = rows.line;
        let id = rows.field(name)?;
        if id.is_empty() {
            return Err(rows.error(name, "a pod name"));
        }
        let gpus: u32 = rows
            .field(num_gpu)?
            .parse()
            .map_err(|_| rows.error(num_gpu, "a whole number of GPUs, 0 or more"))?;
        let share = self.options.fractional == Fractional::Share;
        if gpus == 0 && !share {
            skipped.note(CPU_ONLY_SKIPPED, || format!("line {line}: {id}"));
            return Ok(None);
        }
        // A CPU-only pod's gpu_milli (0 in the trace) says nothing: it takes no GPU.
        let milli: u32 = if gpus == 0 {
            1000
        } else {
            rows.field(gpu_milli)?
                .parse()
                .ok()
                .filter(|m| (1..=1000).contains(m))
                .ok_or_else(|| {
                    rows.error(
                        gpu_milli,
                        "thousandths of each GPU, from 1 to 1000 (1000 = whole GPUs)",
                    )
                })?
        };
        // Like CPU-only pods, skipped pods are not read further: their times do not matter.
        if milli < 1000 && self.options.fractional == Fractional::Skip {
            skipped.note(FRACTIONAL_SKIPPED, || {
                format!("line {line}: {id} ({milli}/1000 of a GPU)")
            });
            return Ok(None);
        }
        let submit_ms = time_field(rows, creation, "seconds", 1000)?;
        let end_ms = time_field(rows, deletion, "seconds", 1000)?;
        let scheduled_text = rows.field(scheduled)?;
        let (start_ms, start_column) = match (self.options.duration_from, scheduled_text) {
            (DurationFrom::Creation, _) => (submit_ms, creation),
            (DurationFrom::Scheduled, "") => (submit_ms, creation),
            (DurationFrom::Scheduled, text) => (
                number_to_ms(text, 1000).ok_or_else(|| {
                    rows.error(scheduled, "a time in seconds, 0 or more, or nothing")
                })?,
                scheduled,
            ),
        };
        if end_ms <= start_ms {
            let from = rows.column_name(start_column);
            return Err(rows.error(
                deletion,
                format!(
                    "a deletion_time after {from} ({}), so that the pod runs for some time",
                    rows.field(start_column)?
                ),
            ));
        }
        // Noted only now, so that a row in error is counted once, as unreadable.
        if self.options.duration_from == DurationFrom::Scheduled && scheduled_text.is_empty() {
            skipped.note(NEVER_SCHEDULED, || format!("line {line}: {id}"));
        }
        let spec = rows.field(gpu_spec)?;
        let resources = if self.options.fractional == Fractional::Share {
            let amount = |column: usize, what: &str| -> Result<u64, TraceError> {
                rows.field(column)?
                    .parse()
                    .map_err(|_| rows.error(column, format!("a whole number of {what}, 0 or more")))
            };
            let resources = crate::cell::PodResources {
                gpu_milli: (milli < 1000).then_some(milli),
                cpu_milli: amount(cpu_milli, "milli-CPUs")?,
                memory_mib: amount(memory_mib, "MiB")?,
                gpu_spec: spec.to_string(),
            };
            if milli < 1000 && gpus > 1 {
                return Err(rows.error(
                    gpu_milli,
                    format!(
                        "1000 for a pod of {gpus} GPUs: a share of a GPU is only possible for one \
                         GPU (or replay with --fractional whole)"
                    ),
                ));
            }
            Some(resources)
        } else {
            None
        };
        if gpus == 0 {
            skipped.note(CPU_ONLY_KEPT, || format!("line {line}: {id}"));
        }
        if milli < 1000 {
            let kind = if resources.is_some() {
                FRACTIONAL_KEPT
            } else {
                FRACTIONAL_ROUNDED_UP
            };
            skipped.note(kind, || {
                format!("line {line}: {id} ({milli}/1000 of a GPU)")
            });
        }
        Ok(Some(TraceJob {
            id: id.to_string(),
            submit_ms,
            duration_ms: end_ms - start_ms,
            gpus,
            vc: "default".to_string(),
            priority: default_priority(),
            gpu_type: (!spec.is_empty()).then(|| spec.to_string()),
            resources,
        }))
    }

    /// Times are seconds from the start of the trace.
    fn absolute_times(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::TraceSource;
    use std::io::Cursor;

    const HEADER: &str = "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,\
                          creation_time,deletion_time,scheduled_time\n";

    fn read(
        rows: &str,
        options: OpenbOptions,
    ) -> (Vec<Result<TraceJob, TraceError>>, IngestReport) {
        let text = format!("{HEADER}{rows}");
        let mut reader =
            OpenbReader::from_reader(Path::new("o.csv"), Cursor::new(text), options).unwrap();
        let items: Vec<_> = reader.by_ref().collect();
        (items, reader.skipped().clone())
    }

    const ROWS: &str = "a,1000,1,1,1000,P100|T4,LS,Running,10,100,12\n\
                        b,1000,1,0,0,,BE,Running,10,100,10\n\
                        c,1000,1,1,460,,BE,Running,20,100,20\n\
                        d,1000,1,2,1000,,BE,Pending,30,100,\n";

    #[test]
    fn pods_become_jobs_and_skips_are_counted() {
        let (jobs, skipped) = read(ROWS, OpenbOptions::default());
        let jobs: Vec<TraceJob> = jobs.into_iter().map(Result::unwrap).collect();
        assert_eq!(jobs.len(), 3);
        assert_eq!(jobs[0].gpu_type.as_deref(), Some("P100|T4"));
        assert_eq!((jobs[0].submit_ms, jobs[0].duration_ms), (10_000, 88_000));
        assert_eq!(
            (jobs[2].id.as_str(), jobs[2].gpus, jobs[2].duration_ms),
            ("d", 2, 70_000)
        );
        assert_eq!(skipped.count(CPU_ONLY_SKIPPED), 1);
        assert_eq!(skipped.count(FRACTIONAL_ROUNDED_UP), 1);
        assert_eq!(skipped.count(NEVER_SCHEDULED), 1);
    }

    #[test]
    fn fractional_pods_can_be_skipped_and_durations_can_start_at_creation() {
        let options = OpenbOptions {
            fractional: Fractional::Skip,
            duration_from: DurationFrom::Creation,
        };
        let (jobs, skipped) = read(ROWS, options);
        assert_eq!(jobs.len(), 2);
        assert_eq!(jobs[0].as_ref().unwrap().duration_ms, 90_000);
        assert_eq!(skipped.count(FRACTIONAL_SKIPPED), 1);
        assert_eq!(skipped.count(NEVER_SCHEDULED), 0);
    }

    #[test]
    fn shares_cpu_and_memory_are_kept_on_request() {
        let options = OpenbOptions {
            fractional: Fractional::Share,
            ..OpenbOptions::default()
        };
        let (jobs, skipped) = read(ROWS, options);
        let jobs: Vec<TraceJob> = jobs.into_iter().map(Result::unwrap).collect();
        // b, CPU-only, is kept as CPU and memory only.
        let cpu_only = jobs[1].resources.as_ref().unwrap();
        assert_eq!((jobs[1].id.as_str(), jobs[1].gpus), ("b", 0));
        assert_eq!((cpu_only.gpu_milli, cpu_only.cpu_milli), (None, 1000));
        assert_eq!(skipped.count(CPU_ONLY_KEPT), 1);
        assert_eq!(skipped.count(CPU_ONLY_SKIPPED), 0);
        let share = jobs[2].resources.as_ref().unwrap();
        assert_eq!((jobs[2].gpus, share.gpu_milli), (1, Some(460)));
        assert_eq!((share.cpu_milli, share.memory_mib), (1000, 1));
        let whole = jobs[0].resources.as_ref().unwrap();
        assert_eq!(
            (whole.gpu_milli, whole.gpu_spec.as_str()),
            (None, "P100|T4")
        );
        assert_eq!(skipped.count(FRACTIONAL_KEPT), 1);
        assert_eq!(skipped.count(FRACTIONAL_ROUNDED_UP), 0);
        let (bad, _) = read("e,x,1,1,500,,BE,Running,1,9,2\n", options);
        assert!(
            bad[0]
                .as_ref()
                .unwrap_err()
                .to_string()
                .contains("cpu_milli")
        );
    }

    #[test]
    fn a_pod_deleted_when_created_is_an_error_row() {
        let (jobs, _) = read("p,1,1,1,230,,BE,Pending,5,5,\n", OpenbOptions::default());
        assert_eq!(
            jobs[0].as_ref().unwrap_err().to_string(),
            "o.csv:2: column deletion_time: value \"5\": a deletion_time after creation_time \
             (5), so that the pod runs for some time"
        );
    }

    #[test]
    fn pod_lists_without_times_are_refused() {
        let e = OpenbReader::from_reader(
            Path::new("m.csv"),
            Cursor::new("name,cpu_milli,memory_mib,num_gpu,gpu_milli\n"),
            OpenbOptions::default(),
        )
        .err()
        .unwrap();
        assert!(e.expected.contains("multigpu"), "{e}");
    }
}
