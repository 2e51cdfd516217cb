#!/bin/sh
# Stressed openb replays: every 10th GPU node of the openb node list, submit times divided by LOAD.
set -e
O=/work/shared/traces/openb
B=/work/wt-sharing-engine/target/release/cellsim
awk -F, 'NR==1 || (NR-2)%10==0' $O/openb_node_list_gpu_node.csv > nodes-every-10th.csv
for L in 300 1000 3000; do
  for F in share whole; do
    cat > load$L-$F.yaml <<Y
cluster: nodes-every-10th.csv
trace: $O/openb_pod_list_default.csv
fractional: $F
load: $L
models: [shared+fifo, shared+fifo+fgd, shared+priority, shared+priority+fgd]
Y
    /usr/bin/time -f "load $L $F: wall %e s, max RSS %M KB" $B replay --scenario load$L-$F.yaml --out out-$L-$F --replace --quiet
  done
done
