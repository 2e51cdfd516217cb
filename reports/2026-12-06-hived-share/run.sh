#!/bin/sh
# openb default pod list with GPU shares under hived+fifo beside the pool models, on
# every 10th GPU node of the openb node list, submit times divided by 200 (run from this
# folder; writes node lists, scenarios and out-* here).
set -e
O=../../../shared/traces/openb
B=../../target/release/cellsim
awk -F, 'NR==1 || (NR-2)%10==0' $O/openb_node_list_gpu_node.csv > nodes_tenth.csv
# The same nodes with CPU and memory too large to matter: GPUs alone decide.
awk -F, 'BEGIN{OFS=","} NR==1{print;next}{$2=100000000;$3=1000000000;print}' nodes_tenth.csv > nodes_tenth_gpuonly.csv
for C in nodes_tenth nodes_tenth_gpuonly; do
  cat > $C-load200.yaml <<Y
cluster: $C.csv
clusterFormat: openb
trace: $O/openb_pod_list_default.csv
format: openb
fractional: share
models: [hived+fifo, isolated+fifo, shared+fifo+fgd, shared+fifo]
load: 200
Y
  /usr/bin/time -f "$C 4 models: wall %e s, user %U s, max RSS %M KB" $B replay --scenario $C-load200.yaml --out out-$C --replace
done
# Each model alone (times), and hived+fifo reading the shares as whole GPUs.
for M in hived+fifo shared+fifo+fgd; do
  sed "s/^models:.*/models: [$M]/" nodes_tenth-load200.yaml > one.yaml
  /usr/bin/time -f "$M alone: wall %e s, user %U s, max RSS %M KB" $B replay --scenario one.yaml --out out-one --replace --quiet
done
sed "s/^models:.*/models: [hived+fifo]/; s/fractional: share/fractional: whole/" nodes_tenth-load200.yaml > one.yaml
/usr/bin/time -f "hived+fifo whole: wall %e s, user %U s, max RSS %M KB" $B replay --scenario one.yaml --out out-one --replace
