//! Command-line definitions (clap derive): the raw form of what the user asked for. No I/O
//! happens here; `main.rs` dispatches each [`Command`] to the library. New subcommands are
//! new variants of [`Command`] with their own `…Args` struct.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// cellsim: a discrete-event GPU-cluster simulator with HiveD cell allocation.
#[derive(Debug, Clone, Parser)]
#[command(name = "cellsim", version, about, propagate_version = true)]
pub struct Cli {
    /// What to do; without a subcommand, `run` on the bundled default scenario.
    #[command(subcommand)]
    pub command: Option<Command>,
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
    /// Simulate a scenario with each of its scheduler models and write the reports.
    ///
    /// Writes, per model, DIR/MODEL/jobs.csv, vcs.csv, timeline.csv, events.log,
    /// summary.json, gantt.svg, utilisation.svg, wait_cdf.svg and (hived, yarn-cs)
    /// sharing.csv, and DIR/report.html with all models side by side; then prints a
    /// per-model summary table and the sharing-anomaly table. Without SCENARIO, runs the
    /// bundled default scenario (scenarios/default.yaml). Exits 1 when the scenario is
    /// invalid, 3 when a report cannot be written.
    Run(RunArgs),
    /// Run one of the course's scheduling labs (or all five) and answer its questions.
    ///
    /// Simulates the lab on its lab cluster (scenarios/labs/, compiled in), prints per lab
    /// its title, a timeline (one line per job: submit, start, end, node and GPU,
    /// preemptions) and the answers to the lab's questions read off the simulated events,
    /// and writes the reports into DIR/LAB/ (report.html, answers.txt, and per model the
    /// files of `cellsim run`). Exits 3 when a report cannot be written.
    Lab(LabArgs),
}

/// Options of `cellsim lab`.
#[derive(Debug, Clone, Args)]
pub struct LabArgs {
    /// The lab: vc-safety (1), priority (2), opportunistic (3), gang (4), incremental (5),
    /// or all of them.
    #[arg(
        value_name = "LAB",
        value_parser = clap::builder::PossibleValuesParser::new(
            crate::labs::LAB_NAMES.into_iter().chain(["all"])
        ),
    )]
    pub lab: String,
    /// Output folder; each lab writes into DIR/LAB/. Default: out/labs.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Options of `cellsim run`.
#[derive(Debug, Clone, Default, Args)]
pub struct RunArgs {
    /// The scenario file (YAML); the bundled default scenario when absent.
    #[arg(value_name = "SCENARIO")]
    pub scenario: Option<PathBuf>,
    /// Output folder; each model writes into DIR/MODEL/. Default: out/SCENARIO-NAME.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Run only this model (repeat for several); default: the scenario's `models`.
    #[arg(
        long = "model",
        value_name = "M",
        value_parser = clap::builder::PossibleValuesParser::new(crate::sched::MODEL_NAMES),
        long_help = model_help(),
    )]
    pub models: Vec<String>,
    /// Skip the sharing-anomaly check (each VC's jobs re-run alone on a private cluster of
    /// its guaranteed cells, for hived and yarn-cs); it costs one extra run per VC.
    #[arg(long)]
    pub no_sharing: bool,
    /// No progress bar (it only appears on a terminal, for runs longer than a second).
    #[arg(long, short)]
    pub quiet: bool,
}

/// `--model`'s long help: what each model does and does not model.
fn model_help() -> String {
    let mut text = String::from(
        "Run only this model (repeat for several); default: the scenario's `models`.\n",
    );
    for (name, description) in crate::sched::model_descriptions() {
        text.push_str(&format!("\n{name}: {description}\n"));
    }
    text
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
        match cli.command {
            Some(Command::Validate(args)) => assert_eq!(args.file, PathBuf::from("c.yaml")),
            other => panic!("parsed as {other:?}"),
        }
        assert!(Cli::try_parse_from_args(["cellsim", "validate"]).is_err());
    }

    #[test]
    fn run_takes_an_optional_scenario_out_and_known_models() {
        let cli = Cli::try_parse_from_args([
            "cellsim", "run", "s.yaml", "--out", "o", "--model", "fifo", "--model", "hived",
        ])
        .unwrap();
        let Some(Command::Run(args)) = cli.command else {
            panic!("parsed as {:?}", cli.command);
        };
        assert_eq!(args.scenario, Some(PathBuf::from("s.yaml")));
        assert_eq!(args.out, Some(PathBuf::from("o")));
        assert_eq!(args.models, ["fifo", "hived"]);
        let Some(Command::Run(args)) = Cli::try_parse_from_args(["cellsim", "run"])
            .unwrap()
            .command
        else {
            panic!("not run");
        };
        assert_eq!(args.scenario, None);
        assert!(Cli::try_parse_from_args(["cellsim", "run", "--model", "slurm"]).is_err());
        // No subcommand at all is the README's main command: run the default scenario.
        assert!(
            Cli::try_parse_from_args(["cellsim"])
                .unwrap()
                .command
                .is_none()
        );
    }
}
