//! Command-line definitions (clap derive): the raw form of what the user asked for. No I/O
//! happens here; `main.rs` dispatches each [`Command`] to the library. New subcommands are
//! new variants of [`Command`] with their own `…Args` struct.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// cellsim: a discrete-event GPU-cluster simulator with HiveD cell allocation.
#[derive(Debug, Clone, Parser)]
#[command(name = "cellsim", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum Command {
    /// Check a cluster config and print a summary of its chains, nodes and VCs.
    ///
    /// Reads a HiveD config, an OpenPAI services-configuration.yaml (HiveD config under
    /// hivedscheduler.config) or an OpenPAI layout.yaml; the format is recognised from
    /// content. Exits 1 and lists every problem on stderr when the config is invalid.
    Validate(ValidateArgs),
}

/// Options of `cellsim validate`.
#[derive(Debug, Clone, Args)]
pub struct ValidateArgs {
    /// The cluster config file to check.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
}

impl Cli {
    /// Parse `args` (the first item is the program name) without exiting the process.
    pub fn try_parse_from_args<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        <Self as Parser>::try_parse_from(args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn validate_takes_one_file() {
        let cli = Cli::try_parse_from_args(["cellsim", "validate", "c.yaml"]).unwrap();
        #[allow(unreachable_patterns)] // other subcommands will come
        match cli.command {
            Command::Validate(args) => assert_eq!(args.file, PathBuf::from("c.yaml")),
            other => panic!("parsed as {other:?}"),
        }
        assert!(Cli::try_parse_from_args(["cellsim", "validate"]).is_err());
    }
}
