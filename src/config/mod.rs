//! Cluster configurations: HiveD config YAML (standalone or embedded in an OpenPAI
//! `services-configuration.yaml`) and OpenPAI `layout.yaml`, parsed, expanded and
//! validated into a [`CellConfig`], plus a readable [`summary()`] of one. No scheduling
//! logic lives here. [`builders`] builds configs from machine lists (Philly, openb, PAI)
//! and synthetic spec strings, and sizes VCs from a trace ([`build_cluster`],
//! [`size_vcs`]).
//!
//! The format is recognised from content, not from the file name: `machine-sku` or
//! `machine-list` at the top means a layout, `hivedscheduler` means a
//! services-configuration, anything else that looks like a HiveD config (including an
//! empty or comments-only file, which is an empty cluster) is read as one.

pub mod builders;
mod error;
mod hived;
pub mod model;
mod openpai;
pub(crate) mod quantity;
pub mod summary;
pub(crate) mod yaml;

use std::path::Path;

use serde_yaml_ng::Value;

pub use builders::{
    BuildOptions, ClusterBuildError, ClusterFormat, NodeSpec, RowError, SpecItem, VcShare,
    VcSizing, build_cluster, cluster_from_nodes, detect_cluster_format, parse_cluster_spec,
    size_vcs, vcs_from_file, vcs_from_str,
};
pub use error::{ConfigError, ConfigErrors};
pub use hived::{MAX_CELLS, MAX_LEVELS, from_hived_value};
pub use model::*;
pub use summary::summary;

use error::Diag;

/// The kinds of file [`load_str`] and [`load_file`] recognise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConfigFormat {
    /// A standalone HiveD config (`physicalCluster`, `virtualClusters`, server keys).
    HivedConfig,
    /// An OpenPAI `services-configuration.yaml` with the HiveD config as a string under
    /// `hivedscheduler.config`.
    ServicesConfiguration,
    /// An OpenPAI `layout.yaml` (`machine-sku` + `machine-list`).
    Layout,
}

/// Which format a parsed document is, or why it is none of them.
pub fn detect_format(value: &Value) -> Result<ConfigFormat, String> {
    let map = match value {
        Value::Null => return Ok(ConfigFormat::HivedConfig),
        Value::Mapping(map) => map,
        other => {
            return Err(format!(
                "expected a cluster config (a mapping at the top level), found {}",
                yaml::describe(other)
            ));
        }
    };
    let keys: Vec<String> = map.keys().filter_map(yaml::scalar_text).collect();
    let has = |k: &str| keys.iter().any(|key| key == k);
    if has("machine-sku") || has("machine-list") {
        return Ok(ConfigFormat::Layout);
    }
    if has("hivedscheduler") {
        return Ok(ConfigFormat::ServicesConfiguration);
    }
    // A misspelt HiveD key still means a HiveD config, so that the spelling error shows.
    if keys.is_empty()
        || keys
            .iter()
            .any(|k| yaml::closest(k, hived::KNOWN_TOP).is_some())
    {
        return Ok(ConfigFormat::HivedConfig);
    }
    Err(format!(
        "not a cluster config: expected a HiveD config (physicalCluster, virtualClusters), an OpenPAI services-configuration.yaml (hivedscheduler.config) or an OpenPAI layout.yaml (machine-sku, machine-list); found the keys {}",
        keys.join(", ")
    ))
}

/// Load a cluster config from `text`, recognising its format from content. `source`
/// names it in messages (usually the file path). Returns all problems found, or the
/// expanded, validated config with its warnings.
pub fn load_str(text: &str, source: &str) -> Result<CellConfig, ConfigErrors> {
    let mut diag = Diag::new(source);
    if let Some(message) = yaml::not_a_mapping(text, "a cluster config") {
        diag.error("", message);
        return Err(diag.into_errors());
    }
    let config =
        yaml::parse(text, "", None, &mut diag).and_then(|value| match detect_format(&value) {
            Ok(ConfigFormat::HivedConfig) => hived::build(&value, &mut diag),
            Ok(ConfigFormat::ServicesConfiguration) => {
                openpai::from_services_configuration(text, &value, &mut diag)
            }
            Ok(ConfigFormat::Layout) => openpai::from_layout(&value, &mut diag),
            Err(message) => {
                diag.error("", message);
                None
            }
        });
    match config {
        Some(config) if !diag.has_errors() => Ok(config),
        _ => {
            if !diag.has_errors() {
                // Never hand back an empty error list.
                diag.error("", "the config could not be read");
            }
            Err(diag.into_errors())
        }
    }
}

/// Load a cluster config file, recognising its format from content (see [`load_str`]).
pub fn load_file(path: &Path) -> Result<CellConfig, ConfigErrors> {
    let source = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|err| {
        ConfigErrors::single(ConfigError::new(
            &source,
            "",
            format!("cannot read the file: {err}"),
        ))
    })?;
    let text = String::from_utf8(bytes).map_err(|err| {
        ConfigErrors::single(ConfigError::new(
            &source,
            "",
            format!(
                "is not UTF-8 text (invalid byte at offset {}); save it as UTF-8",
                err.utf8_error().valid_up_to()
            ),
        ))
    })?;
    load_str(&text, &source)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn format_of(text: &str) -> Result<ConfigFormat, String> {
        detect_format(&serde_yaml_ng::from_str(text).unwrap())
    }

    #[test]
    fn formats_are_recognised_from_content() {
        assert_eq!(
            format_of("physicalCluster: {}"),
            Ok(ConfigFormat::HivedConfig)
        );
        assert_eq!(format_of("# nothing"), Ok(ConfigFormat::HivedConfig));
        assert_eq!(format_of("{}"), Ok(ConfigFormat::HivedConfig));
        assert_eq!(
            format_of("hivedscheduler: {config: x}"),
            Ok(ConfigFormat::ServicesConfiguration)
        );
        assert_eq!(format_of("machine-list: []"), Ok(ConfigFormat::Layout));
        // A misspelt HiveD key still selects HiveD, so the spelling error is reported.
        assert_eq!(
            format_of("physicalClustr: {}"),
            Ok(ConfigFormat::HivedConfig)
        );
        assert!(
            format_of("name: job")
                .unwrap_err()
                .contains("not a cluster config")
        );
        assert!(format_of("[1]").is_err());
    }

    #[test]
    fn errors_are_never_an_empty_list() {
        for text in ["[", "- 1", "x: 1", "machine-sku: 3", "hivedscheduler: 1"] {
            let errors = load_str(text, "t").unwrap_err();
            assert!(!errors.is_empty(), "{text}");
        }
    }
}
