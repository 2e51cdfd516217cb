//! A scheduling policy written outside cellsim, run through the library.
//!
//! `FewestGpusFirst` orders each VC's queue by the GPUs a group asks for (then submit
//! time) and preempts nothing. It implements [`Policy`] (only `name`, `describe` and
//! `rank` are required), is composed with a layer from cellsim ([`layer_by_name`]) into a
//! [`Model`], and runs on the bundled regression scenario beside the built-in `hived`;
//! the per-VC waits and queueing delays of both are printed.
//!
//! ```sh
//! cargo run --release --example custom_policy [SCENARIO.yaml] [LAYER]
//! ```
//!
//! A preemptive policy would also override `after_layer` (turn the layer's `Wait` into a
//! `Verdict::Suspend` of running groups), `started` and `stopped` (to know who runs), and
//! `next_timer` / `on_timer` if its order changes with time: see
//! `src/sched/policies/srtf.rs` and `tiresias.rs`.

use std::path::PathBuf;
use std::process::ExitCode;

use cellsim::report::summarize;
use cellsim::report::tables::seconds;
use cellsim::sched::{GroupProgress, Model, Policy, layer_by_name};
use cellsim::sim::scenario::load_file;
use cellsim::sim::{RunResult, simulate};
use rand::SeedableRng;

/// Smallest requests first: a group asking for fewer GPUs goes before a larger one.
struct FewestGpusFirst;

impl Policy for FewestGpusFirst {
    fn name(&self) -> &'static str {
        "fewest-gpus"
    }

    fn describe(&self) -> &'static str {
        "fewest GPUs first, then submit order; non-preemptive (an example policy)"
    }

    fn rank(&mut self, group: &GroupProgress<'_>) -> i64 {
        i64::from(group.gpus)
    }
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let path = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("scenarios/regression/scenario.yaml"));
    let layer_name = args.next().unwrap_or_else(|| "hived".to_string());
    match run(&path, &layer_name) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(path: &std::path::Path, layer_name: &str) -> Result<(), String> {
    let scenario = load_file(path).map_err(|e| e.to_string())?;
    // The user's policy over one of cellsim's layers.
    let layer = layer_by_name(layer_name, &scenario.config, &scenario.model_options)?;
    let name = format!("{layer_name}+fewest-gpus");
    let mut custom = Model::new(&name, layer, Box::new(FewestGpusFirst));
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(scenario.seed);
    let mine = simulate(&scenario, &mut custom, &mut rng);
    // A built-in model for comparison, by name.
    let builtin = cellsim::sim::run_model(&scenario, layer_name)?;
    println!("scenario {}: {} jobs", scenario.name, scenario.jobs.len());
    print(&builtin);
    print(&mine);
    Ok(())
}

/// Per VC: jobs, mean wait (submit to first start) and mean queueing delay (plus every
/// re-queue period), in seconds.
fn print(run: &RunResult) {
    let summary = summarize(run);
    println!("\n{}", run.model);
    println!(
        "  {:<10} {:>5} {:>12} {:>16}",
        "vc", "jobs", "mean wait", "mean queue delay"
    );
    for (vc, m) in &summary.vcs {
        let mean =
            |s: Option<cellsim::report::Stats>| s.map_or("-".to_string(), |s| seconds(s.mean));
        println!(
            "  {:<10} {:>5} {:>12} {:>16}",
            vc,
            m.jobs.jobs,
            mean(m.jobs.wait_ms),
            mean(m.jobs.queue_delay_ms)
        );
    }
}
