//! Synthetic cluster spec strings: `COUNTx SKUxGPUS [rack=N]` items separated by `;`,
//! e.g. `"32x V100x8 rack=16; 64x K80x4 rack=8"` (32 nodes of 8 V100 GPUs in racks of 16
//! nodes, 64 nodes of 4 K80 GPUs in racks of 8). Whitespace is free between the parts
//! (`32 x V100 x 8`, `rack = 16`), `x` may be `X`, and empty items (a trailing `;`) are
//! ignored. Nodes are named `<sku>-<n>` in lower case, `n` counting from 0 per SKU across
//! items (`v100-0`, `v100-1`, …).

use std::collections::BTreeMap;

use super::ClusterBuildError;
use super::layout::{NodeGroup, cells_per_node, valid_sku};
use crate::config::hived::MAX_CELLS;

/// One `;`-separated item of a cluster spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecItem {
    /// Number of nodes (at least 1).
    pub count: u32,
    /// GPU model: the leaf cell type.
    pub sku: String,
    /// GPUs per node (at least 1).
    pub gpus: u32,
    /// Nodes per rack, if the item says (`rack=N`).
    pub rack_nodes: Option<u32>,
}

const FORM: &str =
    "write COUNTx SKUxGPUS [rack=N], e.g. \"32x V100x8 rack=16\", and separate items with ';'";

/// Parse a cluster spec string into its items (see the module doc for the grammar). The
/// error names the first bad item (1-based) and says the expected form.
pub fn parse_cluster_spec(spec: &str) -> Result<Vec<SpecItem>, ClusterBuildError> {
    let mut items = Vec::new();
    for (i, raw) in spec.split(';').enumerate() {
        let item = raw.trim();
        if item.is_empty() {
            continue;
        }
        let parsed = parse_item(item).map_err(|expected| ClusterBuildError::Spec {
            index: i + 1,
            item: item.to_string(),
            expected,
        })?;
        items.push(parsed);
    }
    if items.is_empty() {
        return Err(ClusterBuildError::Spec {
            index: 1,
            item: spec.trim().to_string(),
            expected: format!("the spec has no items; {FORM}"),
        });
    }
    Ok(items)
}

fn number(text: &str, what: &str) -> Result<u32, String> {
    match text.parse::<u32>() {
        Ok(0) => Err(format!("{what} must be at least 1; {FORM}")),
        Ok(n) => Ok(n),
        Err(_) if !text.is_empty() && text.chars().all(|c| c.is_ascii_digit()) => {
            Err(format!("{what} {text} is too large; {FORM}"))
        }
        Err(_) => Err(format!(
            "{what} must be a whole number, got {text:?}; {FORM}"
        )),
    }
}

fn parse_item(item: &str) -> Result<SpecItem, String> {
    // `rack = 16` -> `rack=16`, so options are single tokens.
    let joined = item.split('=').map(str::trim).collect::<Vec<_>>().join("=");
    let mut rack_nodes = None;
    let mut shape = String::new();
    for token in joined.split_whitespace() {
        match token.split_once('=') {
            Some((key, value)) if key.eq_ignore_ascii_case("rack") => {
                if rack_nodes.is_some() {
                    return Err(format!("rack= is given twice; {FORM}"));
                }
                rack_nodes = Some(number(value, "the rack size (nodes per rack)")?);
            }
            Some((key, _)) => {
                return Err(format!(
                    "unknown option `{token}` ({key}); the only option is rack=N (nodes per rack); {FORM}"
                ));
            }
            None => shape.push_str(token),
        }
    }
    let digits = shape.chars().take_while(char::is_ascii_digit).count();
    if digits == 0 {
        return Err(format!(
            "the item must start with the number of nodes and 'x' (\"32x\"); {FORM}"
        ));
    }
    let count = number(&shape[..digits], "the node count")?;
    let rest = &shape[digits..];
    let Some(model) = rest.strip_prefix(['x', 'X']) else {
        return Err(format!(
            "expected 'x' after the node count {count} (\"{count}x\"); {FORM}"
        ));
    };
    let Some(at) = model.rfind(['x', 'X']) else {
        return Err(format!(
            "expected SKUxGPUS after \"{count}x\" (the GPU model, 'x' and the GPUs per node, e.g. V100x8), got {model:?}; {FORM}"
        ));
    };
    let (sku, gpus) = (&model[..at], &model[at + 1..]);
    if gpus.is_empty() || !gpus.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "expected the GPUs per node after the last 'x' of {model:?} (e.g. V100x8); {FORM}"
        ));
    }
    let gpus = number(gpus, "the GPUs per node")?;
    if !valid_sku(sku) {
        return Err(format!(
            "the GPU model {sku:?} must be letters, digits, '-' and '_' (it becomes a cell type name); {FORM}"
        ));
    }
    Ok(SpecItem {
        count,
        sku: sku.to_string(),
        gpus,
        rack_nodes,
    })
}

/// One node group per item, with racks of the item's `rack=` or `default_rack` nodes.
pub(crate) fn nodes(
    items: &[SpecItem],
    default_rack: u32,
    source: &str,
) -> Result<Vec<NodeGroup>, ClusterBuildError> {
    // Counted before any name is made, so a huge COUNT is refused at once.
    let cells = items
        .iter()
        .map(|item| u64::from(item.count).saturating_mul(cells_per_node(item.gpus)))
        .fold(0, u64::saturating_add);
    if cells > MAX_CELLS {
        return Err(ClusterBuildError::Empty {
            source_name: source.to_string(),
            message: format!(
                "the cluster would have more than {cells} cells; cellsim supports at most {MAX_CELLS}: use fewer nodes"
            ),
        });
    }
    let mut next: BTreeMap<String, u64> = BTreeMap::new();
    let groups = items
        .iter()
        .map(|item| {
            let prefix = item.sku.to_lowercase();
            let start = next.entry(prefix.clone()).or_default();
            let names = (0..u64::from(item.count))
                .map(|i| format!("{prefix}-{}", *start + i))
                .collect();
            *start += u64::from(item.count);
            NodeGroup {
                sku: item.sku.clone(),
                gpus: item.gpus,
                rack_nodes: item.rack_nodes.unwrap_or(default_rack).max(1),
                names,
            }
        })
        .collect();
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(count: u32, sku: &str, gpus: u32, rack: Option<u32>) -> SpecItem {
        SpecItem {
            count,
            sku: sku.to_string(),
            gpus,
            rack_nodes: rack,
        }
    }

    #[test]
    fn items_parse_with_free_whitespace() {
        let items =
            parse_cluster_spec(" 32x V100x8 rack=16;64X K80X4 rack = 8 ; 2 x A100-80GB x 8 ;")
                .unwrap();
        assert_eq!(
            items,
            [
                item(32, "V100", 8, Some(16)),
                item(64, "K80", 4, Some(8)),
                item(2, "A100-80GB", 8, None)
            ]
        );
    }

    #[test]
    fn errors_name_the_item_and_the_expected_form() {
        let cases = [
            ("4x V100x8; V100x8", 2, "start with the number of nodes"),
            ("4 V100x8", 1, "expected 'x' after the node count 4"),
            ("4x V100", 1, "expected SKUxGPUS after \"4x\""),
            ("4x V100xA", 1, "expected the GPUs per node"),
            ("4x V100x8 racks=2", 1, "unknown option `racks=2`"),
            (
                "4x V100x8 rack=0",
                1,
                "the rack size (nodes per rack) must be at least 1",
            ),
            ("0x V100x8", 1, "the node count must be at least 1"),
            ("4x V1.0x8", 1, "letters, digits"),
            ("4x x8", 1, "letters, digits"),
            ("99999999999x V100x8", 1, "too large"),
            (" ; ", 1, "no items"),
        ];
        for (spec, index, piece) in cases {
            let err = parse_cluster_spec(spec).unwrap_err();
            let ClusterBuildError::Spec { index: at, .. } = &err else {
                panic!("{spec}: {err:?}")
            };
            assert_eq!(*at, index, "{spec}");
            let text = err.to_string();
            assert!(text.contains(piece), "{spec}: {text}");
            assert!(text.contains("COUNTx SKUxGPUS [rack=N]"), "{spec}: {text}");
        }
    }

    #[test]
    fn node_names_count_per_sku_across_items() {
        let items = parse_cluster_spec("2x V100x8; 1x K80x4; 1x V100x4 rack=1").unwrap();
        let groups = nodes(&items, 8, "s").unwrap();
        assert_eq!(groups[0].names, ["v100-0", "v100-1"]);
        assert_eq!(groups[1].names, ["k80-0"]);
        assert_eq!(groups[2].names, ["v100-2"]);
        assert_eq!((groups[0].rack_nodes, groups[2].rack_nodes), (8, 1));
    }

    #[test]
    fn a_huge_count_is_refused_before_naming_nodes() {
        let items = parse_cluster_spec("4000000000x V100x8").unwrap();
        assert!(nodes(&items, 8, "s").is_err());
    }
}
