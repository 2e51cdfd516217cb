//! cellsim's integration tests: one binary, one module per behaviour.

mod allocator_model;
mod bad_input;
mod cluster_builders;
mod common;
mod config_load;
mod config_validation;
mod feature_demos;
mod gen_trace;
mod inspect_shapes;
mod labs;
mod live_extender;
mod live_inspect;
mod live_kube;
mod live_parity;
mod live_standalone;
mod live_support;
mod main_job;
mod openpai_jobs;
mod rebuild;
mod replay;
mod sharing;
mod sim_engine;
mod sim_invariants;
mod suggested_nodes;
mod trace_readers;
mod validate_cli;
