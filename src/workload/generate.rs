//! The synthetic trace generator behind `cellsim gen-trace`: seeded Poisson arrivals with
//! an optional diurnal cycle, GPU counts from a discrete table, run times from a
//! distribution per size class, VCs (and optionally GPU types) from weights, and an
//! arrival rate that is either given or chosen for a target offered load. It yields
//! [`TraceJob`]s one at a time ([`generate`] returns an iterator), so a trace of any
//! length is never held in memory; writing them out is the native CSV writer's job.
//!
//! The defaults ([`GenSpec::philly`], also `GenSpec::default()`) are fitted to the Philly
//! trace (`../shared/traces/philly/philly.csv`, 82,247 jobs, 2017-09-04 .. 2017-12-22) by
//! `reports/2026-11-25-gen-trace-fit/fit.py`; the README there shows how close a generated
//! trace comes to the real one.
//!
//! Model, and the choices made where the issue left room:
//! - Time 0 is 00:00 of day 0. Arrivals form a Poisson process whose rate is constant
//!   within each hour of the day: `r0` times a factor per hour, the factors averaging 1,
//!   from an hourly profile (Philly's by default) or from the sinusoid
//!   `1 + A * cos(2π (h + 0.5 - peak_hour) / 24)` at the middle of hour `h`. Sampled by
//!   thinning, so `r0` is the mean rate over whole days and a target load holds on
//!   average per day. Weekly cycles are not modelled.
//! - A job's size class and GPU count are drawn from the flattened table of all classes'
//!   weights; its run time from its class's distribution. Run time depends on size
//!   (Philly's 8-GPU jobs run 20x longer at the median than its 1-GPU jobs), so one
//!   distribution for all sizes would get the offered load wrong by a factor of 2.5.
//! - The empirical distribution interpolates log-linearly between its quantile knots
//!   (duration = exp of the linear interpolation of ln duration), which follows a
//!   heavy-tailed trace much better than linear interpolation. Its mean is exact in
//!   closed form, so the target-load rate needs no sampling.
//! - Run times are rounded to whole milliseconds and kept within 1 ms ..
//!   [`MAX_DURATION_MS`] (a log-normal's far tail could otherwise overflow).
//! - Random numbers: one `ChaCha8Rng` seeded with `seed`, turned into uniforms from the top
//!   53 bits of `next_u64`, drawn in a fixed order per job (arrival, size, run time, VC,
//!   GPU type), so a spec and a seed always give the same trace.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::trace::TraceJob;
use crate::sim::SimTimeMs;

/// Longest run time a generated job can have: ten years, in milliseconds.
pub const MAX_DURATION_MS: SimTimeMs = 10 * 365 * 24 * 3_600_000;

// ---- Philly constants --------------------------------------------------------------------
// Fitted by reports/2026-11-25-gen-trace-fit/fit.py to ../shared/traces/philly/philly.csv
// (all 82,247 rows as they are); `tests/it/gen_trace.rs` checks them against the file.

/// Philly: jobs per hour over the trace's 108.9 days.
pub const PHILLY_JOBS_PER_HOUR: f64 = 31.470;
/// Philly: relative amplitude of the first daily harmonic of submit times.
pub const PHILLY_DIURNAL_AMPLITUDE: f64 = 0.291;
/// Philly: hour of day (trace local time) at which that harmonic peaks.
pub const PHILLY_DIURNAL_PEAK_HOUR: f64 = 4.99;
/// Philly: jobs submitted in each hour of the day (trace local time), hour 0 first: the
/// default daily profile (the sinusoid above misses its sharp 06:00-08:00 peak).
pub const PHILLY_HOURLY_JOBS: [u64; 24] = [
    4367, 3374, 3835, 3780, 2400, 3950, 5732, 7159, 3802, 3447, 3510, 2979, 2567, 2415, 2185, 2224,
    3021, 2289, 2744, 2496, 3483, 3142, 3885, 3461,
];
/// Philly: jobs per GPU count (weights of the GPU-count table).
pub const PHILLY_GPU_COUNTS: [(u32, u64); 10] = [
    (1, 76627),
    (2, 1818),
    (4, 1870),
    (8, 1643),
    (12, 7),
    (16, 199),
    (24, 7),
    (32, 67),
    (64, 6),
    (128, 3),
];
/// Philly: quantile knots `(probability, seconds)` of the run time of 1-GPU jobs.
pub const PHILLY_DURATION_1: [(f64, f64); 20] = [
    (0.0, 1.0),
    (0.01, 30.0),
    (0.05, 52.0),
    (0.1, 62.0),
    (0.2, 76.0),
    (0.3, 215.0),
    (0.4, 600.0),
    (0.5, 1117.0),
    (0.6, 1728.0),
    (0.7, 2464.2),
    (0.8, 3754.0),
    (0.9, 8512.0),
    (0.95, 19137.0),
    (0.98, 68251.7),
    (0.99, 135399.3),
    (0.995, 266914.1),
    (0.998, 502224.1),
    (0.999, 865708.7),
    (0.9995, 1447516.6),
    (1.0, 3256045.0),
];
/// Philly: quantile knots of the run time of 2-GPU jobs (seconds).
pub const PHILLY_DURATION_2: [(f64, f64); 20] = [
    (0.0, 2.0),
    (0.01, 5.0),
    (0.05, 9.0),
    (0.1, 11.0),
    (0.2, 15.0),
    (0.3, 17.0),
    (0.4, 19.0),
    (0.5, 21.0),
    (0.6, 25.0),
    (0.7, 33.0),
    (0.8, 149.2),
    (0.9, 72740.2),
    (0.95, 197062.2),
    (0.98, 343861.7),
    (0.99, 523316.1),
    (0.995, 808063.9),
    (0.998, 1398359.1),
    (0.999, 1474215.4),
    (0.9995, 1618289.4),
    (1.0, 2582803.0),
];
/// Philly: quantile knots of the run time of 4-GPU jobs (seconds).
pub const PHILLY_DURATION_4: [(f64, f64); 20] = [
    (0.0, 3.0),
    (0.01, 35.7),
    (0.05, 75.0),
    (0.1, 137.8),
    (0.2, 404.8),
    (0.3, 1695.7),
    (0.4, 7467.8),
    (0.5, 17409.5),
    (0.6, 36288.2),
    (0.7, 78660.0),
    (0.8, 106283.8),
    (0.9, 184435.3),
    (0.95, 273968.2),
    (0.98, 533377.7),
    (0.99, 907375.5),
    (0.995, 1205989.5),
    (0.998, 1862334.1),
    (0.999, 2446300.8),
    (0.9995, 2648712.6),
    (1.0, 2750674.0),
];
/// Philly: quantile knots of the run time of 8-GPU jobs (seconds).
pub const PHILLY_DURATION_8: [(f64, f64); 20] = [
    (0.0, 1.0),
    (0.01, 33.4),
    (0.05, 125.0),
    (0.1, 216.2),
    (0.2, 784.6),
    (0.3, 4011.4),
    (0.4, 12382.2),
    (0.5, 23683.0),
    (0.6, 65014.0),
    (0.7, 140721.4),
    (0.8, 203050.0),
    (0.9, 351981.6),
    (0.95, 525618.2),
    (0.98, 795160.9),
    (0.99, 1060498.2),
    (0.995, 2000448.1),
    (0.998, 2232762.0),
    (0.999, 2656479.2),
    (0.9995, 3011314.1),
    (1.0, 4628226.0),
];
/// Philly: quantile knots of the run time of jobs with more than 8 GPUs (seconds; 289
/// jobs, so the upper knots are few jobs each).
pub const PHILLY_DURATION_MORE: [(f64, f64); 20] = [
    (0.0, 1.0),
    (0.01, 3.8),
    (0.05, 35.4),
    (0.1, 72.2),
    (0.2, 345.0),
    (0.3, 889.6),
    (0.4, 3166.6),
    (0.5, 21137.0),
    (0.6, 53749.8),
    (0.7, 73310.8),
    (0.8, 158991.4),
    (0.9, 247972.0),
    (0.95, 443240.4),
    (0.98, 613624.1),
    (0.99, 922628.7),
    (0.995, 1274180.8),
    (0.998, 1514361.2),
    (0.999, 1612502.1),
    (0.9995, 1661572.6),
    (1.0, 1710643.0),
];
/// Philly: jobs per VC (the trace's `cluster` column).
pub const PHILLY_VC_JOBS: [(&str, u64); 15] = [
    ("0e4a51", 1435),
    ("103959", 1934),
    ("11cb48", 16091),
    ("23dbec", 8),
    ("2869ce", 422),
    ("51b7ef", 4),
    ("6214e9", 41226),
    ("6c71a0", 9953),
    ("795a4c", 3),
    ("7f04ca", 723),
    ("925e2b", 3),
    ("b436b2", 7423),
    ("e13805", 374),
    ("ed69ec", 1137),
    ("ee9e8c", 1511),
];

// ---- the spec ------------------------------------------------------------------------------

/// Everything a synthetic trace is made from. Loadable from YAML
/// ([`GenSpec::from_yaml_str`]); every field may be left out and then takes the Philly
/// default, except that `jobs` or `span_s` must be given. Example:
///
/// ```yaml
/// jobs: 100000          # stop after this many jobs …
/// span_s: 604800        # … or at the first job submitted at/after a week (either or both)
/// seed: 7
/// arrival: {load: 0.8, cluster_gpus: 256}   # or {jobs_per_hour: 40}
/// diurnal: {amplitude: 0.3, peak_hour: 14}  # amplitude 0: a flat rate
/// max_gpus: 64          # drop larger GPU counts from the table
/// sizes:                # weights are relative across all classes
///   - gpus: {1: 90, 2: 5}
///     duration: {log_normal: {median_s: 1200, sigma: 2.0}}
///   - gpus: {4: 3, 8: 2}
///     duration: {empirical: [[0, 60], [0.5, 20000], [1, 500000]]}
/// vcs: {prod: 3, research: 1}
/// gpu_types: {V100: 1, K80: 1}   # leave out: jobs run on any GPU type
/// priority: 0
/// id_prefix: "gen-"
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GenSpec {
    /// Stop after this many jobs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jobs: Option<u64>,
    /// Stop at the first job whose submit time is at or after this many seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub span_s: Option<u64>,
    /// Seed of the random number generator (same spec and seed, same trace).
    pub seed: u64,
    /// How fast jobs arrive (mean over a day).
    pub arrival: Arrival,
    /// Daily cycle of the arrival rate.
    pub diurnal: Diurnal,
    /// Largest GPU count to generate: larger entries of `sizes` are dropped (e.g. to fit
    /// a small cluster). `None` keeps them all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_gpus: Option<u32>,
    /// Size classes: GPU counts with weights, and the run-time distribution of each class.
    pub sizes: Vec<SizeClass>,
    /// VC name -> weight (share of jobs).
    pub vcs: BTreeMap<String, f64>,
    /// GPU type -> weight; empty means jobs are not tied to a GPU type.
    pub gpu_types: BTreeMap<String, f64>,
    /// Priority of every job (-1 opportunistic, 0..=1000 guaranteed).
    pub priority: i32,
    /// Job ids are this prefix followed by the job's index from 0.
    pub id_prefix: String,
}

/// The arrival rate: give `jobs_per_hour`, or `load` together with `cluster_gpus`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Arrival {
    /// Mean jobs per hour.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jobs_per_hour: Option<f64>,
    /// Target offered load: mean GPU demand over capacity (0.8 = 80% of `cluster_gpus`
    /// busy on average if nothing waited). The rate is then
    /// `load * cluster_gpus / mean(gpus * duration)`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub load: Option<f64>,
    /// GPUs of the cluster the load is meant for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cluster_gpus: Option<u64>,
}

impl Arrival {
    /// A fixed mean rate.
    pub fn per_hour(jobs_per_hour: f64) -> Arrival {
        Arrival {
            jobs_per_hour: Some(jobs_per_hour),
            ..Arrival::default()
        }
    }

    /// The rate that offers `load` times `cluster_gpus` GPUs of work on average.
    pub fn load(load: f64, cluster_gpus: u64) -> Arrival {
        Arrival {
            jobs_per_hour: None,
            load: Some(load),
            cluster_gpus: Some(cluster_gpus),
        }
    }
}

/// The daily cycle of the arrival rate: either an hourly profile (`hourly`, 24 relative
/// rates, hour 0 first) or the sinusoid `1 + amplitude * cos(2π (hour - peak_hour) / 24)`.
/// Either way the mean rate over a day is the spec's rate. In YAML, a `diurnal:` mapping
/// without `hourly` means the sinusoid (`{amplitude: 0}` for a flat rate); leaving
/// `diurnal` out keeps Philly's hourly profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Diurnal {
    /// Sinusoid: 0 (flat) ..= 1 (no arrivals at the trough).
    pub amplitude: f64,
    /// Sinusoid: hour of day of the peak, 0 <= peak_hour < 24 (hour 0 is time 0).
    pub peak_hour: f64,
    /// Relative rate in each hour of the day (24 weights >= 0, not all 0); when given,
    /// replaces `amplitude` and `peak_hour`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hourly: Option<Vec<f64>>,
}

impl Default for Diurnal {
    /// Philly's sinusoid fit, without the hourly profile.
    fn default() -> Self {
        Diurnal {
            amplitude: PHILLY_DIURNAL_AMPLITUDE,
            peak_hour: PHILLY_DIURNAL_PEAK_HOUR,
            hourly: None,
        }
    }
}

impl Diurnal {
    /// No daily cycle: a constant rate.
    pub fn flat() -> Diurnal {
        Diurnal {
            amplitude: 0.0,
            peak_hour: 0.0,
            hourly: None,
        }
    }

    /// Philly's hourly profile ([`PHILLY_HOURLY_JOBS`]).
    pub fn philly() -> Diurnal {
        Diurnal {
            hourly: Some(PHILLY_HOURLY_JOBS.iter().map(|&n| n as f64).collect()),
            ..Diurnal::default()
        }
    }

    /// The rate in each hour relative to the daily mean (24 factors averaging 1).
    fn factors(&self) -> [f64; 24] {
        let mut out = [1.0; 24];
        match &self.hourly {
            Some(weights) => {
                let mean = weights.iter().sum::<f64>() / 24.0;
                for (f, w) in out.iter_mut().zip(weights) {
                    *f = w / mean;
                }
            }
            None => {
                for (h, f) in out.iter_mut().enumerate() {
                    let angle =
                        2.0 * std::f64::consts::PI * (h as f64 + 0.5 - self.peak_hour) / 24.0;
                    *f = 1.0 + self.amplitude * angle.cos();
                }
            }
        }
        out
    }
}

/// GPU counts that share one run-time distribution.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SizeClass {
    /// GPU count -> weight; weights are relative across all classes of the spec.
    pub gpus: BTreeMap<u32, f64>,
    /// Run time of a job of this class.
    pub duration: DurationDist,
}

/// A run-time distribution (seconds). In YAML: `{log_normal: {median_s: 600, sigma: 1.5}}`
/// or `{empirical: [[0, 1], [0.5, 1117], [1, 3256045]]}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "DurationRepr", into = "DurationRepr")]
pub enum DurationDist {
    /// Log-normal: `ln(duration)` is normal with mean `ln(median_s)` and deviation
    /// `sigma`.
    LogNormal {
        /// Median run time, seconds (> 0).
        median_s: f64,
        /// Standard deviation of `ln(duration)` (>= 0).
        sigma: f64,
    },
    /// Empirical: quantile knots `[probability, seconds]`, probabilities rising from 0 to
    /// 1, seconds > 0 and not falling; log-linear between knots.
    Empirical(Vec<[f64; 2]>),
}

/// The YAML form of [`DurationDist`]: serde_yaml_ng reads enums only from YAML tags
/// (`!log_normal`), which people do not write, so the variant is a key instead.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct DurationRepr {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    log_normal: Option<LogNormalRepr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    empirical: Option<Vec<[f64; 2]>>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct LogNormalRepr {
    median_s: f64,
    sigma: f64,
}

impl TryFrom<DurationRepr> for DurationDist {
    type Error = String;

    fn try_from(repr: DurationRepr) -> Result<Self, String> {
        match (repr.log_normal, repr.empirical) {
            (Some(l), None) => Ok(DurationDist::LogNormal {
                median_s: l.median_s,
                sigma: l.sigma,
            }),
            (None, Some(knots)) => Ok(DurationDist::Empirical(knots)),
            _ => Err("give exactly one of log_normal: {median_s: S, sigma: X} or empirical: [[0, S], …, [1, S]]".to_string()),
        }
    }
}

impl From<DurationDist> for DurationRepr {
    fn from(dist: DurationDist) -> Self {
        match dist {
            DurationDist::LogNormal { median_s, sigma } => DurationRepr {
                log_normal: Some(LogNormalRepr { median_s, sigma }),
                empirical: None,
            },
            DurationDist::Empirical(knots) => DurationRepr {
                log_normal: None,
                empirical: Some(knots),
            },
        }
    }
}

impl DurationDist {
    /// Mean run time in seconds (exact; `+inf` only for absurd log-normal sigmas).
    pub fn mean_s(&self) -> f64 {
        match self {
            DurationDist::LogNormal { median_s, sigma } => median_s * (sigma * sigma / 2.0).exp(),
            DurationDist::Empirical(knots) => knots
                .windows(2)
                .map(|w| {
                    let ([p0, d0], [p1, d1]) = (w[0], w[1]);
                    let mass = p1 - p0;
                    if d1 == d0 {
                        mass * d0
                    } else {
                        // Mean of a log-uniform stretch from d0 to d1.
                        mass * (d1 - d0) / (d1 / d0).ln()
                    }
                })
                .sum(),
        }
    }

    /// The `p` quantile in seconds, for 0 <= p <= 1 (what a uniform draw `p` maps to).
    pub fn quantile_s(&self, p: f64) -> f64 {
        match self {
            DurationDist::LogNormal { median_s, sigma } => {
                median_s * (sigma * inverse_normal_cdf(p.clamp(1e-300, 1.0 - 1e-16))).exp()
            }
            DurationDist::Empirical(knots) => {
                let at = knots.partition_point(|k| k[0] <= p);
                match (at.checked_sub(1).and_then(|i| knots.get(i)), knots.get(at)) {
                    (Some(&[p0, d0]), Some(&[p1, d1])) => {
                        let f = (p - p0) / (p1 - p0);
                        (d0.ln() + f * (d1.ln() - d0.ln())).exp()
                    }
                    (Some(&[_, d]), None) | (None, Some(&[_, d])) => d,
                    (None, None) => 0.0,
                }
            }
        }
    }
}

impl Default for GenSpec {
    fn default() -> Self {
        GenSpec::philly()
    }
}

fn knots(table: &[(f64, f64)]) -> DurationDist {
    DurationDist::Empirical(table.iter().map(|&(p, d)| [p, d]).collect())
}

impl GenSpec {
    /// The defaults fitted to the Philly trace (see the module doc), with no end set:
    /// set `jobs` or `span_s` before generating.
    pub fn philly() -> GenSpec {
        let class = |pick: &dyn Fn(u32) -> bool, table: &[(f64, f64)]| SizeClass {
            gpus: PHILLY_GPU_COUNTS
                .iter()
                .filter(|(g, _)| pick(*g))
                .map(|&(g, n)| (g, n as f64))
                .collect(),
            duration: knots(table),
        };
        GenSpec {
            jobs: None,
            span_s: None,
            seed: 0,
            arrival: Arrival::per_hour(PHILLY_JOBS_PER_HOUR),
            diurnal: Diurnal::philly(),
            max_gpus: None,
            sizes: vec![
                class(&|g| g == 1, &PHILLY_DURATION_1),
                class(&|g| g == 2, &PHILLY_DURATION_2),
                class(&|g| g == 4, &PHILLY_DURATION_4),
                class(&|g| g == 8, &PHILLY_DURATION_8),
                class(&|g| g > 8, &PHILLY_DURATION_MORE),
            ],
            vcs: PHILLY_VC_JOBS
                .iter()
                .map(|&(vc, n)| (vc.to_string(), n as f64))
                .collect(),
            gpu_types: BTreeMap::new(),
            priority: 0,
            id_prefix: "gen-".to_string(),
        }
    }

    /// Read a spec from YAML text; `source` names it in errors (usually the file path).
    /// Unknown keys are errors (a misspelt key would otherwise be silently ignored).
    pub fn from_yaml_str(text: &str, source: &str) -> Result<GenSpec, GenSpecError> {
        if text.trim().is_empty() {
            return Ok(GenSpec::default());
        }
        let deserializer = serde_yaml_ng::Deserializer::from_str(text);
        serde_path_to_error::deserialize::<_, GenSpec>(deserializer).map_err(|err| {
            let field = err.path().to_string();
            let inner = err.into_inner();
            let at = inner
                .location()
                .map(|l| format!("line {}, column {}: ", l.line(), l.column()))
                .unwrap_or_default();
            let message = inner.to_string();
            let message = match message.find(" at line ") {
                Some(cut) => &message[..cut],
                None => &message,
            };
            GenSpecError {
                source_name: source.to_string(),
                field: if field == "." { String::new() } else { field },
                message: format!(
                    "{at}{message}; see the GenSpec documentation for the fields and their forms"
                ),
            }
        })
    }

    /// Read a spec from a YAML file (see [`GenSpec::from_yaml_str`]).
    pub fn from_file(path: &Path) -> Result<GenSpec, GenSpecError> {
        let source = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|err| GenSpecError {
            source_name: source.clone(),
            field: String::new(),
            message: format!("cannot read the file: {err}"),
        })?;
        GenSpec::from_yaml_str(&text, &source)
    }

    /// The spec as YAML (e.g. to show the defaults); reads back with
    /// [`GenSpec::from_yaml_str`].
    pub fn to_yaml(&self) -> String {
        // Serialising plain data structs to a String cannot fail.
        serde_yaml_ng::to_string(self).unwrap_or_default()
    }

    /// The GPU-count table after `max_gpus`: (GPU count, weight, class index), in class
    /// then GPU order, zero weights dropped.
    fn size_table(&self) -> Vec<(u32, f64, usize)> {
        self.sizes
            .iter()
            .enumerate()
            .flat_map(|(class, size)| size.gpus.iter().map(move |(&g, &w)| (g, w, class)))
            .filter(|&(g, w, _)| w > 0.0 && self.max_gpus.is_none_or(|max| g <= max))
            .collect()
    }

    /// Mean GPU-seconds of one job (`E[gpus * duration]`) under this spec.
    pub fn mean_gpu_seconds(&self) -> f64 {
        let table = self.size_table();
        let total: f64 = table.iter().map(|t| t.1).sum();
        if total <= 0.0 {
            return 0.0;
        }
        table
            .iter()
            .map(|&(g, w, class)| w / total * f64::from(g) * self.sizes[class].duration.mean_s())
            .sum()
    }

    /// The mean arrival rate this spec gives, jobs per hour (checks the spec first).
    pub fn jobs_per_hour(&self) -> Result<f64, GenSpecError> {
        self.check()?;
        Ok(self.rate_per_hour())
    }

    /// The mean rate of a checked spec.
    fn rate_per_hour(&self) -> f64 {
        match (
            self.arrival.jobs_per_hour,
            self.arrival.load,
            self.arrival.cluster_gpus,
        ) {
            (Some(rate), _, _) => rate,
            (None, Some(load), Some(gpus)) => load * gpus as f64 * 3600.0 / self.mean_gpu_seconds(),
            _ => PHILLY_JOBS_PER_HOUR,
        }
    }

    /// Every problem that would stop [`generate`], first one found.
    pub fn check(&self) -> Result<(), GenSpecError> {
        let fail = |field: &str, message: String| {
            Err(GenSpecError {
                source_name: "gen-trace spec".to_string(),
                field: field.to_string(),
                message,
            })
        };
        if self.jobs.is_none() && self.span_s.is_none() {
            return fail(
                "jobs",
                "the trace needs an end: give jobs (a number of jobs) or span_s (seconds), or both"
                    .to_string(),
            );
        }
        let a = &self.arrival;
        match (a.jobs_per_hour, a.load, a.cluster_gpus) {
            (Some(_), Some(_), _) => {
                return fail(
                    "arrival",
                    "give either jobs_per_hour or load (with cluster_gpus), not both".to_string(),
                );
            }
            (Some(rate), None, _) if !(rate.is_finite() && rate > 0.0) => {
                return fail(
                    "arrival.jobs_per_hour",
                    format!("must be a positive number of jobs per hour, got {rate}"),
                );
            }
            (None, Some(load), _) if !(load.is_finite() && load > 0.0) => {
                return fail(
                    "arrival.load",
                    format!("must be a positive offered load such as 0.8, got {load}"),
                );
            }
            (None, Some(_), None | Some(0)) => {
                return fail(
                    "arrival.cluster_gpus",
                    "a target load needs the cluster's GPU count (cluster_gpus >= 1)".to_string(),
                );
            }
            (None, None, _) => {
                return fail(
                    "arrival",
                    "give jobs_per_hour, or load with cluster_gpus".to_string(),
                );
            }
            _ => {}
        }
        let d = &self.diurnal;
        if let Some(hourly) = &d.hourly {
            if hourly.len() != 24 || hourly.iter().any(|w| !(w.is_finite() && *w >= 0.0)) {
                return fail(
                    "diurnal.hourly",
                    format!(
                        "must be 24 weights >= 0, hour 0 first; got {} values",
                        hourly.len()
                    ),
                );
            }
            if hourly.iter().sum::<f64>() <= 0.0 {
                return fail(
                    "diurnal.hourly",
                    "the weights add up to 0; give at least one hour a positive weight".to_string(),
                );
            }
        } else {
            if !(0.0..=1.0).contains(&d.amplitude) {
                return fail(
                    "diurnal.amplitude",
                    format!("must be between 0 (flat) and 1, got {}", d.amplitude),
                );
            }
            if !(0.0..24.0).contains(&d.peak_hour) {
                return fail(
                    "diurnal.peak_hour",
                    format!(
                        "must be an hour of day, 0 <= peak_hour < 24, got {}",
                        d.peak_hour
                    ),
                );
            }
        }
        for (i, class) in self.sizes.iter().enumerate() {
            for (&g, &w) in &class.gpus {
                let field = format!("sizes[{i}].gpus.{g}");
                if g == 0 {
                    return fail(
                        &field,
                        "a job needs at least 1 GPU; remove the 0 entry".to_string(),
                    );
                }
                if !(w.is_finite() && w >= 0.0) {
                    return fail(&field, format!("a weight must be a number >= 0, got {w}"));
                }
            }
            check_duration(&class.duration, &format!("sizes[{i}].duration"))?;
        }
        if self.size_table().is_empty() {
            let why = match self.max_gpus {
                Some(max) => format!(" at or below max_gpus {max}"),
                None => String::new(),
            };
            return fail(
                "sizes",
                format!(
                    "no GPU count with a positive weight{why}; list at least one, e.g. sizes: [{{gpus: {{1: 1}}, duration: {{log_normal: {{median_s: 600, sigma: 1.5}}}}}}]"
                ),
            );
        }
        check_weights(&self.vcs, "vcs", false)?;
        check_weights(&self.gpu_types, "gpu_types", true)?;
        if !(-1..=1000).contains(&self.priority) {
            return fail(
                "priority",
                format!(
                    "must be -1 (opportunistic) or 0..=1000, got {}",
                    self.priority
                ),
            );
        }
        if let (None, Some(_), Some(_)) = (a.jobs_per_hour, a.load, a.cluster_gpus) {
            let mean = self.mean_gpu_seconds();
            if !(mean.is_finite() && mean > 0.0) {
                return fail(
                    "sizes",
                    format!(
                        "the mean GPU-seconds per job is {mean}, so no rate gives the target load; check the duration distributions"
                    ),
                );
            }
        }
        Ok(())
    }
}

fn check_weights(
    weights: &BTreeMap<String, f64>,
    field: &str,
    may_be_empty: bool,
) -> Result<(), GenSpecError> {
    let fail = |field: String, message: String| {
        Err(GenSpecError {
            source_name: "gen-trace spec".to_string(),
            field,
            message,
        })
    };
    for (name, &w) in weights {
        if !(w.is_finite() && w >= 0.0) {
            return fail(
                format!("{field}.{name}"),
                format!("a weight must be a number >= 0, got {w}"),
            );
        }
    }
    let total: f64 = weights.values().sum();
    if !may_be_empty && weights.is_empty() {
        return fail(
            field.to_string(),
            "list at least one VC with a weight, e.g. vcs: {default: 1}".to_string(),
        );
    }
    if !weights.is_empty() && total <= 0.0 {
        return fail(
            field.to_string(),
            "the weights add up to 0; give at least one a positive weight".to_string(),
        );
    }
    Ok(())
}

fn check_duration(dist: &DurationDist, field: &str) -> Result<(), GenSpecError> {
    let fail = |message: String| {
        Err(GenSpecError {
            source_name: "gen-trace spec".to_string(),
            field: field.to_string(),
            message,
        })
    };
    match dist {
        DurationDist::LogNormal { median_s, sigma } => {
            if !(median_s.is_finite() && *median_s > 0.0) {
                return fail(format!(
                    "log_normal.median_s must be > 0 seconds, got {median_s}"
                ));
            }
            if !(sigma.is_finite() && (0.0..=20.0).contains(sigma)) {
                return fail(format!(
                    "log_normal.sigma must be between 0 and 20, got {sigma}"
                ));
            }
        }
        DurationDist::Empirical(knots) => {
            let form = "write empirical: [[0, SECONDS], …, [1, SECONDS]] with probabilities rising from 0 to 1 and seconds > 0, not falling";
            if knots.len() < 2 || knots[0][0] != 0.0 || knots[knots.len() - 1][0] != 1.0 {
                return fail(format!(
                    "the knots must start at probability 0 and end at 1; {form}"
                ));
            }
            for (i, w) in knots.windows(2).enumerate() {
                let ([p0, d0], [p1, d1]) = (w[0], w[1]);
                let ordered = p1 > p0 && d0.is_finite() && d1.is_finite() && d0 > 0.0 && d1 >= d0;
                if !ordered {
                    return fail(format!(
                        "knots {i} and {} ({p0}, {d0}) -> ({p1}, {d1}) are out of order; {form}",
                        i + 1
                    ));
                }
            }
        }
    }
    Ok(())
}

/// A spec that cannot generate a trace: which field and what to change. The caller must
/// fix the spec; nothing was generated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub struct GenSpecError {
    /// The spec file, or `gen-trace spec` for a spec built in code.
    pub source_name: String,
    /// The field at fault as a path (`sizes[0].duration`, `arrival.load`); empty for the
    /// whole spec.
    pub field: String,
    /// What is wrong and what to change.
    pub message: String,
}

impl fmt::Display for GenSpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: ", self.source_name)?;
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        f.write_str(&self.message)
    }
}

// ---- the generator -------------------------------------------------------------------------

/// The stream of jobs of one spec; see [`generate`]. Holds only the spec's tables and the
/// generator state, whatever the trace length.
#[derive(Debug, Clone)]
pub struct Generator {
    rng: ChaCha8Rng,
    /// ((GPU count, class index), cumulative weight).
    sizes: Vec<((u32, usize), f64)>,
    durations: Vec<DurationDist>,
    /// (name, cumulative weight).
    vcs: Vec<(String, f64)>,
    gpu_types: Vec<(String, f64)>,
    /// Mean rate per second and the daily shape (rate factor per hour, averaging 1).
    rate_per_s: f64,
    factors: [f64; 24],
    /// The largest factor: candidates come at `rate_per_s * max_factor` (thinning).
    max_factor: f64,
    /// True when every hour has the same rate (no thinning draws).
    flat: bool,
    now_s: f64,
    emitted: u64,
    jobs: Option<u64>,
    span_ms: Option<SimTimeMs>,
    priority: i32,
    id_prefix: String,
    done: bool,
}

fn cumulative<K: Clone>(items: impl IntoIterator<Item = (K, f64)>) -> Vec<(K, f64)> {
    let mut total = 0.0;
    items
        .into_iter()
        .map(|(k, w)| {
            total += w;
            (k, total)
        })
        .collect()
}

/// Start generating the trace `spec` describes (checked first). The iterator yields jobs
/// in submit order, ids `<id_prefix><index>`, and ends after `jobs` jobs or at `span_s`.
///
/// ```
/// use cellsim::workload::generate::{Arrival, GenSpec, generate};
///
/// // 1,000 Philly-like jobs offering 80% of a 512-GPU cluster.
/// let spec = GenSpec {
///     jobs: Some(1_000),
///     seed: 7,
///     arrival: Arrival::load(0.8, 512),
///     ..GenSpec::philly()
/// };
/// let mut count = 0;
/// for job in generate(&spec)? {
///     assert!(job.gpus >= 1 && job.duration_ms >= 1);
///     count += 1;
/// }
/// assert_eq!(count, 1_000);
/// # Ok::<(), cellsim::workload::GenSpecError>(())
/// ```
pub fn generate(spec: &GenSpec) -> Result<Generator, GenSpecError> {
    spec.check()?;
    let rate_per_s = spec.rate_per_hour() / 3600.0;
    let factors = spec.diurnal.factors();
    let max_factor = factors.iter().copied().fold(0.0, f64::max);
    let sizes = cumulative(
        spec.size_table()
            .into_iter()
            .map(|(g, w, class)| ((g, class), w)),
    );
    Ok(Generator {
        rng: ChaCha8Rng::seed_from_u64(spec.seed),
        sizes,
        durations: spec.sizes.iter().map(|s| s.duration.clone()).collect(),
        vcs: cumulative(spec.vcs.iter().map(|(k, w)| (k.clone(), *w))),
        gpu_types: cumulative(spec.gpu_types.iter().map(|(k, w)| (k.clone(), *w))),
        rate_per_s,
        factors,
        max_factor,
        flat: factors.iter().all(|f| *f == max_factor),
        now_s: 0.0,
        emitted: 0,
        jobs: spec.jobs,
        span_ms: spec.span_s.map(|s| s.saturating_mul(1000)),
        priority: spec.priority,
        id_prefix: spec.id_prefix.clone(),
        done: false,
    })
}

impl Generator {
    /// A uniform number in [0, 1) from the top 53 bits of one `u64`.
    fn uniform(&mut self) -> f64 {
        (self.rng.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// The next arrival time: candidates at the peak rate, each kept with probability
    /// rate(t) / peak rate (thinning), which is exact for a time-varying Poisson process.
    /// The rate is constant within each hour of the day.
    fn next_arrival(&mut self) -> f64 {
        let peak = self.rate_per_s * self.max_factor;
        loop {
            let u = self.uniform();
            self.now_s += -(1.0 - u).ln() / peak;
            if self.flat {
                return self.now_s;
            }
            let hour = ((self.now_s / 3600.0) % 24.0) as usize;
            let keep = self.factors[hour.min(23)] / self.max_factor;
            if self.uniform() < keep {
                return self.now_s;
            }
        }
    }
}

impl Iterator for Generator {
    type Item = TraceJob;

    fn next(&mut self) -> Option<TraceJob> {
        if self.done || self.jobs.is_some_and(|n| self.emitted >= n) {
            self.done = true;
            return None;
        }
        let submit_s = self.next_arrival();
        // Whole milliseconds; f64 holds them exactly far beyond any trace length.
        let submit_ms = (submit_s * 1000.0).round().min(u64::MAX as f64 / 2.0) as SimTimeMs;
        if self.span_ms.is_some_and(|span| submit_ms >= span) {
            self.done = true;
            return None;
        }
        let u = self.uniform();
        let ((gpus, class), _) = self.sizes[pick(&self.sizes, u)];
        let p = self.uniform();
        let seconds = self.durations[class].quantile_s(p);
        let duration_ms = (seconds * 1000.0)
            .round()
            .clamp(1.0, MAX_DURATION_MS as f64) as SimTimeMs;
        let u = self.uniform();
        let vc = self.vcs[pick(&self.vcs, u)].0.clone();
        let gpu_type = if self.gpu_types.is_empty() {
            None
        } else {
            let u = self.uniform();
            Some(self.gpu_types[pick(&self.gpu_types, u)].0.clone())
        };
        let id = format!("{}{}", self.id_prefix, self.emitted);
        self.emitted += 1;
        Some(TraceJob {
            id,
            submit_ms,
            duration_ms,
            gpus,
            vc,
            priority: self.priority,
            gpu_type,
            resources: None,
        })
    }
}

/// Index of the entry whose cumulative weight first exceeds `u * total` (`u` in [0, 1)).
fn pick<T>(table: &[(T, f64)], u: f64) -> usize {
    let total = table.last().map_or(0.0, |t| t.1);
    let target = u * total;
    table
        .partition_point(|t| t.1 <= target)
        .min(table.len().saturating_sub(1))
}

/// The standard normal quantile (Acklam's rational approximation, relative error below
/// 1.2e-9), for 0 < p < 1.
fn inverse_normal_cdf(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const LOW: f64 = 0.024_25;
    if p < LOW {
        let q = (-2.0 * p.ln()).sqrt();
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    } else if p <= 1.0 - LOW {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    } else {
        let q = (-2.0 * (1.0 - p).ln()).sqrt();
        -(((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(jobs: u64) -> GenSpec {
        GenSpec {
            jobs: Some(jobs),
            ..GenSpec::philly()
        }
    }

    #[test]
    fn the_same_seed_gives_the_same_trace() {
        let a: Vec<TraceJob> = generate(&spec(500)).unwrap().collect();
        let b: Vec<TraceJob> = generate(&spec(500)).unwrap().collect();
        assert_eq!(a, b);
        let other = GenSpec {
            seed: 1,
            ..spec(500)
        };
        let c: Vec<TraceJob> = generate(&other).unwrap().collect();
        assert_ne!(a, c);
    }

    #[test]
    fn jobs_come_in_submit_order_with_valid_fields() {
        let jobs: Vec<TraceJob> = generate(&spec(2000)).unwrap().collect();
        assert_eq!(jobs.len(), 2000);
        assert_eq!(jobs[0].id, "gen-0");
        assert!(jobs.windows(2).all(|w| w[0].submit_ms <= w[1].submit_ms));
        assert!(
            jobs.iter()
                .all(|j| j.duration_ms >= 1 && j.gpus >= 1 && j.gpu_type.is_none())
        );
    }

    #[test]
    fn span_ends_the_trace() {
        let spec = GenSpec {
            span_s: Some(86_400),
            ..GenSpec::philly()
        };
        let jobs: Vec<TraceJob> = generate(&spec).unwrap().collect();
        assert!(jobs.iter().all(|j| j.submit_ms < 86_400_000));
        // About 31.5 jobs per hour over a day.
        assert!((600..900).contains(&jobs.len()), "{}", jobs.len());
    }

    #[test]
    fn empirical_quantiles_hit_the_knots_and_interpolate_in_log_space() {
        let d = DurationDist::Empirical(vec![[0.0, 10.0], [0.5, 100.0], [1.0, 1000.0]]);
        assert!((d.quantile_s(0.0) - 10.0).abs() < 1e-9);
        assert!((d.quantile_s(0.5) - 100.0).abs() < 1e-9);
        assert!((d.quantile_s(0.25) - 31.622_776_6).abs() < 1e-6);
        assert_eq!(d.quantile_s(1.0), 1000.0);
        let flat = DurationDist::Empirical(vec![[0.0, 5.0], [1.0, 5.0]]);
        assert_eq!(flat.mean_s(), 5.0);
    }

    #[test]
    fn inverse_normal_cdf_matches_known_values() {
        assert!(inverse_normal_cdf(0.5).abs() < 1e-9);
        assert!((inverse_normal_cdf(0.975) - 1.959_963_985).abs() < 1e-6);
        assert!((inverse_normal_cdf(0.001) + 3.090_232_306).abs() < 1e-6);
    }

    #[test]
    fn target_load_sets_the_rate_from_the_mean_gpu_seconds() {
        let spec = GenSpec {
            arrival: Arrival::load(0.5, 1000),
            ..spec(1)
        };
        let rate = spec.jobs_per_hour().unwrap();
        let expected = 0.5 * 1000.0 * 3600.0 / spec.mean_gpu_seconds();
        assert!((rate - expected).abs() < 1e-9);
    }

    #[test]
    fn bad_specs_say_which_field_and_what_to_do() {
        let cases: Vec<(GenSpec, &str, &str)> = vec![
            (GenSpec::philly(), "jobs", "needs an end"),
            (
                GenSpec {
                    arrival: Arrival {
                        load: Some(0.8),
                        ..Arrival::default()
                    },
                    ..spec(1)
                },
                "arrival.cluster_gpus",
                "cluster's GPU count",
            ),
            (
                GenSpec {
                    diurnal: Diurnal {
                        amplitude: 1.5,
                        ..Diurnal::flat()
                    },
                    ..spec(1)
                },
                "diurnal.amplitude",
                "between 0",
            ),
            (
                GenSpec {
                    max_gpus: Some(0),
                    ..spec(1)
                },
                "sizes",
                "max_gpus 0",
            ),
            (
                GenSpec {
                    vcs: BTreeMap::new(),
                    ..spec(1)
                },
                "vcs",
                "at least one VC",
            ),
            (
                GenSpec {
                    priority: 5000,
                    ..spec(1)
                },
                "priority",
                "-1",
            ),
        ];
        for (spec, field, piece) in cases {
            let err = generate(&spec).unwrap_err();
            assert_eq!(err.field, field, "{err}");
            assert!(err.to_string().contains(piece), "{err}");
        }
    }
}
