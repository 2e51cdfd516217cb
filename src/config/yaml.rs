//! YAML plumbing shared by the loaders: parsing with line/column errors, YAML paths,
//! typed extraction through `serde_path_to_error`, unknown-key checks with spelling
//! suggestions, and whole-number fields with clear messages. Knows no config schema.

use serde::de::DeserializeOwned;
use serde_yaml_ng::{Mapping, Value};

use super::error::Diag;

/// Parse `text` as one YAML document with merge keys (`<<`) applied. On a syntax error,
/// records it (with line and column) and returns `None`. `line_base` is the line of the
/// enclosing file where `text` starts, for documents embedded in another file.
pub(crate) fn parse(
    text: &str,
    path: &str,
    line_base: Option<usize>,
    diag: &mut Diag,
) -> Option<Value> {
    let mut value: Value = match serde_yaml_ng::from_str(text) {
        Ok(value) => value,
        Err(err) => {
            let message = match (err.location(), line_base) {
                (Some(loc), Some(base)) => format!(
                    "line {}, column {} of the embedded config (line {} of the file): {}; fix the YAML syntax",
                    loc.line(),
                    loc.column(),
                    base + loc.line() - 1,
                    strip_location(&err.to_string()),
                ),
                (Some(loc), None) => format!(
                    "line {}, column {}: {}; fix the YAML syntax",
                    loc.line(),
                    loc.column(),
                    strip_location(&err.to_string())
                ),
                (None, _) => format!("{err}; fix the YAML syntax"),
            };
            diag.error(path, message);
            return None;
        }
    };
    if let Err(err) = value.apply_merge() {
        diag.error(path, format!("cannot apply a `<<` merge key: {err}"));
        return None;
    }
    Some(value)
}

/// serde_yaml_ng appends " at line L column C" to its messages; we print the location
/// first (and for embedded documents, twice), so drop the suffix.
fn strip_location(message: &str) -> &str {
    match message.find(" at line ") {
        Some(at) => &message[..at],
        None => message,
    }
}

/// `base.key` (or `key` at the root).
pub(crate) fn key_path(base: &str, key: &str) -> String {
    if base.is_empty() {
        key.to_string()
    } else {
        format!("{base}.{key}")
    }
}

/// `base[index]`.
pub(crate) fn index_path(base: &str, index: usize) -> String {
    format!("{base}[{index}]")
}

/// A scalar as text: strings as is, numbers and booleans as YAML prints them. `None` for
/// null, sequences, mappings and tagged values.
pub(crate) fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A short description of a value's kind for messages ("a list", "the string \"2\"").
pub(crate) fn describe(value: &Value) -> String {
    match value {
        Value::Null => "nothing (null)".to_string(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {:?}", first_line(s)),
        Value::Sequence(_) => "a list".to_string(),
        Value::Mapping(_) => "a mapping".to_string(),
        Value::Tagged(t) => format!("a value tagged {}", t.tag),
    }
}

/// Characters of a line quoted in a message, at most.
const QUOTED_CHARS: usize = 100;

/// The first line of `text`, cut at [`QUOTED_CHARS`] characters (with `…` when cut or
/// when more lines follow): what a message quotes of a long value, so that a 3 MB file
/// read as one YAML string is never printed whole (issue 16).
pub(crate) fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or("");
    let mut quoted: String = line.chars().take(QUOTED_CHARS).collect();
    if quoted.len() < line.len() || text.trim_end().len() > line.len() {
        quoted.push('…');
    }
    quoted
}

/// When `text` is YAML but not a mapping at the top level (a CSV trace given where a
/// YAML file belongs reads as one long string), the error to print: what was expected,
/// what the file reads as, and its first line only. `None` for a mapping, an empty
/// document, or text that is not YAML at all (the parser's error says where).
pub(crate) fn not_a_mapping(text: &str, expected: &str) -> Option<String> {
    let value: Value = serde_yaml_ng::from_str(text).ok()?;
    let kind = match &value {
        Value::Mapping(_) | Value::Null => return None,
        Value::String(_) => "one long string",
        Value::Sequence(_) => "a list",
        Value::Number(_) | Value::Bool(_) => "a single value",
        Value::Tagged(_) => "a tagged value",
    };
    let first = first_line(text);
    let csv_hint = if text.lines().next().is_some_and(|l| l.contains(',')) {
        "; it looks like a CSV file (a trace?): traces go to `cellsim replay --trace FILE`"
    } else {
        ""
    };
    Some(format!(
        "expected {expected} (YAML `key: value` lines), but the file reads as {kind}; its first line is {first:?}{csv_hint}"
    ))
}

/// serde's complaint about a number that does not fit an unsigned field ("invalid type:
/// integer `-1`, expected u32"), said for people: the field must be a positive whole
/// number (issue 16). `field` is the last key of the value's path. `None` for any other
/// message.
pub(crate) fn unsigned_message(message: &str, field: &str) -> Option<String> {
    let unsigned = [
        "expected u8",
        "expected u16",
        "expected u32",
        "expected u64",
        "expected usize",
    ];
    if !unsigned.iter().any(|u| message.contains(u)) {
        return None;
    }
    let value = message.split('`').nth(1)?;
    let field = if field.is_empty() { "the value" } else { field };
    if value.starts_with('-') {
        Some(format!("{field} must be a positive number, found {value}"))
    } else if message.starts_with("invalid value: integer") {
        Some(format!(
            "{field} must be a positive number small enough to count, found {value}"
        ))
    } else {
        Some(format!(
            "{field} must be a whole positive number, found {value}"
        ))
    }
}

/// Line and column (from 1) of `key:` inside the top-level section `section:` of the YAML
/// `text` (block or flow style): where an error about a key of an inline block is
/// reported in the user's file. `None` when it cannot be found.
pub(crate) fn line_of_key_under(text: &str, section: &str, key: &str) -> Option<(usize, usize)> {
    let head = format!("{section}:");
    let start = text.lines().position(|l| l.starts_with(&head))?;
    let wanted = format!("{key}:");
    for (i, line) in text.lines().enumerate().skip(start) {
        let body = if i == start {
            &line[head.len()..]
        } else {
            line
        };
        // The section ends at the next line that starts in column 1 (not a comment).
        if i > start && !line.is_empty() && !line.starts_with([' ', '\t', '#']) {
            break;
        }
        let offset = line.len() - body.len();
        let mut from = 0;
        while let Some(found) = body[from..].find(&wanted) {
            let at = from + found;
            let before = body[..at].chars().last();
            if before.is_none_or(|c| c == ' ' || c == '{' || c == ',' || c == '\t') {
                return Some((i + 1, offset + at + 1));
            }
            from = at + wanted.len();
        }
    }
    None
}

/// Look `key` up in a mapping.
pub(crate) fn get<'a>(map: &'a Mapping, key: &str) -> Option<&'a Value> {
    map.get(key)
}

/// Deserialize `value` into `T`, recording a type error (with its full YAML path) on
/// failure. Unknown fields are not errors here; [`check_keys`] reports them.
pub(crate) fn typed<T: DeserializeOwned>(value: &Value, path: &str, diag: &mut Diag) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(t) => Some(t),
        Err(err) => {
            let inner = err.path().to_string();
            let full = if inner == "." || inner.is_empty() {
                path.to_string()
            } else {
                key_path(path, &inner)
            };
            let last = inner.rsplit('.').next().unwrap_or("");
            let message = err.inner().to_string();
            let message = unsigned_message(&message, last)
                .unwrap_or_else(|| format!("{message}; {}", type_hint(last)));
            diag.error(&full, message);
            None
        }
    }
}

/// What a field should look like, for type errors.
fn type_hint(field: &str) -> &'static str {
    match field {
        "isNodeLevel" => "write true or false",
        "cellChildren" => "write a list of cells (`- cellAddress: ...`) or leave it out",
        "virtualCells" => "write a list of `{cellType: CHAIN.TYPE, cellNumber: N}`",
        "pinnedCells" => "write a list of `{pinnedCellId: ID}`",
        "cellType" | "childCellType" => "write a cell type name",
        "cellAddress" => "write a node name or an index",
        "pinnedCellId" => "write an id string",
        _ => "fix the value's type (see spec/hived-semantics.md section 1)",
    }
}

/// The value at `path` as a mapping: `None` for null/absent (treated as empty), an error
/// for any other kind.
pub(crate) fn mapping_or_empty<'a>(
    value: Option<&'a Value>,
    path: &str,
    what: &str,
    diag: &mut Diag,
) -> Option<&'a Mapping> {
    match value {
        None | Some(Value::Null) => None,
        Some(Value::Mapping(m)) => Some(m),
        Some(other) => {
            diag.error(
                path,
                format!("expected {what} (a mapping), found {}", describe(other)),
            );
            None
        }
    }
}

/// The value at `path` as a list: `None` for null/absent, an error for any other kind.
pub(crate) fn sequence_or_empty<'a>(
    value: Option<&'a Value>,
    path: &str,
    what: &str,
    diag: &mut Diag,
) -> Option<&'a [Value]> {
    match value {
        None | Some(Value::Null) => None,
        Some(Value::Sequence(s)) => Some(s),
        Some(other) => {
            diag.error(
                path,
                format!("expected {what} (a list), found {}", describe(other)),
            );
            None
        }
    }
}

/// A mapping key as text; non-scalar keys get an error and `None`.
pub(crate) fn key_text(key: &Value, path: &str, diag: &mut Diag) -> Option<String> {
    match scalar_text(key) {
        Some(text) => Some(text),
        None => {
            diag.error(
                path,
                format!("a key must be a name, found {}", describe(key)),
            );
            None
        }
    }
}

/// Check a mapping's keys against the `known` ones. A key that looks like a misspelling
/// of a known key (same letters ignoring case, `-` and `_`, or at most one or two edits
/// away) is an **error**, because the value it carries would otherwise be ignored and the
/// config would silently mean something else (e.g. `childCellNumbr`). Any other unknown
/// key is ignored with a warning. Returns the known keys that were misspelt, so callers
/// do not also report them as missing.
pub(crate) fn check_keys(
    map: &Mapping,
    known: &[&'static str],
    path: &str,
    diag: &mut Diag,
) -> Vec<&'static str> {
    let mut misspelt = Vec::new();
    for key in map.keys() {
        let Some(name) = scalar_text(key) else {
            diag.warn(
                path,
                format!("a {} used as a key is ignored", describe(key)),
            );
            continue;
        };
        if known.contains(&name.as_str()) {
            continue;
        }
        let here = key_path(path, &name);
        match closest(&name, known) {
            Some(intended) => {
                diag.error(
                    &here,
                    format!(
                        "unknown key `{name}`: did you mean `{intended}`? (as written it would be ignored)"
                    ),
                );
                misspelt.push(intended);
            }
            None => diag.warn(
                &here,
                format!(
                    "unknown key `{name}` is ignored (known keys here: {})",
                    known.join(", ")
                ),
            ),
        }
    }
    misspelt
}

/// The known key `name` most likely misspells, if any.
pub(crate) fn closest(name: &str, known: &[&'static str]) -> Option<&'static str> {
    let norm = |s: &str| {
        s.chars()
            .filter(|c| *c != '-' && *c != '_')
            .collect::<String>()
            .to_lowercase()
    };
    let wanted = norm(name);
    let mut best: Option<(usize, &'static str)> = None;
    for &k in known {
        let candidate = norm(k);
        let distance = if candidate == wanted {
            0
        } else {
            edit_distance(&wanted, &candidate)
        };
        let allowed = if k.len() >= 6 { 2 } else { 1 };
        if distance <= allowed && best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, k));
        }
    }
    best.map(|(_, k)| k)
}

/// Optimal string alignment distance (Levenshtein plus adjacent transpositions), with
/// `strsim`.
fn edit_distance(a: &str, b: &str) -> usize {
    // Long keys are never misspellings of our short ones; skip the quadratic work.
    if a.chars().count().abs_diff(b.chars().count()) > 2 || a.len() > 256 {
        return usize::MAX;
    }
    strsim::osa_distance(a, b)
}

/// A whole number >= `min` that fits in `u32`, with messages naming `what` and `fix`.
pub(crate) fn whole_number(
    value: &Value,
    min: u32,
    path: &str,
    fix: &str,
    diag: &mut Diag,
) -> Option<u32> {
    let problem = match value {
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                match u32::try_from(u) {
                    Ok(u) if u >= min => return Some(u),
                    Ok(_) => format!("must be at least {min}, got {u}"),
                    Err(_) => format!("{u} is too large"),
                }
            } else if let Some(i) = n.as_i64() {
                format!("must be at least {min}, got {i}")
            } else {
                format!("must be a whole number, got {n}")
            }
        }
        Value::String(s) => format!(
            "must be a whole number, got the string {s:?} (remove the quotes if it is a number)"
        ),
        other => format!("must be a whole number, got {}", describe(other)),
    };
    diag.error(path, format!("{problem}; {fix}"));
    None
}

/// Reads `text` as YAML into `T`; on failure, a message `FILE at KEY.PATH: what is wrong`
/// (no `at` part when the whole document is wrong), for readers of whole files.
pub(crate) fn from_str_at<T: DeserializeOwned>(text: &str, file: &str) -> Result<T, String> {
    if let Some(message) = not_a_mapping(text, "a mapping of keys") {
        return Err(format!("{file}: {message}"));
    }
    serde_path_to_error::deserialize(serde_yaml_ng::Deserializer::from_str(text)).map_err(|e| {
        let at = e.path().to_string();
        let last = at.rsplit('.').next().unwrap_or("").to_string();
        let at = if at == "." {
            String::new()
        } else {
            format!(" at {at}")
        };
        let inner = e.inner().to_string();
        let inner = unsigned_message(&inner, &last).unwrap_or(inner);
        format!("{file}{at}: {inner}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misspelt_keys_are_recognised() {
        let known = &["childCellType", "childCellNumber", "isNodeLevel"];
        assert_eq!(closest("childCellNumbr", known), Some("childCellNumber"));
        assert_eq!(closest("child_cell_number", known), Some("childCellNumber"));
        assert_eq!(closest("IsNodeLevel", known), Some("isNodeLevel"));
        assert_eq!(closest("childCelType", known), Some("childCellType"));
        assert_eq!(closest("comment", known), None);
    }

    #[test]
    fn edit_distance_counts_transpositions_as_one() {
        assert_eq!(edit_distance("abcd", "abdc"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }

    #[test]
    fn a_long_string_is_quoted_by_its_first_line_only() {
        let csv = format!("a,b,c\n{}", "1,2,3\n".repeat(10_000));
        let message = not_a_mapping(&csv, "a scenario").unwrap();
        assert!(message.contains("\"a,b,c…\""), "{message}");
        assert!(message.len() < 400, "{message}");
        assert_eq!(
            first_line(&"x".repeat(500)).chars().count(),
            QUOTED_CHARS + 1
        );
        assert!(not_a_mapping("a: 1\n", "a scenario").is_none());
        assert!(not_a_mapping("", "a scenario").is_none());
    }

    #[test]
    fn parse_error_has_line_and_column() {
        let mut diag = Diag::new("f.yaml");
        assert!(parse("a: [1, 2\nb: 3\n", "", None, &mut diag).is_none());
        let message = &diag.errors[0].message;
        assert!(message.starts_with("line "), "{message}");
        assert!(message.contains("column"), "{message}");
    }

    #[test]
    fn whole_number_rejects_zero_negative_fraction_and_strings() {
        let mut diag = Diag::new("f");
        for text in ["0", "-1", "2.5", "\"2\"", "[1]"] {
            let value: Value = serde_yaml_ng::from_str(text).unwrap();
            assert_eq!(
                whole_number(&value, 1, "p", "fix it", &mut diag),
                None,
                "{text}"
            );
        }
        assert_eq!(diag.errors.len(), 5);
        let value: Value = serde_yaml_ng::from_str("3").unwrap();
        assert_eq!(whole_number(&value, 1, "p", "", &mut diag), Some(3));
    }
}
