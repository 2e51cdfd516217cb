//! The `cellsim` binary: parse the command line, run the library, and turn the outcome
//! into an exit code (the only place that does): 0 success, 1 invalid input (e.g. a bad
//! config, all problems listed on stderr), 2 usage error (clap's own code).

use std::io::Write;
use std::process::ExitCode;

use cellsim::cli::{Cli, Command, ValidateArgs};
use cellsim::config::{self, ConfigErrors};

/// Why a command failed; each maps to one exit code.
enum Failure {
    /// The input config is invalid: exit 1.
    InvalidConfig(ConfigErrors),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse_from_args(std::env::args_os()) {
        Ok(cli) => cli,
        Err(err) => {
            // --help and --version are "errors" to clap but succeed.
            let _ = err.print();
            return ExitCode::from(u8::try_from(err.exit_code()).unwrap_or(2));
        }
    };
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::InvalidConfig(errors)) => {
            let mut stderr = std::io::stderr().lock();
            for error in &errors {
                let _ = writeln!(stderr, "error: {error}");
            }
            let count = errors.len();
            let _ = writeln!(
                stderr,
                "cellsim: the config is invalid ({count} error{})",
                if count == 1 { "" } else { "s" }
            );
            ExitCode::from(1)
        }
    }
}

fn run(cli: Cli) -> Result<(), Failure> {
    match cli.command {
        Command::Validate(args) => validate(&args),
    }
}

fn validate(args: &ValidateArgs) -> Result<(), Failure> {
    let config = config::load_file(&args.file).map_err(Failure::InvalidConfig)?;
    let mut stderr = std::io::stderr().lock();
    for warning in &config.warnings {
        let _ = writeln!(stderr, "warning: {warning}");
    }
    // A closed stdout (e.g. `| head`) is not a failure of the config check.
    let _ = std::io::stdout()
        .lock()
        .write_all(config::summary(&config).as_bytes());
    Ok(())
}
