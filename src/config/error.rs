//! Errors and warnings of config loading. Every finding names the file, the YAML path and
//! what to change; loaders collect all of them instead of stopping at the first.

use std::fmt;

/// One problem in a cluster config. The config cannot be used until it is fixed; the
/// other problems of the same file are reported alongside (see [`ConfigErrors`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {}{message}", path_prefix(.yaml_path))]
#[non_exhaustive]
pub struct ConfigError {
    /// The file (or source description) the problem is in.
    pub file: String,
    /// Where in the YAML document, e.g. `physicalCluster.cellTypes.K80-NODE.childCellNumber`
    /// or `physicalCluster.physicalCells[2].cellChildren[0]`; empty for the whole file.
    /// Paths inside the HiveD config embedded in an OpenPAI `services-configuration.yaml`
    /// start with `hivedscheduler.config > `.
    pub yaml_path: String,
    /// What is wrong and what to change.
    pub message: String,
}

fn path_prefix(yaml_path: &str) -> String {
    if yaml_path.is_empty() {
        String::new()
    } else {
        format!("{yaml_path}: ")
    }
}

impl ConfigError {
    /// An error about `yaml_path` (empty for the whole file) in `file`.
    pub fn new(
        file: impl Into<String>,
        yaml_path: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            file: file.into(),
            yaml_path: yaml_path.into(),
            message: message.into(),
        }
    }
}

/// All problems found in one config, in the order they were found (document order where
/// possible). Displayed one per line as `FILE: PATH: message`.
#[derive(Debug, Clone, PartialEq, Eq, Default, thiserror::Error)]
#[error("{}", Lines(.0))]
pub struct ConfigErrors(pub Vec<ConfigError>);

struct Lines<'a>(&'a [ConfigError]);

impl fmt::Display for Lines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl ConfigErrors {
    /// A list holding the single `error`.
    pub fn single(error: ConfigError) -> Self {
        Self(vec![error])
    }

    /// The errors, in order.
    pub fn errors(&self) -> &[ConfigError] {
        &self.0
    }

    /// How many errors there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there is none (loaders never return an empty list as an error).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Iterate over the errors.
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Collects errors and warnings while one document is read. `prefix` is put in front of
/// every YAML path (used for the HiveD config embedded under `hivedscheduler.config`).
#[derive(Debug, Clone)]
pub(crate) struct Diag {
    pub file: String,
    pub prefix: String,
    pub errors: Vec<ConfigError>,
    pub warnings: Vec<String>,
}

impl Diag {
    pub fn new(file: &str) -> Self {
        Self {
            file: file.to_string(),
            prefix: String::new(),
            errors: Vec::new(),
            warnings: vec![],
        }
    }

    fn full_path(&self, path: &str) -> String {
        match (self.prefix.is_empty(), path.is_empty()) {
            (true, _) => path.to_string(),
            (false, true) => self.prefix.clone(),
            (false, false) => format!("{} > {path}", self.prefix),
        }
    }

    pub fn error(&mut self, path: &str, message: impl Into<String>) {
        let error = ConfigError::new(&self.file, self.full_path(path), message);
        self.errors.push(error);
    }

    pub fn warn(&mut self, path: &str, message: impl Into<String>) {
        let warning = ConfigError::new(&self.file, self.full_path(path), message);
        self.warnings.push(warning.to_string());
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.is_empty()
    }

    pub fn error_count(&self) -> usize {
        self.errors.len()
    }

    pub fn into_errors(self) -> ConfigErrors {
        ConfigErrors(self.errors)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_file_path_message_one_per_line() {
        let errors = ConfigErrors(vec![
            ConfigError::new("a.yaml", "x.y", "bad"),
            ConfigError::new("a.yaml", "", "unreadable"),
        ]);
        assert_eq!(errors.to_string(), "a.yaml: x.y: bad\na.yaml: unreadable");
    }

    #[test]
    fn prefix_goes_in_front_of_embedded_paths() {
        let mut diag = Diag::new("s.yaml");
        diag.prefix = "hivedscheduler.config".into();
        diag.error("virtualClusters", "m");
        diag.error("", "n");
        assert_eq!(
            diag.errors[0].yaml_path,
            "hivedscheduler.config > virtualClusters"
        );
        assert_eq!(diag.errors[1].yaml_path, "hivedscheduler.config");
    }
}
