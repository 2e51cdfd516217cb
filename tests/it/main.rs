//! cellsim's integration tests: one binary, one module per behaviour.

mod allocator_model;
mod bad_input;
mod common;
mod config_load;
mod config_validation;
mod feature_demos;
mod inspect_shapes;
mod openpai_jobs;
mod rebuild;
mod sim_engine;
mod suggested_nodes;
mod validate_cli;
