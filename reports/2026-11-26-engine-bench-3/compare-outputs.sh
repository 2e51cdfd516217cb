#!/bin/bash
# compare-outputs.sh A B: compares two check-outputs.sh folders file by file (stdout files with
# the output folder masked); prints the files that differ and the count.
A=$1; B=$2; bad=0
n=0
for f in $(cd $A && find . -type f | sort); do
  n=$((n+1))
  if [[ $f == *.stdout ]]; then
    if ! diff -q <(sed "s#$A#OUT#g" $A/$f) <(sed "s#$B#OUT#g" $B/$f) >/dev/null; then echo "DIFF $f"; bad=1; fi
  else
    if ! cmp -s $A/$f $B/$f; then echo "DIFF $f"; bad=1; fi
  fi
done
nb=$(cd $B && find . -type f | wc -l)
echo "files: $n vs $nb; differing: $bad"
