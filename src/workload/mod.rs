//! Workloads: the job model and readers that turn job files and traces into group requests.
//!
//! - [`openpai`]: OpenPAI job protocol v2 files (`read_job_file`), as submitted to HiveD.
//! - [`trace`]: the job model of traces ([`TraceJob`]), row errors and the ingest tally.
//! - Trace readers, each streaming rows in file order as `Result<TraceJob, TraceError>`
//!   and documenting its schema: [`native`] (cellsim's CSV, with a writer), [`philly`]
//!   (Philly CSV and `cluster_job_log` JSON), [`openb`] (Alibaba pod lists), [`mapped`]
//!   (any CSV through a column mapping); [`source`] holds what they share
//!   ([`TraceSource`]).
//! - [`detect`]: format names and detection, and [`open_trace`] for any format.
//! - [`ingest`]: sorting, time origin, duplicates and the [`IngestReport`] for replay.

pub mod detect;
pub mod generate;
pub mod ingest;
pub mod mapped;
pub mod native;
pub mod openb;
pub mod openpai;
pub mod philly;
pub mod source;
pub mod trace;

pub use openpai::{
    JobFileError, JobSpec, TaskResources, TaskSpec, YamlLocation, read_job_file, read_job_str,
};
pub use trace::{IngestReport, TraceError, TraceJob};

pub use detect::{
    FormatNameError, ReadOptions, TraceFormat, TraceReader, detect_format, open_trace,
};
pub use generate::{Arrival, DurationDist, GenSpec, GenSpecError, Generator, SizeClass, generate};
pub use ingest::{Ingest, IngestStream, Ingested, TimeOrigin, note_larger_than_cluster};
pub use mapped::{ColumnMapping, MappedReader, MappingError, read_mapped};
pub use native::{NativeReader, read_native, write_native_csv};
pub use openb::{DurationFrom, Fractional, OpenbOptions, OpenbReader, read_openb};
pub use philly::{PhillyCsvReader, PhillyJsonReader, read_philly_csv, read_philly_json};
pub use source::{RowInfo, TraceSource};
