//! What the three Kueue readers share: splitting a `kubectl get ... -o yaml` dump into
//! Kubernetes objects (multi-document YAML or a `List` with `items`), the object's kind
//! and name for messages, typed field access with errors that name the object and the
//! field, and Kubernetes quantities and timestamps. No Kueue semantics live here.

use std::fmt;

use serde::Deserialize;
use serde_yaml_ng::{Mapping, Value};

/// A problem with one Kubernetes object, or with the file as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {object}{}{message}", field_text(.field))]
pub struct ObjectError {
    /// The file.
    pub file: String,
    /// `Kind namespace/name` (or `document N` when the object has no name yet).
    pub object: String,
    /// The field at fault, as a dotted path (`spec.resourceGroups[0].flavors[1]`).
    pub field: Option<String>,
    /// What is wrong and how to fix it.
    pub message: String,
}

fn field_text(field: &Option<String>) -> String {
    match field {
        Some(f) => format!(": field {f}: "),
        None => ": ".to_string(),
    }
}

/// One object of a dump: its kind, namespace and name, and the whole object.
#[derive(Debug, Clone)]
pub struct Object {
    /// `kind` (e.g. `ClusterQueue`).
    pub kind: String,
    /// `apiVersion` (e.g. `kueue.x-k8s.io/v1beta1`).
    pub api_version: String,
    /// `metadata.namespace`, empty for cluster-scoped objects.
    pub namespace: String,
    /// `metadata.name`.
    pub name: String,
    /// The object as read.
    pub value: Value,
    /// The file it came from, for messages.
    pub file: String,
}

impl Object {
    /// `Kind namespace/name` or `Kind name`, as messages name it.
    pub fn label(&self) -> String {
        if self.name.is_empty() {
            self.kind.clone()
        } else if self.namespace.is_empty() {
            format!("{} {}", self.kind, self.name)
        } else {
            format!("{} {}/{}", self.kind, self.namespace, self.name)
        }
    }

    /// An error about `field` of this object.
    pub fn error(&self, field: &str, message: impl Into<String>) -> ObjectError {
        ObjectError {
            file: self.file.clone(),
            object: self.label(),
            field: Some(field.to_string()),
            message: message.into(),
        }
    }

    /// The value at the dotted `path` (`spec.queueingStrategy`), if present and not null.
    pub fn get(&self, path: &str) -> Option<&Value> {
        get_path(&self.value, path)
    }

    /// A string field, if present; an error names the field when it is not a string.
    pub fn str_at(&self, path: &str) -> Result<Option<String>, ObjectError> {
        self.get(path).map_or(Ok(None), |v| {
            text(v)
                .map(Some)
                .ok_or_else(|| self.error(path, format!("expected text, found {}", describe(v))))
        })
    }
}

/// The value at a dotted path below `value`, if present and not null.
pub fn get_path<'a>(value: &'a Value, path: &str) -> Option<&'a Value> {
    let mut at = value;
    for key in path.split('.') {
        at = at.as_mapping()?.get(key)?;
    }
    (!at.is_null()).then_some(at)
}

/// A scalar as text (strings as written, numbers and booleans printed).
pub fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A few words for what a value is, for "expected X, found Y".
pub fn describe(value: &Value) -> String {
    match value {
        Value::Null => "nothing".to_string(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the text {s:?}"),
        Value::Sequence(_) => "a list".to_string(),
        Value::Mapping(_) => "a mapping".to_string(),
        Value::Tagged(_) => "a tagged value".to_string(),
    }
}

/// The entries of a mapping field (empty when absent); an error when it is not a mapping.
pub fn mapping_at<'a>(
    object: &'a Object,
    value: Option<&'a Value>,
    path: &str,
) -> Result<Option<&'a Mapping>, ObjectError> {
    match value {
        None => Ok(None),
        Some(Value::Mapping(m)) => Ok(Some(m)),
        Some(other) => Err(object.error(
            path,
            format!("expected a mapping, found {}", describe(other)),
        )),
    }
}

/// The items of a list field (empty when absent); an error when it is not a list.
pub fn list_at<'a>(
    object: &Object,
    value: Option<&'a Value>,
    path: &str,
) -> Result<&'a [Value], ObjectError> {
    match value {
        None => Ok(&[]),
        Some(Value::Sequence(items)) => Ok(items),
        Some(other) => {
            Err(object.error(path, format!("expected a list, found {}", describe(other))))
        }
    }
}

/// Every object of a dump in file order: each document, with a `List` (any kind ending
/// in `List` that has `items`) opened into its items. Empty documents are skipped.
pub fn objects(text: &str, file: &str) -> Result<Vec<Object>, ObjectError> {
    let whole = |message: String| ObjectError {
        file: file.to_string(),
        object: "the file".to_string(),
        field: None,
        message,
    };
    let mut out = Vec::new();
    for (index, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(document)
            .map_err(|e| whole(format!("document {} is not YAML: {e}", index + 1)))?;
        if value.is_null() {
            continue;
        }
        let kind = get_path(&value, "kind")
            .and_then(text_of)
            .unwrap_or_default();
        if kind.ends_with("List")
            && let Some(Value::Sequence(_)) = get_path(&value, "items")
        {
            // The items are moved out, not copied: a dump holds tens of thousands.
            let items = match value {
                Value::Mapping(mut map) => map.remove("items"),
                _ => None,
            };
            let Some(Value::Sequence(items)) = items else {
                continue;
            };
            for (i, item) in items.into_iter().enumerate() {
                out.push(object(
                    item,
                    file,
                    &format!("document {} item {}", index + 1, i + 1),
                )?);
            }
            continue;
        }
        out.push(object(value, file, &format!("document {}", index + 1))?);
    }
    Ok(out)
}

fn text_of(value: &Value) -> Option<String> {
    text(value)
}

fn object(value: Value, file: &str, place: &str) -> Result<Object, ObjectError> {
    let missing = |what: &str| ObjectError {
        file: file.to_string(),
        object: place.to_string(),
        field: Some(what.to_string()),
        message: format!(
            "every Kubernetes object needs {what}; is this a `kubectl get ... -o yaml` dump?"
        ),
    };
    if !value.is_mapping() {
        return Err(ObjectError {
            file: file.to_string(),
            object: place.to_string(),
            field: None,
            message: format!(
                "expected a Kubernetes object (a mapping), found {}",
                describe(&value)
            ),
        });
    }
    let kind = get_path(&value, "kind")
        .and_then(text_of)
        .ok_or_else(|| missing("kind"))?;
    let api_version = get_path(&value, "apiVersion")
        .and_then(text_of)
        .unwrap_or_default();
    // Kueue's own Configuration (its controller's config file) is not a cluster object
    // and has no name.
    let nameless = kind == "Configuration" && api_version.starts_with("config.kueue.x-k8s.io/");
    let name = match get_path(&value, "metadata.name").and_then(text_of) {
        Some(name) => name,
        None if nameless => String::new(),
        None => return Err(missing("metadata.name")),
    };
    Ok(Object {
        api_version,
        namespace: get_path(&value, "metadata.namespace")
            .and_then(text_of)
            .unwrap_or_default(),
        kind,
        name,
        value,
        file: file.to_string(),
    })
}

/// A whole-number Kubernetes quantity (`8`, `"8"`, `8k`, `1Ki`), for device counts and
/// GPU quotas. Fractions (`500m` = 0.5) are refused: a GPU is whole here.
pub fn whole_quantity(value: &Value) -> Result<u64, String> {
    const FIX: &str = "write a whole number such as 8";
    let written = match value {
        Value::Number(n) => {
            return n
                .as_u64()
                .ok_or_else(|| format!("{n} is not a whole number of at least 0; {FIX}"));
        }
        Value::String(s) => s.trim().to_string(),
        other => {
            return Err(format!(
                "expected a quantity, found {}; {FIX}",
                describe(other)
            ));
        }
    };
    let split = written
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(written.len());
    let (number, suffix) = written.split_at(split);
    let amount: u64 = number
        .parse()
        .map_err(|_| format!("cannot read {written:?} as a quantity; {FIX}"))?;
    let factor: u64 = match suffix {
        "" => 1,
        "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        _ => {
            return Err(format!(
                "{written:?} is not a whole quantity (suffix {suffix:?}); {FIX}"
            ));
        }
    };
    amount
        .checked_mul(factor)
        .ok_or_else(|| format!("{written:?} is too large"))
}

/// A CPU quantity (`96`, `"95500m"`, `0.5`) in milli-CPUs, as Kubernetes writes
/// `allocatable.cpu` and container `requests.cpu` (the config reader's parser, rounded
/// to the nearest milli-CPU).
pub fn cpu_milli(value: &Value) -> Result<u64, String> {
    let cores = crate::config::quantity::cpu_cores(value)?;
    let milli = (cores * 1000.0).round();
    if milli >= u64::MAX as f64 {
        return Err(format!("{cores} CPUs is too many"));
    }
    Ok(milli as u64)
}

/// A memory quantity (`"503Gi"`, `"1000000Ki"`, `"64G"`) in MiB, rounded to the nearest
/// MiB. A number without a unit is bytes, as in Kubernetes.
pub fn memory_mib(value: &Value) -> Result<u64, String> {
    use crate::config::quantity::{Memory, memory};
    match memory(value)? {
        Memory::Mib(mib) => Ok(mib),
        Memory::Bare(bytes) => Ok((bytes / (1024.0 * 1024.0)).round() as u64),
    }
}

/// An RFC 3339 timestamp (`2026-11-02T08:15:00Z`) in milliseconds since the epoch.
pub fn timestamp_ms(value: &Value) -> Result<i64, String> {
    let written = text(value).ok_or_else(|| {
        format!(
            "expected a timestamp such as 2026-11-02T08:15:00Z, found {}",
            describe(value)
        )
    })?;
    chrono::DateTime::parse_from_rfc3339(written.trim())
        .map(|t| t.timestamp_millis())
        .map_err(|e| {
            format!(
                "cannot read {written:?} as a timestamp ({e}); write it as 2026-11-02T08:15:00Z"
            )
        })
}

/// Counts of objects skipped by kind, for a one-line note.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Skipped(pub std::collections::BTreeMap<String, u64>);

impl Skipped {
    /// Counts one skipped object of `kind`.
    pub fn add(&mut self, kind: &str) {
        *self.0.entry(kind.to_string()).or_default() += 1;
    }

    /// Whether nothing was skipped.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Display for Skipped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|(k, n)| format!("{n} {k}")).collect();
        write!(f, "{}", parts.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_and_documents_give_the_same_objects() {
        let docs =
            "kind: A\nmetadata: {name: a}\n---\nkind: B\nmetadata: {name: b, namespace: n}\n";
        let list = "apiVersion: v1\nkind: List\nitems:\n- kind: A\n  metadata: {name: a}\n- kind: B\n  metadata: {name: b, namespace: n}\n";
        for text in [docs, list] {
            let objects = objects(text, "f").unwrap();
            let labels: Vec<String> = objects.iter().map(Object::label).collect();
            assert_eq!(labels, ["A a", "B n/b"]);
        }
    }

    #[test]
    fn an_object_without_a_name_is_an_error_naming_the_document() {
        let err = objects("kind: A\n---\nkind: B\nmetadata: {}\n", "f.yaml").unwrap_err();
        assert!(
            err.to_string()
                .contains("f.yaml: document 1: field metadata.name"),
            "{err}"
        );
    }

    #[test]
    fn quantities_are_whole_numbers_with_kubernetes_suffixes() {
        let v = |s: &str| serde_yaml_ng::from_str::<Value>(s).unwrap();
        assert_eq!(whole_quantity(&v("8")), Ok(8));
        assert_eq!(whole_quantity(&v("\"16\"")), Ok(16));
        assert_eq!(whole_quantity(&v("2k")), Ok(2000));
        assert!(whole_quantity(&v("500m")).unwrap_err().contains("whole"));
        assert!(whole_quantity(&v("-1")).is_err());
        assert!(whole_quantity(&v("eight")).is_err());
    }

    #[test]
    fn timestamps_are_rfc3339() {
        let v = Value::String("1970-01-01T00:00:01Z".into());
        assert_eq!(timestamp_ms(&v), Ok(1000));
        assert!(timestamp_ms(&Value::String("yesterday".into())).is_err());
    }
}
