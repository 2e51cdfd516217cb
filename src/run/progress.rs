//! Progress bars for long runs, with `indicatif`. A [`Progress`] is made once per command
//! from what the user asked (`--quiet`) and whether stderr is a terminal: when it is not,
//! or when asked to be quiet, every bar it hands out is hidden and its updates return at
//! once. Otherwise a run's bar starts hidden and appears only once the run has taken more
//! than [`SHOW_AFTER`], so quick runs print nothing. [`crate::run::simulate`] runs one
//! model of a scenario with such a bar, fed by the engine's progress hook
//! ([`crate::sim::simulate_with_progress`]).
//!
//! This module only draws on stderr; it never changes what a run computes.

use std::cell::Cell;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::sim::{Scenario, SimTimeMs};

/// A run's bar stays hidden until the run has lasted this long.
pub const SHOW_AFTER: Duration = Duration::from_secs(1);

/// Where progress goes for one command: hidden bars, or bars on stderr shown after
/// [`SHOW_AFTER`]. Cheap to make; share it by reference across runs, also across threads:
/// runs at the same time each get a line of their own.
#[derive(Debug, Clone)]
pub struct Progress {
    /// Whether bars may ever be drawn (stderr is a terminal and not quiet).
    enabled: bool,
    /// How long a run's bar stays hidden.
    show_after: Duration,
    /// Draws the shown bars of runs going on at once, one line each, on stderr.
    lines: MultiProgress,
}

impl Progress {
    /// Bars on stderr if it is a terminal and `quiet` is false; hidden bars otherwise.
    pub fn new(quiet: bool) -> Progress {
        Progress::for_terminal(std::io::stderr().is_terminal(), quiet)
    }

    /// Progress that never draws anything (tests, libraries, batch runs).
    pub fn hidden() -> Progress {
        Progress::for_terminal(false, true)
    }

    /// [`Progress::new`] with the terminal check given, so that it can be tested.
    fn for_terminal(stderr_is_terminal: bool, quiet: bool) -> Progress {
        Progress {
            enabled: stderr_is_terminal && !quiet,
            show_after: SHOW_AFTER,
            lines: MultiProgress::new(),
        }
    }

    /// True when no bar of this progress will ever be drawn.
    pub fn is_hidden(&self) -> bool {
        !self.enabled
    }

    /// A bar for one run labelled `label` (e.g. `hived`), counting engine events up to
    /// `expected_events` (see [`expected_events`]). It starts hidden; see
    /// [`RunProgress::update`].
    pub fn run_bar(&self, label: &str, expected_events: u64) -> RunProgress {
        let bar = ProgressBar::with_draw_target(
            Some(expected_events.max(1)),
            ProgressDrawTarget::hidden(),
        );
        if self.enabled {
            let style =
                ProgressStyle::with_template("{prefix:>10} [{elapsed_precise}] {wide_bar} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar());
            bar.set_style(style);
            bar.set_prefix(label.to_string());
        }
        RunProgress {
            bar,
            enabled: self.enabled,
            started: Instant::now(),
            show_after: self.show_after,
            shown: Cell::new(false),
            lines: self.lines.clone(),
        }
    }

    /// A bar counting `total` units of work (sweep points) labelled `label`, shown at
    /// once when bars may be drawn (a sweep is long by nature), hidden otherwise. It may
    /// be shared across threads: `inc` is atomic.
    pub fn count_bar(&self, label: &str, total: u64) -> ProgressBar {
        if !self.enabled {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::new(total);
        let style = ProgressStyle::with_template(
            "{prefix:>10} [{elapsed_precise}] {wide_bar} {pos}/{len} (eta {eta})",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_prefix(label.to_string());
        bar
    }
}

/// The bar of one run, fed by the engine's progress hook. Not shared across threads: one
/// run, one thread.
#[derive(Debug)]
pub struct RunProgress {
    bar: ProgressBar,
    enabled: bool,
    started: Instant,
    show_after: Duration,
    shown: Cell<bool>,
    /// The command's bar lines, which this bar joins when it shows.
    lines: MultiProgress,
}

impl RunProgress {
    /// The engine reached `now_ms` after `events` events. Does nothing for hidden
    /// progress; otherwise shows the bar once the run has lasted long enough, then moves it.
    pub fn update(&self, now_ms: SimTimeMs, events: u64) {
        if !self.enabled {
            return;
        }
        if !self.shown.get() {
            if self.started.elapsed() < self.show_after {
                return;
            }
            self.lines.add(self.bar.clone());
            self.shown.set(true);
        }
        // Preemptions and failures add events beyond the estimate: hold at the end.
        self.bar
            .set_position(events.min(self.bar.length().unwrap_or(events)));
        self.bar
            .set_message(format!("{events} events, simulated {}", fmt_time(now_ms)));
    }

    /// True once the bar has been put on stderr (it may still be hidden by indicatif when
    /// stderr turns out not to be a terminal).
    pub fn was_shown(&self) -> bool {
        self.shown.get()
    }

    /// The underlying bar, for callers that want to print around it.
    pub fn bar(&self) -> &ProgressBar {
        &self.bar
    }

    /// The run is over: clear the bar (if it was drawn) so the next output starts clean.
    pub fn finish(&self) {
        if self.shown.get() {
            self.bar.finish_and_clear();
            self.lines.remove(&self.bar);
        }
    }
}

/// A simulation time in the one format of durations.
fn fmt_time(ms: SimTimeMs) -> String {
    crate::time::human_duration(ms)
}

/// The events a run of `scenario` handles when nothing is preempted, killed or fails: a
/// submit per job, a finish per group, a kill per job with a kill time, and the node
/// events. The bar's length; preemptions and failures add a few more.
pub fn expected_events(scenario: &Scenario) -> u64 {
    let jobs = scenario.jobs.len();
    let groups: usize = scenario.jobs.iter().map(|j| j.groups.len()).sum();
    let kills = scenario
        .jobs
        .iter()
        .filter(|j| j.kill_at_ms.is_some())
        .count();
    (jobs + groups + kills + scenario.node_events.len()) as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched;
    use crate::sim::simulate_with_progress;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn progress_off_a_terminal_is_hidden_and_does_nothing() {
        let mut progress = Progress::for_terminal(false, false);
        assert!(progress.is_hidden());
        // Even with no delay at all, a hidden progress never puts its bar on stderr.
        progress.show_after = Duration::ZERO;
        let bar = progress.run_bar("hived", 1_000);
        for t in 0..100 {
            bar.update(t * 10, t);
        }
        assert!(!bar.was_shown());
        assert!(bar.bar().is_hidden());
        assert_eq!(
            bar.bar().position(),
            0,
            "hidden updates do not even move the bar"
        );
        bar.finish();
        assert!(!bar.bar().is_finished());
    }

    #[test]
    fn quiet_hides_progress_even_on_a_terminal() {
        assert!(Progress::for_terminal(true, true).is_hidden());
        assert!(Progress::hidden().is_hidden());
        assert!(!Progress::for_terminal(true, false).is_hidden());
    }

    #[test]
    fn a_terminal_bar_waits_before_it_shows() {
        let progress = Progress::for_terminal(true, false);
        let bar = progress.run_bar("yarn-cs", 1_000);
        bar.update(500, 10);
        assert!(
            !bar.was_shown(),
            "a run shorter than a second shows nothing"
        );
        assert!(bar.bar().is_hidden());
    }

    #[test]
    fn a_terminal_bar_shows_once_the_run_is_long() {
        let mut progress = Progress::for_terminal(true, false);
        progress.show_after = Duration::ZERO;
        let bar = progress.run_bar("fifo", 1_000);
        bar.update(5_000, 5_000);
        assert!(bar.was_shown());
        assert_eq!(bar.bar().position(), 1_000, "clamped to the bar's length");
        bar.finish();
    }

    #[test]
    fn the_expected_events_are_the_events_of_a_run_without_preemption() {
        let text = "name: t
cluster:
  inline:
    physicalCluster:
      cellTypes:
        GPU-NODE: {childCellType: GPU, childCellNumber: 1, isNodeLevel: true}
        GPU-NODE-POOL: {childCellType: GPU-NODE, childCellNumber: 2}
      physicalCells:
      - cellType: GPU-NODE-POOL
        cellChildren: [{cellAddress: carol}, {cellAddress: dan}]
    virtualClusters:
      default: {virtualCells: [{cellType: GPU-NODE-POOL.GPU-NODE, cellNumber: 2}]}
jobs:
- {id: gang, duration: 1m, request: {tasks: [{instances: 2, gpus: 1}]}}
- {id: inc, submit: 30s, duration: 1m, request: {gang: false, tasks: [{instances: 2, gpus: 1}]}}
";
        let s =
            crate::sim::scenario::load_str(text, "t.yaml", std::path::Path::new("."), "t").unwrap();
        assert_eq!(expected_events(&s), 2 + 3);
        let mut model = sched::model_by_name("hived", &s.config).unwrap();
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let last = Cell::new(0);
        simulate_with_progress(&s, model.as_mut(), &mut rng, &|_, n| last.set(n));
        assert_eq!(last.get(), expected_events(&s));
        let run = crate::run::simulate(&s, "hived", &Progress::hidden()).unwrap();
        assert_eq!(run, crate::sim::run_model(&s, "hived").unwrap());
    }

    #[test]
    fn times_print_as_hours_minutes_seconds() {
        assert_eq!(fmt_time(0), "0s");
        assert_eq!(fmt_time(3_723_999), "01:02:03");
    }
}
