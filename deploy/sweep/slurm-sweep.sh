#!/usr/bin/env bash
# A cellsim sweep as a Slurm job array: task I of N runs shard I/N into
# RESULTS/shard-I, and a merge job that starts when every task succeeded joins them into
# RESULTS/merged (the same bytes one unsharded `cellsim sweep` writes).
#
#   deploy/sweep/slurm-sweep.sh SWEEP.yaml RESULTS [SHARDS] [CPUS_PER_SHARD]
#
# Needs `cellsim` on the compute nodes' PATH (cargo install --path .) and RESULTS on a
# file system they share. A task that is pre-empted or loses its node is requeued by Slurm
# (--requeue) and resumes from the runs.jsonl in its folder (--resume); a task that failed
# can be requeued by hand (scontrol requeue JOBID_TASK) to the same effect. Partition,
# account and time limit come from SBATCH_PARTITION, SBATCH_ACCOUNT and SBATCH_TIMELIMIT
# (see deploy/sweep/README.md).
set -euo pipefail

if [ $# -lt 2 ]; then
    echo "usage: $0 SWEEP.yaml RESULTS [SHARDS (default 8)] [CPUS_PER_SHARD (default 2)]" >&2
    exit 2
fi
sweep=$(realpath "$1")
results=$(realpath -m "$2")
shards=${3:-8}
cpus=${4:-2}
mkdir -p "$results"

array_job=$(sbatch --parsable \
    --job-name=cellsim-sweep \
    --array="1-${shards}" \
    --cpus-per-task="$cpus" \
    --requeue \
    --open-mode=append \
    --output="$results/slurm-%A_%a.out" \
    --wrap="cellsim sweep '$sweep' --quiet --resume --shard \${SLURM_ARRAY_TASK_ID}/${shards} --jobs ${cpus} --out '$results'/shard-\${SLURM_ARRAY_TASK_ID}")

merge_job=$(sbatch --parsable \
    --job-name=cellsim-sweep-merge \
    --dependency="afterok:${array_job}" \
    --output="$results/slurm-merge-%j.out" \
    --wrap="cellsim merge --out '$results/merged' '$results'/shard-*")

echo "submitted shards as job array ${array_job} and the merge as job ${merge_job}"
echo "results: $results/merged (points.csv, points.json, p95-wait.svg)"
