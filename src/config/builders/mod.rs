//! Cluster builders: turn a machine list (Philly `cluster_machine_list`, Alibaba openb
//! `openb_node_list_*.csv`, Alibaba PAI 2020 `pai_machine_spec.csv`) or a synthetic spec
//! string such as `"32x V100x8 rack=16; 64x K80x4 rack=8"` into a [`CellConfig`] that has
//! passed the same validation as a HiveD config; size the virtual clusters from a trace's
//! GPU-time per VC ([`size_vcs`]) or read them from a file ([`vcs_from_file`]). The one
//! entry point is [`build_cluster`], which also hands HiveD / OpenPAI files to
//! [`load_file`](super::load_file). Reading traces and scheduling are not done here.
//!
//! # The cell hierarchy of a built cluster
//!
//! Nodes are grouped by (SKU, GPUs per node) in order of first appearance; each group is
//! cut into racks of `rack` nodes (file order), and each rack is one top-level cell.
//! With `S` the SKU and `N` the GPUs per node:
//!
//! | type                | children               | meaning                               |
//! |---------------------|------------------------|---------------------------------------|
//! | `S`                 | (leaf)                 | one GPU                               |
//! | `S-SWITCH`          | 2 x `S`                | a PCIe switch (nodes of 4 and 8 GPUs) |
//! | `S-SOCKET`          | 2 x `S-SWITCH`         | a CPU socket (nodes of 8 GPUs)        |
//! | `SxN-NODE`          | 2 x `S-SOCKET` (N = 8), 2 x `S-SWITCH` (N = 4), else N x `S` | one node (`isNodeLevel`) |
//! | `SxN-<m>NODE-RACK`  | m x `SxN-NODE`         | a rack of m nodes: a top-level cell   |
//!
//! So `32x V100x8 rack=16` gives chain `V100x8-16NODE-RACK` with two top-level cells.
//! A last rack with fewer nodes gets its own type (`V100x8-3NODE-RACK` for 3 nodes) and
//! therefore is its own chain: a HiveD cell type has one fixed number of children, and the
//! chain of a top-level cell is its type. Groups with the same shape share their types
//! (two spec items `V100x8 rack=4` make one chain).
//!
//! Node names come from the file (`machineId`, `sn`, `machine`); a spec names its nodes
//! `<sku>-<n>` in lower case (`v100-0`, `v100-1`, …). Every built cluster has one VC,
//! `default`, holding all node-level cells of every chain, until [`size_vcs`] or
//! [`vcs_from_file`] replaces the VCs.
//!
//! ```
//! use std::collections::BTreeMap;
//! use cellsim::config::{BuildOptions, build_cluster, size_vcs};
//!
//! # fn main() -> Result<(), cellsim::config::ClusterBuildError> {
//! let mut config = build_cluster("32x V100x8 rack=16; 64x K80x4", None, &BuildOptions::default())?;
//! // GPU-milliseconds per VC, e.g. summed over a trace's jobs as gpus * duration_ms.
//! let demand = BTreeMap::from([("prod".to_string(), 3_000), ("dev".to_string(), 1_000)]);
//! let sizing = size_vcs(&mut config, &demand)?;
//! assert_eq!(sizing.guaranteed_gpus(), 512);
//! assert_eq!(config.virtual_clusters["prod"].virtual_cells[0].cell_type, "V100x8-NODE");
//! # Ok(())
//! # }
//! ```
//!
//! # Default rack size
//!
//! [`DEFAULT_RACK_NODES`] (8) nodes for every format, overridable with
//! [`BuildOptions::rack_nodes`] (and per item with `rack=N` in a spec). None of the three
//! traces publishes racks; 8 nodes keeps top-level cells small, so a partial last rack is
//! a small chain, while a rack of 8-GPU nodes (64 GPUs) still holds every Philly job of up
//! to 64 GPUs (its 3 jobs of 128 GPUs span two racks, pod by pod).

mod layout;
mod machine_files;
mod spec;
mod vcs;

use std::fmt;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

use super::error::ConfigErrors;
use super::model::CellConfig;

pub(crate) use layout::NodeGroup;
pub use layout::{NodeSpec, cluster_from_nodes};
pub use spec::{SpecItem, parse_cluster_spec};
pub use vcs::{VcShare, VcSizing, size_vcs, vcs_from_file, vcs_from_str};

/// Nodes per rack (top-level cell) when neither the options nor a spec item say.
pub const DEFAULT_RACK_NODES: u32 = 8;

/// Kinds of cluster description [`build_cluster`] reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClusterFormat {
    /// A HiveD config, an OpenPAI `services-configuration.yaml` or `layout.yaml`, read by
    /// [`load_file`](super::load_file) (its VCs are kept; `rack_nodes` does not apply).
    Hived,
    /// Philly `cluster_machine_list`: `machineId, number of GPUs, single GPU mem`.
    PhillyMachines,
    /// Alibaba openb node list: `sn,cpu_milli,memory_mib,gpu,model`.
    OpenbNodes,
    /// Alibaba PAI 2020 machine spec: `machine,gpu_type,cap_cpu,cap_mem,cap_gpu`.
    PaiMachines,
    /// A synthetic spec string such as `32x V100x8 rack=16; 64x K80x4` (not a file).
    Spec,
}

impl ClusterFormat {
    /// Every format, in the order [`ClusterFormat::NAMES`] lists them.
    pub const ALL: [ClusterFormat; 5] = [
        ClusterFormat::Hived,
        ClusterFormat::PhillyMachines,
        ClusterFormat::OpenbNodes,
        ClusterFormat::PaiMachines,
        ClusterFormat::Spec,
    ];

    /// The names `--cluster-format` accepts, one per format, as [`ClusterFormat::name`]
    /// gives them (for clap's `PossibleValuesParser`).
    pub const NAMES: [&'static str; 5] = ["hived", "philly", "openb", "pai", "spec"];

    /// The format called `name` (one of [`ClusterFormat::NAMES`], case-insensitive;
    /// `openpai` and `layout` also mean [`ClusterFormat::Hived`]). The error lists the
    /// valid names.
    pub fn from_name(name: &str) -> Result<ClusterFormat, ClusterBuildError> {
        let wanted = name.trim().to_ascii_lowercase();
        if matches!(wanted.as_str(), "openpai" | "layout") {
            return Ok(ClusterFormat::Hived);
        }
        ClusterFormat::ALL
            .into_iter()
            .find(|f| f.name() == wanted)
            .ok_or_else(|| {
                ClusterBuildError::Format(format!(
                    "unknown cluster format {name:?}; use one of: {} (hived also reads OpenPAI services-configuration.yaml and layout.yaml)",
                    ClusterFormat::NAMES.join(", ")
                ))
            })
    }

    /// The name `--cluster-format` uses for this format.
    pub fn name(self) -> &'static str {
        match self {
            ClusterFormat::Hived => "hived",
            ClusterFormat::PhillyMachines => "philly",
            ClusterFormat::OpenbNodes => "openb",
            ClusterFormat::PaiMachines => "pai",
            ClusterFormat::Spec => "spec",
        }
    }

    /// Nodes per rack when the options do not say: [`DEFAULT_RACK_NODES`] for every
    /// format (see the module doc); `None` for [`ClusterFormat::Hived`], whose files
    /// carry their own cells.
    pub fn default_rack_nodes(self) -> Option<u32> {
        match self {
            ClusterFormat::Hived => None,
            _ => Some(DEFAULT_RACK_NODES),
        }
    }
}

impl fmt::Display for ClusterFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Settings of [`build_cluster`] beyond the input itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildOptions {
    /// Nodes per rack (top-level cell), at least 1; `None` for the format's default
    /// ([`ClusterFormat::default_rack_nodes`]). In a spec string, an item's `rack=N` wins.
    pub rack_nodes: Option<u32>,
}

/// One row of a machine/node list that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// The file.
    pub file: String,
    /// 1-based line (a header is line 1).
    pub line: u64,
    /// The column at fault, by its documented name, when one is.
    pub column: Option<String>,
    /// The offending value, when there is one.
    pub value: Option<String>,
    /// What was expected instead, said so that it tells how to fix the row.
    pub expected: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.file, self.line)?;
        if let Some(column) = &self.column {
            write!(f, ": column {column}")?;
        }
        if let Some(value) = &self.value {
            write!(f, ": value {value:?}")?;
        }
        write!(f, ": {}", self.expected)
    }
}

/// Most row errors a [`ClusterBuildError::Rows`] keeps; the rest are only counted, so a
/// wrong file (say, a job trace) gives a readable message instead of a million lines.
pub const ROW_ERRORS_KEPT: usize = 20;

/// Why a cluster could not be built. No variant leaves anything half-built: the caller
/// gets no config and can only report the error (or try another input).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClusterBuildError {
    /// The file cannot be read (missing, a directory, no permission, not UTF-8).
    #[error("{file}: {message}")]
    Read {
        /// The file.
        file: String,
        /// What went wrong and what to do.
        message: String,
    },
    /// Rows of a machine/node list that cannot be used, in file order.
    #[error("{}", rows_text(.errors, *.more))]
    Rows {
        /// The first [`ROW_ERRORS_KEPT`] problems.
        errors: Vec<RowError>,
        /// How many more rows had problems.
        more: u64,
    },
    /// An item of a synthetic cluster spec is malformed.
    #[error("cluster spec item {index} ({item:?}): {expected}")]
    Spec {
        /// 1-based position of the item among the `;`-separated items.
        index: usize,
        /// The item as written (trimmed).
        item: String,
        /// What is wrong and the expected form.
        expected: String,
    },
    /// The input describes no node with GPUs, so there is nothing to schedule on.
    #[error("{source_name}: {message}")]
    Empty {
        /// The file or spec.
        source_name: String,
        /// What was found instead.
        message: String,
    },
    /// The format could not be recognised, or a format name is unknown.
    #[error("{0}")]
    Format(String),
    /// A HiveD / OpenPAI file or a VC file has problems (or, never expected, a built
    /// cluster failed validation); one line per problem.
    #[error("{0}")]
    Config(ConfigErrors),
}

fn rows_text(errors: &[RowError], more: u64) -> String {
    let mut lines: Vec<String> = errors.iter().map(RowError::to_string).collect();
    if more > 0 {
        lines.push(format!("… and {more} more rows with problems"));
    }
    lines.join("\n")
}

impl From<ConfigErrors> for ClusterBuildError {
    fn from(errors: ConfigErrors) -> Self {
        ClusterBuildError::Config(errors)
    }
}

/// Build the cluster that `arg` describes: a file path (HiveD / OpenPAI YAML, Philly
/// machine list, openb node list, PAI machine spec) or a synthetic spec string. `format`
/// forces the format (from `--cluster-format`); `None` recognises it from content with
/// [`detect_cluster_format`]. Built clusters (all but [`ClusterFormat::Hived`]) have one
/// VC, `default`, holding every node; call [`size_vcs`] or [`vcs_from_file`] for others.
/// Skipped machines (no GPUs) are counted in the config's warnings.
pub fn build_cluster(
    arg: &str,
    format: Option<ClusterFormat>,
    options: &BuildOptions,
) -> Result<CellConfig, ClusterBuildError> {
    if options.rack_nodes == Some(0) {
        return Err(ClusterBuildError::Format(
            "the rack size must be at least 1 node; give a positive rack size (e.g. 8)".to_string(),
        ));
    }
    let format = match format {
        Some(format) => format,
        None => detect_cluster_format(arg)?,
    };
    let rack = rack_size(format, options);
    if format == ClusterFormat::Hived {
        let mut config = super::load_file(Path::new(arg))?;
        if options.rack_nodes.is_some() {
            config.warnings.push(format!(
                "{arg}: the rack size option is ignored: a HiveD/OpenPAI config defines its own cells"
            ));
        }
        return Ok(config);
    }
    let nodes = read_node_groups(arg, format, rack)?;
    let mut config = layout::build(nodes.groups, &nodes.source)?;
    let mut warnings = nodes.warnings;
    warnings.append(&mut config.warnings);
    config.warnings = warnings;
    Ok(config)
}

/// The machines of a built cluster, before they become cells: what a sweep edits (nodes
/// added or removed) and hands back to [`BuiltNodes::build`].
#[derive(Debug, Clone)]
pub(crate) struct BuiltNodes {
    /// Nodes grouped by SKU and size, each group cut into racks.
    pub groups: Vec<layout::NodeGroup>,
    /// The machine list's findings (e.g. machines without GPUs skipped).
    pub warnings: Vec<String>,
    /// Names the input in messages.
    pub source: String,
}

impl BuiltNodes {
    /// The validated cluster of these nodes (one VC, `default`, owns every node).
    pub(crate) fn build(&self) -> Result<CellConfig, ClusterBuildError> {
        let mut config = layout::build(self.groups.clone(), &self.source)?;
        let mut warnings = self.warnings.clone();
        warnings.append(&mut config.warnings);
        config.warnings = warnings;
        Ok(config)
    }
}

/// The node groups `arg` describes in `format` (any but [`ClusterFormat::Hived`], whose
/// cells are written by hand), with racks of `rack` nodes unless a spec item says.
pub(crate) fn read_node_groups(
    arg: &str,
    format: ClusterFormat,
    rack: u32,
) -> Result<BuiltNodes, ClusterBuildError> {
    let from_parsed = |parsed: machine_files::Parsed| BuiltNodes {
        groups: layout::group_nodes(parsed.nodes, rack),
        warnings: parsed.warnings,
        source: arg.to_string(),
    };
    match format {
        ClusterFormat::Hived => Err(ClusterBuildError::Format(format!(
            "{arg} is a HiveD/OpenPAI config: its cells are written by hand, so cellsim cannot add or remove nodes of it; describe the cluster as a machine list or a spec string instead"
        ))),
        ClusterFormat::PhillyMachines => {
            Ok(from_parsed(machine_files::philly(&read_text(arg)?, arg)?))
        }
        ClusterFormat::OpenbNodes => Ok(from_parsed(machine_files::openb(&read_text(arg)?, arg)?)),
        ClusterFormat::PaiMachines => {
            let header = machine_files::sibling_header(Path::new(arg))?;
            Ok(from_parsed(machine_files::pai(
                &read_text(arg)?,
                arg,
                header.as_ref(),
            )?))
        }
        ClusterFormat::Spec => {
            let source = format!("cluster spec {:?}", arg.trim());
            let items = parse_cluster_spec(arg)?;
            Ok(BuiltNodes {
                groups: spec::nodes(&items, rack, &source)?,
                warnings: Vec::new(),
                source,
            })
        }
    }
}

/// The rack size `options` or `format` gives, else [`DEFAULT_RACK_NODES`].
pub(crate) fn rack_size(format: ClusterFormat, options: &BuildOptions) -> u32 {
    options
        .rack_nodes
        .or(format.default_rack_nodes())
        .unwrap_or(DEFAULT_RACK_NODES)
}

/// CPU (milli-CPUs) and memory (MiB) per machine of a PAI 2020 machine list
/// (`cap_cpu` cores, `cap_mem` GiB), for GPU sharing; errors name the row and column.
pub fn pai_machine_resources(path: &Path) -> Result<Vec<(String, u64, u64)>, ClusterBuildError> {
    machine_files::pai_resources(path)
}

/// Recognise what `arg` is. An existing file is recognised from its first line: a
/// `machineId, …` header or `name,GPUS,12GB` rows mean a Philly machine list; an
/// `sn,cpu_milli,…` header or rows whose 2nd-4th fields are numbers mean an openb node
/// list; a `machine,gpu_type,…` header or rows `name,TYPE,cpu,mem,gpus` mean a PAI machine
/// spec; anything else is left to the HiveD / OpenPAI reader (which says what it expected
/// if the file is none of those). A string that is not an existing file is a synthetic
/// spec if it parses as one; otherwise the error says both what was looked for and why
/// the spec did not parse.
pub fn detect_cluster_format(arg: &str) -> Result<ClusterFormat, ClusterBuildError> {
    let path = Path::new(arg);
    if path.is_dir() {
        return Err(ClusterBuildError::Read {
            file: arg.to_string(),
            message: "is a folder; give a cluster file (HiveD/OpenPAI YAML, a Philly, openb or PAI machine list) or a spec such as \"32x V100x8 rack=16\"".to_string(),
        });
    }
    if path.is_file() {
        let first = first_line(path).map_err(|err| ClusterBuildError::Read {
            file: arg.to_string(),
            message: format!("cannot read the file: {err}"),
        })?;
        return Ok(machine_files::detect(&first).unwrap_or(ClusterFormat::Hived));
    }
    match parse_cluster_spec(arg) {
        Ok(_) => Ok(ClusterFormat::Spec),
        // A path that is not there (issue 16: the spec parser's complaint misled).
        Err(_) if looks_like_path(arg) => Err(ClusterBuildError::Format(
            "the file does not exist; give an existing cluster file (HiveD/OpenPAI YAML, a \
             Philly, openb or PAI machine list) or a cluster spec, which looks like \
             \"8x V100x8\" (\"32x V100x8 rack=16; 64x K80x4\" for several)"
                .to_string(),
        )),
        Err(err) => Err(ClusterBuildError::Format(format!(
            "{arg:?} is neither an existing file nor a cluster spec ({err}); give a cluster file path or a spec such as \"32x V100x8 rack=16; 64x K80x4\""
        ))),
    }
}

/// Whether `arg` reads as a file path rather than a cluster spec: it has a folder
/// separator or ends in a file extension (`cluster.yaml`, `machines.csv`).
fn looks_like_path(arg: &str) -> bool {
    arg.contains('/')
        || arg.contains('\\')
        || Path::new(arg)
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| !e.is_empty() && e.chars().all(|c| c.is_ascii_alphabetic()))
}

/// The first non-blank line of a file (at most 64 KiB of it), without a UTF-8 BOM.
fn first_line(path: &Path) -> std::io::Result<String> {
    let file = std::fs::File::open(path)?;
    let mut reader = BufReader::new(file.take(64 * 1024));
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            return Ok(String::new());
        }
        let line = String::from_utf8_lossy(&buf);
        let line = line.trim_start_matches('\u{feff}').trim();
        if !line.is_empty() {
            return Ok(line.to_string());
        }
    }
}

/// A whole file as UTF-8 text, with errors that name it.
fn read_text(file: &str) -> Result<String, ClusterBuildError> {
    let bytes = std::fs::read(file).map_err(|err| ClusterBuildError::Read {
        file: file.to_string(),
        message: format!("cannot read the file: {err}"),
    })?;
    String::from_utf8(bytes).map_err(|err| ClusterBuildError::Read {
        file: file.to_string(),
        message: format!(
            "is not UTF-8 text (invalid byte at offset {}); save it as UTF-8",
            err.utf8_error().valid_up_to()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_names_round_trip_and_unknown_names_list_the_valid_ones() {
        for format in ClusterFormat::ALL {
            assert_eq!(ClusterFormat::from_name(format.name()), Ok(format));
        }
        assert_eq!(
            ClusterFormat::from_name(" Philly "),
            Ok(ClusterFormat::PhillyMachines)
        );
        assert_eq!(ClusterFormat::from_name("layout"), Ok(ClusterFormat::Hived));
        let err = ClusterFormat::from_name("csv").unwrap_err().to_string();
        assert!(err.contains("hived, philly, openb, pai, spec"), "{err}");
    }

    #[test]
    fn a_string_that_is_no_file_is_read_as_a_spec() {
        assert_eq!(
            detect_cluster_format("4x V100x8 rack=2"),
            Ok(ClusterFormat::Spec)
        );
        let err = detect_cluster_format("no/such/file.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.contains("the file does not exist"), "{err}");
        let err = detect_cluster_format("four V100 nodes")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("neither an existing file nor a cluster spec"),
            "{err}"
        );
    }

    #[test]
    fn a_zero_rack_size_is_an_error() {
        let options = BuildOptions {
            rack_nodes: Some(0),
        };
        let err = build_cluster("2x V100x8", None, &options).unwrap_err();
        assert!(err.to_string().contains("at least 1 node"), "{err}");
    }
}
