//! Reading a Kubernetes `v1.Pod` as HiveD does: whether it takes part (a container limit
//! on `hivedscheduler.microsoft.com/pod-scheduling-enable`), its identity, and its
//! scheduling spec from the `pod-scheduling-spec` annotation (YAML, legacy `gpuType` /
//! `gpuNumber` accepted). Keys are matched in any letter case, as Go's `encoding/json`
//! does. No scheduling happens here.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;

use crate::cell::{
    BIND_INFO_ANNOTATION, BindRecord, PodBindInfo, PodSchedulingSpec, SCHEDULING_SPEC_ANNOTATION,
};

/// The resource name that makes a pod take part in HiveD scheduling.
pub const SCHEDULING_ENABLE_RESOURCE: &str = "hivedscheduler.microsoft.com/pod-scheduling-enable";

/// Renames the keys of a JSON object that match one of `fields` ignoring letter case, so
/// typed parsing sees the canonical spelling. Go's rule: an exact match wins, otherwise a
/// case-insensitive one. Other keys are left alone (map keys such as annotation names
/// are case-sensitive in Go too).
pub fn fold_keys(value: &mut Value, fields: &[&str]) {
    let Value::Object(map) = value else { return };
    let renames: Vec<(String, &str)> = map
        .keys()
        .filter(|k| !fields.contains(&k.as_str()))
        .filter_map(|k| {
            let lower = k.to_lowercase();
            fields
                .iter()
                .find(|f| f.to_lowercase() == lower && !map.contains_key(**f))
                .map(|f| (k.clone(), *f))
        })
        .collect();
    for (from, to) in renames {
        if let Some(v) = map.remove(&from) {
            map.insert(to.to_string(), v);
        }
    }
}

/// Canonicalises the parts of a pod's JSON that cellsim reads (see [`fold_keys`]).
fn fold_pod(pod: &mut Value) {
    fold_keys(pod, &["metadata", "spec", "status"]);
    let Value::Object(map) = pod else { return };
    if let Some(meta) = map.get_mut("metadata") {
        fold_keys(
            meta,
            &[
                "name",
                "namespace",
                "uid",
                "annotations",
                "deletionTimestamp",
            ],
        );
    }
    if let Some(spec) = map.get_mut("spec") {
        fold_keys(spec, &["containers", "nodeName", "schedulerName"]);
        if let Some(Value::Array(containers)) = spec.get_mut("containers") {
            for c in containers {
                fold_keys(c, &["name", "resources"]);
                if let Some(r) = c.get_mut("resources") {
                    fold_keys(r, &["limits", "requests"]);
                }
            }
        }
    }
    if let Some(status) = map.get_mut("status") {
        fold_keys(status, &["phase"]);
    }
}

#[derive(Debug, Default, Deserialize)]
struct PodWire {
    #[serde(default)]
    metadata: MetaWire,
    #[serde(default)]
    spec: SpecWire,
    #[serde(default)]
    status: StatusWire,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetaWire {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    uid: String,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
    #[serde(default)]
    deletion_timestamp: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SpecWire {
    #[serde(default)]
    containers: Option<Vec<ContainerWire>>,
    #[serde(default)]
    node_name: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct ContainerWire {
    #[serde(default)]
    resources: Option<ResourcesWire>,
}

#[derive(Debug, Default, Deserialize)]
struct ResourcesWire {
    #[serde(default)]
    limits: Option<BTreeMap<String, Value>>,
}

#[derive(Debug, Default, Deserialize)]
struct StatusWire {
    #[serde(default)]
    phase: Option<String>,
}

/// What cellsim reads from a pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodInfo {
    /// `metadata.namespace` ("default" when empty, as the API server fills it).
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.uid`: the allocator knows pods by uid, as HiveD's inspect API lists them.
    pub uid: String,
    /// True when a container limits `pod-scheduling-enable`.
    pub participates: bool,
    /// `metadata.annotations`.
    pub annotations: BTreeMap<String, String>,
    /// `spec.nodeName` (set once bound).
    pub node_name: Option<String>,
    /// `status.phase`.
    pub phase: Option<String>,
    /// `metadata.deletionTimestamp` is set.
    pub terminating: bool,
    /// The scheduling spec parsed ahead of time ([`PodInfo::parse_spec`]), so that the
    /// YAML is read before the state lock is taken.
    pub parsed_spec: Option<Result<PodSchedulingSpec, String>>,
}

impl PodInfo {
    /// `namespace/name`, the key the standalone API and messages use.
    pub fn key(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// True once the pod has finished (its cells can go).
    pub fn finished(&self) -> bool {
        matches!(self.phase.as_deref(), Some("Succeeded" | "Failed"))
    }

    /// Parses the scheduling spec of a participating pod now and keeps it, so that
    /// [`PodInfo::scheduling_spec`] (called under the state lock) only copies it.
    pub fn parse_spec(&mut self) {
        if self.participates && self.parsed_spec.is_none() {
            self.parsed_spec = Some(self.read_scheduling_spec());
        }
    }

    /// The pod's scheduling spec, or a message naming what is wrong and how to fix it.
    pub fn scheduling_spec(&self) -> Result<PodSchedulingSpec, String> {
        match &self.parsed_spec {
            Some(parsed) => parsed.clone(),
            None => self.read_scheduling_spec(),
        }
    }

    fn read_scheduling_spec(&self) -> Result<PodSchedulingSpec, String> {
        let Some(text) = self.annotations.get(SCHEDULING_SPEC_ANNOTATION) else {
            return Err(format!(
                "pod {} has no annotation {SCHEDULING_SPEC_ANNOTATION}; add the HiveD \
                 scheduling spec (virtualCluster, priority, leafCellType, leafCellNumber, affinityGroup)",
                self.key()
            ));
        };
        parse_scheduling_spec(text, &self.namespace, &self.name).map_err(|e| {
            format!(
                "pod {}: annotation {SCHEDULING_SPEC_ANNOTATION}: {e}",
                self.key()
            )
        })
    }

    /// The bind record written on a bound pod, when it carries one (`pod-bind-info` and
    /// `pod-scheduling-spec`): what a restart rebuilds from.
    pub fn bind_record(&self) -> Option<Result<BindRecord, String>> {
        let info = self.annotations.get(BIND_INFO_ANNOTATION)?;
        let parsed = (|| {
            let bind_info: PodBindInfo = serde_yaml_ng::from_str(info)
                .map_err(|e| format!("annotation {BIND_INFO_ANNOTATION}: {e}"))?;
            let scheduling_spec = self.scheduling_spec()?;
            Ok(BindRecord {
                pod: self.uid.clone(),
                scheduling_spec,
                bind_info,
                lazy_preemptor: None,
            })
        })();
        Some(parsed.map_err(|e: String| format!("pod {}: {e}", self.key())))
    }
}

/// Reads a pod from its Kubernetes JSON. Errors name the JSON path of the bad field.
pub fn parse_pod(mut pod: Value) -> Result<PodInfo, String> {
    if !pod.is_object() {
        return Err(format!(
            "a pod must be a JSON object (Kubernetes v1.Pod), found {}",
            kind_of(&pod)
        ));
    }
    fold_pod(&mut pod);
    let wire: PodWire = serde_path_to_error::deserialize(pod)
        .map_err(|e| format!("field {}: {}", e.path(), e.inner()))?;
    let participates = wire
        .spec
        .containers
        .iter()
        .flatten()
        .filter_map(|c| c.resources.as_ref()?.limits.as_ref())
        .any(|limits| limits.contains_key(SCHEDULING_ENABLE_RESOURCE));
    let namespace = if wire.metadata.namespace.is_empty() {
        "default".to_string()
    } else {
        wire.metadata.namespace
    };
    Ok(PodInfo {
        namespace,
        name: wire.metadata.name,
        uid: wire.metadata.uid,
        participates,
        annotations: wire.metadata.annotations.unwrap_or_default(),
        node_name: wire.spec.node_name.filter(|n| !n.is_empty()),
        phase: wire.status.phase,
        terminating: wire.metadata.deletion_timestamp.is_some(),
        parsed_spec: None,
    })
}

/// The longest `pod-scheduling-spec` annotation read. Real specs are a few hundred bytes
/// (a 64-member gang stays under 8 KiB); a YAML parser's time can grow faster than the
/// text, so hostile input is refused before parsing.
pub const MAX_SPEC_BYTES: usize = 16 * 1024;

/// The deepest nesting of YAML collections read (flow brackets, or block indentation
/// levels). A spec nests three deep (`affinityGroup.members[i]`).
pub const MAX_SPEC_DEPTH: usize = 16;

/// Refuses a spec too large or too deeply nested to be worth parsing, naming the limit.
/// Depth is counted on the text, without parsing: open flow brackets outside quotes, and
/// the number of distinct indentation widths in use at once for block collections.
fn check_spec_shape(text: &str) -> Result<(), String> {
    if text.len() > MAX_SPEC_BYTES {
        return Err(format!(
            "is {} bytes, more than the {MAX_SPEC_BYTES} bytes a scheduling spec may have",
            text.len()
        ));
    }
    let too_deep = |depth: usize| {
        Err(format!(
            "nests collections {depth} deep, more than the {MAX_SPEC_DEPTH} levels a scheduling \
             spec may have"
        ))
    };
    let (mut flow, mut quote): (usize, Option<char>) = (0, None);
    let mut indents: Vec<usize> = Vec::new();
    for line in text.lines() {
        let content = line.trim_start_matches([' ', '-']);
        if quote.is_none() && flow == 0 && !content.is_empty() && !content.starts_with('#') {
            let indent = line.len() - content.len();
            while indents.last().is_some_and(|&i| i >= indent) {
                indents.pop();
            }
            indents.push(indent);
            if indents.len() > MAX_SPEC_DEPTH {
                return too_deep(indents.len());
            }
        }
        for c in line.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '#') => break,
                (None, '[' | '{') => {
                    flow += 1;
                    if flow + indents.len() > MAX_SPEC_DEPTH {
                        return too_deep(flow + indents.len());
                    }
                }
                (None, ']' | '}') => flow = flow.saturating_sub(1),
                _ => {}
            }
        }
    }
    Ok(())
}

/// A short name of a JSON value's kind, for messages.
pub fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Parses a `pod-scheduling-spec` annotation. Legacy `gpuType` / `gpuNumber` stand for
/// `leafCellType` / `leafCellNumber`; a missing or null `affinityGroup` means a group of
/// this one pod named `namespace/name` (HiveD's default); null optional keys are unset.
pub fn parse_scheduling_spec(
    text: &str,
    namespace: &str,
    name: &str,
) -> Result<PodSchedulingSpec, String> {
    use serde_yaml_ng::{Mapping, Value as Y};
    check_spec_shape(text)?;
    let value: Y = serde_yaml_ng::from_str(text).map_err(|e| format!("is not valid YAML: {e}"))?;
    let Y::Mapping(mut map) = value else {
        return Err(
            "must be a YAML mapping (virtualCluster, priority, leafCellNumber, ...)".to_string(),
        );
    };
    for (legacy, current) in [("gpuType", "leafCellType"), ("gpuNumber", "leafCellNumber")] {
        if let Some(v) = map.remove(legacy)
            && !map.contains_key(current)
        {
            map.insert(Y::from(current), v);
        }
    }
    // Null means "not given" for every key, as in HiveD's Go structs.
    let nulls: Vec<Y> = map
        .iter()
        .filter(|(_, v)| v.is_null())
        .map(|(k, _)| k.clone())
        .collect();
    for k in nulls {
        map.remove(&k);
    }
    if !map.contains_key("priority") {
        map.insert(Y::from("priority"), Y::from(0));
    }
    if !map.contains_key("virtualCluster") {
        return Err("virtualCluster is missing; name the pod's virtual cluster".to_string());
    }
    let leaf_cell_number = match map.get("leafCellNumber") {
        None => {
            return Err(
                "leafCellNumber is missing; say how many GPUs (leaf cells) the pod needs"
                    .to_string(),
            );
        }
        Some(v) => v
            .as_u64()
            .filter(|n| *n >= 1 && *n <= u32::MAX as u64)
            .ok_or_else(|| {
                format!(
                    "leafCellNumber must be a whole number of at least 1, got {}",
                    serde_yaml_ng::to_string(v).unwrap_or_default().trim()
                )
            })?,
    };
    if !map.contains_key("affinityGroup") {
        let mut group = Mapping::new();
        group.insert(Y::from("name"), Y::from(format!("{namespace}/{name}")));
        let mut member = Mapping::new();
        member.insert(Y::from("podNumber"), Y::from(1));
        member.insert(Y::from("leafCellNumber"), Y::from(leaf_cell_number));
        group.insert(Y::from("members"), Y::Sequence(vec![Y::Mapping(member)]));
        map.insert(Y::from("affinityGroup"), Y::Mapping(group));
    }
    let spec: PodSchedulingSpec = serde_path_to_error::deserialize(Y::Mapping(map))
        .map_err(|e| format!("field {}: {}", e.path(), e.inner()))?;
    if spec.virtual_cluster.is_empty() {
        return Err("virtualCluster is empty; name the pod's virtual cluster".to_string());
    }
    if spec.affinity_group.name.is_empty() {
        return Err("affinityGroup.name is empty; give the group a name".to_string());
    }
    if !spec
        .affinity_group
        .members
        .iter()
        .any(|m| m.leaf_cell_number == spec.leaf_cell_number)
    {
        return Err(format!(
            "leafCellNumber {} matches no member of affinityGroup {:?}; the pod must be one of its \
             members (members ask for {})",
            spec.leaf_cell_number,
            spec.affinity_group.name,
            spec.affinity_group
                .members
                .iter()
                .map(|m| format!("{} x {}", m.pod_number, m.leaf_cell_number))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    Ok(spec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(spec: &str, limits: bool) -> Value {
        let mut p = json!({
            "metadata": {"name": "p0", "namespace": "ns", "uid": "u0",
                          "annotations": {SCHEDULING_SPEC_ANNOTATION: spec}},
            "spec": {"containers": [{"name": "c", "resources": {}}]}
        });
        if limits {
            p["spec"]["containers"][0]["resources"]["limits"] =
                json!({SCHEDULING_ENABLE_RESOURCE: "1"});
        }
        p
    }

    #[test]
    fn keys_in_any_case_are_read() {
        let p = json!({"METADATA": {"Name": "a", "NameSpace": "b", "UID": "c"},
                       "Spec": {"Containers": [{"Resources": {"Limits": {SCHEDULING_ENABLE_RESOURCE: 1}}}]}});
        let info = parse_pod(p).unwrap();
        assert_eq!((info.key().as_str(), info.uid.as_str()), ("b/a", "c"));
        assert!(info.participates);
    }

    #[test]
    fn participation_needs_the_limit() {
        assert!(!parse_pod(pod("x: 1", false)).unwrap().participates);
        assert!(parse_pod(pod("x: 1", true)).unwrap().participates);
    }

    #[test]
    fn legacy_names_and_default_group() {
        let s = parse_scheduling_spec(
            "virtualCluster: VC1\ngpuType: K80\ngpuNumber: 2\n",
            "ns",
            "p",
        )
        .unwrap();
        assert_eq!(s.leaf_cell_type, "K80");
        assert_eq!(s.leaf_cell_number, 2);
        assert_eq!(s.priority, 0);
        assert_eq!(s.affinity_group.name, "ns/p");
        assert_eq!(s.affinity_group.members[0].leaf_cell_number, 2);
    }

    #[test]
    fn bad_specs_name_the_field() {
        let e = parse_scheduling_spec("virtualCluster: VC1\nleafCellNumber: two\n", "n", "p")
            .unwrap_err();
        assert!(e.contains("leafCellNumber"), "{e}");
        let e = parse_scheduling_spec("leafCellNumber: 1\n", "n", "p").unwrap_err();
        assert!(e.contains("virtualCluster"), "{e}");
        let e = parse_scheduling_spec(
            "virtualCluster: V\npriority: high\nleafCellNumber: 1",
            "n",
            "p",
        )
        .unwrap_err();
        assert!(e.contains("priority"), "{e}");
        let e = parse_scheduling_spec(
            "virtualCluster: V\nleafCellNumber: 3\naffinityGroup: {name: g, members: [{podNumber: 1, leafCellNumber: 2}]}",
            "n",
            "p",
        )
        .unwrap_err();
        assert!(e.contains("matches no member"), "{e}");
        assert!(parse_scheduling_spec("[", "n", "p").is_err());
    }

    /// See: issue 19 (80 KB of nested brackets froze the server for 10 s).
    #[test]
    fn deep_or_huge_specs_are_refused_naming_the_limit() {
        let deep = format!("x: {}{}", "[".repeat(40_000), "]".repeat(40_000));
        let e = parse_scheduling_spec(&deep, "n", "p").unwrap_err();
        assert!(e.contains("16384 bytes"), "{e}");
        let deep = format!("x: {}{}", "[".repeat(20), "]".repeat(20));
        let e = parse_scheduling_spec(&deep, "n", "p").unwrap_err();
        assert!(e.contains("16 levels"), "{e}");
        let mut block = String::new();
        for i in 0..20 {
            block.push_str(&format!("{}k{i}:\n", " ".repeat(i)));
        }
        let e = parse_scheduling_spec(&block, "n", "p").unwrap_err();
        assert!(e.contains("16 levels"), "{e}");
        // Brackets inside quotes and comments are text, not nesting.
        let ok = format!(
            "virtualCluster: \"{}\"\nleafCellNumber: 1 # {}\n",
            "[".repeat(30),
            "{".repeat(30)
        );
        assert!(parse_scheduling_spec(&ok, "n", "p").is_ok());
        let gang = "virtualCluster: V\nleafCellNumber: 1\naffinityGroup:\n  name: g\n  members:\n  - podNumber: 2\n    leafCellNumber: 1\n";
        assert!(parse_scheduling_spec(gang, "n", "p").is_ok());
    }

    #[test]
    fn non_object_pods_are_errors() {
        assert!(parse_pod(json!([1])).unwrap_err().contains("an array"));
        let e = parse_pod(json!({"metadata": {"name": 3}})).unwrap_err();
        assert!(e.contains("metadata.name"), "{e}");
    }
}
