//! Busy GPUs per VC over time as the utilisation plot draws it: one step per distinct time
//! of the timeline, and past [`MAX_PLOT_STEPS`] steps their averages over time buckets (a
//! 100-day trace has ~10^5 changes; more corners than a plot has pixels only make the SVG
//! huge). Works on a stream of points, so a run's steps can be made from a timeline
//! being written (see `report::stream`) as well as from a finished one.

/// Busy GPUs per VC (in the plot's VC order) from a time on.
pub type Step = (u64, Vec<u32>);

/// Steps beyond which the plot averages over [`AVERAGED_BUCKETS`] time buckets.
pub const MAX_PLOT_STEPS: usize = 4_000;

/// Buckets of an averaged plot.
pub const AVERAGED_BUCKETS: u64 = MAX_PLOT_STEPS as u64 / 2;

/// The steps of timeline `points` (time, busy GPUs per VC, in time order) for `vcs` VCs:
/// a zero step at time 0 when the timeline starts later (or is empty), and one step per
/// distinct time, the last point at a time holding from then on.
pub fn steps_of(points: impl IntoIterator<Item = Step>, vcs: usize) -> impl Iterator<Item = Step> {
    let mut points = points.into_iter().peekable();
    let zero = match points.peek() {
        Some((t, _)) if *t == 0 => None,
        _ => Some((0, vec![0; vcs])),
    };
    let mut pending = zero;
    std::iter::from_fn(move || {
        loop {
            match points.next() {
                Some(point) => match pending.take() {
                    // Several points at one time: the last one holds from then on.
                    Some(previous) if previous.0 == point.0 => pending = Some(point),
                    Some(previous) => {
                        pending = Some(point);
                        return Some(previous);
                    }
                    None => pending = Some(point),
                },
                None => return pending.take(),
            }
        }
    })
}

/// `steps` averaged over `buckets` equal time buckets up to `t_end`: per VC the busy GPUs
/// weighted by the time each step holds within the bucket (the last step holds until
/// `t_end`), rounded to whole GPUs. One bucket per step returned, at its start.
pub fn averaged_steps(
    steps: impl IntoIterator<Item = Step>,
    vcs: usize,
    t_end: u64,
    buckets: u64,
) -> Vec<Step> {
    let width = t_end.div_ceil(buckets.max(1)).max(1);
    let count = usize::try_from(t_end.div_ceil(width)).unwrap_or(usize::MAX);
    let mut sums = vec![vec![0u128; vcs]; count];
    // Adds `busy` held over [from, to), clipped to the buckets.
    let mut add = |from: u64, to: u64, busy: &[u32]| {
        let to = to.min(t_end);
        let mut b = usize::try_from(from / width).unwrap_or(usize::MAX);
        while from < to && b < count {
            let start = b as u64 * width;
            if start >= to {
                break;
            }
            let end = (start + width).min(t_end);
            let held = u128::from(to.min(end) - from.max(start));
            for (sum, &gpus) in sums[b].iter_mut().zip(busy) {
                *sum += u128::from(gpus) * held;
            }
            b += 1;
        }
    };
    let mut previous: Option<Step> = None;
    for step in steps {
        if let Some((t, busy)) = previous.take() {
            add(t, step.0, &busy);
        }
        previous = Some(step);
    }
    if let Some((t, busy)) = previous {
        add(t, t_end, &busy);
    }
    sums.into_iter()
        .enumerate()
        .map(|(b, sums)| {
            let start = b as u64 * width;
            let span = u128::from((start + width).min(t_end) - start);
            let mean = sums
                .iter()
                .map(|&s| u32::try_from((s + span / 2) / span).unwrap_or(u32::MAX))
                .collect();
            (start, mean)
        })
        .collect()
}

/// The plot's steps of a timeline whose points are `points`, for a run that ended at
/// `end_ms`: the steps themselves, or their bucket averages when there are too many.
pub fn plot_steps(points: impl IntoIterator<Item = Step>, vcs: usize, end_ms: u64) -> Vec<Step> {
    let steps: Vec<Step> = steps_of(points, vcs).collect();
    if steps.len() > MAX_PLOT_STEPS {
        let t_end = end_ms.max(steps.last().map_or(0, |s| s.0));
        return averaged_steps(steps, vcs, t_end, AVERAGED_BUCKETS);
    }
    steps
}

/// The timeline's points as they come, kept as changes (each point's columns that differ
/// from the point before), so that a plot can be drawn from them at the end without
/// reading `timeline.csv` back: a run's point changes a column or two, so a
/// 1,000-ClusterQueue timeline of 80,000 points takes a megabyte here, not the 320 MB of
/// its rows. Also counts the steps, to know whether the plot will average them.
#[derive(Debug, Default)]
pub struct StepCounter {
    /// Per point: its time and the end of its changes in `changes`.
    points: Vec<(u64, usize)>,
    /// `(column, value)` of every point against the point before (the first against 0s).
    changes: Vec<(u32, u32)>,
    /// The last point's values.
    last: Vec<u32>,
    distinct_times: usize,
    first_t: Option<u64>,
    last_t: u64,
}

impl StepCounter {
    /// Takes the next point (in time order): its values per column, every point with the
    /// same number of columns.
    pub fn push(&mut self, t: u64, values: &[u32]) {
        if self.first_t.is_none() || t != self.last_t {
            self.distinct_times += 1;
        }
        self.first_t.get_or_insert(t);
        self.last_t = t;
        self.last.resize(values.len(), 0);
        for (column, (last, &value)) in self.last.iter_mut().zip(values).enumerate() {
            if *last != value {
                *last = value;
                self.changes
                    .push((u32::try_from(column).unwrap_or(u32::MAX), value));
            }
        }
        self.points.push((t, self.changes.len()));
    }

    /// Whether the points make more steps than a plot draws (it then averages them over
    /// time buckets, [`averaged_steps`]).
    pub fn too_many(&self) -> bool {
        let zero_step = usize::from(self.first_t != Some(0));
        self.distinct_times + zero_step > MAX_PLOT_STEPS
    }

    /// The points again, in order, each with all its columns.
    pub fn into_points(self) -> impl Iterator<Item = Step> {
        let mut row = vec![0; self.last.len()];
        let mut from = 0;
        let changes = self.changes;
        self.points.into_iter().map(move |(t, to)| {
            for &(column, value) in &changes[from..to] {
                row[column as usize] = value;
            }
            from = to;
            (t, row.clone())
        })
    }

    /// Time of the last point.
    pub fn last_t(&self) -> u64 {
        self.last_t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bucket averages as first written: per bucket, a walk over the steps that hold
    /// in it. The sweep in [`averaged_steps`] must give the same numbers.
    fn averaged_by_bucket(steps: &[Step], t_end: u64, buckets: u64) -> Vec<Step> {
        let vcs = steps.first().map_or(0, |s| s.1.len());
        let width = t_end.div_ceil(buckets).max(1);
        let mut out = Vec::new();
        let (mut i, mut start) = (0, 0);
        while start < t_end {
            let end = (start + width).min(t_end);
            let mut sums = vec![0u128; vcs];
            while i + 1 < steps.len() && steps[i + 1].0 <= start {
                i += 1;
            }
            let mut j = i;
            while j < steps.len() && steps[j].0 < end {
                let from = steps[j].0.max(start);
                let to = steps.get(j + 1).map_or(end, |next| next.0.min(end));
                for (sum, &busy) in sums.iter_mut().zip(&steps[j].1) {
                    *sum += u128::from(busy) * u128::from(to.saturating_sub(from));
                }
                j += 1;
            }
            let span = u128::from(end - start);
            out.push((
                start,
                sums.iter()
                    .map(|&s| ((s + span / 2) / span) as u32)
                    .collect(),
            ));
            start = end;
        }
        out
    }

    #[test]
    fn steps_start_at_zero_and_keep_the_last_point_of_a_time() {
        let points = vec![(5, vec![1]), (5, vec![2]), (9, vec![3])];
        let steps: Vec<Step> = steps_of(points, 1).collect();
        assert_eq!(steps, vec![(0, vec![0]), (5, vec![2]), (9, vec![3])]);
        let empty: Vec<Step> = steps_of(Vec::new(), 2).collect();
        assert_eq!(empty, vec![(0, vec![0, 0])]);
    }

    #[test]
    fn the_sweep_averages_as_the_bucket_walk_does() {
        // A pseudo-random timeline: uneven gaps, two VCs, a last step before the end.
        let mut steps = vec![(0, vec![0, 0])];
        let mut t = 0;
        for k in 0u64..5_000 {
            t += (k * 7919) % 97 + 1;
            steps.push((t, vec![(k % 13) as u32, (k * 31 % 17) as u32]));
        }
        for (t_end, buckets) in [(t + 500, 2_000), (t, 7), (t + 1, 1), (3, 2_000)] {
            assert_eq!(
                averaged_steps(steps.clone(), 2, t_end, buckets),
                averaged_by_bucket(&steps, t_end, buckets),
                "t_end {t_end}, {buckets} buckets"
            );
        }
    }

    #[test]
    fn the_counter_gives_back_every_point_and_knows_when_a_plot_averages() {
        let mut few = StepCounter::default();
        for t in 1..=(MAX_PLOT_STEPS as u64 - 1) {
            few.push(t, &[1]);
        }
        assert!(!few.too_many(), "4,000 steps with the zero step");
        let points: Vec<Step> = few.into_points().collect();
        assert_eq!(
            plot_steps(points, 1, 0).len(),
            MAX_PLOT_STEPS,
            "drawn as they are"
        );
        let mut many = StepCounter::default();
        for t in 1..=(MAX_PLOT_STEPS as u64) {
            many.push(t, &[1]);
        }
        assert_eq!(many.last_t(), MAX_PLOT_STEPS as u64);
        assert!(many.too_many(), "4,001 steps are averaged");
        // Points come back whole, however few columns each one changed.
        let rows = [
            (0, vec![0, 0, 5]),
            (3, vec![2, 0, 5]),
            (3, vec![2, 0, 5]),
            (8, vec![0, 7, 4]),
        ];
        let mut counter = StepCounter::default();
        for (t, values) in &rows {
            counter.push(*t, values);
        }
        assert_eq!(counter.into_points().collect::<Vec<_>>(), rows.to_vec());
    }
}
