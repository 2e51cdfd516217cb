//! The five scheduling labs of the course (`spec/labs.md`) reproduced in simulation: VC
//! safety, priority and preemption, an opportunistic job, gang and incremental scheduling,
//! on the two lab clusters. The lab files of `scenarios/labs/` (two HiveD cluster configs,
//! the project's OpenPAI job files and one scenario per lab) are compiled in, so
//! `cellsim lab` runs from any folder and gives the same results as
//! `cellsim run scenarios/labs/<lab>.yaml`.
//!
//! [`run_lab`] runs a lab's scenario and reads off the `hived` run's events a timeline (one
//! line per job, [`timeline`]) and the answers to the lab's questions in plain sentences
//! ([`answers`]). Every time, node and job an answer names comes from the events; when the
//! events do not show what the course expects, the answer says what happened instead.
//! [`write_lab`] writes a lab's reports. This module owns no scheduling: the engine and
//! the models do the work, and the lab scenarios only choose submit times and durations.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::config::{CellConfig, PhysicalCellSpec};
use crate::report::plots::{GroupRun, RunEnd, escape_xml, group_runs};
use crate::report::{self, Export, WriteError};
use crate::sim::{self, PodSpot, RunResult, Scenario, ScenarioError, SimEvent, SimJob, SimTimeMs};

/// The model whose run answers the labs' questions (the course's scheduler).
pub const ANSWER_MODEL: &str = crate::sched::hived::NAME;

/// The labs' names as `cellsim lab` spells them, in course order.
pub const LAB_NAMES: [&str; 5] = [
    "vc-safety",
    "priority",
    "opportunistic",
    "gang",
    "incremental",
];

/// The files of `scenarios/labs/`, compiled in: (path relative to that folder, content).
const LAB_FILES: [(&str, &str); 18] = [
    (
        "cluster-a.yaml",
        include_str!("../scenarios/labs/cluster-a.yaml"),
    ),
    (
        "cluster-b.yaml",
        include_str!("../scenarios/labs/cluster-b.yaml"),
    ),
    (
        "vc-safety.yaml",
        include_str!("../scenarios/labs/vc-safety.yaml"),
    ),
    (
        "priority.yaml",
        include_str!("../scenarios/labs/priority.yaml"),
    ),
    (
        "opportunistic.yaml",
        include_str!("../scenarios/labs/opportunistic.yaml"),
    ),
    ("gang.yaml", include_str!("../scenarios/labs/gang.yaml")),
    (
        "incremental.yaml",
        include_str!("../scenarios/labs/incremental.yaml"),
    ),
    (
        "jobs/job0-mnist-vc1-prod.yaml",
        include_str!("../scenarios/labs/jobs/job0-mnist-vc1-prod.yaml"),
    ),
    (
        "jobs/job1-sleeper-vc1-test.yaml",
        include_str!("../scenarios/labs/jobs/job1-sleeper-vc1-test.yaml"),
    ),
    (
        "jobs/job2-sleeper-vc1-prod.yaml",
        include_str!("../scenarios/labs/jobs/job2-sleeper-vc1-prod.yaml"),
    ),
    (
        "jobs/job3-sleeper-vc1-prod.yaml",
        include_str!("../scenarios/labs/jobs/job3-sleeper-vc1-prod.yaml"),
    ),
    (
        "jobs/job4-sleeper-vc1-oppo.yaml",
        include_str!("../scenarios/labs/jobs/job4-sleeper-vc1-oppo.yaml"),
    ),
    (
        "jobs/job5-sleeper-default-prod.yaml",
        include_str!("../scenarios/labs/jobs/job5-sleeper-default-prod.yaml"),
    ),
    (
        "jobs/job6-mnist-gang2-default-prod.yaml",
        include_str!("../scenarios/labs/jobs/job6-mnist-gang2-default-prod.yaml"),
    ),
    (
        "jobs/job7-mnist-incremental2-default-prod.yaml",
        include_str!("../scenarios/labs/jobs/job7-mnist-incremental2-default-prod.yaml"),
    ),
    (
        "jobs/extra-mnist-default-test.yaml",
        include_str!("../scenarios/labs/jobs/extra-mnist-default-test.yaml"),
    ),
    (
        "jobs/extra-mnist-gang4-default-prod.yaml",
        include_str!("../scenarios/labs/jobs/extra-mnist-gang4-default-prod.yaml"),
    ),
    (
        "jobs/extra-mnist-incremental4-default-prod.yaml",
        include_str!("../scenarios/labs/jobs/extra-mnist-incremental4-default-prod.yaml"),
    ),
];

/// One of the five labs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Lab {
    /// Lab 1: guaranteed jobs use only their own VC's cells (cluster A).
    VcSafety,
    /// Lab 2: a prod job preempts a test job of the same VC (cluster A).
    Priority,
    /// Lab 3: an opportunistic job borrows an idle cell of another VC and is preempted
    /// when that VC needs it (cluster A).
    Opportunistic,
    /// Lab 4: a gang job starts all its tasks together or not at all (cluster B).
    Gang,
    /// Lab 5: an incremental job starts each task as soon as a GPU frees (cluster B).
    Incremental,
}

impl Lab {
    /// Every lab, in course order.
    pub const ALL: [Lab; 5] = [
        Lab::VcSafety,
        Lab::Priority,
        Lab::Opportunistic,
        Lab::Gang,
        Lab::Incremental,
    ];

    /// The lab's number in the course (1 to 5).
    pub fn number(self) -> u8 {
        match self {
            Lab::VcSafety => 1,
            Lab::Priority => 2,
            Lab::Opportunistic => 3,
            Lab::Gang => 4,
            Lab::Incremental => 5,
        }
    }

    /// The name `cellsim lab` takes, e.g. `vc-safety`; also its output folder.
    pub fn name(self) -> &'static str {
        LAB_NAMES[usize::from(self.number() - 1)]
    }

    /// A title for people, e.g. `Lab 1: VC safety`.
    pub fn title(self) -> &'static str {
        match self {
            Lab::VcSafety => "Lab 1: VC safety",
            Lab::Priority => "Lab 2: priority and preemption",
            Lab::Opportunistic => "Lab 3: an opportunistic job",
            Lab::Gang => "Lab 4: gang scheduling",
            Lab::Incremental => "Lab 5: incremental scheduling",
        }
    }

    /// The scenario file, relative to `scenarios/labs/`.
    pub fn scenario_file(self) -> String {
        format!("{}.yaml", self.name())
    }

    /// The lab's questions, in the order [`answers`] answers them.
    pub fn questions(self) -> &'static [&'static str] {
        match self {
            Lab::VcSafety => &[
                "Where do the jobs run?",
                "What happens to the waiting vc1 jobs while the default VC's machine is idle?",
            ],
            Lab::Priority => &[
                "Does the later (prod) job wait for the earlier (test) one?",
                "When do both jobs finish?",
            ],
            Lab::Opportunistic => &[
                "When does the oppo job start, and does it wait for the prod job?",
                "What happens when a test job is then submitted to the default VC?",
            ],
            Lab::Gang => &[
                "When does the second (gang) job start?",
                "Do its two tasks start one after the other?",
            ],
            Lab::Incremental => &[
                "When do the two tasks of the incremental job start?",
                "Can a gang job ask for more GPUs (4) than the cluster has?",
                "And an incremental job of 4 tasks?",
            ],
        }
    }
}

impl fmt::Display for Lab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Lab {
    type Err = String;

    fn from_str(s: &str) -> Result<Lab, String> {
        Lab::ALL
            .into_iter()
            .find(|lab| lab.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown lab {s:?}; use one of: {} (or all)",
                    LAB_NAMES.join(", ")
                )
            })
    }
}

/// The labs `cellsim lab NAME` means: one lab by name, or every lab for `all`.
pub fn selection(name: &str) -> Result<Vec<Lab>, String> {
    if name == "all" {
        Ok(Lab::ALL.to_vec())
    } else {
        name.parse().map(|lab| vec![lab])
    }
}

/// Why a lab could not be run or written. None is recoverable for that lab.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LabError {
    /// The lab's compiled-in scenario did not load (a bug in `scenarios/labs/`).
    #[error("lab {lab}: {source}")]
    Scenario {
        /// The lab.
        lab: Lab,
        /// The scenario error.
        source: ScenarioError,
    },
    /// A model of the lab's scenario could not run (a bug in `scenarios/labs/`).
    #[error("lab {lab}: model {model}: {message}")]
    Model {
        /// The lab.
        lab: Lab,
        /// The model.
        model: String,
        /// What went wrong.
        message: String,
    },
    /// A file could not be written (the lab files into a temporary folder, or a report).
    #[error(transparent)]
    Write(#[from] WriteError),
}

/// A lab question with its answer, read off the events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The question, as the lab asks it.
    pub question: String,
    /// The answer in plain sentences.
    pub answer: String,
}

/// What running a lab gives: its scenario, one run per model, and the timeline and
/// answers read off the `hived` run.
#[derive(Debug, Clone)]
pub struct LabOutcome {
    /// The lab.
    pub lab: Lab,
    /// The lab's scenario, as loaded.
    pub scenario: Scenario,
    /// One run per model of the scenario, in the scenario's order (`hived` first).
    pub runs: Vec<RunResult>,
    /// One line per job of the `hived` run ([`timeline`]).
    pub timeline: Vec<String>,
    /// The answers to the lab's questions, then comparisons with the other models.
    pub answers: Vec<Answer>,
}

impl LabOutcome {
    /// The run whose events answer the questions.
    pub fn answer_run(&self) -> &RunResult {
        self.runs
            .iter()
            .find(|r| r.model == ANSWER_MODEL)
            .unwrap_or(&self.runs[0])
    }

    /// Title, timeline and answers as text, as `cellsim lab` prints them.
    pub fn text(&self) -> String {
        let mut out = format!(
            "{} ({}, model {})\n\nTimeline:\n",
            self.lab.title(),
            self.scenario.source,
            self.answer_run().model
        );
        for line in &self.timeline {
            out.push_str(&format!("  {line}\n"));
        }
        for answer in &self.answers {
            out.push_str(&format!("\nQ: {}\nA: {}\n", answer.question, answer.answer));
        }
        out
    }
}

// ---------------------------------------------------------------------------------------
// Loading and running.

/// A folder holding a copy of the lab files, removed when dropped.
struct LabFolder(PathBuf);

impl LabFolder {
    fn write() -> Result<LabFolder, WriteError> {
        // Unique per process and call, so parallel runs (tests) never share a folder.
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "cellsim-labs-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        // A leftover of an earlier process with the same id.
        let _ = std::fs::remove_dir_all(&dir);
        let folder = LabFolder(dir);
        for (path, text) in LAB_FILES {
            let file = folder.0.join(path);
            let parent = file.parent().unwrap_or(&folder.0);
            std::fs::create_dir_all(parent).map_err(|source| WriteError {
                path: parent.to_path_buf(),
                source,
            })?;
            std::fs::write(&file, text).map_err(|source| WriteError { path: file, source })?;
        }
        Ok(folder)
    }
}

impl Drop for LabFolder {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The lab's scenario, loaded from the compiled-in copy of `scenarios/labs/`.
pub fn scenario(lab: Lab) -> Result<Scenario, LabError> {
    // The scenario names its cluster and job files by relative paths: write the compiled-in
    // copies to a temporary folder and load from there, so no checkout is needed.
    let folder = LabFolder::write()?;
    let file = lab.scenario_file();
    let mut scenario = sim::scenario::load_file(&folder.0.join(&file))
        .map_err(|source| LabError::Scenario { lab, source })?;
    scenario.source = format!("scenarios/labs/{file}");
    Ok(scenario)
}

/// Runs `lab`'s scenario with each of its models and reads the timeline and the answers
/// off the `hived` run.
pub fn run_lab(lab: Lab) -> Result<LabOutcome, LabError> {
    let scenario = scenario(lab)?;
    let mut runs = Vec::new();
    for model in &scenario.models {
        let run = sim::run_model(&scenario, model).map_err(|message| LabError::Model {
            lab,
            model: model.clone(),
            message,
        })?;
        runs.push(run);
    }
    let Some(run) = runs.iter().find(|r| r.model == ANSWER_MODEL) else {
        return Err(LabError::Model {
            lab,
            model: ANSWER_MODEL.to_string(),
            message: "the lab's scenario does not run the hived model; add it to `models`"
                .to_string(),
        });
    };
    let timeline = timeline(&scenario, run);
    let mut answers = answers(lab, &scenario, run);
    for other in runs.iter().filter(|r| r.model != ANSWER_MODEL) {
        answers.extend(comparison(lab, &scenario, run, other));
    }
    Ok(LabOutcome {
        lab,
        scenario,
        runs,
        timeline,
        answers,
    })
}

/// Writes a lab's reports into `dir`: per model `dir/<model>/` (the files of
/// `cellsim run`), `dir/report.html` (all models side by side, opening with the lab's
/// questions, answers and timeline) and `dir/answers.txt` ([`LabOutcome::text`]).
/// Returns the path of `report.html`.
pub fn write_lab(outcome: &LabOutcome, dir: &Path) -> Result<PathBuf, WriteError> {
    for run in &outcome.runs {
        report::write_run(&dir.join(&run.model), run)?;
    }
    let page = report::report_export(&outcome.scenario.name, &outcome.runs);
    let html = String::from_utf8_lossy(&page.bytes).into_owned();
    let files = [
        Export {
            file_name: page.file_name,
            bytes: with_lab_section(&html, outcome).into_bytes(),
        },
        Export {
            file_name: "answers.txt".to_string(),
            bytes: outcome.text().into_bytes(),
        },
    ];
    let written = report::write_exports(dir, &files)?;
    Ok(written[0].clone())
}

/// `html` with a section of the lab's questions, answers and timeline after its header.
fn with_lab_section(html: &str, outcome: &LabOutcome) -> String {
    let mut section = format!(
        "<section>\n<h2>{} — questions and answers (model {})</h2>\n<div class=\"panel\">\n",
        escape_xml(outcome.lab.title()),
        escape_xml(&outcome.answer_run().model)
    );
    for answer in &outcome.answers {
        section.push_str(&format!(
            "<p><b>{}</b><br>\n{}</p>\n",
            escape_xml(&answer.question),
            escape_xml(&answer.answer)
        ));
    }
    section.push_str("<h3>Timeline</h3>\n<pre style=\"white-space:pre-wrap\">");
    for line in &outcome.timeline {
        section.push_str(&escape_xml(line));
        section.push('\n');
    }
    section.push_str("</pre>\n</div>\n</section>\n");
    // The page's header ends once; put the lab first after it (or at the end otherwise).
    match html.find("</header>\n") {
        Some(i) => {
            let at = i + "</header>\n".len();
            format!("{}{section}{}", &html[..at], &html[at..])
        }
        None => match html.rfind("</body>") {
            Some(at) => format!("{}{section}{}", &html[..at], &html[at..]),
            None => format!("{html}{section}"),
        },
    }
}

// ---------------------------------------------------------------------------------------
// Reading the events.

/// What the events say about one job.
struct JobFacts<'a> {
    spec: &'a SimJob,
    /// Its group runs, by start time.
    runs: Vec<&'a GroupRun>,
    /// (time, group, reason) of each logged wait.
    waits: Vec<(SimTimeMs, &'a str, &'a str)>,
    /// (time, group, preemptor, where) of each preemption it suffered.
    preempted: Vec<(SimTimeMs, &'a str, &'a str, &'a [PodSpot])>,
    /// (time, victim job) of each preemption it caused.
    preempting: Vec<(SimTimeMs, &'a str)>,
    rejected: Option<(SimTimeMs, &'a str)>,
    finished: Option<SimTimeMs>,
    killed: Option<SimTimeMs>,
}

impl JobFacts<'_> {
    fn id(&self) -> &str {
        &self.spec.id
    }

    /// `job2-prod (vc1, prod)`.
    fn who(&self) -> String {
        format!(
            "{} ({}, {})",
            self.spec.id, self.spec.vc, self.spec.priority_label
        )
    }

    fn first_start(&self) -> Option<SimTimeMs> {
        self.runs.iter().map(|r| r.start_ms).min()
    }

    /// When its last run ended, if it finished.
    fn end(&self) -> Option<SimTimeMs> {
        self.finished
    }

    fn nodes(&self) -> BTreeSet<&str> {
        self.runs
            .iter()
            .flat_map(|r| r.pods.iter().map(|p| p.node.as_str()))
            .collect()
    }

    fn first_wait_reason(&self) -> Option<&str> {
        self.waits.first().map(|w| w.2)
    }
}

/// The events of one run, indexed for the questions.
struct Facts<'a> {
    scenario: &'a Scenario,
    run: &'a RunResult,
    runs: Vec<GroupRun>,
    /// Nodes whose cells each VC's virtual cells can bind to.
    vc_nodes: BTreeMap<String, BTreeSet<String>>,
}

impl<'a> Facts<'a> {
    fn new(scenario: &'a Scenario, run: &'a RunResult) -> Facts<'a> {
        Facts {
            scenario,
            run,
            runs: group_runs(run),
            vc_nodes: vc_nodes(&scenario.config),
        }
    }

    /// The scenario's job number `index` (file order).
    fn job(&self, index: usize) -> Option<JobFacts<'_>> {
        let spec = self.scenario.jobs.get(index)?;
        let id = spec.id.as_str();
        let mut facts = JobFacts {
            spec,
            runs: self.runs.iter().filter(|r| r.job == id).collect(),
            waits: Vec::new(),
            preempted: Vec::new(),
            preempting: Vec::new(),
            rejected: None,
            finished: None,
            killed: None,
        };
        for event in &self.run.events {
            match event {
                SimEvent::GroupWaiting {
                    t,
                    job,
                    group,
                    reason,
                } if job == id => facts.waits.push((*t, group, reason)),
                SimEvent::GroupPreempted {
                    t,
                    job,
                    group,
                    by,
                    pods,
                    ..
                } => {
                    if job == id {
                        facts.preempted.push((*t, group, by, pods));
                    }
                    if by == id {
                        facts.preempting.push((*t, job));
                    }
                }
                SimEvent::JobRejected { t, job, reason } if job == id => {
                    facts.rejected = Some((*t, reason));
                }
                SimEvent::JobFinished { t, job } if job == id => facts.finished = Some(*t),
                SimEvent::JobKilled { t, job } if job == id => facts.killed = Some(*t),
                _ => {}
            }
        }
        Some(facts)
    }

    fn jobs(&self) -> Vec<JobFacts<'_>> {
        (0..self.scenario.jobs.len())
            .filter_map(|i| self.job(i))
            .collect()
    }

    /// Runs of jobs other than `except` on `node` that overlap `[from, to)`.
    fn busy_on(&self, node: &str, from: SimTimeMs, to: SimTimeMs, except: &str) -> Vec<&GroupRun> {
        self.runs
            .iter()
            .filter(|r| r.job != except && r.pods.iter().any(|p| p.node == node))
            .filter(|r| r.start_ms < to && r.end_ms > from)
            .collect()
    }

    /// A run of another job than `except` that left `node` at exactly `t`.
    fn freed_at(&self, node: &str, t: SimTimeMs, except: &str) -> Option<&GroupRun> {
        self.runs.iter().find(|r| {
            r.job != except
                && r.end_ms == t
                && r.end != RunEnd::Running
                && r.pods.iter().any(|p| p.node == node)
        })
    }

    /// `node` as "VC default's machine" (with `adjective` before "machine"), from the VCs
    /// whose cells live on it.
    fn owner_text(&self, node: &str, adjective: &str) -> String {
        let owners: Vec<&str> = self
            .vc_nodes
            .iter()
            .filter(|(_, nodes)| nodes.contains(node))
            .map(|(vc, _)| vc.as_str())
            .collect();
        let machine = if adjective.is_empty() {
            "machine".to_string()
        } else {
            format!("{adjective} machine")
        };
        match owners.as_slice() {
            [] => format!("a {machine} of no VC"),
            [vc] => format!("VC {vc}'s {machine}"),
            many => format!("a {machine} of VCs {}", list(many)),
        }
    }

    /// The last time a run of another job than `except` left `node` before `t`, or 0 when
    /// none ran there before.
    fn idle_since(&self, node: &str, t: SimTimeMs, except: &str) -> SimTimeMs {
        self.runs
            .iter()
            .filter(|r| r.job != except && r.pods.iter().any(|p| p.node == node))
            .filter(|r| r.end_ms <= t)
            .map(|r| r.end_ms)
            .max()
            .unwrap_or(0)
    }
}

/// Nodes under each VC's cells: every node of the chains its virtual cells name, and the
/// nodes of its pinned cells.
fn vc_nodes(config: &CellConfig) -> BTreeMap<String, BTreeSet<String>> {
    fn nodes_under(config: &CellConfig, cell: &PhysicalCellSpec, out: &mut BTreeSet<String>) {
        if config
            .cell_types
            .get(&cell.cell_type)
            .is_some_and(|t| t.is_node_level)
        {
            out.insert(cell.address.clone());
        } else {
            for child in &cell.children {
                nodes_under(config, child, out);
            }
        }
    }
    config
        .virtual_clusters
        .iter()
        .map(|(vc, spec)| {
            let mut nodes = BTreeSet::new();
            for virtual_cell in &spec.virtual_cells {
                for cell in config
                    .physical_cells
                    .iter()
                    .filter(|c| c.cell_type == virtual_cell.chain)
                {
                    nodes_under(config, cell, &mut nodes);
                }
            }
            for id in &spec.pinned_cells {
                if let Some((cell, _)) = config.pinned_cell(id) {
                    nodes_under(config, cell, &mut nodes);
                }
            }
            (vc.clone(), nodes)
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Words.

/// A time since the scenario start, in the one format of durations
/// ([`crate::time::human_duration`]: `42.5s`, `00:05:30`, `3d 04:05:06`).
pub fn clock(ms: SimTimeMs) -> String {
    crate::time::human_duration(ms)
}

/// A duration, in the same format.
fn span(ms: SimTimeMs) -> String {
    crate::time::human_duration(ms)
}

/// `hostname-dan GPU 0`, pods joined by "and".
fn pods_text(pods: &[PodSpot]) -> String {
    if pods.is_empty() {
        return "no GPU".to_string();
    }
    let each: Vec<String> = pods
        .iter()
        .map(|p| {
            let devices: Vec<String> = p.devices.iter().map(u32::to_string).collect();
            let word = if p.devices.len() == 1 { "GPU" } else { "GPUs" };
            format!("{} {word} {}", p.node, devices.join(","))
        })
        .collect();
    list(&each)
}

/// `a`, `a and b`, `a, b and c`.
fn list<S: AsRef<str>>(items: &[S]) -> String {
    match items {
        [] => String::new(),
        [one] => one.as_ref().to_string(),
        [init @ .., last] => format!(
            "{} and {}",
            init.iter()
                .map(|s| s.as_ref())
                .collect::<Vec<_>>()
                .join(", "),
            last.as_ref()
        ),
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

/// A group as people name it: the task part of `job/task`, or the job for a gang group.
fn task_name(run: &GroupRun) -> &str {
    let task = run
        .group
        .strip_prefix(&format!("{}/", run.job))
        .unwrap_or(&run.group);
    if task == "default" { &run.job } else { task }
}

/// One line per job: VC, priority, GPUs, submit time, each run (where, how it ended) and
/// the outcome, read off `run`'s events.
pub fn timeline(scenario: &Scenario, run: &RunResult) -> Vec<String> {
    let facts = Facts::new(scenario, run);
    let jobs = facts.jobs();
    let what = |job: &JobFacts| {
        let gpus = job.spec.gpus();
        let s = if gpus == 1 { "" } else { "s" };
        format!("{}/{}, {gpus} GPU{s}", job.spec.vc, job.spec.priority_label)
    };
    let width = jobs.iter().map(|j| j.id().len()).max().unwrap_or(0);
    let what_width = jobs.iter().map(|j| what(j).len()).max().unwrap_or(0);
    jobs.iter()
        .map(|job| {
            let mut line = format!(
                "{:<width$}  {:<what_width$}  submitted {}",
                job.id(),
                what(job),
                clock(job.spec.submit_ms)
            );
            let several_groups = job.spec.groups.len() > 1;
            let runs: Vec<String> = job
                .runs
                .iter()
                .map(|r| {
                    let task = if several_groups {
                        format!("{} ", task_name(r))
                    } else {
                        String::new()
                    };
                    let how = match r.end {
                        RunEnd::Finished => String::new(),
                        RunEnd::Preempted => {
                            let by = job
                                .preempted
                                .iter()
                                .find(|p| p.0 == r.end_ms && p.1 == r.group)
                                .map_or("?", |p| p.2);
                            format!(" (preempted by {by})")
                        }
                        RunEnd::Killed => " (killed)".to_string(),
                        RunEnd::NodeDown => " (node went down)".to_string(),
                        RunEnd::Restarted => " (restarted)".to_string(),
                        RunEnd::Running => " (still running)".to_string(),
                    };
                    format!(
                        "{task}ran {}-{} on {}{how}",
                        clock(r.start_ms),
                        clock(r.end_ms),
                        pods_text(&r.pods)
                    )
                })
                .collect();
            if !runs.is_empty() {
                line.push_str(&format!("; {}", runs.join("; ")));
            }
            let outcome = if let Some(t) = job.finished {
                format!("finished {}", clock(t))
            } else if let Some((t, _)) = job.rejected {
                format!("rejected {}", clock(t))
            } else if let Some(t) = job.killed {
                format!("killed {}", clock(t))
            } else if job.runs.iter().any(|r| r.end == RunEnd::Running) {
                format!("still running at {}", clock(run.end_ms))
            } else {
                format!("still waiting at {}", clock(run.end_ms))
            };
            line.push_str(&format!("; {outcome}"));
            line
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// The answers.

/// The answers to `lab`'s questions (in [`Lab::questions`] order), read off `run`, a run
/// of `scenario` (the lab's scenario: the answers find its jobs by their order in it).
pub fn answers(lab: Lab, scenario: &Scenario, run: &RunResult) -> Vec<Answer> {
    let facts = Facts::new(scenario, run);
    let texts = match lab {
        Lab::VcSafety => vc_safety(&facts),
        Lab::Priority => priority(&facts),
        Lab::Opportunistic => opportunistic(&facts),
        Lab::Gang => gang(&facts),
        Lab::Incremental => incremental(&facts),
    };
    lab.questions()
        .iter()
        .zip(texts)
        .map(|(q, a)| Answer {
            question: q.to_string(),
            answer: a,
        })
        .collect()
}

/// Where a preempted group restarts: from zero, or from its last checkpoint.
fn restart_from(f: &Facts) -> &'static str {
    if f.scenario.checkpoint_interval_ms.is_some() {
        "from its last checkpoint"
    } else {
        "from zero"
    }
}

/// What a lab's jobs were expected to have but the scenario does not.
fn missing(what: &str) -> String {
    format!("The scenario has no {what}, so the events cannot answer this.")
}

fn vc_safety(f: &Facts) -> Vec<String> {
    let jobs = f.jobs();
    if jobs.is_empty() {
        return vec![missing("jobs"); 2];
    }
    let vcs: BTreeSet<&str> = jobs.iter().map(|j| j.spec.vc.as_str()).collect();
    let vc_words = match vcs.iter().collect::<Vec<_>>().as_slice() {
        [vc] => format!("{vc} jobs"),
        _ => "jobs".to_string(),
    };
    let mut runs: Vec<&GroupRun> = jobs.iter().flat_map(|j| j.runs.iter().copied()).collect();
    runs.sort_by_key(|r| (r.start_ms, r.end_ms));
    let nodes: BTreeSet<&str> = jobs.iter().flat_map(|j| j.nodes()).collect();
    let sequential = runs.windows(2).all(|w| w[1].start_ms >= w[0].end_ms);
    let never: Vec<&str> = jobs
        .iter()
        .filter(|j| j.runs.is_empty())
        .map(|j| j.id())
        .collect();
    let starts: Vec<String> = runs.iter().map(|r| clock(r.start_ms)).collect();

    // Where.
    let mut where_ = match nodes.iter().collect::<Vec<_>>().as_slice() {
        [] => format!("None of the {} {vc_words} started.", jobs.len()),
        [node] => format!(
            "{} {} {vc_words} ran on {node}, {} (starts at {}).",
            if never.is_empty() { "All" } else { "The" },
            jobs.len() - never.len(),
            if sequential {
                "one after another"
            } else {
                "some of them at the same time"
            },
            list(&starts)
        ),
        _ => {
            let each: Vec<String> = runs
                .iter()
                .map(|r| {
                    format!(
                        "{} on {} at {}",
                        r.job,
                        pods_text(&r.pods),
                        clock(r.start_ms)
                    )
                })
                .collect();
            format!(
                "The {vc_words} ran on {} machines: {}{}.",
                nodes.len(),
                list(&each),
                if sequential {
                    ", one after another"
                } else {
                    ", some of them at the same time"
                }
            )
        }
    };
    if !never.is_empty() {
        where_.push_str(&format!(" {} never started.", list(&never)));
    }

    // Waiting while another VC's machine is idle.
    let own: BTreeSet<&str> = vcs
        .iter()
        .filter_map(|vc| f.vc_nodes.get(*vc))
        .flatten()
        .map(String::as_str)
        .collect();
    let others: Vec<&str> = f
        .run
        .nodes
        .iter()
        .map(|(n, _)| n.as_str())
        .filter(|n| !own.contains(n))
        .collect();
    let from = jobs.iter().map(|j| j.spec.submit_ms).min().unwrap_or(0);
    let to = runs.iter().map(|r| r.end_ms).max().unwrap_or(f.run.end_ms);
    let waited: Vec<String> = jobs
        .iter()
        .filter_map(|j| match j.first_start() {
            Some(s) if s > j.spec.submit_ms => {
                Some(format!("{} for {}", j.id(), span(s - j.spec.submit_ms)))
            }
            None => Some(format!(
                "{} until the end ({})",
                j.id(),
                clock(f.run.end_ms)
            )),
            _ => None,
        })
        .collect();
    let reason = jobs.iter().find_map(|j| j.first_wait_reason());
    let mut wait = if waited.is_empty() {
        format!(
            "No {} waited: each started when it was submitted.",
            vc_words.trim_end_matches('s')
        )
    } else {
        format!(
            "{} waited: {}.",
            if waited.len() == 1 {
                "One job".to_string()
            } else {
                format!("{} jobs", waited.len())
            },
            list(&waited)
        )
    };
    for node in &others {
        let owner = format!(" ({})", f.owner_text(node, ""));
        let used_by_ours: Vec<&str> = jobs
            .iter()
            .filter(|j| j.nodes().contains(node))
            .map(|j| j.id())
            .collect();
        let busy: Vec<String> = f
            .busy_on(node, from, to, "")
            .iter()
            .map(|r| format!("{} {}-{}", r.job, clock(r.start_ms), clock(r.end_ms)))
            .collect();
        if !used_by_ours.is_empty() {
            wait.push_str(&format!(
                " {} ran on {node}{owner}: the {vc_words} were not kept to their own VC's cells.",
                list(&used_by_ours)
            ));
        } else if busy.is_empty() && !waited.is_empty() {
            wait.push_str(&format!(
                " They waited although {node}{owner} was idle the whole time ({}-{}), \
                 because guaranteed jobs only use their own VC's cells.",
                clock(from),
                clock(to)
            ));
        } else if busy.is_empty() {
            wait.push_str(&format!(
                " {node}{owner} stayed idle the whole time ({}-{}).",
                clock(from),
                clock(to)
            ));
        } else {
            wait.push_str(&format!(
                " {node}{owner} was busy with other jobs ({}).",
                list(&busy)
            ));
        }
    }
    if let Some(reason) = reason {
        wait.push_str(&format!(" The scheduler said: \"{reason}\"."));
    }
    vec![where_, wait]
}

fn priority(f: &Facts) -> Vec<String> {
    let (Some(early), Some(late)) = (f.job(0), f.job(1)) else {
        return vec![missing("two jobs"); 2];
    };
    let preemption = late
        .preempting
        .iter()
        .find(|p| p.1 == early.id())
        .map(|p| p.0);
    let late_start = late.first_start();

    // Does the later job wait?
    let mut wait = match (late_start, preemption) {
        (Some(s), Some(p)) if s == late.spec.submit_ms && p == s => {
            let node = early
                .preempted
                .iter()
                .find(|x| x.2 == late.id())
                .map(|x| pods_text(x.3))
                .unwrap_or_default();
            format!(
                "No: {} preempted {} at once, at {} on {node}, and started there at {}.",
                late.who(),
                early.who(),
                clock(p),
                clock(s)
            )
        }
        (Some(s), Some(p)) => format!(
            "{} was submitted at {}, preempted {} at {} and started at {}.",
            late.who(),
            clock(late.spec.submit_ms),
            early.who(),
            clock(p),
            clock(s)
        ),
        (Some(s), None) if s == late.spec.submit_ms => {
            let nodes: Vec<&str> = late.nodes().into_iter().collect();
            format!(
                "No, but without preemption: {} started at once at {} on {} while {} kept running.",
                late.who(),
                clock(s),
                list(&nodes),
                early.id()
            )
        }
        (Some(s), None) => format!(
            "Yes: {} waited from {} until {} ({}) and preempted nobody.",
            late.who(),
            clock(late.spec.submit_ms),
            clock(s),
            span(s - late.spec.submit_ms)
        ),
        (None, _) => format!("{} never started.", late.who()),
    };
    if preemption.is_some() {
        let restart = early
            .runs
            .iter()
            .find(|r| Some(r.start_ms) > preemption)
            .copied();
        match restart {
            Some(r) => {
                let why = match f.freed_at(
                    r.pods.first().map_or("", |p| p.node.as_str()),
                    r.start_ms,
                    early.id(),
                ) {
                    Some(by) if by.job == late.id() => {
                        format!(", when {} finished", late.id())
                    }
                    Some(by) => format!(", when {} left", by.job),
                    None => String::new(),
                };
                let reason = early
                    .waits
                    .iter()
                    .find(|w| Some(w.0) >= preemption)
                    .map(|w| format!(" (\"{}\")", w.2))
                    .unwrap_or_default();
                wait.push_str(&format!(
                    " {} was requeued and waited{reason}; it restarted {} at {} on {}{why}.",
                    early.id(),
                    restart_from(f),
                    clock(r.start_ms),
                    pods_text(&r.pods)
                ));
            }
            None => wait.push_str(&format!(
                " {} was requeued and never ran again.",
                early.id()
            )),
        }
    }

    // When do both finish?
    let finish = match (early.end(), late.end()) {
        (Some(e1), Some(e2)) => {
            let expected = late.spec.submit_ms + late.spec.duration_ms + early.spec.duration_ms;
            let lost: SimTimeMs = early
                .runs
                .iter()
                .filter(|r| r.end == RunEnd::Preempted)
                .map(|r| r.end_ms - r.start_ms)
                .sum();
            let lost_runs: Vec<String> = early
                .runs
                .iter()
                .filter(|r| r.end == RunEnd::Preempted)
                .map(|r| format!("{}-{}", clock(r.start_ms), clock(r.end_ms)))
                .collect();
            let sum = format!(
                "{} submit {} + {} duration {} + {} duration {} = {}",
                late.id(),
                clock(late.spec.submit_ms),
                late.id(),
                span(late.spec.duration_ms),
                early.id(),
                span(early.spec.duration_ms),
                clock(expected)
            );
            let mut text = format!(
                "{} finished at {} and {} at {}",
                late.id(),
                clock(e2),
                early.id(),
                clock(e1)
            );
            if e1 == expected {
                text.push_str(&format!(", that is {sum}"));
            } else {
                text.push_str(&format!(", not {sum}"));
            }
            if lost > 0 {
                text.push_str(&format!(
                    "; {}'s first run ({}, {} of GPU time) was lost work.",
                    early.id(),
                    list(&lost_runs),
                    span(lost)
                ));
            } else {
                text.push_str(&format!("; {} lost no work.", early.id()));
            }
            text
        }
        (e1, e2) => {
            let say = |j: &JobFacts, e: Option<SimTimeMs>| match e {
                Some(t) => format!("{} finished at {}", j.id(), clock(t)),
                None => format!("{} did not finish", j.id()),
            };
            format!("{}; {}.", say(&late, e2), say(&early, e1))
        }
    };
    vec![wait, finish]
}

fn opportunistic(f: &Facts) -> Vec<String> {
    let (Some(prod), Some(oppo), Some(test)) = (f.job(0), f.job(1), f.job(2)) else {
        return vec![missing("prod, oppo and test jobs"); 2];
    };
    // When does the oppo job start?
    let first = oppo.runs.first().copied();
    let start = match first {
        None => format!(
            "{} never started{}.",
            oppo.who(),
            oppo.first_wait_reason()
                .map(|r| format!(" (\"{r}\")"))
                .unwrap_or_default()
        ),
        Some(r) => {
            let node = r.pods.first().map_or("", |p| p.node.as_str());
            let idle = if f
                .busy_on(node, oppo.spec.submit_ms, r.start_ms, oppo.id())
                .is_empty()
                && f.busy_on(node, r.start_ms, r.start_ms + 1, oppo.id())
                    .is_empty()
            {
                "idle"
            } else {
                ""
            };
            let owner = f.owner_text(node, idle);
            let when = if r.start_ms == oppo.spec.submit_ms {
                format!("at once, at {}", clock(r.start_ms))
            } else {
                format!(
                    "at {}, {} after it was submitted",
                    clock(r.start_ms),
                    span(r.start_ms - oppo.spec.submit_ms)
                )
            };
            let prod_runs: Vec<String> = prod
                .runs
                .iter()
                .filter(|p| p.start_ms <= r.start_ms && p.end_ms > r.start_ms)
                .map(|p| {
                    format!(
                        "{} ({}-{})",
                        pods_text(&p.pods),
                        clock(p.start_ms),
                        clock(p.end_ms)
                    )
                })
                .collect();
            let verdict = if !prod_runs.is_empty() {
                format!(
                    "while {} was still running on {}: it did not wait for the prod job.",
                    prod.id(),
                    list(&prod_runs)
                )
            } else if prod.end().is_some_and(|e| e <= r.start_ms) {
                format!(
                    "after {} had finished (at {}): it waited for the prod job.",
                    prod.id(),
                    clock(prod.end().unwrap_or(0))
                )
            } else {
                format!("while {} was not running.", prod.id())
            };
            format!(
                "{} started {when} on {} ({owner}), {verdict}",
                oppo.who(),
                pods_text(&r.pods)
            )
        }
    };

    // The default test job.
    let preemption = oppo.preempted.iter().find(|p| p.2 == test.id());
    let test_runs: Vec<String> = test
        .runs
        .iter()
        .map(|r| {
            format!(
                "{}-{} on {}",
                clock(r.start_ms),
                clock(r.end_ms),
                pods_text(&r.pods)
            )
        })
        .collect();
    let mut then = match preemption {
        Some(&(t, _, _, pods)) => format!(
            "{}, submitted at {}, preempted {} {}at {} on {} and ran {}.",
            test.who(),
            clock(test.spec.submit_ms),
            oppo.id(),
            if t == test.spec.submit_ms {
                "at once, "
            } else {
                ""
            },
            clock(t),
            pods_text(pods),
            list(&test_runs)
        ),
        None => match test.first_start() {
            Some(s) => format!(
                "{}, submitted at {}, preempted nobody; it ran {}{}.",
                test.who(),
                clock(test.spec.submit_ms),
                list(&test_runs),
                if s > test.spec.submit_ms {
                    format!(" after waiting {}", span(s - test.spec.submit_ms))
                } else {
                    String::new()
                }
            ),
            None => format!(
                "{}, submitted at {}, never started.",
                test.who(),
                clock(test.spec.submit_ms)
            ),
        },
    };
    if let Some(&(t, _, _, _)) = preemption {
        let reason = oppo
            .waits
            .iter()
            .find(|w| w.0 >= t)
            .map(|w| format!(" (\"{}\")", w.2))
            .unwrap_or_default();
        match oppo.runs.iter().find(|r| r.start_ms >= t).copied() {
            Some(r) => {
                let node = r.pods.first().map_or("", |p| p.node.as_str());
                let freed = f
                    .freed_at(node, r.start_ms, oppo.id())
                    .map(|by| format!(", when {} finished and freed {node}", by.job))
                    .unwrap_or_default();
                let end = oppo
                    .end()
                    .map(|e| format!(" and finished at {}", clock(e)))
                    .unwrap_or_default();
                then.push_str(&format!(
                    " {id} was requeued and waited{reason} until {at}{freed}; it then ran again \
                     {from} on {pods}{end}.",
                    id = oppo.id(),
                    at = clock(r.start_ms),
                    from = restart_from(f),
                    pods = pods_text(&r.pods)
                ));
            }
            None => then.push_str(&format!(
                " {} was requeued and waited{reason}; it did not run again.",
                oppo.id()
            )),
        }
    }
    vec![start, then]
}

fn gang(f: &Facts) -> Vec<String> {
    let (Some(holder), Some(gang)) = (f.job(0), f.job(1)) else {
        return vec![missing("two jobs"); 2];
    };
    let submit = gang.spec.submit_ms;
    let first = gang.first_start();
    let when = match first {
        None => format!(
            "{} never started{}.",
            gang.who(),
            gang.first_wait_reason()
                .map(|r| format!(" (\"{r}\")"))
                .unwrap_or_default()
        ),
        Some(s) if s == submit => format!(
            "{} started at once, at {}, without waiting for {}.",
            gang.who(),
            clock(s),
            holder.id()
        ),
        Some(s) => {
            let after = match holder.end() {
                Some(e) if e == s => {
                    format!(", exactly when {} finished and freed its GPU", holder.id())
                }
                Some(e) => format!(" ({} had finished at {})", holder.id(), clock(e)),
                None => String::new(),
            };
            let reason = gang
                .first_wait_reason()
                .map(|r| format!(" The scheduler said: \"{r}\"."))
                .unwrap_or_default();
            format!(
                "{}, submitted at {}, waited {} and started at {}{after}.{reason}",
                gang.who(),
                clock(submit),
                span(s - submit),
                clock(s)
            )
        }
    };

    let starts: BTreeSet<SimTimeMs> = gang.runs.iter().map(|r| r.start_ms).collect();
    let pods: Vec<PodSpot> = gang
        .runs
        .iter()
        .filter(|r| Some(r.start_ms) == first)
        .flat_map(|r| r.pods.iter().cloned())
        .collect();
    let tasks = gang.spec.groups.iter().map(|g| g.pod_count()).sum::<u64>() as usize;
    let together = match (starts.len(), first) {
        (_, None) => "Its tasks never started.".to_string(),
        (1, Some(s)) if pods.len() == tasks => {
            let free: Vec<String> = f
                .run
                .nodes
                .iter()
                .map(|(n, _)| n.as_str())
                .filter(|n| f.busy_on(n, submit, s, gang.id()).is_empty())
                .map(|n| {
                    let since = clock(f.idle_since(n, s, gang.id()));
                    format!("{n} had been free since {since}")
                })
                .collect();
            let free_text = if free.is_empty() {
                String::new()
            } else {
                format!(", although {}", list(&free))
            };
            let all = if tasks == 2 {
                "both tasks".to_string()
            } else {
                format!("all {tasks} tasks")
            };
            format!(
                "No: {all} started together at {} on {} (all or nothing){free_text}.",
                clock(s),
                pods_text(&pods)
            )
        }
        _ => {
            let each: Vec<String> = gang
                .runs
                .iter()
                .map(|r| {
                    format!(
                        "{} at {} on {}",
                        task_name(r),
                        clock(r.start_ms),
                        pods_text(&r.pods)
                    )
                })
                .collect();
            format!(
                "Yes: its tasks started one after the other: {}.",
                list(&each)
            )
        }
    };
    vec![when, together]
}

fn incremental(f: &Facts) -> Vec<String> {
    let (Some(holder), Some(inc)) = (f.job(0), f.job(1)) else {
        return vec![missing("a running job and an incremental job"); 3];
    };
    // When do the two tasks start?
    let submit = inc.spec.submit_ms;
    let mut firsts: Vec<&GroupRun> = Vec::new();
    for group in &inc.spec.groups {
        if let Some(r) = inc.runs.iter().find(|r| r.group == group.name) {
            firsts.push(r);
        }
    }
    let each: Vec<String> = firsts
        .iter()
        .map(|r| {
            let node = r.pods.first().map_or("", |p| p.node.as_str());
            if r.start_ms == submit {
                let free = if f.busy_on(node, submit, submit + 1, inc.id()).is_empty() {
                    " (the free machine)"
                } else {
                    ""
                };
                format!(
                    "{} started at once at {} on {node}{free}",
                    task_name(r),
                    clock(r.start_ms)
                )
            } else {
                let freed = match f.freed_at(node, r.start_ms, "") {
                    Some(by) if by.job == holder.id() => {
                        format!(", when {} finished there", holder.id())
                    }
                    Some(by) if by.job == inc.id() => {
                        format!(", when its sibling {} finished there", task_name(by))
                    }
                    Some(by) => format!(", when {} left it", by.job),
                    None => String::new(),
                };
                format!(
                    "{} waited {} and started at {} on {node}{freed}",
                    task_name(r),
                    span(r.start_ms - submit),
                    clock(r.start_ms)
                )
            }
        })
        .collect();
    let never = inc.spec.groups.len() - firsts.len();
    let mut starts = if each.is_empty() {
        format!("None of {}'s tasks started.", inc.who())
    } else {
        format!("{}: {}.", inc.who(), list(&each))
    };
    if never > 0 {
        starts.push_str(&format!(" {} never started.", plural(never, "task")));
    }
    let distinct: BTreeSet<SimTimeMs> = firsts.iter().map(|r| r.start_ms).collect();
    if distinct.len() > 1 && firsts.first().is_some_and(|r| r.start_ms == submit) {
        starts.push_str(" Without gang allocation, each task starts as soon as a GPU is free.");
    }

    // More GPUs than the cluster has.
    let gpus = f.run.total_gpus;
    let big = |i: usize| f.job(i);
    let gang_answer = match big(2) {
        None => missing("4-GPU gang job"),
        Some(g) => match g.rejected {
            Some((t, reason)) => format!(
                "No: {} asks for {} GPUs in one gang on a {}-GPU cluster; it was rejected {}at {} \
                 with: \"{reason}\".",
                g.who(),
                g.spec.gpus(),
                gpus,
                if t == g.spec.submit_ms {
                    "at once, "
                } else {
                    ""
                },
                clock(t)
            ),
            None => match g.first_start() {
                Some(s) => format!(
                    "{} asked for {} GPUs on a {}-GPU cluster and was not rejected: it started \
                     at {} on {}.",
                    g.who(),
                    g.spec.gpus(),
                    gpus,
                    clock(s),
                    list(&g.nodes().into_iter().collect::<Vec<_>>())
                ),
                None => format!(
                    "{} asked for {} GPUs on a {}-GPU cluster: it was not rejected but never \
                     started{}.",
                    g.who(),
                    g.spec.gpus(),
                    gpus,
                    g.first_wait_reason()
                        .map(|r| format!(" (\"{r}\")"))
                        .unwrap_or_default()
                ),
            },
        },
    };
    let inc_answer = match big(3) {
        None => missing("4-task incremental job"),
        Some(j) => {
            if let Some((t, reason)) = j.rejected {
                format!("{} was rejected at {}: \"{reason}\".", j.who(), clock(t))
            } else if j.runs.is_empty() {
                format!("{} was accepted but no task started.", j.who())
            } else {
                // Most tasks running at once, and the waves of starts.
                let mut edges: Vec<(SimTimeMs, i64)> = Vec::new();
                for r in &j.runs {
                    edges.push((r.start_ms, 1));
                    edges.push((r.end_ms, -1));
                }
                edges.sort();
                let (mut now, mut most) = (0i64, 0i64);
                for (_, d) in edges {
                    now += d;
                    most = most.max(now);
                }
                let mut waves: BTreeMap<SimTimeMs, Vec<&GroupRun>> = BTreeMap::new();
                for r in &j.runs {
                    waves.entry(r.start_ms).or_default().push(r);
                }
                // Every later wave started the moment earlier tasks of the job ended.
                let as_finished = waves.len() > 1
                    && waves
                        .keys()
                        .skip(1)
                        .all(|t| j.runs.iter().any(|r| r.end_ms == *t));
                let waves: Vec<String> = waves
                    .values()
                    .map(|rs| {
                        let names: Vec<&str> = rs.iter().map(|r| task_name(r)).collect();
                        let nodes: Vec<String> = rs.iter().map(|r| pods_text(&r.pods)).collect();
                        let ends: BTreeSet<SimTimeMs> = rs.iter().map(|r| r.end_ms).collect();
                        let end = ends.iter().map(|e| clock(*e)).collect::<Vec<_>>();
                        format!(
                            "{} {}-{} on {}",
                            list(&names),
                            clock(rs[0].start_ms),
                            list(&end),
                            list(&nodes)
                        )
                    })
                    .collect();
                let end = j
                    .end()
                    .map(|e| format!("; it finished at {}", clock(e)))
                    .unwrap_or_else(|| "; it did not finish".to_string());
                format!(
                    "{} was accepted although it asks for {} GPUs: its tasks ran at most {most} \
                     at a time{} ({}){end}.",
                    j.who(),
                    j.spec.gpus(),
                    if as_finished {
                        ", the later ones starting as earlier ones finished"
                    } else {
                        ""
                    },
                    waves.join(", then ")
                )
            }
        }
    };
    vec![starts, gang_answer, inc_answer]
}

/// What another model did on the lab's scenario, next to `hived`, for the labs where the
/// contrast helps (VC safety and priority).
pub fn comparison(
    lab: Lab,
    scenario: &Scenario,
    hived: &RunResult,
    other: &RunResult,
) -> Option<Answer> {
    if !matches!(lab, Lab::VcSafety | Lab::Priority) {
        return None;
    }
    let facts = Facts::new(scenario, other);
    let jobs = facts.jobs();
    let each: Vec<String> = jobs
        .iter()
        .map(|j| {
            let runs: Vec<String> = j
                .runs
                .iter()
                .map(|r| {
                    format!(
                        "{}-{} on {}",
                        clock(r.start_ms),
                        clock(r.end_ms),
                        r.pods.first().map_or("?", |p| p.node.as_str())
                    )
                })
                .collect();
            if runs.is_empty() {
                format!("{} never ran", j.id())
            } else {
                format!("{} ran {}", j.id(), list(&runs))
            }
        })
        .collect();
    let preemptions: usize = jobs.iter().map(|j| j.preempted.len()).sum();
    let last = |r: &RunResult| r.jobs.iter().filter_map(|j| j.end_ms).max();
    let ends = match (last(hived), last(other)) {
        (Some(h), Some(o)) => format!(
            " The last job finished at {} (hived: {}).",
            clock(o),
            clock(h)
        ),
        _ => String::new(),
    };
    Some(Answer {
        question: format!("For comparison: what does {} do?", other.model),
        answer: format!(
            "Under {}: {}; {}.{ends}",
            other.model,
            list(&each),
            match preemptions {
                0 => "nobody was preempted".to_string(),
                n => format!("{} happened", plural(n, "preemption")),
            }
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lab_names_round_trip_and_unknown_names_list_the_choices() {
        for lab in Lab::ALL {
            assert_eq!(lab.name().parse::<Lab>(), Ok(lab));
            assert!(lab.title().starts_with(&format!("Lab {}:", lab.number())));
        }
        let err = "gangs".parse::<Lab>().unwrap_err();
        assert!(err.contains("vc-safety, priority"), "{err}");
    }

    #[test]
    fn clock_and_span_read_like_a_stopwatch() {
        assert_eq!(clock(0), "0s");
        assert_eq!(clock(330_000), "00:05:30");
        assert_eq!(clock(780_000), "00:13:00");
        assert_eq!(clock(3_723_000), "01:02:03");
        assert_eq!(clock(1_500), "1.5s");
        assert_eq!(span(360_000), "00:06:00");
        assert_eq!(span(30_000), "30s");
        assert_eq!(span(390_000), "00:06:30");
    }

    #[test]
    fn every_lab_scenario_loads_from_the_compiled_in_files() {
        for lab in Lab::ALL {
            let s = scenario(lab).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(s.name, lab.name());
            assert!(s.models.iter().any(|m| m == ANSWER_MODEL), "{lab}");
            assert!(s.warnings.is_empty(), "{lab}: {:?}", s.warnings);
        }
    }

    #[test]
    fn vc_nodes_follow_the_chains_of_each_vc() {
        let s = scenario(Lab::VcSafety).unwrap();
        let nodes = vc_nodes(&s.config);
        assert_eq!(
            nodes["default"],
            BTreeSet::from(["hostname-carol".to_string()])
        );
        assert_eq!(nodes["vc1"], BTreeSet::from(["hostname-dan".to_string()]));
        let s = scenario(Lab::Gang).unwrap();
        assert_eq!(vc_nodes(&s.config)["default"].len(), 2);
    }

    #[test]
    fn answers_say_what_happened_when_the_events_differ_from_the_course() {
        // yarn-cs lets vc1 borrow hostname-carol: the VC-safety answer must say so instead
        // of claiming the jobs waited.
        let s = scenario(Lab::VcSafety).unwrap();
        let run = sim::run_model(&s, "yarn-cs").unwrap();
        let got = answers(Lab::VcSafety, &s, &run);
        assert!(got[0].answer.contains("2 machines"), "{got:?}");
        assert!(
            got[1]
                .answer
                .contains("ran on hostname-carol (VC default's machine)"),
            "{got:?}"
        );
        assert!(!got[1].answer.contains("idle the whole time"));
        // yarn-cs never preempts in lab 2: the answer must not claim a preemption.
        let s = scenario(Lab::Priority).unwrap();
        let run = sim::run_model(&s, "yarn-cs").unwrap();
        let got = answers(Lab::Priority, &s, &run);
        assert!(got[0].answer.starts_with("No, but without preemption"));
        assert!(got[1].answer.contains("lost no work"), "{got:?}");
        assert!(got[1].answer.contains(", not job2-prod submit"));
    }
}
