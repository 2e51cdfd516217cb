//! cellsim's integration tests: one binary, one module per behaviour.

mod allocator_model;
mod bad_input;
mod common;
mod config_load;
mod config_validation;
mod feature_demos;
mod inspect_shapes;
mod labs;
mod main_job;
mod openpai_jobs;
mod rebuild;
mod sharing;
mod sim_engine;
mod sim_invariants;
mod suggested_nodes;
mod validate_cli;
