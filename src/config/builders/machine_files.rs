//! Readers of the three machine lists (Philly, openb, PAI 2020) into [`NodeSpec`]s, and
//! recognising them from their first line. Every unusable row is reported with file,
//! line, column, value and the expected form; machines without GPUs are skipped and
//! counted in a warning. Building cells from the nodes is `layout.rs`'s business.
//!
//! SKU (leaf cell type) per format:
//! - Philly: the list gives only the memory of one GPU, so the SKU is `GPU<mem>`, e.g.
//!   `GPU12GB` and `GPU24GB` (the trace does not name the models).
//! - openb: the `model` column (`G2`, `T4`, `V100M16`, …).
//! - PAI: the `gpu_type` column (`P100`, `T4`, `V100`, `V100M32`, `MISC`).
//!
//! Columns that say nothing about GPUs (`cpu_milli`, `memory_mib`, `cap_cpu`, `cap_mem`)
//! are not read, so they are not checked either.

use std::collections::HashMap;
use std::path::Path;

use super::layout::{NodeSpec, valid_sku};
use super::{ClusterBuildError, ClusterFormat, ROW_ERRORS_KEPT, RowError};

/// Nodes read from a list, and warnings (skipped machines) for the config.
#[derive(Debug, Default)]
pub(crate) struct Parsed {
    pub nodes: Vec<NodeSpec>,
    pub warnings: Vec<String>,
}

const PHILLY_COLUMNS: [&str; 3] = ["machineId", "number of GPUs", "single GPU mem"];
const OPENB_COLUMNS: [&str; 5] = ["sn", "cpu_milli", "memory_mib", "gpu", "model"];
const PAI_COLUMNS: [&str; 5] = ["machine", "gpu_type", "cap_cpu", "cap_mem", "cap_gpu"];

/// The machine-list format whose header or first row is `line`, if any.
pub(crate) fn detect(line: &str) -> Option<ClusterFormat> {
    let fields: Vec<String> = line.split(',').map(|f| f.trim().to_string()).collect();
    let lower: Vec<String> = fields.iter().map(|f| f.to_ascii_lowercase()).collect();
    let first = lower.first().map(String::as_str).unwrap_or("");
    if first == "machineid" {
        return Some(ClusterFormat::PhillyMachines);
    }
    if first == "sn" && lower.get(3).map(String::as_str) == Some("gpu") {
        return Some(ClusterFormat::OpenbNodes);
    }
    if first == "machine" && lower.get(1).map(String::as_str) == Some("gpu_type") {
        return Some(ClusterFormat::PaiMachines);
    }
    let number = |i: usize| fields.get(i).is_some_and(|f| f.parse::<f64>().is_ok());
    // Header-less rows: `m0,2, 12GB` / `node,32000,262144,2,P100` / `id,P100,96,512,2`.
    match fields.len() {
        3 if number(1) && philly_sku(&fields[2]).is_some() => Some(ClusterFormat::PhillyMachines),
        5 if number(1) && number(2) && number(3) => Some(ClusterFormat::OpenbNodes),
        5 if !number(1) && number(2) && number(3) && number(4) => Some(ClusterFormat::PaiMachines),
        _ => None,
    }
}

/// `GPU12GB` for `12GB` (any case, spaces allowed before `GB`); `None` otherwise.
fn philly_sku(mem: &str) -> Option<String> {
    let lower = mem.trim().to_ascii_lowercase();
    let amount = lower.strip_suffix("gb")?.trim_end();
    let valid = !amount.is_empty()
        && amount.chars().all(|c| c.is_ascii_digit() || c == '.')
        && amount.parse::<f64>().is_ok_and(|x| x > 0.0);
    // A '.' cannot be in a cell type name; 11.5GB becomes GPU11_5GB.
    valid.then(|| format!("GPU{}GB", amount.replace('.', "_")))
}

/// Collects row errors, keeping the first [`ROW_ERRORS_KEPT`].
struct Errors {
    file: String,
    kept: Vec<RowError>,
    more: u64,
}

impl Errors {
    fn new(file: &str) -> Self {
        Self {
            file: file.to_string(),
            kept: Vec::new(),
            more: 0,
        }
    }

    fn push(&mut self, line: u64, column: Option<&str>, value: Option<&str>, expected: String) {
        if self.kept.len() < ROW_ERRORS_KEPT {
            self.kept.push(RowError {
                file: self.file.clone(),
                line,
                column: column.map(str::to_string),
                value: value.map(str::to_string),
                expected,
            });
        } else {
            self.more += 1;
        }
    }

    fn finish<T>(self, parsed: T) -> Result<T, ClusterBuildError> {
        if self.kept.is_empty() {
            Ok(parsed)
        } else {
            Err(ClusterBuildError::Rows {
                errors: self.kept,
                more: self.more,
            })
        }
    }
}

/// One data row: its 1-based line and trimmed fields.
struct Row {
    line: u64,
    fields: Vec<String>,
}

/// The rows of a comma-separated text (blank lines skipped), or the errors of rows the
/// CSV reader itself refuses (an unclosed quote).
fn rows(text: &str, errors: &mut Errors) -> Vec<Row> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut out = Vec::new();
    for record in reader.records() {
        match record {
            Ok(record) => {
                let line = record.position().map_or(0, |p| p.line());
                let fields: Vec<String> = record.iter().map(str::to_string).collect();
                if fields.iter().all(String::is_empty) {
                    continue;
                }
                out.push(Row { line, fields });
            }
            Err(err) => {
                let line = err.position().map_or(0, |p| p.line());
                errors.push(
                    line,
                    None,
                    None,
                    format!("cannot be read as a comma-separated row ({err}); fix the quoting"),
                );
            }
        }
    }
    out
}

/// Tracks node names to report duplicates with the line of the first use.
#[derive(Default)]
struct Names(HashMap<String, u64>);

impl Names {
    fn first_use(&mut self, name: &str, line: u64) -> Option<u64> {
        match self.0.get(name) {
            Some(first) => Some(*first),
            None => {
                self.0.insert(name.to_string(), line);
                None
            }
        }
    }
}

/// The warning for machines skipped because they have no GPUs.
fn skipped_warning(file: &str, what: &str, lines: &[u64]) -> Option<String> {
    if lines.is_empty() {
        return None;
    }
    let shown: Vec<String> = lines.iter().take(3).map(u64::to_string).collect();
    let more = if lines.len() > 3 { ", …" } else { "" };
    Some(format!(
        "{file}: skipped {} {what} without GPUs (lines {}{more})",
        lines.len(),
        shown.join(", ")
    ))
}

fn wrong_width(errors: &mut Errors, row: &Row, columns: &[&str], example: &str) {
    errors.push(
        row.line,
        None,
        Some(&row.fields.join(",")),
        format!(
            "expected {} comma-separated fields `{}`, e.g. `{example}`; found {}",
            columns.len(),
            columns.join(","),
            row.fields.len()
        ),
    );
}

fn gpu_count(errors: &mut Errors, row: &Row, column: &str, value: &str) -> Option<u32> {
    match value.parse::<u32>() {
        Ok(n) => Some(n),
        Err(_) => {
            errors.push(
                row.line,
                Some(column),
                Some(value),
                "expected a whole number of GPUs (0 for a machine without GPUs)".to_string(),
            );
            None
        }
    }
}

fn node_name(errors: &mut Errors, names: &mut Names, row: &Row, column: &str, value: &str) -> bool {
    if value.is_empty() || value.contains('/') {
        errors.push(
            row.line,
            Some(column),
            Some(value),
            "expected the machine's name (not empty, no '/')".to_string(),
        );
        return false;
    }
    if let Some(first) = names.first_use(value, row.line) {
        errors.push(
            row.line,
            Some(column),
            Some(value),
            format!("machine name already used on line {first}; give every machine its own name"),
        );
        return false;
    }
    true
}

fn sku(errors: &mut Errors, row: &Row, column: &str, value: &str) -> bool {
    if valid_sku(value) {
        return true;
    }
    let expected = if value.is_empty() {
        "expected the GPU model of a machine with GPUs, e.g. V100".to_string()
    } else {
        "expected a GPU model of letters, digits, '-' and '_' (it becomes a cell type name)"
            .to_string()
    };
    errors.push(row.line, Some(column), Some(value), expected);
    false
}

/// Philly `cluster_machine_list`: `machineId, number of GPUs, single GPU mem`, with or
/// without its header.
pub(crate) fn philly(text: &str, file: &str) -> Result<Parsed, ClusterBuildError> {
    let mut errors = Errors::new(file);
    let mut parsed = Parsed::default();
    let mut names = Names::default();
    let mut skipped = Vec::new();
    for (i, row) in rows(text, &mut errors).into_iter().enumerate() {
        if i == 0 && row.fields[0].eq_ignore_ascii_case("machineId") {
            continue;
        }
        let [name, gpus, mem] = row.fields.as_slice() else {
            wrong_width(&mut errors, &row, &PHILLY_COLUMNS, "m0,8,24GB");
            continue;
        };
        let name_ok = node_name(&mut errors, &mut names, &row, PHILLY_COLUMNS[0], name);
        let gpus = gpu_count(&mut errors, &row, PHILLY_COLUMNS[1], gpus);
        let sku = philly_sku(mem);
        if sku.is_none() {
            errors.push(
                row.line,
                Some(PHILLY_COLUMNS[2]),
                Some(mem),
                "expected the memory of one GPU in GB, e.g. 12GB".to_string(),
            );
        }
        match (name_ok, gpus, sku) {
            (true, Some(0), Some(_)) => skipped.push(row.line),
            (true, Some(gpus), Some(sku)) => parsed.nodes.push(NodeSpec {
                name: name.clone(),
                sku,
                gpus,
            }),
            _ => {}
        }
    }
    parsed
        .warnings
        .extend(skipped_warning(file, "machines", &skipped));
    errors.finish(parsed)
}

/// openb `openb_node_list_*.csv`: `sn,cpu_milli,memory_mib,gpu,model`, with or without
/// its header.
pub(crate) fn openb(text: &str, file: &str) -> Result<Parsed, ClusterBuildError> {
    let mut errors = Errors::new(file);
    let mut parsed = Parsed::default();
    let mut names = Names::default();
    let mut skipped = Vec::new();
    for (i, row) in rows(text, &mut errors).into_iter().enumerate() {
        if i == 0 && row.fields[0].eq_ignore_ascii_case("sn") {
            continue;
        }
        let [name, _cpu, _memory, gpus, model] = row.fields.as_slice() else {
            wrong_width(
                &mut errors,
                &row,
                &OPENB_COLUMNS,
                "openb-node-0000,64000,262144,2,P100",
            );
            continue;
        };
        let name_ok = node_name(&mut errors, &mut names, &row, OPENB_COLUMNS[0], name);
        let gpus = gpu_count(&mut errors, &row, OPENB_COLUMNS[3], gpus);
        if gpus == Some(0) && name_ok {
            skipped.push(row.line);
        }
        if let Some(gpus) = gpus.filter(|g| *g > 0) {
            // The model is checked even when the name is bad, to report both.
            let sku_ok = sku(&mut errors, &row, OPENB_COLUMNS[4], model);
            if sku_ok && name_ok {
                parsed.nodes.push(NodeSpec {
                    name: name.clone(),
                    sku: model.clone(),
                    gpus,
                });
            }
        }
    }
    parsed
        .warnings
        .extend(skipped_warning(file, "nodes", &skipped));
    errors.finish(parsed)
}

/// The column names in the `.header` file beside `path` (`pai_machine_spec.header` for
/// `pai_machine_spec.csv`), if there is one.
pub(crate) fn sibling_header(path: &Path) -> Result<Option<Vec<String>>, ClusterBuildError> {
    let header = path.with_extension("header");
    if header == path || !header.is_file() {
        return Ok(None);
    }
    let text = std::fs::read_to_string(&header).map_err(|err| ClusterBuildError::Read {
        file: header.display().to_string(),
        message: format!("cannot read the header file: {err}"),
    })?;
    let line = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let names: Vec<String> = line
        .trim_start_matches('\u{feff}')
        .split(',')
        .map(|f| f.trim().to_string())
        .collect();
    let missing: Vec<&str> = ["machine", "gpu_type", "cap_gpu"]
        .into_iter()
        .filter(|c| !names.iter().any(|n| n == c))
        .collect();
    if !missing.is_empty() {
        return Err(ClusterBuildError::Rows {
            errors: vec![RowError {
                file: header.display().to_string(),
                line: 1,
                column: None,
                value: Some(line.to_string()),
                expected: format!(
                    "expected the PAI machine spec's column names `{}`; missing: {}",
                    PAI_COLUMNS.join(","),
                    missing.join(", ")
                ),
            }],
            more: 0,
        });
    }
    Ok(Some(names))
}

/// CPU (milli-CPUs) and memory (MiB) per machine of a PAI 2020 machine list, for GPU
/// sharing: `cap_cpu` is in cores and `cap_mem` in GiB (the trace's units). Columns as
/// [`pai`] finds them (the sibling `.header` file, or a header row). A machine whose
/// `cap_cpu` or `cap_mem` is not a number is an error naming its line and column.
pub(crate) fn pai_resources(path: &Path) -> Result<Vec<(String, u64, u64)>, ClusterBuildError> {
    let file = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|err| ClusterBuildError::Read {
        file: file.clone(),
        message: format!("cannot read the machine list: {err}"),
    })?;
    let mut columns: Vec<String> = match sibling_header(path)? {
        Some(h) => h,
        None => PAI_COLUMNS.iter().map(|c| c.to_string()).collect(),
    };
    let mut errors = Errors::new(&file);
    let mut out = Vec::new();
    for (i, row) in rows(&text, &mut errors).into_iter().enumerate() {
        if i == 0 && row.fields[0].eq_ignore_ascii_case("machine") {
            columns = row.fields.clone();
            continue;
        }
        let at = |name: &str| columns.iter().position(|c| c == name);
        let (Some(m), Some(c), Some(g)) = (at("machine"), at("cap_cpu"), at("cap_mem")) else {
            break;
        };
        if row.fields.len() != columns.len() {
            continue; // `pai` reports the row
        }
        let mut amount = |index: usize, unit: f64, what: &str| -> Option<u64> {
            let value = &row.fields[index];
            match value.parse::<f64>() {
                Ok(x) if x >= 0.0 && x.is_finite() => Some((x * unit).round() as u64),
                _ => {
                    errors.push(
                        row.line,
                        Some(columns[index].as_str()),
                        Some(value.as_str()),
                        format!("{what}, 0 or more"),
                    );
                    None
                }
            }
        };
        let cpu = amount(c, 1000.0, "a number of CPU cores");
        let memory = amount(g, 1024.0, "a memory size in GiB");
        if let (Some(cpu), Some(memory)) = (cpu, memory) {
            out.push((row.fields[m].clone(), cpu, memory));
        }
    }
    errors.finish(out)
}

/// PAI 2020 `pai_machine_spec.csv`: `machine,gpu_type,cap_cpu,cap_mem,cap_gpu`. The
/// columns come from `header` (the sibling `.header` file) when given, else from a header
/// line in the file, else the documented order.
pub(crate) fn pai(
    text: &str,
    file: &str,
    header: Option<&Vec<String>>,
) -> Result<Parsed, ClusterBuildError> {
    let mut errors = Errors::new(file);
    let mut parsed = Parsed::default();
    let mut names = Names::default();
    let mut skipped = Vec::new();
    let mut columns: Vec<String> = match header {
        Some(h) => h.clone(),
        None => PAI_COLUMNS.iter().map(|c| c.to_string()).collect(),
    };
    fn at(columns: &[String], name: &str) -> Option<usize> {
        columns.iter().position(|c| c == name)
    }
    let mut index = (
        at(&columns, "machine"),
        at(&columns, "gpu_type"),
        at(&columns, "cap_gpu"),
    );
    for (i, row) in rows(text, &mut errors).into_iter().enumerate() {
        if i == 0 && row.fields[0].eq_ignore_ascii_case("machine") {
            columns = row.fields.clone();
            index = (
                at(&columns, "machine"),
                at(&columns, "gpu_type"),
                at(&columns, "cap_gpu"),
            );
            continue;
        }
        let (Some(m), Some(t), Some(g)) = index else {
            errors.push(
                row.line,
                None,
                None,
                format!(
                    "the header names no machine, gpu_type or cap_gpu column; expected `{}`",
                    PAI_COLUMNS.join(",")
                ),
            );
            break;
        };
        if row.fields.len() != columns.len() {
            let shown: Vec<&str> = columns.iter().map(String::as_str).collect();
            let example = "7399a758eb02bae1a3621236,P100,64,512,2";
            wrong_width(&mut errors, &row, &shown, example);
            continue;
        }
        let (name, gpu_type, gpus) = (&row.fields[m], &row.fields[t], &row.fields[g]);
        let name_ok = node_name(&mut errors, &mut names, &row, "machine", name);
        let gpus = gpu_count(&mut errors, &row, "cap_gpu", gpus);
        if gpus == Some(0) && name_ok {
            skipped.push(row.line);
        }
        if let Some(gpus) = gpus.filter(|g| *g > 0) {
            let sku_ok = sku(&mut errors, &row, "gpu_type", gpu_type);
            if sku_ok && name_ok {
                parsed.nodes.push(NodeSpec {
                    name: name.clone(),
                    sku: gpu_type.clone(),
                    gpus,
                });
            }
        }
    }
    parsed
        .warnings
        .extend(skipped_warning(file, "machines", &skipped));
    errors.finish(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_lines_are_recognised_with_or_without_headers() {
        let cases = [
            (
                "machineId, number of GPUs, single GPU mem",
                Some(ClusterFormat::PhillyMachines),
            ),
            ("m0,2, 12GB", Some(ClusterFormat::PhillyMachines)),
            (
                "sn,cpu_milli,memory_mib,gpu,model",
                Some(ClusterFormat::OpenbNodes),
            ),
            (
                "openb-node-0000,32000,262144,0,",
                Some(ClusterFormat::OpenbNodes),
            ),
            (
                "machine,gpu_type,cap_cpu,cap_mem,cap_gpu",
                Some(ClusterFormat::PaiMachines),
            ),
            ("7399a758,CPU,96,512,0", Some(ClusterFormat::PaiMachines)),
            ("physicalCluster:", None),
            ("a,b,c", None),
        ];
        for (line, want) in cases {
            assert_eq!(detect(line), want, "{line}");
        }
    }

    #[test]
    fn philly_memory_becomes_the_sku() {
        assert_eq!(philly_sku(" 12GB").as_deref(), Some("GPU12GB"));
        assert_eq!(philly_sku("24 gb").as_deref(), Some("GPU24GB"));
        assert_eq!(philly_sku("11.5GB").as_deref(), Some("GPU11_5GB"));
        assert_eq!(philly_sku("12"), None);
        assert_eq!(philly_sku("GB"), None);
    }

    #[test]
    fn philly_rows_are_read_and_zero_gpu_machines_skipped() {
        let text =
            "machineId, number of GPUs, single GPU mem\nm0,2, 12GB\n\nm1,8, 24GB\nm2,0, 12GB\n";
        let parsed = philly(text, "list").unwrap();
        assert_eq!(parsed.nodes.len(), 2);
        assert_eq!(parsed.nodes[1].sku, "GPU24GB");
        assert_eq!(
            parsed.warnings,
            ["list: skipped 1 machines without GPUs (lines 5)"]
        );
    }

    #[test]
    fn only_the_first_errors_are_kept() {
        let text: String = (0..30).map(|i| format!("m{i},x,12GB\n")).collect();
        let Err(ClusterBuildError::Rows { errors, more }) = philly(&text, "f") else {
            panic!("expected row errors")
        };
        assert_eq!((errors.len(), more), (ROW_ERRORS_KEPT, 10));
    }

    #[test]
    fn pai_resources_are_milli_cpus_and_mib() {
        let dir = std::env::temp_dir().join(format!("cellsim-pai-res-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("m.csv");
        std::fs::write(&path, "a,T4,4,16,2\nb,T4,x,16,2\n").unwrap();
        let Err(ClusterBuildError::Rows { errors, .. }) = pai_resources(&path) else {
            panic!("b's cap_cpu is refused");
        };
        assert_eq!(
            (errors[0].line, errors[0].column.as_deref()),
            (2, Some("cap_cpu"))
        );
        std::fs::write(&path, "a,T4,4,16,2\n").unwrap();
        assert_eq!(
            pai_resources(&path).unwrap(),
            vec![("a".to_string(), 4000, 16384)]
        );
    }

    #[test]
    fn pai_columns_follow_the_header_file() {
        let header = vec!["cap_gpu".to_string(), "machine".into(), "gpu_type".into()];
        let parsed = pai("8,a,V100\n0,b,CPU\n", "p.csv", Some(&header)).unwrap();
        assert_eq!(parsed.nodes.len(), 1);
        assert_eq!(parsed.nodes[0].name, "a");
        assert_eq!(parsed.nodes[0].gpus, 8);
    }
}
