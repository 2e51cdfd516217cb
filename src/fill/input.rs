//! Reading `fill`'s inputs: an openb node list (`sn,cpu_milli,memory_mib,gpu,model`) and
//! an openb pod list (`name,cpu_milli,memory_mib,num_gpu,gpu_milli` and, when present,
//! `gpu_spec`; other columns are not read, so the `multigpu*` samples without times
//! work too). Errors name the file, the line and what to fix.

use std::path::Path;

use serde::Deserialize;

use super::FillError;
use crate::cell::sharing::{MILLI, PodShape, ShareNode};

/// One pod of the pod list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FillPod {
    /// Its name in the list.
    pub name: String,
    /// What it asks for.
    pub shape: PodShape,
}

#[derive(Debug, Deserialize)]
struct NodeRow {
    sn: String,
    cpu_milli: u64,
    memory_mib: u64,
    gpu: u32,
    #[serde(default)]
    model: String,
}

#[derive(Debug, Deserialize)]
struct PodRow {
    name: String,
    cpu_milli: u64,
    memory_mib: u64,
    num_gpu: u32,
    gpu_milli: u32,
    #[serde(default)]
    gpu_spec: Option<String>,
}

fn input_error(path: &Path, line: Option<u64>, message: String) -> FillError {
    FillError::Input {
        path: path.to_path_buf(),
        line,
        message,
    }
}

/// Rows of a CSV file with a header, deserialised; an error names the line.
fn rows<T: for<'de> Deserialize<'de>>(
    path: &Path,
    what: &str,
    required: &[&str],
) -> Result<Vec<(u64, T)>, FillError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_path(path)
        .map_err(|e| input_error(path, None, format!("cannot read the {what}: {e}")))?;
    let header = reader
        .headers()
        .map_err(|e| {
            input_error(
                path,
                Some(1),
                format!("cannot read the {what}'s header: {e}"),
            )
        })?
        .clone();
    let missing: Vec<&str> = required
        .iter()
        .copied()
        .filter(|c| !header.iter().any(|h| h == *c))
        .collect();
    if !missing.is_empty() {
        return Err(input_error(
            path,
            Some(1),
            format!(
                "the header lacks {}; is this the {what}?",
                missing.join(", ")
            ),
        ));
    }
    let mut out = Vec::new();
    for row in reader.deserialize::<T>() {
        match row {
            Ok(value) => out.push((out.len() as u64 + 2, value)),
            Err(e) => {
                let line = e.position().map(|p| p.line());
                return Err(input_error(
                    path,
                    line,
                    format!("not a valid {what} row: {e}"),
                ));
            }
        }
    }
    Ok(out)
}

/// The nodes of an openb node list, each with its CPU, memory, GPUs and GPU model.
pub fn read_node_list(path: &Path) -> Result<Vec<ShareNode>, FillError> {
    let what = "openb node list (columns sn,cpu_milli,memory_mib,gpu,model)";
    let nodes: Vec<ShareNode> =
        rows::<NodeRow>(path, what, &["sn", "cpu_milli", "memory_mib", "gpu"])?
            .into_iter()
            .map(|(_, r)| ShareNode {
                name: r.sn,
                cpu_milli: Some(r.cpu_milli),
                memory_mib: Some(r.memory_mib),
                gpus: r.gpu,
                gpu_model: if r.gpu == 0 { String::new() } else { r.model },
            })
            .collect();
    if nodes.iter().all(|n| n.gpus == 0) {
        return Err(input_error(
            path,
            None,
            "the node list has no GPUs; give a list with GPU nodes (e.g. openb_node_list_gpu_node.csv)".into(),
        ));
    }
    Ok(nodes)
}

/// The pods of an openb pod list, in file order.
pub fn read_pod_list(path: &Path) -> Result<Vec<FillPod>, FillError> {
    let what = "openb pod list (columns name,cpu_milli,memory_mib,num_gpu,gpu_milli[,gpu_spec])";
    let mut pods = Vec::new();
    for (line, r) in rows::<PodRow>(
        path,
        what,
        &["name", "cpu_milli", "memory_mib", "num_gpu", "gpu_milli"],
    )? {
        // A pod with GPUs but no share uses none (the artifact's pod conversion writes 0).
        let (num_gpu, gpu_milli) = if r.num_gpu == 0 || r.gpu_milli == 0 {
            (0, 0)
        } else {
            (r.num_gpu, r.gpu_milli)
        };
        if gpu_milli > MILLI {
            return Err(input_error(
                path,
                Some(line),
                format!(
                    "gpu_milli {gpu_milli} is more than one GPU (1000); give the count in num_gpu and 1000 here"
                ),
            ));
        }
        let shape = PodShape {
            cpu_milli: r.cpu_milli,
            memory_mib: r.memory_mib,
            num_gpu,
            gpu_milli,
            gpu_spec: r.gpu_spec.unwrap_or_default(),
        };
        shape
            .validate()
            .map_err(|e| input_error(path, Some(line), format!("pod {}: {e}", r.name)))?;
        pods.push(FillPod {
            name: r.name,
            shape,
        });
    }
    if pods.iter().all(|p| p.shape.total_gpu_milli() == 0) {
        return Err(input_error(
            path,
            None,
            "no pod asks for a GPU, so GPU demand cannot be inflated; give a pod list with GPU pods".into(),
        ));
    }
    Ok(pods)
}
