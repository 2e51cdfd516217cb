#!/usr/bin/env bash
# Runs the Slurm recipe (slurm-sweep.sh) end to end on a real one-machine Slurm cluster:
# installs slurm-wlm and munge if missing, starts munged, slurmctld and slurmd with all
# state in a temporary folder (this machine is the controller and one compute node with
# 2 CPUs), submits the sweep, waits for the merge job and stops everything again.
#
#   deploy/sweep/test-real-slurm.sh SWEEP.yaml RESULTS [SHARDS (default 3)]
#
# `cellsim` must be on PATH: jobs get the submitter's environment (sbatch --export=ALL).
# Exit 0: the merge job completed (RESULTS/merged holds the output). Exit 77: Slurm cannot
# be installed or started here (not root, no apt-get) and CI is not "true", so a caller may
# skip. Any other exit: the recipe failed; the daemons' logs are printed.
# Runs one at a time per machine (a lock), since the daemons use Slurm's default ports.
set -euo pipefail

if [ $# -lt 2 ]; then
    echo "usage: $0 SWEEP.yaml RESULTS [SHARDS (default 3)]" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
sweep=$(realpath "$1")
results=$(realpath -m "$2")
shards=${3:-3}
wait_s=${SLURM_TEST_WAIT_S:-150}

# Slurm cannot run here: skip (exit 77), unless in CI, where it is a failure.
unavailable() {
    if [ "${CI:-}" = "true" ]; then
        echo "test-real-slurm: $1 (CI=true, so this is a failure, not a skip)" >&2
        exit 1
    fi
    echo "test-real-slurm: skipping: $1" >&2
    exit 77
}

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
    || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
        unavailable "slurm-wlm and munge are not installed and cannot be (needs root and apt-get)"
    fi
    echo "test-real-slurm: installing slurm-wlm and munge" >&2
    # A fresh machine has no package lists yet: refresh them first.
    apt-get update -q >/dev/null || unavailable "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q slurm-wlm munge >/dev/null \
        || unavailable "apt-get install slurm-wlm munge failed"
fi
if [ "$(id -u)" != 0 ]; then
    unavailable "starting slurmd needs root"
fi

exec 9>/tmp/cellsim-test-real-slurm.lock
flock 9

work=$(mktemp -d /tmp/cellsim-slurm.XXXXXX)
mkdir -p "$work/state" "$work/spool" "$work/munge"
chmod 700 "$work/munge"
pids=()
cleanup() {
    local status=$?
    for pid in "${pids[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    if [ "$status" != 0 ] && [ "${#pids[@]}" -gt 0 ]; then
        for log in slurmctld.log slurmd.log munged.log; do
            echo "--- $log (last 30 lines)" >&2
            tail -n 30 "$work/$log" >&2 2>/dev/null || true
        done
    fi
    rm -rf "$work"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

host=$(hostname -s)
socket="$work/munge/munge.socket"
dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$work/munge/munge.key"
# --force: munged refuses to run as root otherwise; --foreground so that we own the pid.
munged --foreground --force --key-file="$work/munge/munge.key" --socket="$socket" \
    --pid-file="$work/munge/munged.pid" --log-file="$work/munged.log" \
    --seed-file="$work/munge/munged.seed" >/dev/null 2>&1 &
pids+=($!)

export SLURM_CONF="$work/slurm.conf"
cat >"$SLURM_CONF" <<EOF
ClusterName=cellsim-test
SlurmctldHost=$host
SlurmUser=root
AuthType=auth/munge
# cred_expire: a requeued job may start again cred_expire + 1 s later (default 120 s).
AuthInfo=socket=$socket,cred_expire=10
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
ReturnToService=2
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/slurmctld.log
SlurmdLogFile=$work/slurmd.log
NodeName=$host CPUs=2 RealMemory=1000 State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF

for _ in $(seq 50); do
    [ -S "$socket" ] && break
    sleep 0.1
done
[ -S "$socket" ] || unavailable "munged did not start"

# -D: stay in the foreground so that the trap stops exactly these processes; -c: start clean.
slurmctld -D -c -f "$SLURM_CONF" >/dev/null 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" >/dev/null 2>&1 &
pids+=($!)

up=""
for _ in $(seq 100); do
    if [ "$(sinfo -h -n "$host" -o %t 2>/dev/null)" = "idle" ]; then
        up=yes
        break
    fi
    sleep 0.2
done
[ -n "$up" ] || unavailable "slurmctld and slurmd did not bring node $host up within 20 s"
echo "test-real-slurm: Slurm $(sinfo --version | cut -d' ' -f2) is up on $host" >&2

out=$(bash "$here/slurm-sweep.sh" "$sweep" "$results" "$shards" 1)
echo "$out"
merge_job=$(echo "$out" | sed -n 's/.* as job \([0-9]*\)$/\1/p')
if [ -z "$merge_job" ]; then
    echo "test-real-slurm: could not read the merge job's id from: $out" >&2
    exit 1
fi

# Wait until the merge job leaves the queue; a merge whose dependency can never be met
# (a shard failed for good) stays pending, so that ends the wait as a failure too.
deadline=$((SECONDS + wait_s))
while :; do
    line=$(squeue -h -j "$merge_job" -o '%T %r' 2>/dev/null || true)
    [ -z "$line" ] && break
    if [[ "$line" == *DependencyNeverSatisfied* ]]; then
        echo "test-real-slurm: a shard failed, so the merge job $merge_job will never run" >&2
        squeue -a >&2 || true
        exit 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
        echo "test-real-slurm: the merge job $merge_job is still '$line' after ${wait_s} s" >&2
        squeue -a >&2 || true
        exit 1
    fi
    sleep 1
done
state=$(scontrol -o show job "$merge_job" | grep -o 'JobState=[A-Z_]*' || true)
if [ "$state" != "JobState=COMPLETED" ]; then
    echo "test-real-slurm: the merge job $merge_job ended with ${state:-no state}" >&2
    cat "$results"/slurm-merge-*.out >&2 2>/dev/null || true
    exit 1
fi
echo "test-real-slurm: the merge job $merge_job completed; output in $results/merged"
