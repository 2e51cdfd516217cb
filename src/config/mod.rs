//! Cluster configurations: HiveD config YAML (standalone or embedded in an OpenPAI
//! `services-configuration.yaml`) and OpenPAI `layout.yaml`, parsed, expanded and
//! validated into a [`CellConfig`]. No scheduling logic lives here.

pub mod model;

pub use model::*;
