//! Workloads: the job model and readers that turn job files and traces into group requests.
//!
//! - [`openpai`]: OpenPAI job protocol v2 files (`read_job_file`), as submitted to HiveD.
//! - [`trace`]: the job model of traces ([`TraceJob`]), row errors and the ingest tally.

pub mod openpai;
pub mod trace;

pub use openpai::{
    JobFileError, JobSpec, TaskResources, TaskSpec, YamlLocation, read_job_file, read_job_str,
};
pub use trace::{IngestReport, TraceError, TraceJob};
