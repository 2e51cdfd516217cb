//! The points of a sweep: the cartesian product of its axes in a fixed order (nodes,
//! share, kueue quota, load, model, seed; the last varies fastest), each with an index and a key that
//! names it. Shards take every N-th point, so slow and fast points spread evenly.

use serde::{Deserialize, Serialize};

use super::spec::Axes;

/// One run of a sweep: the base with these settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Point {
    /// Position in the sweep (0-based): outputs are sorted by it.
    pub index: usize,
    /// Nodes of the nodes axis' SKU added (negative: removed); 0 without that axis.
    pub nodes_added: i64,
    /// The share axis' VC's fraction of the GPUs; `None` without that axis.
    pub vc_share: Option<f64>,
    /// The Kueue axis' quota (GPUs); `None` without that axis (and then not written, so
    /// results of other sweeps keep their bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kueue_quota: Option<u64>,
    /// Load factor (1.0: the trace as is).
    pub load: f64,
    /// Scheduler model.
    pub model: String,
    /// Seed.
    pub seed: u64,
}

impl Point {
    /// A readable name, unique in the sweep: `nodes=+8 load=1 model=hived seed=1`.
    pub fn key(&self) -> String {
        let mut key = format!("nodes={:+}", self.nodes_added);
        if let Some(share) = self.vc_share {
            key.push_str(&format!(" share={share}"));
        }
        if let Some(quota) = self.kueue_quota {
            key.push_str(&format!(" kueue={quota}"));
        }
        key.push_str(&format!(
            " load={} model={} seed={}",
            self.load, self.model, self.seed
        ));
        key
    }
}

/// Every point of `axes`, in sweep order.
pub fn expand(axes: &Axes) -> Vec<Point> {
    let nodes: Vec<i64> = axes
        .nodes
        .as_ref()
        .map_or_else(|| vec![0], |n| n.values.clone());
    let shares: Vec<Option<f64>> = axes.share.as_ref().map_or_else(
        || vec![None],
        |s| s.values.iter().copied().map(Some).collect(),
    );
    let quotas: Vec<Option<u64>> = axes.kueue.as_ref().map_or_else(
        || vec![None],
        |k| k.values.iter().copied().map(Some).collect(),
    );
    let mut points = Vec::new();
    for &nodes_added in &nodes {
        for &vc_share in &shares {
            for &kueue_quota in &quotas {
                for &load in &axes.load {
                    for model in &axes.models {
                        for &seed in &axes.seeds {
                            points.push(Point {
                                index: points.len(),
                                nodes_added,
                                vc_share,
                                kueue_quota,
                                load,
                                model: model.clone(),
                                seed,
                            });
                        }
                    }
                }
            }
        }
    }
    points
}

/// Which slice of a sweep one process runs: shard `index` (1-based) of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// 1 to `count`.
    pub index: usize,
    /// Number of shards, at least 1.
    pub count: usize,
}

impl Shard {
    /// The whole sweep.
    pub const ALL: Shard = Shard { index: 1, count: 1 };

    /// Whether the point at `point_index` belongs to this shard: every `count`-th point,
    /// starting at the shard's own index, so each shard gets a mix of the axes.
    pub fn holds(&self, point_index: usize) -> bool {
        point_index % self.count == self.index - 1
    }
}

impl std::str::FromStr for Shard {
    type Err = String;

    /// `I/N` with 1 <= I <= N.
    fn from_str(text: &str) -> Result<Shard, String> {
        let hint = "write I/N with 1 <= I <= N, e.g. 2/4 for the second of four shards";
        let (i, n) = text
            .split_once('/')
            .ok_or_else(|| format!("{text:?} is not a shard; {hint}"))?;
        let index: usize = i
            .trim()
            .parse()
            .map_err(|_| format!("{text:?}: {i:?} is not a number; {hint}"))?;
        let count: usize = n
            .trim()
            .parse()
            .map_err(|_| format!("{text:?}: {n:?} is not a number; {hint}"))?;
        if count == 0 || index == 0 || index > count {
            return Err(format!("{text:?} is out of range; {hint}"));
        }
        Ok(Shard { index, count })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sweep::spec::NodesAxis;

    fn axes() -> Axes {
        Axes {
            nodes: Some(NodesAxis {
                sku: "V100".to_string(),
                gpus: None,
                values: vec![0, 4],
            }),
            share: None,
            kueue: None,
            load: vec![1.0, 1.5],
            models: vec!["hived".to_string(), "fifo".to_string()],
            seeds: vec![1, 2, 3],
        }
    }

    #[test]
    fn the_product_has_every_combination_once_with_seeds_varying_fastest() {
        let points = expand(&axes());
        assert_eq!(points.len(), 2 * 2 * 2 * 3);
        assert_eq!(points[0].key(), "nodes=+0 load=1 model=hived seed=1");
        assert_eq!(points[1].key(), "nodes=+0 load=1 model=hived seed=2");
        assert_eq!(points[23].key(), "nodes=+4 load=1.5 model=fifo seed=3");
        let mut keys: Vec<String> = points.iter().map(Point::key).collect();
        keys.sort();
        keys.dedup();
        assert_eq!(keys.len(), points.len(), "keys are unique");
        assert!(points.iter().enumerate().all(|(i, p)| p.index == i));
    }

    #[test]
    fn shards_split_the_points_without_overlap_or_gap() {
        let points = expand(&axes());
        let shards: Vec<Shard> = (1..=5).map(|i| format!("{i}/5").parse().unwrap()).collect();
        for point in &points {
            let holders = shards.iter().filter(|s| s.holds(point.index)).count();
            assert_eq!(holders, 1, "point {} is in exactly one shard", point.index);
        }
        assert!(points.iter().all(|p| Shard::ALL.holds(p.index)));
    }

    #[test]
    fn bad_shards_say_how_to_write_one() {
        for bad in ["0/3", "4/3", "1/0", "a/2", "3"] {
            let err = bad.parse::<Shard>().unwrap_err();
            assert!(err.contains("I/N"), "{bad}: {err}");
        }
        assert_eq!("2/4".parse::<Shard>(), Ok(Shard { index: 2, count: 4 }));
    }
}
