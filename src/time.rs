//! Durations as people read them: the one format of every console table, report page,
//! lab answer, comparison, plan and plot axis (issue 16). Machine outputs (CSV, JSON,
//! `events.log`) keep their own documented units and do not use this module.
//!
//! The format: under a minute, seconds with up to three decimals (`0s`, `42.5s`,
//! `0.25s`); under a day, `HH:MM:SS` (`04:05:06`); from a day on, days then the clock
//! (`3d 04:05:06`, `41d 00:00:00`). Sub-second parts of durations over a minute are
//! dropped (truncated), as they were in the older clock formats.

use crate::sim::SimTimeMs;

/// Milliseconds in a day.
pub const DAY_MS: SimTimeMs = 86_400_000;

/// A duration in the one human format: `42.5s`, `04:05:06` or `3d 04:05:06`.
pub fn human_duration(ms: SimTimeMs) -> String {
    if ms < 60_000 {
        let whole = ms / 1000;
        let frac = ms % 1000;
        if frac == 0 {
            return format!("{whole}s");
        }
        let digits = format!("{frac:03}");
        return format!("{whole}.{}s", digits.trim_end_matches('0'));
    }
    let s = ms / 1000;
    let clock = format!("{:02}:{:02}:{:02}", s / 3600 % 24, s / 60 % 60, s % 60);
    let days = ms / DAY_MS;
    if days == 0 {
        clock
    } else {
        format!("{days}d {clock}")
    }
}

/// A signed difference in the same format, with `+` or `-` (`+00:05:00`, `-42.5s`,
/// `0s` for none).
pub fn human_signed(ms: i64) -> String {
    match ms {
        0 => "0s".to_string(),
        d if d < 0 => format!("-{}", human_duration(d.unsigned_abs())),
        d => format!("+{}", human_duration(d.unsigned_abs())),
    }
}

/// [`human_duration`] of a value, or `-` when there is none.
pub fn human_or_dash(ms: Option<SimTimeMs>) -> String {
    ms.map_or_else(|| "-".to_string(), human_duration)
}

/// A step for time-axis ticks over a span of `span_ms`: a round duration (seconds,
/// minutes, hours, days, weeks) that gives at most about `max_ticks` ticks.
pub fn tick_step(span_ms: SimTimeMs, max_ticks: u64) -> SimTimeMs {
    const STEPS: [SimTimeMs; 31] = [
        1,
        2,
        5,
        10,
        20,
        50,
        100,
        200,
        500,
        1_000,
        2_000,
        5_000,
        10_000,
        15_000,
        30_000,
        60_000,
        120_000,
        300_000,
        600_000,
        900_000,
        1_800_000,
        3_600_000,
        7_200_000,
        10_800_000,
        21_600_000,
        43_200_000,
        DAY_MS,
        2 * DAY_MS,
        7 * DAY_MS,
        14 * DAY_MS,
        28 * DAY_MS,
    ];
    let max_ticks = max_ticks.max(1);
    STEPS
        .iter()
        .copied()
        .find(|step| span_ms / step <= max_ticks)
        .unwrap_or_else(|| {
            // Beyond 28-day steps: whole multiples of 28 days.
            let weeks4 = span_ms / (28 * DAY_MS) / max_ticks + 1;
            weeks4 * 28 * DAY_MS
        })
}

/// A time-axis label: [`human_duration`], shortened to `3d` for whole days so that the
/// round ticks of long runs stay short.
pub fn axis_label(ms: SimTimeMs) -> String {
    if ms > 0 && ms.is_multiple_of(DAY_MS) {
        format!("{}d", ms / DAY_MS)
    } else {
        human_duration(ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_durations_are_seconds_with_decimals() {
        assert_eq!(human_duration(0), "0s");
        assert_eq!(human_duration(42_500), "42.5s");
        assert_eq!(human_duration(250), "0.25s");
        assert_eq!(human_duration(59_999), "59.999s");
    }

    #[test]
    fn hours_are_a_clock_and_days_come_first_past_24h() {
        assert_eq!(human_duration(60_000), "00:01:00");
        assert_eq!(human_duration(14_706_000), "04:05:06");
        assert_eq!(human_duration(3 * DAY_MS + 14_706_000), "3d 04:05:06");
        // 2376 hours, the axis label issue 16 quotes.
        assert_eq!(human_duration(2376 * 3_600_000), "99d 00:00:00");
    }

    #[test]
    fn signed_differences_carry_their_sign() {
        assert_eq!(human_signed(-42_500), "-42.5s");
        assert_eq!(human_signed(300_000), "+00:05:00");
        assert_eq!(human_signed(0), "0s");
    }

    #[test]
    fn tick_steps_are_round_and_few() {
        assert_eq!(tick_step(100 * DAY_MS, 8), 14 * DAY_MS);
        assert_eq!(tick_step(3_600_000, 8), 600_000);
        assert_eq!(tick_step(0, 8), 1);
        assert_eq!(tick_step(60_000, 8), 10_000);
        assert!(1000 * DAY_MS / tick_step(1000 * DAY_MS, 8) <= 8);
        assert_eq!(axis_label(14 * DAY_MS), "14d");
        assert_eq!(axis_label(7_200_000), "02:00:00");
        assert_eq!(axis_label(DAY_MS + 7_200_000), "1d 02:00:00");
        assert_eq!(axis_label(30_000), "30s");
        assert_eq!(axis_label(0), "0s");
    }
}
