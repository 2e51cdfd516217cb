#!/usr/bin/env python3
"""Fit cellsim's gen-trace defaults to the Philly trace (stdlib only).

Usage: python3 fit.py [../../../shared/traces/philly/philly.csv]

Prints the fitted numbers as the Rust constants of src/workload/generate.rs
(PHILLY_* constants), then the statistics the README quotes. All 82,247 rows are used
as they are (the 65 exact duplicate rows change no printed digit that matters).
"""
import csv
import datetime
import math
import os
import sys
from collections import Counter, defaultdict

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT = os.path.join(HERE, "..", "..", "..", "shared", "traces", "philly", "philly.csv")
# Probabilities of the knots of each empirical duration distribution.
KNOTS = [0.0, 0.01, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.998, 0.999, 0.9995, 1.0]
# Size classes: jobs of these GPU counts share one duration distribution.
CLASSES = [("1", lambda g: g == 1), ("2", lambda g: g == 2), ("4", lambda g: g == 4),
           ("8", lambda g: g == 8), ("MORE", lambda g: g > 8)]


def quantile(sorted_values, p):
    """Linear interpolation between order statistics (type 7)."""
    n = len(sorted_values)
    h = (n - 1) * p
    lo = math.floor(h)
    hi = min(lo + 1, n - 1)
    return sorted_values[lo] + (h - lo) * (sorted_values[hi] - sorted_values[lo])


def table_mean(knots):
    """Mean of the log-linear piecewise distribution through the (p, d) knots."""
    mean = 0.0
    for (p0, d0), (p1, d1) in zip(knots, knots[1:]):
        if d1 == d0:
            mean += (p1 - p0) * d0
        else:
            mean += (p1 - p0) * (d1 - d0) / math.log(d1 / d0)
    return mean


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT
    rows = list(csv.DictReader(open(path)))
    n = len(rows)
    stamps = [datetime.datetime.strptime(r["timestamp"], "%Y-%m-%d %H:%M:%S") for r in rows]
    span_s = (max(stamps) - min(stamps)).total_seconds()
    per_hour = n / (span_s / 3600)
    gpus = Counter(int(r["num_gpus"]) for r in rows)
    durations = defaultdict(list)
    for r in rows:
        g = int(r["num_gpus"])
        name = next(c for c, test in CLASSES if test(g))
        durations[name].append(float(r["duration"]))
    hours = [t.hour + t.minute / 60 + t.second / 3600 for t in stamps]
    c = sum(math.cos(2 * math.pi * h / 24) for h in hours) / n
    s = sum(math.sin(2 * math.pi * h / 24) for h in hours) / n
    amplitude = 2 * math.hypot(c, s)
    peak = (math.atan2(s, c) * 24 / (2 * math.pi)) % 24
    vcs = Counter(r["cluster"] for r in rows)

    print(f"// {n} jobs over {span_s / 86400:.3f} days")
    print(f"const PHILLY_JOBS_PER_HOUR: f64 = {per_hour:.3f};")
    print(f"const PHILLY_DIURNAL_AMPLITUDE: f64 = {amplitude:.3f};")
    print(f"const PHILLY_DIURNAL_PEAK_HOUR: f64 = {peak:.2f};")
    by_hour = Counter(t.hour for t in stamps)
    print("const PHILLY_HOURLY_JOBS: [u64; 24] = [%s];" % ", ".join(str(by_hour[h]) for h in range(24)))
    print("const PHILLY_GPU_COUNTS: [(u32, u64); %d] = [%s];" % (
        len(gpus), ", ".join(f"({g}, {k})" for g, k in sorted(gpus.items()))))
    model_gd = 0.0
    for name, _ in CLASSES:
        values = sorted(durations[name])
        knots = [(p, quantile(values, p)) for p in KNOTS]
        print(f"// {name}: {len(values)} jobs, mean {sum(values) / len(values):.0f} s, "
              f"table mean {table_mean(knots):.0f} s")
        print(f"const PHILLY_DURATION_{name}: [(f64, f64); {len(KNOTS)}] = [")
        print("    " + ", ".join(f"({p}, {d:.1f})" for p, d in knots) + ",")
        print("];")
        class_gpus = sum(g * k for g, k in gpus.items() if dict(CLASSES)[name](g))
        model_gd += class_gpus / n * table_mean(knots)
    print("const PHILLY_VC_JOBS: [(&str, u64); %d] = [%s];" % (
        len(vcs), ", ".join(f'("{v}", {k})' for v, k in sorted(vcs.items()))))
    gpu_time = sum(float(r["gpu_time"]) for r in rows)
    print(f"// mean GPU-seconds per job: trace {gpu_time / n:.0f}, fitted model {model_gd:.0f}")
    print(f"// offered GPUs (mean busy): {gpu_time / span_s:.1f}")
    everything = sorted(float(r["duration"]) for r in rows)
    print("// all-jobs duration quantiles: " + ", ".join(
        f"p{int(p * 1000) / 10:g}={quantile(everything, p):.0f}"
        for p in [0.1, 0.25, 0.5, 0.75, 0.9, 0.99]))


if __name__ == "__main__":
    main()
