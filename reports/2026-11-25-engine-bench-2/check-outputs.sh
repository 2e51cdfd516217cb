#!/bin/bash
# Runs every output the decision check compares: the Philly replay (3 models), the bench
# cluster under two bench-shaped traces (3 models), the scenarios, the replay example and
# all labs. Usage (from the crate root): check-outputs.sh BINARY OUTDIR INPUTS
# where INPUTS holds what make-check-inputs.py writes. Compare two OUTDIRs with
# `diff -r` (stdout files differ only in the OUTDIR path they print).
set -e
B=$1; O=$2; I=$3; rm -rf "$O"; mkdir -p "$O"
S=/work/shared/traces/philly
$B replay --cluster $S/cluster_machine_list --trace $S/philly.csv --model hived --model yarn-cs --model fifo --out $O/philly --quiet > $O/philly.stdout 2> $O/philly.stderr
$B replay --cluster $I/bench-cluster.yaml --trace $I/bench-40k.csv --model hived --model yarn-cs --model fifo --out $O/bench40k --quiet > $O/bench40k.stdout 2>$O/bench40k.stderr
$B replay --cluster $I/bench-cluster.yaml --trace $I/heavy-15k.csv --model hived --model yarn-cs --model fifo --out $O/heavy --quiet > $O/heavy.stdout 2>$O/heavy.stderr
for s in scenarios/default.yaml scenarios/example.yaml scenarios/demos/sharing-anomaly.yaml scenarios/regression/scenario.yaml; do
  n=$(echo $s | tr / _)
  $B run $s --out $O/$n --quiet > $O/$n.stdout 2>$O/$n.stderr || echo "run $s rc=$?"
done
$B replay --scenario scenarios/replay/example.yaml --out $O/replay-example --quiet > $O/replay-example.stdout 2>$O/replay-example.stderr || echo "replay example rc=$?"
$B lab all --out $O/labs > $O/labs.stdout 2>$O/labs.stderr || echo "lab rc=$?"
