#!/bin/bash
# callgrind-offers.sh BINARY MODEL TAG: instructions in the model's offer calls (run from a folder holding
# inputs/ made by ../2026-11-25-engine-bench-2/make-check-inputs.py) on the 40,000-job bench trace.
B=$1; M=$2; T=$3
case $M in hived) P='*Hived*as*cellsim::sched::Scheduler*';; fifo) P='*Fifo*as*cellsim::sched::Scheduler*';; yarn-cs) P='*YarnCs*as*cellsim::sched::Scheduler*';; esac
rm -rf cgo-$T-$M && valgrind --tool=callgrind --callgrind-out-file=./cg-$T-$M.out --toggle-collect="${P}offer*" --toggle-collect="${P}release*" $B replay --cluster inputs/bench-cluster.yaml --trace inputs/bench-40k.csv --model $M --out ./cgo-$T-$M --quiet > ./cg-$T-$M.log 2>&1
echo "$T $M $(grep -m1 '^summary' ./cg-$T-$M.out)"
