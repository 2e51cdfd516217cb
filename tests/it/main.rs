//! cellsim's integration tests: one binary, one module per behaviour.

mod allocator_model;
mod common;
mod config_load;
mod config_validation;
mod openpai_jobs;
mod validate_cli;
