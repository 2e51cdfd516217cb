//! Command-line definitions (clap) turned into typed options.
