//! cellsim's integration tests: one binary, one module per behaviour.

mod allocator_model;
mod bad_input;
mod binding_backtrack;
mod cluster_builders;
mod common;
mod compare;
mod config_load;
mod config_validation;
mod doomed_per_vc;
mod feature_demos;
mod fill;
mod gen_trace;
mod hived_share;
mod honest_reports;
mod input_errors;
mod inspect_shapes;
mod kueue;
mod kueue_surface;
mod labs;
#[cfg(feature = "live")]
mod live_crash;
#[cfg(feature = "live")]
mod live_extender;
#[cfg(feature = "live")]
mod live_inspect;
#[cfg(feature = "live")]
mod live_kube;
#[cfg(feature = "live")]
mod live_limits;
#[cfg(feature = "live")]
mod live_parity;
#[cfg(feature = "live")]
mod live_standalone;
#[cfg(feature = "live")]
mod live_support;
mod main_job;
mod openpai_jobs;
mod outputs;
mod policies;
mod published;
mod queue_delay;
mod readme;
mod rebuild;
mod reconfig_safety;
mod replay;
mod safe_split;
mod sharing;
mod sharing_model;
mod sharing_replay;
mod sim_engine;
mod sim_invariants;
mod suggested_cells;
mod suggested_nodes;
mod sweep;
mod sweep_real_slurm;
mod trace_readers;
mod validate_cli;
