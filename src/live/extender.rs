//! The Kubernetes scheduler-extender wire types (`k8s.io/kube-scheduler/extender/v1`) as
//! kube-scheduler sends and reads them: Go structs without JSON tags, so keys are the
//! PascalCase field names, and input keys match in any letter case. Parsing only; what
//! to answer is decided in `state.rs`.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use super::pod::{fold_keys, kind_of};

/// `ExtenderArgs`: the pod to place and the candidate nodes.
#[derive(Debug, Clone)]
pub struct ExtenderArgs {
    /// The full `v1.Pod` JSON.
    pub pod: Value,
    /// `Nodes` (a `v1.NodeList`) when the extender is not node-cache capable.
    pub nodes: Option<Value>,
    /// `NodeNames` when it is (`nodeCacheCapable: true`), checked to be a list of
    /// strings but kept as JSON text: kube-scheduler sends every candidate (1,280 names
    /// on a large cluster) and most pods ignore them, so they are read only when asked.
    node_names: Option<Box<RawValue>>,
}

impl ExtenderArgs {
    /// `NodeNames`, when the call carried them.
    pub fn node_names(&self) -> Option<Vec<String>> {
        // Checked to be a list of strings when parsed, so this cannot fail.
        serde_json::from_str(self.node_names.as_ref()?.get()).ok()
    }

    /// The candidate node names: `NodeNames`, else the names in `Nodes.items`.
    pub fn candidate_names(&self) -> Option<Vec<String>> {
        if let Some(names) = self.node_names() {
            return Some(names);
        }
        let items = self.nodes.as_ref()?.get("items")?.as_array()?;
        Some(
            items
                .iter()
                .filter_map(|n| n.get("metadata")?.get("name")?.as_str().map(String::from))
                .collect(),
        )
    }
}

/// `ExtenderFilterResult`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ExtenderFilterResult {
    /// Nodes that fit, as a `v1.NodeList` (only when the request carried `Nodes`).
    #[serde(rename = "Nodes")]
    pub nodes: Option<Value>,
    /// Node names that fit (when the request carried `NodeNames`).
    #[serde(rename = "NodeNames")]
    pub node_names: Option<Vec<String>>,
    /// Node -> why it does not fit (preemption may help).
    #[serde(rename = "FailedNodes")]
    pub failed_nodes: BTreeMap<String, String>,
    /// Node -> why it does not fit (preemption cannot help).
    #[serde(rename = "FailedAndUnresolvableNodes")]
    pub failed_and_unresolvable_nodes: BTreeMap<String, String>,
    /// A user error: the pod can never be placed as written.
    #[serde(rename = "Error")]
    pub error: String,
}

/// `ExtenderBindingArgs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtenderBindingArgs {
    /// `PodName`.
    pub pod_name: String,
    /// `PodNamespace`.
    pub pod_namespace: String,
    /// `PodUID`.
    pub pod_uid: String,
    /// `Node`.
    pub node: String,
}

/// `ExtenderBindingResult`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExtenderBindingResult {
    /// Why the bind failed; empty on success.
    #[serde(rename = "Error")]
    pub error: String,
}

/// `ExtenderPreemptionArgs`.
#[derive(Debug, Clone, PartialEq)]
pub struct ExtenderPreemptionArgs {
    /// The preemptor `v1.Pod`.
    pub pod: Value,
    /// The nodes kube-scheduler considers for preemption (keys of `NodeNameToMetaVictims`,
    /// else of `NodeNameToVictims`).
    pub nodes: Vec<String>,
}

/// `MetaPod`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MetaPod {
    /// Victim pod uid.
    #[serde(rename = "UID")]
    pub uid: String,
}

/// `MetaVictims`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MetaVictims {
    /// Victim pods on the node.
    #[serde(rename = "Pods")]
    pub pods: Vec<MetaPod>,
    /// Always 0: cellsim does not look at PodDisruptionBudgets.
    #[serde(rename = "NumPDBViolations")]
    pub num_pdb_violations: i64,
}

/// `ExtenderPreemptionResult`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExtenderPreemptionResult {
    /// Node -> victims.
    #[serde(rename = "NodeNameToMetaVictims")]
    pub node_name_to_meta_victims: BTreeMap<String, MetaVictims>,
}

/// A request body that is not what the verb expects: answered with HTTP 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct BadRequest(pub String);

fn object(
    body: &[u8],
    what: &str,
    fields: &[&str],
) -> Result<serde_json::Map<String, Value>, BadRequest> {
    let mut value: Value = serde_json::from_slice(body).map_err(|e| {
        BadRequest(format!(
            "the body is not JSON ({e}); send a JSON {what} object"
        ))
    })?;
    fold_keys(&mut value, fields);
    match value {
        Value::Object(map) => Ok(map),
        other => Err(BadRequest(format!(
            "the body must be a JSON {what} object, found {}",
            kind_of(&other)
        ))),
    }
}

fn required_pod(map: &mut serde_json::Map<String, Value>, what: &str) -> Result<Value, BadRequest> {
    match map.remove("Pod") {
        Some(pod @ Value::Object(_)) => Ok(pod),
        Some(Value::Null) | None => Err(BadRequest(format!(
            "{what}: field Pod is missing; send the pod to schedule (a Kubernetes v1.Pod) as Pod"
        ))),
        Some(other) => Err(BadRequest(format!(
            "{what}: field Pod must be a v1.Pod object, found {}",
            kind_of(&other)
        ))),
    }
}

/// True when `raw` is a JSON list of strings; read without building the strings.
fn is_string_list(raw: &RawValue) -> bool {
    use serde::de::{Deserializer, IgnoredAny, SeqAccess, Visitor};
    struct Str;
    impl<'de> serde::Deserialize<'de> for Str {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V;
            impl Visitor<'_> for V {
                type Value = Str;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("a string")
                }
                fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<Str, E> {
                    Ok(Str)
                }
            }
            d.deserialize_str(V)
        }
    }
    struct List;
    impl<'de> Visitor<'de> for List {
        type Value = IgnoredAny;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a list of strings")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<IgnoredAny, A::Error> {
            while seq.next_element::<Str>()?.is_some() {}
            Ok(IgnoredAny)
        }
    }
    let mut de = serde_json::Deserializer::from_str(raw.get());
    de.deserialize_seq(List).is_ok()
}

/// Parses an `ExtenderArgs` body.
pub fn parse_filter_args(body: &[u8]) -> Result<ExtenderArgs, BadRequest> {
    const WHAT: &str = "ExtenderArgs";
    // The top level is read as raw values first: the node names stay text (see
    // `ExtenderArgs::node_names`); everything else is small.
    let raw: BTreeMap<String, Box<RawValue>> = match serde_json::from_slice(body) {
        Ok(raw) => raw,
        // Not an object (or not JSON): the general path words the error.
        Err(_) => {
            object(body, WHAT, &["Pod", "Nodes", "NodeNames"])?;
            return Err(BadRequest(format!("the body must be a JSON {WHAT} object")));
        }
    };
    let mut names_raw = None;
    let mut rest = serde_json::Map::new();
    for (key, value) in raw {
        let exact = key == "NodeNames";
        if exact || (key.eq_ignore_ascii_case("NodeNames") && names_raw.is_none()) {
            if exact || names_raw.is_none() {
                names_raw = Some(value);
            }
            continue;
        }
        let value: Value = serde_json::from_str(value.get()).map_err(|e| {
            BadRequest(format!(
                "the body is not JSON ({e}); send a JSON {WHAT} object"
            ))
        })?;
        rest.insert(key, value);
    }
    let mut rest = Value::Object(rest);
    fold_keys(&mut rest, &["Pod", "Nodes"]);
    let Value::Object(mut map) = rest else {
        return Err(BadRequest(format!("the body must be a JSON {WHAT} object")));
    };
    let node_names = match names_raw {
        None => None,
        Some(raw) if raw.get() == "null" => None,
        Some(raw) if is_string_list(&raw) => Some(raw),
        // Not a list of strings: read it as a value to name what is wrong.
        Some(raw) => {
            let v: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
            string_list(v, WHAT, "NodeNames")?;
            None
        }
    };
    let pod = required_pod(&mut map, WHAT)?;
    let nodes = match map.remove("Nodes") {
        None | Some(Value::Null) => None,
        Some(v @ Value::Object(_)) => {
            let mut v = v;
            fold_keys(&mut v, &["items"]);
            if let Some(Value::Array(items)) = v.get_mut("items") {
                for item in items {
                    fold_keys(item, &["metadata"]);
                    if let Some(m) = item.get_mut("metadata") {
                        fold_keys(m, &["name"]);
                    }
                }
            }
            Some(v)
        }
        Some(other) => {
            return Err(BadRequest(format!(
                "{WHAT}: field Nodes must be a v1.NodeList object, found {}",
                kind_of(&other)
            )));
        }
    };
    Ok(ExtenderArgs {
        pod,
        nodes,
        node_names,
    })
}

fn string_list(v: Value, what: &str, field: &str) -> Result<Vec<String>, BadRequest> {
    let Value::Array(items) = v else {
        return Err(BadRequest(format!(
            "{what}: field {field} must be a list of node names, found {}",
            kind_of(&v)
        )));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::String(s) => Ok(s),
            other => Err(BadRequest(format!(
                "{what}: field {field}[{i}] must be a node name (string), found {}",
                kind_of(&other)
            ))),
        })
        .collect()
}

/// Parses an `ExtenderBindingArgs` body; every field is required and non-empty.
pub fn parse_bind_args(body: &[u8]) -> Result<ExtenderBindingArgs, BadRequest> {
    const WHAT: &str = "ExtenderBindingArgs";
    let fields = ["PodName", "PodNamespace", "PodUID", "Node"];
    let mut map = object(body, WHAT, &fields)?;
    let mut take = |field: &str| match map.remove(field) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s),
        Some(Value::String(_)) | Some(Value::Null) | None => Err(BadRequest(format!(
            "{WHAT}: field {field} is missing or empty; kube-scheduler sends PodName, PodNamespace, PodUID and Node"
        ))),
        Some(other) => Err(BadRequest(format!(
            "{WHAT}: field {field} must be a string, found {}",
            kind_of(&other)
        ))),
    };
    Ok(ExtenderBindingArgs {
        pod_name: take("PodName")?,
        pod_namespace: take("PodNamespace")?,
        pod_uid: take("PodUID")?,
        node: take("Node")?,
    })
}

/// Parses an `ExtenderPreemptionArgs` body.
pub fn parse_preempt_args(body: &[u8]) -> Result<ExtenderPreemptionArgs, BadRequest> {
    const WHAT: &str = "ExtenderPreemptionArgs";
    let mut map = object(
        body,
        WHAT,
        &["Pod", "NodeNameToVictims", "NodeNameToMetaVictims"],
    )?;
    let pod = required_pod(&mut map, WHAT)?;
    let mut nodes = Vec::new();
    for field in ["NodeNameToMetaVictims", "NodeNameToVictims"] {
        match map.remove(field) {
            None | Some(Value::Null) => {}
            Some(Value::Object(m)) => {
                if nodes.is_empty() {
                    nodes = m.keys().cloned().collect();
                }
            }
            Some(other) => {
                return Err(BadRequest(format!(
                    "{WHAT}: field {field} must be an object keyed by node name, found {}",
                    kind_of(&other)
                )));
            }
        }
    }
    Ok(ExtenderPreemptionArgs { pod, nodes })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_args_accept_any_case_and_name_missing_pod() {
        let a = parse_filter_args(br#"{"pod": {"metadata": {}}, "nodenames": ["a"]}"#).unwrap();
        assert_eq!(a.node_names(), Some(vec!["a".to_string()]));
        let e = parse_filter_args(br#"{"NodeNames": []}"#).unwrap_err();
        assert!(e.0.contains("field Pod"), "{e}");
        let e = parse_filter_args(br#"{"Pod": {}, "NodeNames": [1]}"#).unwrap_err();
        assert!(e.0.contains("NodeNames[0]"), "{e}");
        assert!(
            parse_filter_args(b"nope")
                .unwrap_err()
                .0
                .contains("not JSON")
        );
    }

    #[test]
    fn candidate_names_come_from_nodes_when_names_are_absent() {
        let a = parse_filter_args(
            br#"{"Pod": {}, "Nodes": {"Items": [{"Metadata": {"Name": "n1"}}]}}"#,
        )
        .unwrap();
        assert_eq!(a.candidate_names(), Some(vec!["n1".to_string()]));
    }

    #[test]
    fn bind_args_name_the_missing_field() {
        let e =
            parse_bind_args(br#"{"podName": "p", "PodNamespace": "n", "Node": "x"}"#).unwrap_err();
        assert!(e.0.contains("PodUID"), "{e}");
        let b = parse_bind_args(
            br#"{"podname": "p", "podnamespace": "n", "poduid": "u", "node": "x"}"#,
        )
        .unwrap();
        assert_eq!(b.pod_uid, "u");
    }

    #[test]
    fn result_keys_are_pascal_case() {
        let v = serde_json::to_value(ExtenderFilterResult::default()).unwrap();
        for k in [
            "Nodes",
            "NodeNames",
            "FailedNodes",
            "FailedAndUnresolvableNodes",
            "Error",
        ] {
            assert!(v.get(k).is_some(), "{k}");
        }
    }
}
