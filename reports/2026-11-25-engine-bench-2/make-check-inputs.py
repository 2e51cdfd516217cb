"""Writes the inputs of check-outputs.sh into the current folder: the engine bench's
cluster as a HiveD config (bench-cluster.yaml) and two seeded native-CSV traces shaped
like the bench workload (bench-40k.csv: 40,000 jobs at a 14 s mean gap; heavy-15k.csv:
15,000 jobs at 11 s, with queues, preemptions and yarn-cs reclaims). Python 3, no deps."""
import math
import random

random.seed(20261125)
y = ("physicalCluster:\n  cellTypes:\n"
     "    PCIE-SWITCH: {childCellType: V100, childCellNumber: 2}\n"
     "    CPU-SOCKET: {childCellType: PCIE-SWITCH, childCellNumber: 2}\n"
     "    NODE: {childCellType: CPU-SOCKET, childCellNumber: 2, isNodeLevel: true}\n"
     "    RACK: {childCellType: NODE, childCellNumber: 10}\n  physicalCells:\n")
for r in range(25):
    y += "  - cellType: RACK\n    cellChildren:\n"
    for n in range(10):
        y += f"    - cellAddress: r{r:02}-n{n:02}\n"
y += """virtualClusters:
  vc-a:
    virtualCells:
    - {cellType: RACK, cellNumber: 9}
  vc-b:
    virtualCells:
    - {cellType: RACK, cellNumber: 6}
  vc-c:
    virtualCells:
    - {cellType: RACK, cellNumber: 4}
    - {cellType: RACK.NODE, cellNumber: 20}
  vc-d:
    virtualCells:
    - {cellType: RACK.NODE, cellNumber: 40}
"""
open("bench-cluster.yaml", "w").write(y)


def pick(items):
    x = random.randrange(sum(w for _, w in items))
    for item, w in items:
        if x < w:
            return item
        x -= w


def trace(path, jobs, gap_s):
    shapes = [(1, 35), (2, 20), (4, 15), (8, 15), (16, 10), (32, 5)]
    vcs = [("vc-a", 720), ("vc-b", 480), ("vc-c", 480), ("vc-d", 320)]
    classes = [("test", 70), ("prod", 20), ("oppo", 10)]
    t = 0.0
    with open(path, "w") as f:
        f.write("id,submit_s,duration_s,gpus,vc,priority\n")
        for i in range(jobs):
            t += random.expovariate(1 / gap_s)
            d = min(max(1200 * math.exp(1.5 * random.gauss(0, 1)), 60), 86400)
            f.write(f"j{i:06},{int(t)},{int(d)},{pick(shapes)},{pick(vcs)},{pick(classes)}\n")


trace("bench-40k.csv", 40000, 14)
trace("heavy-15k.csv", 15000, 11)
