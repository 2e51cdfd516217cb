//! OpenPAI job protocol v2 reader: turns one job file (YAML) into the affinity-group
//! requests the allocator schedules, following what OpenPAI's rest-server does when it
//! submits a job to HiveD. It reads only the keys that affect scheduling (`name`,
//! `taskRoles.*.instances`, `taskRoles.*.resourcePerInstance`, `defaults.virtualCluster`,
//! `extras.gangAllocation`, `extras.hivedScheduler`); commands, prerequisites, deployments,
//! parameters and the like are ignored. It does not check that the virtual cluster or the
//! pinned cells exist: the allocator rejects those requests with its own messages.
//!
//! # How a job becomes groups
//!
//! This mirrors microsoft/pai `src/rest-server/src/middlewares/v2/hived.js` (the
//! `hivedValidate` that builds each task role's `hivedPodSpec`, newest version with
//! job-level `lazyPreemptionEnable`):
//!
//! - `jobPriorityClass`: `crit`=120, `prod`=100, `test`=10 (default), `oppo`=-1.
//! - Task roles that share `extras.hivedScheduler.taskRoles.<role>.affinityGroupName` form
//!   one group `<job>/<affinityGroupName>` with one member per task role
//!   (`{podNumber: instances, leafCellNumber}`), whatever `gangAllocation` says.
//! - If no task role names an affinity group and `extras.gangAllocation` is true (the
//!   default), all task roles form one group `<job>/default`, one member per task role.
//! - Every other pod is a group of its own, as HiveD does for a pod without an affinity
//!   group; we name it `<job>/<taskRole>-<index>`. Note that, as in OpenPAI, a gang job
//!   where *some* task roles name an affinity group schedules the others pod by pod (a
//!   warning says so).
//! - Members are not merged even when two task roles have the same `leafCellNumber`:
//!   OpenPAI sends one member per task role, and HiveD merges equal sizes itself when it
//!   schedules the group (`affinityGroupPodNums[leafCellNumber] += podNumber`).
//! - OpenPAI prefixes group names with `<user>~`; [`JobSpec::for_user`] does the same.
//! - The old per-role names `gpuType` / `reservationId` and HiveD v2 extras
//!   (`taskRoleGroups`, `withinOne`, per-role `resourcePerInstance`) are errors rather than
//!   ignored, since ignoring them would place the job differently; other unknown keys
//!   under `extras.hivedScheduler` are warnings.
//!
//! # Leaf cells per instance
//!
//! As OpenPAI's rest-server computes `leafCellNumber` (the same rule in `hived.js` and in
//! `calculateSkuNum` of `hived_v2.js`): take the resources of one leaf cell from the
//! cluster's `skuTypes` — the task role's `skuType` if it has one; otherwise, per resource,
//! the **minimum** over the SKUs the job may use (the leaf types of the job's virtual
//! cluster, or every SKU of the cluster for an `oppo` job or when the VC is unknown, which
//! is OpenPAI's fallback when it cannot inspect the VC). Then
//! `leafCellNumber = max(ceil(gpu / sku.gpu), ceil(cpu / sku.cpu), ceil(memoryMB / sku.memory))`,
//! where a resource the task asks 0 of counts 0 (so `gpu: 0` is sized by cpu and memory),
//! and asking for a resource the SKU has 0 of is an error. A `skuNumber` key is ignored, as
//! OpenPAI overwrites it with the computed value.
//!
//! Our additions, where OpenPAI has no answer: when the config has no `skuTypes` entry for
//! the leaf type(s) in question (HiveD itself does not need them), one leaf cell is one GPU
//! and `leafCellNumber = gpu`; cpu is compared in millicores so `0.1`-style values do not
//! suffer float rounding; a result of 0 leaf cells is an error (HiveD rejects
//! `leafCellNumber` 0).
//!
//! # Where we are stricter than OpenPAI
//!
//! Task roles in one group must agree on `skuType`, `pinnedCellId`, `lazyPreemptionEnable`
//! and `ignoreK8sSuggestedNodes`. OpenPAI checks the first two for named affinity groups
//! only; for the default gang group HiveD would silently use the first pod's values for
//! the whole group. A [`GroupRequest`] has one value of each, so we report the clash.

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use crate::cell::request::{GroupMember, GroupRequest, OPPORTUNISTIC_PRIORITY};
use crate::config::{CellConfig, PhysicalCellSpec, SkuSpec};

/// The most instances (pods) one task role or scenario task may ask for. Larger counts
/// are refused with the field and this limit: a count from input allocates memory per
/// pod, and `instances: 300000000` aborted the process (issue 16). The largest real
/// jobs have hundreds to a few thousand pods.
pub const MAX_INSTANCES: u32 = 100_000;

/// The priority classes OpenPAI knows, with the HiveD priority each maps to.
pub const PRIORITY_CLASSES: [(&str, i32); 4] = [
    ("crit", 120),
    ("prod", 100),
    ("test", 10),
    ("oppo", OPPORTUNISTIC_PRIORITY),
];

/// The priority class used when a job names none (OpenPAI's default).
pub const DEFAULT_PRIORITY_CLASS: &str = "test";

/// The virtual cluster used when a job names none (OpenPAI's default).
pub const DEFAULT_VIRTUAL_CLUSTER: &str = "default";

/// One OpenPAI job read from a file: where it runs, at which priority, and the groups the
/// allocator must place for it.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSpec {
    /// The job's `name`.
    pub name: String,
    /// `defaults.virtualCluster`, `default` when absent.
    pub virtual_cluster: String,
    /// HiveD priority derived from `priority_class`.
    pub priority: i32,
    /// `extras.hivedScheduler.jobPriorityClass`, `test` when absent.
    pub priority_class: String,
    /// `extras.gangAllocation` (default true).
    pub gang: bool,
    /// The groups to place, in the order of their first task role in `taskRoles`.
    pub groups: Vec<GroupRequest>,
    /// One entry per task role, in file order.
    pub tasks: Vec<TaskSpec>,
    /// Non-fatal findings (keys that look like scheduling settings but are ignored, …),
    /// each naming the file and the YAML path.
    pub warnings: Vec<String>,
}

/// One task role of a job, as the allocator sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskSpec {
    /// The task role's name (key under `taskRoles`).
    pub name: String,
    /// `instances`: how many pods of this role.
    pub instances: u32,
    /// `resourcePerInstance` as requested.
    pub resources: TaskResources,
    /// Leaf cell type from `skuType`; `None` means any type.
    pub leaf_cell_type: Option<String>,
    /// Leaf cells per instance, computed from `resources` (see the module docs).
    pub leaf_cell_number: u32,
    /// `pinnedCellId`, if any.
    pub pinned_cell_id: Option<String>,
    /// Name of the shared group this role's pods belong to; `None` when each instance is a
    /// group of its own (see [`JobSpec::group_of`]).
    pub affinity_group: Option<String>,
}

/// A task role's `resourcePerInstance`.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskResources {
    /// `gpu` (default 0).
    pub gpu: u32,
    /// `cpu` cores.
    pub cpu: f64,
    /// `memoryMB`, which OpenPAI treats as MiB (it converts SKU memory `8192Mi` to 8192).
    pub memory_mib: u64,
}

/// A line and column (1-based) in a YAML file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct YamlLocation {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl fmt::Display for YamlLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Why a job file could not be read. None of these is fatal for a caller reading many
/// files: skip the file and go on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JobFileError {
    /// The file could not be opened or read.
    #[error("{}: cannot read the job file: {source}", file.display())]
    Read {
        /// The file.
        file: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The text is not YAML (or holds more than one document).
    #[error(
        "{file}{}: not valid YAML: {message}; fix the syntax there",
        at(location)
    )]
    Syntax {
        /// The file (or description of the text).
        file: String,
        /// Where the parser stopped, when it knows.
        location: Option<YamlLocation>,
        /// The parser's message.
        message: String,
    },
    /// Valid YAML, but a key is missing, has the wrong type or a value OpenPAI rejects.
    #[error("{file}{}: {}{problem}; {fix}", at(location), path_prefix(yaml_path))]
    Invalid {
        /// The file (or description of the text).
        file: String,
        /// Dotted YAML path of the offending key, e.g. `taskRoles.train.instances`; `.` for
        /// the whole document.
        yaml_path: String,
        /// Line and column, when known (type errors; not for checks made after parsing).
        location: Option<YamlLocation>,
        /// What is wrong.
        problem: String,
        /// How to fix it.
        fix: String,
    },
}

/// `path: `, or nothing for the whole document (`.`).
fn path_prefix(yaml_path: &str) -> String {
    if yaml_path == "." {
        String::new()
    } else {
        format!("{yaml_path}: ")
    }
}

fn at(location: &Option<YamlLocation>) -> String {
    location.map(|l| format!(":{l}")).unwrap_or_default()
}

impl JobFileError {
    /// The YAML path of the offending key, for [`JobFileError::Invalid`].
    pub fn yaml_path(&self) -> Option<&str> {
        match self {
            JobFileError::Invalid { yaml_path, .. } => Some(yaml_path),
            _ => None,
        }
    }
}

impl JobSpec {
    /// The group that instance `index` of task role `task` belongs to.
    pub fn group_of(&self, task: &str, index: u32) -> Option<&GroupRequest> {
        let spec = self.tasks.iter().find(|t| t.name == task)?;
        if index >= spec.instances {
            return None;
        }
        let name = match &spec.affinity_group {
            Some(group) => group.clone(),
            None => instance_group_name(&self.name, task, index),
        };
        self.groups.iter().find(|g| g.name == name)
    }

    /// Prefix every group name with `<user>~`, as OpenPAI does, so that the same job file
    /// submitted by several users (or several times) yields distinct group names.
    pub fn for_user(mut self, user: &str) -> Self {
        for group in &mut self.groups {
            group.name = format!("{user}~{}", group.name);
        }
        for task in &mut self.tasks {
            if let Some(group) = &mut task.affinity_group {
                *group = format!("{user}~{group}");
            }
        }
        self
    }

    /// Total leaf cells the job needs when all its pods run.
    pub fn leaf_count(&self) -> u64 {
        self.groups.iter().map(GroupRequest::leaf_count).sum()
    }
}

/// Read an OpenPAI job file. `config` supplies the SKU sizes and leaf types.
pub fn read_job_file(path: &Path, config: &CellConfig) -> Result<JobSpec, JobFileError> {
    let text = std::fs::read_to_string(path).map_err(|source| JobFileError::Read {
        file: path.to_path_buf(),
        source,
    })?;
    read_job_str(&text, &path.display().to_string(), config)
}

/// Read an OpenPAI job from `text`; `source` names it in messages (a path or a description).
pub fn read_job_str(
    text: &str,
    source: &str,
    config: &CellConfig,
) -> Result<JobSpec, JobFileError> {
    // Parse to an untyped tree first: that separates "not YAML" (with the parser's
    // position) from "wrong shape", and catches duplicate keys, which typed parsing of a
    // struct would report less clearly.
    let tree: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(text).map_err(|e| JobFileError::Syntax {
            file: source.to_string(),
            location: e.location().map(|l| YamlLocation {
                line: l.line(),
                column: l.column(),
            }),
            message: strip_location(&e.to_string(), e.location()),
        })?;
    let reader = Reader {
        file: source,
        config,
    };
    match tree {
        serde_yaml_ng::Value::Mapping(_) => {}
        serde_yaml_ng::Value::Null => {
            return Err(reader.invalid(
                ".",
                "the file is empty",
                "write an OpenPAI job: protocolVersion: 2, name, type: job and taskRoles",
            ));
        }
        _ => {
            return Err(reader.invalid(
                ".",
                "the top level is not a mapping",
                "an OpenPAI job is a mapping with protocolVersion, name, type and taskRoles",
            ));
        }
    }
    // Typed parse from the text (not the tree) so type errors keep their line and column.
    let raw: RawJob = serde_path_to_error::deserialize(serde_yaml_ng::Deserializer::from_str(text))
        .map_err(|e| reader.type_error(e))?;
    let mut warnings = Vec::new();
    reader.check_hived_keys(&tree, &mut warnings)?;
    reader.build(raw, warnings)
}

// ---------------------------------------------------------------------------------------
// Raw file shape. Every field is optional here so that missing keys get our messages.

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawJob {
    #[serde(default)]
    protocol_version: Option<serde_yaml_ng::Value>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default, rename = "type")]
    job_type: Option<String>,
    #[serde(default)]
    task_roles: Option<OrderedMap<RawTaskRole>>,
    #[serde(default)]
    defaults: Option<RawDefaults>,
    #[serde(default)]
    extras: Option<RawExtras>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawTaskRole {
    #[serde(default)]
    instances: Option<i64>,
    #[serde(default)]
    resource_per_instance: Option<RawResources>,
}

#[derive(Deserialize)]
struct RawResources {
    #[serde(default)]
    gpu: Option<i64>,
    #[serde(default)]
    cpu: Option<f64>,
    #[serde(default, rename = "memoryMB")]
    memory_mb: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawDefaults {
    #[serde(default)]
    virtual_cluster: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawExtras {
    #[serde(default)]
    gang_allocation: Option<bool>,
    #[serde(default)]
    hived_scheduler: Option<RawHived>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawHived {
    #[serde(default)]
    job_priority_class: Option<String>,
    #[serde(default)]
    task_roles: Option<OrderedMap<RawHivedRole>>,
    #[serde(default)]
    lazy_preemption_enable: Option<bool>,
    #[serde(default, rename = "ignoreK8sSuggestedNodes")]
    ignore_k8s_suggested_nodes: Option<bool>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct RawHivedRole {
    #[serde(default)]
    sku_type: Option<String>,
    #[serde(default)]
    pinned_cell_id: Option<String>,
    #[serde(default)]
    affinity_group_name: Option<String>,
    // Older OpenPAI releases read these two per task role; newer ones per job. A per-role
    // value overrides the job-level one.
    #[serde(default)]
    lazy_preemption_enable: Option<bool>,
    #[serde(default, rename = "ignoreK8sSuggestedNodes")]
    ignore_k8s_suggested_nodes: Option<bool>,
}

/// A YAML mapping kept in file order: OpenPAI (JavaScript) iterates task roles in
/// insertion order, and member order should follow the file.
struct OrderedMap<V>(Vec<(String, V)>);

impl<'de, V: Deserialize<'de>> Deserialize<'de> for OrderedMap<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OrderedVisitor<V>(std::marker::PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for OrderedVisitor<V> {
            type Value = OrderedMap<V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of task role name to settings")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut entries: Vec<(String, V)> = Vec::new();
                while let Some(key) = map.next_key::<String>()? {
                    if entries.iter().any(|(k, _)| *k == key) {
                        return Err(de::Error::custom(format!("duplicate key `{key}`")));
                    }
                    let value = map.next_value()?;
                    entries.push((key, value));
                }
                Ok(OrderedMap(entries))
            }
        }
        deserializer.deserialize_map(OrderedVisitor(std::marker::PhantomData))
    }
}

// ---------------------------------------------------------------------------------------
// Conversion.

/// Settings of one task role after reading, before grouping.
struct Role {
    spec: TaskSpec,
    /// `affinityGroupName`, if set.
    group_name: Option<String>,
    lazy: bool,
    ignore_suggested: bool,
}

struct Reader<'a> {
    file: &'a str,
    config: &'a CellConfig,
}

impl Reader<'_> {
    fn invalid(
        &self,
        yaml_path: &str,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> JobFileError {
        JobFileError::Invalid {
            file: self.file.to_string(),
            yaml_path: yaml_path.to_string(),
            location: None,
            problem: problem.into(),
            fix: fix.into(),
        }
    }

    fn type_error(&self, e: serde_path_to_error::Error<serde_yaml_ng::Error>) -> JobFileError {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let location = inner.location();
        let mut problem = strip_location(&inner.to_string(), inner.location());
        // serde_yaml_ng prefixes its own copy of the path; we print ours once.
        if let Some(rest) = problem.strip_prefix(&format!("{path}: ")) {
            problem = rest.to_string();
        }
        JobFileError::Invalid {
            file: self.file.to_string(),
            fix: type_hint(&path),
            yaml_path: path,
            location: location.map(|l| YamlLocation {
                line: l.line(),
                column: l.column(),
            }),
            problem,
        }
    }

    /// Look for keys under `extras.hivedScheduler` that would change placement but that we
    /// do not model: legacy names and HiveD v2 extras are errors (ignoring them would
    /// schedule the job differently), other unknown keys are warnings.
    fn check_hived_keys(
        &self,
        tree: &serde_yaml_ng::Value,
        warnings: &mut Vec<String>,
    ) -> Result<(), JobFileError> {
        let Some(hived) = tree.get("extras").and_then(|e| e.get("hivedScheduler")) else {
            return Ok(());
        };
        let Some(hived) = hived.as_mapping() else {
            return Ok(());
        };
        let base = "extras.hivedScheduler";
        for (key, _) in hived {
            let Some(key) = key.as_str() else { continue };
            let path = format!("{base}.{key}");
            match key {
                "jobPriorityClass" | "taskRoles" | "lazyPreemptionEnable" | "ignoreK8sSuggestedNodes" => {}
                "gangReleaseEnable" => warnings.push(format!(
                    "{}: {path}: ignored: cellsim always releases a group's cells when all its pods are gone",
                    self.file
                )),
                "taskRoleGroups" => {
                    return Err(self.invalid(
                        &path,
                        "HiveD v2 job extras (taskRoleGroups) are not supported",
                        "use taskRoles.<role>.affinityGroupName to put task roles in one group",
                    ));
                }
                _ => warnings.push(format!("{}: {path}: unknown key, ignored", self.file)),
            }
        }
        let Some(roles) = hived.get("taskRoles").and_then(|r| r.as_mapping()) else {
            return Ok(());
        };
        for (role, settings) in roles {
            let (Some(role), Some(settings)) = (role.as_str(), settings.as_mapping()) else {
                continue;
            };
            for (key, _) in settings {
                let Some(key) = key.as_str() else { continue };
                let path = format!("{base}.taskRoles.{role}.{key}");
                match key {
                    "skuType" | "pinnedCellId" | "affinityGroupName" | "lazyPreemptionEnable"
                    | "ignoreK8sSuggestedNodes" => {}
                    "skuNumber" => warnings.push(format!(
                        "{}: {path}: ignored, as in OpenPAI: the number of leaf cells is computed from resourcePerInstance",
                        self.file
                    )),
                    "gangReleaseEnable" => warnings.push(format!(
                        "{}: {path}: ignored: cellsim always releases a group's cells when all its pods are gone",
                        self.file
                    )),
                    "gpuType" => {
                        return Err(self.invalid(&path, "`gpuType` is the old name of this setting", "rename it to `skuType`"));
                    }
                    "reservationId" => {
                        return Err(self.invalid(
                            &path,
                            "`reservationId` is the old name of this setting",
                            "rename it to `pinnedCellId`",
                        ));
                    }
                    "resourcePerInstance" | "withinOne" => {
                        return Err(self.invalid(
                            &path,
                            "HiveD v2 job extras (resourcePerInstance, withinOne) are not supported",
                            "use skuType, pinnedCellId and affinityGroupName directly under the task role",
                        ));
                    }
                    _ => warnings.push(format!("{}: {path}: unknown key, ignored", self.file)),
                }
            }
        }
        Ok(())
    }

    fn build(&self, raw: RawJob, warnings: Vec<String>) -> Result<JobSpec, JobFileError> {
        self.check_header(&raw)?;
        let name = raw.name.unwrap_or_default();
        let task_roles = match raw.task_roles {
            Some(OrderedMap(roles)) if !roles.is_empty() => roles,
            _ => {
                return Err(self.invalid(
                    "taskRoles",
                    "no task roles",
                    "add `taskRoles:` with at least one role, e.g. `train: {instances: 1, resourcePerInstance: {gpu: 1, cpu: 4, memoryMB: 8192}}`",
                ));
            }
        };
        let virtual_cluster = raw
            .defaults
            .and_then(|d| d.virtual_cluster)
            .unwrap_or_else(|| DEFAULT_VIRTUAL_CLUSTER.to_string());
        if virtual_cluster.is_empty() {
            return Err(self.invalid(
                "defaults.virtualCluster",
                "empty virtual cluster name",
                "name a virtual cluster, or remove the key to use `default`",
            ));
        }
        let (gang, hived) = match raw.extras {
            Some(extras) => (
                extras.gang_allocation.unwrap_or(true),
                extras.hived_scheduler,
            ),
            None => (true, None),
        };
        let hived = hived.unwrap_or(RawHived {
            job_priority_class: None,
            task_roles: None,
            lazy_preemption_enable: None,
            ignore_k8s_suggested_nodes: None,
        });
        let priority_class = hived
            .job_priority_class
            .unwrap_or_else(|| DEFAULT_PRIORITY_CLASS.to_string());
        let Some(priority) = PRIORITY_CLASSES
            .iter()
            .find(|(c, _)| *c == priority_class)
            .map(|(_, p)| *p)
        else {
            let valid: Vec<String> = PRIORITY_CLASSES
                .iter()
                .map(|(c, p)| format!("{c} ({p})"))
                .collect();
            return Err(self.invalid(
                "extras.hivedScheduler.jobPriorityClass",
                format!("unknown jobPriorityClass `{priority_class}`"),
                format!("use one of {}", valid.join(", ")),
            ));
        };
        let opportunistic = priority == OPPORTUNISTIC_PRIORITY;

        let mut hived_roles = hived.task_roles.map(|m| m.0).unwrap_or_default();
        for (role, _) in &hived_roles {
            if !task_roles.iter().any(|(r, _)| r == role) {
                let known: Vec<&str> = task_roles.iter().map(|(r, _)| r.as_str()).collect();
                return Err(self.invalid(
                    &format!("extras.hivedScheduler.taskRoles.{role}"),
                    format!("there is no task role `{role}` in taskRoles"),
                    format!(
                        "use a task role of this job ({}) or remove the entry",
                        known.join(", ")
                    ),
                ));
            }
        }

        let mut roles = Vec::with_capacity(task_roles.len());
        for (role_name, raw_role) in task_roles {
            let settings = match hived_roles.iter().position(|(r, _)| *r == role_name) {
                Some(i) => hived_roles.swap_remove(i).1,
                None => RawHivedRole::default(),
            };
            roles.push(self.role(
                role_name,
                raw_role,
                settings,
                &virtual_cluster,
                opportunistic,
                hived.lazy_preemption_enable.unwrap_or(false),
                hived.ignore_k8s_suggested_nodes.unwrap_or(true),
            )?);
        }

        let mut job = JobSpec {
            name,
            virtual_cluster,
            priority,
            priority_class,
            gang,
            groups: Vec::new(),
            tasks: Vec::new(),
            warnings,
        };
        self.group(&mut job, roles)?;
        Ok(job)
    }

    fn check_header(&self, raw: &RawJob) -> Result<(), JobFileError> {
        let version_ok = match &raw.protocol_version {
            Some(serde_yaml_ng::Value::Number(n)) => n.as_u64() == Some(2),
            Some(serde_yaml_ng::Value::String(s)) => s == "2",
            _ => false,
        };
        if !version_ok {
            return Err(self.invalid(
                "protocolVersion",
                match &raw.protocol_version {
                    None => "missing".to_string(),
                    Some(v) => format!("unsupported protocol version {}", yaml_scalar(v)),
                },
                "this reader reads OpenPAI job protocol v2: set `protocolVersion: 2`",
            ));
        }
        match raw.job_type.as_deref() {
            Some("job") => {}
            None => return Err(self.invalid("type", "missing", "add `type: job`")),
            Some(other) => {
                return Err(self.invalid(
                    "type",
                    format!("`{other}` is not a job"),
                    "only `type: job` files can be scheduled",
                ));
            }
        }
        match raw.name.as_deref() {
            None => return Err(self.invalid("name", "missing", "add `name: <job name>`")),
            Some(name)
                if name.is_empty()
                    || !name
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') =>
            {
                return Err(self.invalid(
                    "name",
                    format!("invalid job name `{name}`"),
                    "use letters, digits, `_` and `-` only (OpenPAI's rule), since group names are built from it",
                ));
            }
            Some(_) => {}
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn role(
        &self,
        name: String,
        raw: RawTaskRole,
        settings: RawHivedRole,
        virtual_cluster: &str,
        opportunistic: bool,
        job_lazy: bool,
        job_ignore_suggested: bool,
    ) -> Result<Role, JobFileError> {
        let base = format!("taskRoles.{name}");
        let valid_name = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid_name {
            return Err(self.invalid(
                &base,
                format!("invalid task role name `{name}`"),
                "start with a letter or `_` and use letters, digits and `_` only (OpenPAI's rule)",
            ));
        }
        let instances = match raw.instances {
            None => 1,
            Some(n) if (1..=i64::from(MAX_INSTANCES)).contains(&n) => n as u32,
            Some(n) if n > i64::from(MAX_INSTANCES) => {
                return Err(self.invalid(
                    &format!("{base}.instances"),
                    format!("{n} instances"),
                    format!("at most {MAX_INSTANCES} instances per task role"),
                ));
            }
            Some(n) => {
                return Err(self.invalid(
                    &format!("{base}.instances"),
                    format!("{n} instances"),
                    "a task role needs at least 1 instance",
                ));
            }
        };
        let resources = self.resources(&base, raw.resource_per_instance)?;

        let hived_base = format!("extras.hivedScheduler.taskRoles.{name}");
        // An empty string means "not set", as HiveD treats an empty leafCellType as any type.
        let sku_type = settings.sku_type.filter(|s| !s.is_empty());
        let pinned_cell_id = settings.pinned_cell_id.filter(|s| !s.is_empty());
        if sku_type.is_some() && pinned_cell_id.is_some() {
            return Err(self.invalid(
                &hived_base,
                "both skuType and pinnedCellId are set",
                "keep only one: a pinned cell already fixes the leaf cell type",
            ));
        }
        if let Some(sku) = &sku_type {
            let known = known_leaf_types(self.config);
            if !known.contains(sku) {
                let list: Vec<&str> = known.iter().map(String::as_str).collect();
                return Err(self.invalid(
                    &format!("{hived_base}.skuType"),
                    format!("unknown skuType `{sku}`"),
                    if list.is_empty() {
                        "the cluster config defines no skuTypes or leaf cell types; remove skuType or fix the config".to_string()
                    } else {
                        format!("use one of the cluster's leaf cell types: {}", list.join(", "))
                    },
                ));
            }
        }
        let leaf_cell_number = self.leaf_cell_number(
            &base,
            &resources,
            sku_type.as_deref(),
            virtual_cluster,
            opportunistic,
        )?;
        let group_name = settings.affinity_group_name.filter(|s| !s.is_empty());
        Ok(Role {
            spec: TaskSpec {
                name,
                instances,
                resources,
                leaf_cell_type: sku_type,
                leaf_cell_number,
                pinned_cell_id,
                affinity_group: None,
            },
            group_name,
            lazy: settings.lazy_preemption_enable.unwrap_or(job_lazy),
            ignore_suggested: settings
                .ignore_k8s_suggested_nodes
                .unwrap_or(job_ignore_suggested),
        })
    }

    fn resources(
        &self,
        base: &str,
        raw: Option<RawResources>,
    ) -> Result<TaskResources, JobFileError> {
        let path = format!("{base}.resourcePerInstance");
        let Some(raw) = raw else {
            return Err(self.invalid(
                &path,
                "missing",
                "add `resourcePerInstance: {gpu: <n>, cpu: <n>, memoryMB: <n>}`",
            ));
        };
        let gpu = match raw.gpu.unwrap_or(0) {
            g if (0..=i64::from(u32::MAX)).contains(&g) => g as u32,
            g => {
                return Err(self.invalid(
                    &format!("{path}.gpu"),
                    format!("{g} GPUs"),
                    "use a whole number >= 0",
                ));
            }
        };
        let cpu = match raw.cpu {
            None => {
                return Err(self.invalid(&format!("{path}.cpu"), "missing", "add `cpu: <cores>`"));
            }
            Some(c) if c.is_finite() && c >= 0.0 => c,
            Some(c) => {
                return Err(self.invalid(
                    &format!("{path}.cpu"),
                    format!("{c} CPUs"),
                    "use a number >= 0",
                ));
            }
        };
        let memory_mib = match raw.memory_mb {
            None => {
                return Err(self.invalid(
                    &format!("{path}.memoryMB"),
                    "missing",
                    "add `memoryMB: <MiB>`",
                ));
            }
            Some(m) if m >= 0 => m as u64,
            Some(m) => {
                return Err(self.invalid(
                    &format!("{path}.memoryMB"),
                    format!("{m} MB"),
                    "use a whole number >= 0",
                ));
            }
        };
        Ok(TaskResources {
            gpu,
            cpu,
            memory_mib,
        })
    }

    /// Leaf cells per instance; the rule is in the module docs.
    fn leaf_cell_number(
        &self,
        base: &str,
        res: &TaskResources,
        sku_type: Option<&str>,
        virtual_cluster: &str,
        opportunistic: bool,
    ) -> Result<u32, JobFileError> {
        let path = format!("{base}.resourcePerInstance");
        let skus: Vec<&SkuSpec> = match sku_type {
            Some(t) => self.config.sku_types.get(t).into_iter().collect(),
            None => {
                let in_vc: Vec<&SkuSpec> = if opportunistic {
                    Vec::new()
                } else {
                    vc_leaf_types(self.config, virtual_cluster)
                        .iter()
                        .filter_map(|t| self.config.sku_types.get(t))
                        .collect()
                };
                if in_vc.is_empty() {
                    self.config.sku_types.values().collect()
                } else {
                    in_vc
                }
            }
        };
        let count: u64 = if skus.is_empty() {
            // No SKU sizes to go by: HiveD's own unit, one leaf cell per device.
            if res.gpu == 0 {
                return Err(self.invalid(
                    &format!("{path}.gpu"),
                    "0 GPUs, and the cluster config has no skuTypes to size the task by cpu and memory",
                    "request at least 1 GPU, or add skuTypes to the cluster config",
                ));
            }
            u64::from(res.gpu)
        } else {
            let sku_gpu = skus.iter().map(|s| u64::from(s.gpu)).min().unwrap_or(0);
            let sku_cpu_milli = skus.iter().map(|s| millicores(s.cpu)).min().unwrap_or(0);
            let sku_mem = skus.iter().map(|s| s.memory_mib).min().unwrap_or(0);
            let req_cpu_milli = millicores(res.cpu);
            let unit = match sku_type {
                Some(t) => format!("skuType {t}"),
                None => "the cluster's skuTypes".to_string(),
            };
            let empty = if sku_gpu == 0 && res.gpu > 0 {
                Some(("gpu", "GPU"))
            } else if sku_cpu_milli == 0 && req_cpu_milli > 0 {
                Some(("cpu", "CPU"))
            } else if sku_mem == 0 && res.memory_mib > 0 {
                Some(("memoryMB", "memory"))
            } else {
                None
            };
            if let Some((key, what)) = empty {
                return Err(self.invalid(
                    &format!("{path}.{key}"),
                    format!("the task asks for {what} but {unit} provide none"),
                    format!("set {key} to 0, or choose a skuType that has {what}"),
                ));
            }
            [
                ceil_div(u64::from(res.gpu), sku_gpu),
                ceil_div(req_cpu_milli, sku_cpu_milli),
                ceil_div(res.memory_mib, sku_mem),
            ]
            .into_iter()
            .max()
            .unwrap_or(0)
        };
        if count == 0 {
            return Err(self.invalid(
                &path,
                "the task asks for no GPU, CPU or memory, so it needs 0 leaf cells",
                "request at least some gpu, cpu or memoryMB",
            ));
        }
        u32::try_from(count).map_err(|_| {
            self.invalid(
                &path,
                format!("{count} leaf cells per instance"),
                "request fewer resources per instance",
            )
        })
    }

    /// Split the roles into groups (see the module docs) and fill `job.groups`/`job.tasks`.
    fn group(&self, job: &mut JobSpec, roles: Vec<Role>) -> Result<(), JobFileError> {
        let any_named = roles.iter().any(|r| r.group_name.is_some());
        // Shared group of each role (by index), if any.
        let shared: Vec<Option<String>> = roles
            .iter()
            .map(|r| match &r.group_name {
                Some(g) => Some(format!("{}/{g}", job.name)),
                None if job.gang && !any_named => Some(format!("{}/default", job.name)),
                None => None,
            })
            .collect();
        if job.gang && any_named {
            for role in roles.iter().filter(|r| r.group_name.is_none()) {
                job.warnings.push(format!(
                    "{}: extras.hivedScheduler.taskRoles.{}: no affinityGroupName while other task roles have one, so (as in OpenPAI) its {} instance(s) are scheduled one by one, not as a gang; give it an affinityGroupName to keep it in a gang",
                    self.file, role.spec.name, role.spec.instances
                ));
            }
        }
        for (i, role) in roles.iter().enumerate() {
            match &shared[i] {
                Some(name) => {
                    if job.groups.iter().any(|g| g.name == *name) {
                        continue; // already emitted with its first role
                    }
                    let members: Vec<usize> = (i..roles.len())
                        .filter(|&j| shared[j].as_ref() == Some(name))
                        .collect();
                    for &j in &members[1..] {
                        self.check_same_group(
                            &roles[i],
                            &roles[j],
                            name,
                            role.group_name.is_some(),
                        )?;
                    }
                    job.groups.push(GroupRequest {
                        name: name.clone(),
                        virtual_cluster: job.virtual_cluster.clone(),
                        priority: job.priority,
                        leaf_cell_type: role.spec.leaf_cell_type.clone(),
                        pinned_cell_id: role.spec.pinned_cell_id.clone(),
                        lazy_preemption_enable: role.lazy,
                        ignore_k8s_suggested_nodes: role.ignore_suggested,
                        members: members
                            .iter()
                            .map(|&j| {
                                GroupMember::whole(
                                    roles[j].spec.instances,
                                    roles[j].spec.leaf_cell_number,
                                )
                            })
                            .collect(),
                    });
                }
                None => {
                    for index in 0..role.spec.instances {
                        job.groups.push(GroupRequest {
                            name: instance_group_name(&job.name, &role.spec.name, index),
                            virtual_cluster: job.virtual_cluster.clone(),
                            priority: job.priority,
                            leaf_cell_type: role.spec.leaf_cell_type.clone(),
                            pinned_cell_id: role.spec.pinned_cell_id.clone(),
                            lazy_preemption_enable: role.lazy,
                            ignore_k8s_suggested_nodes: role.ignore_suggested,
                            members: vec![GroupMember::whole(1, role.spec.leaf_cell_number)],
                        });
                    }
                }
            }
        }
        // An affinityGroupName such as `train-0` could collide with a per-instance name.
        let mut seen = BTreeSet::new();
        for group in &job.groups {
            if !seen.insert(group.name.as_str()) {
                return Err(self.invalid(
                    "extras.hivedScheduler.taskRoles",
                    format!("two groups are both named `{}`", group.name),
                    "choose an affinityGroupName that is not `<taskRole>-<index>`",
                ));
            }
        }
        job.tasks = roles
            .into_iter()
            .zip(shared)
            .map(|(role, group)| TaskSpec {
                affinity_group: group,
                ..role.spec
            })
            .collect();
        Ok(())
    }

    fn check_same_group(
        &self,
        first: &Role,
        other: &Role,
        group: &str,
        named: bool,
    ) -> Result<(), JobFileError> {
        let (a, b) = (&first.spec, &other.spec);
        let show = |v: &Option<String>| {
            v.as_deref()
                .map_or("none".to_string(), |s| format!("`{s}`"))
        };
        let clash = if a.leaf_cell_type != b.leaf_cell_type {
            Some(("skuType", show(&a.leaf_cell_type), show(&b.leaf_cell_type)))
        } else if a.pinned_cell_id != b.pinned_cell_id {
            Some((
                "pinnedCellId",
                show(&a.pinned_cell_id),
                show(&b.pinned_cell_id),
            ))
        } else if first.lazy != other.lazy {
            Some((
                "lazyPreemptionEnable",
                first.lazy.to_string(),
                other.lazy.to_string(),
            ))
        } else if first.ignore_suggested != other.ignore_suggested {
            Some((
                "ignoreK8sSuggestedNodes",
                first.ignore_suggested.to_string(),
                other.ignore_suggested.to_string(),
            ))
        } else {
            None
        };
        let Some((key, va, vb)) = clash else {
            return Ok(());
        };
        let fix = if named {
            format!(
                "give task roles `{}` and `{}` the same {key}, or different affinityGroupName values",
                a.name, b.name
            )
        } else {
            format!(
                "give task roles `{}` and `{}` the same {key}, or set a different affinityGroupName on each so they form separate groups",
                a.name, b.name
            )
        };
        Err(self.invalid(
            &format!("extras.hivedScheduler.taskRoles.{}.{key}", b.name),
            format!(
                "task roles `{}` ({key} {va}) and `{}` ({key} {vb}) are in the same group `{group}` but disagree",
                a.name, b.name
            ),
            fix,
        ))
    }
}

/// Name of the one-pod group of instance `index` of `task` (no shared group).
fn instance_group_name(job: &str, task: &str, index: u32) -> String {
    format!("{job}/{task}-{index}")
}

/// Every leaf cell type a job may name: the config's `skuTypes` and its leaf cell types.
fn known_leaf_types(config: &CellConfig) -> BTreeSet<String> {
    let mut known: BTreeSet<String> = config.sku_types.keys().cloned().collect();
    for spec in config.cell_types.values() {
        if config.is_leaf_type(&spec.child_cell_type) {
            known.insert(spec.child_cell_type.clone());
        }
    }
    for cell in &config.physical_cells {
        if config.is_leaf_type(&cell.cell_type) {
            known.insert(cell.cell_type.clone());
        }
    }
    known
}

/// Leaf cell types of a virtual cluster's cells (preassigned and pinned); empty when the VC
/// is unknown.
fn vc_leaf_types(config: &CellConfig, vc: &str) -> BTreeSet<String> {
    let mut types = BTreeSet::new();
    let Some(spec) = config.virtual_clusters.get(vc) else {
        return types;
    };
    for cell in &spec.virtual_cells {
        types.insert(config.leaf_type_of(&cell.cell_type).to_string());
    }
    for id in &spec.pinned_cells {
        if let Some(cell) = config
            .physical_cells
            .iter()
            .find_map(|c| find_pinned(c, id))
        {
            types.insert(config.leaf_type_of(&cell.cell_type).to_string());
        }
    }
    types
}

fn find_pinned<'a>(cell: &'a PhysicalCellSpec, id: &str) -> Option<&'a PhysicalCellSpec> {
    if cell.pinned_cell_id.as_deref() == Some(id) {
        return Some(cell);
    }
    cell.children.iter().find_map(|c| find_pinned(c, id))
}

/// CPU cores in whole millicores, so that ratios like 0.3 / 0.1 round exactly.
fn millicores(cores: f64) -> u64 {
    (cores * 1000.0).round().max(0.0) as u64
}

/// `ceil(request / unit)`, 0 when nothing is requested. Callers have rejected `unit` 0
/// with a non-zero request.
fn ceil_div(request: u64, unit: u64) -> u64 {
    if request == 0 || unit == 0 {
        0
    } else {
        request.div_ceil(unit)
    }
}

/// Remove serde_yaml_ng's trailing " at line L column C": we report the position ourselves.
fn strip_location(message: &str, location: Option<serde_yaml_ng::Location>) -> String {
    if let Some(l) = location {
        let suffix = format!(" at line {} column {}", l.line(), l.column());
        if let Some(stripped) = message.strip_suffix(&suffix) {
            return stripped.to_string();
        }
    }
    message.to_string()
}

fn yaml_scalar(value: &serde_yaml_ng::Value) -> String {
    match value {
        serde_yaml_ng::Value::String(s) => format!("`{s}`"),
        serde_yaml_ng::Value::Number(n) => n.to_string(),
        serde_yaml_ng::Value::Bool(b) => b.to_string(),
        serde_yaml_ng::Value::Null => "null".to_string(),
        _ => "(not a scalar)".to_string(),
    }
}

/// How to fix a wrongly typed value, by the key it sits under.
fn type_hint(path: &str) -> String {
    let key = path.rsplit('.').next().unwrap_or(path);
    let expected = match key {
        "instances" => "a whole number >= 1",
        "gpu" | "memoryMB" => "a whole number >= 0",
        "cpu" => "a number >= 0",
        "name" | "virtualCluster" | "skuType" | "pinnedCellId" | "affinityGroupName"
        | "jobPriorityClass" | "type" => "a string",
        "gangAllocation" | "lazyPreemptionEnable" | "ignoreK8sSuggestedNodes" => "true or false",
        "taskRoles" => "a mapping of task role name to its settings",
        "resourcePerInstance" => "a mapping with gpu, cpu and memoryMB",
        "defaults" | "extras" | "hivedScheduler" => "a mapping",
        _ => return "see the OpenPAI job protocol v2 for this key's type".to_string(),
    };
    format!("write {expected} here")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{CellTypeSpec, VirtualCellSpec, VirtualClusterSpec};

    fn sku(gpu: u32, cpu: f64, memory_mib: u64) -> SkuSpec {
        SkuSpec {
            gpu,
            cpu,
            memory_mib,
        }
    }

    /// Two SKUs of different sizes; VC `small` holds only SMALL, VC `big` only BIG.
    fn config() -> CellConfig {
        let mut c = CellConfig::default();
        c.sku_types.insert("SMALL".into(), sku(1, 2.0, 4096));
        c.sku_types.insert("BIG".into(), sku(1, 8.0, 16384));
        for (leaf, node) in [("SMALL", "SMALL-NODE"), ("BIG", "BIG-NODE")] {
            c.cell_types.insert(
                node.into(),
                CellTypeSpec {
                    child_cell_type: leaf.into(),
                    child_cell_number: 4,
                    is_node_level: true,
                },
            );
        }
        for (vc, node) in [("small", "SMALL-NODE"), ("big", "BIG-NODE")] {
            c.virtual_clusters.insert(
                vc.into(),
                VirtualClusterSpec {
                    virtual_cells: vec![VirtualCellSpec {
                        chain: node.into(),
                        cell_type: node.into(),
                        cell_number: 1,
                    }],
                    pinned_cells: vec![],
                },
            );
        }
        c
    }

    fn job(body: &str) -> String {
        format!("protocolVersion: 2\nname: j\ntype: job\n{body}")
    }

    fn read(body: &str) -> Result<JobSpec, JobFileError> {
        read_job_str(&job(body), "test.yaml", &config())
    }

    fn err_path(body: &str) -> String {
        match read(body) {
            Err(e) => e.yaml_path().unwrap_or("<no path>").to_string(),
            Ok(j) => panic!("expected an error, got {j:?}"),
        }
    }

    const ONE_ROLE: &str = "taskRoles:\n  train:\n    instances: 2\n    resourcePerInstance: {gpu: 1, cpu: 8, memoryMB: 4096}\n";

    #[test]
    fn defaults_are_vc_default_priority_test_and_gang() {
        let j = read(ONE_ROLE).unwrap();
        assert_eq!(
            (
                j.virtual_cluster.as_str(),
                j.priority,
                j.priority_class.as_str(),
                j.gang
            ),
            ("default", 10, "test", true)
        );
        assert_eq!(j.groups.len(), 1);
        assert_eq!(j.groups[0].name, "j/default");
    }

    #[test]
    fn untyped_task_is_sized_by_the_smallest_sku_of_its_vc() {
        let with_vc = |vc: &str, class: &str| {
            read(&format!("{ONE_ROLE}defaults: {{virtualCluster: {vc}}}\nextras: {{hivedScheduler: {{jobPriorityClass: {class}}}}}\n"))
                .unwrap()
                .tasks[0]
                .leaf_cell_number
        };
        // cpu 8 is one BIG cell but four SMALL ones.
        assert_eq!(with_vc("big", "prod"), 1);
        assert_eq!(with_vc("small", "prod"), 4);
        // Opportunistic jobs may run anywhere, so the smallest SKU of the cluster counts.
        assert_eq!(with_vc("big", "oppo"), 4);
        // An unknown VC falls back to every SKU (the allocator rejects the VC later).
        assert_eq!(with_vc("nowhere", "prod"), 4);
    }

    #[test]
    fn sku_type_sizes_by_that_sku() {
        let body = format!(
            "{ONE_ROLE}extras: {{hivedScheduler: {{taskRoles: {{train: {{skuType: SMALL}}}}}}}}\n"
        );
        let j = read(&body).unwrap();
        assert_eq!(j.tasks[0].leaf_cell_number, 4);
        assert_eq!(j.groups[0].leaf_cell_type.as_deref(), Some("SMALL"));
    }

    #[test]
    fn zero_gpu_task_is_sized_by_cpu_and_memory() {
        let body = "defaults: {virtualCluster: small}\ntaskRoles:\n  t:\n    resourcePerInstance: {gpu: 0, cpu: 3, memoryMB: 10000}\n";
        // ceil(3/2)=2 CPU-wise, ceil(10000/4096)=3 memory-wise.
        assert_eq!(read(body).unwrap().tasks[0].leaf_cell_number, 3);
    }

    #[test]
    fn fractional_cpu_is_compared_in_millicores() {
        let mut c = config();
        c.sku_types.clear();
        c.sku_types.insert("X".into(), sku(0, 0.1, 0));
        let text =
            job("taskRoles:\n  t:\n    resourcePerInstance: {gpu: 0, cpu: 0.3, memoryMB: 0}\n");
        assert_eq!(
            read_job_str(&text, "t", &c).unwrap().tasks[0].leaf_cell_number,
            3
        );
    }

    #[test]
    fn without_sku_types_one_leaf_is_one_gpu() {
        let mut c = config();
        c.sku_types.clear();
        let text = job(
            "taskRoles:\n  t:\n    resourcePerInstance: {gpu: 3, cpu: 100, memoryMB: 999999}\n",
        );
        assert_eq!(
            read_job_str(&text, "t", &c).unwrap().tasks[0].leaf_cell_number,
            3
        );
        let zero =
            job("taskRoles:\n  t:\n    resourcePerInstance: {gpu: 0, cpu: 1, memoryMB: 1}\n");
        let e = read_job_str(&zero, "t", &c).unwrap_err();
        assert_eq!(e.yaml_path(), Some("taskRoles.t.resourcePerInstance.gpu"));
    }

    #[test]
    fn gpu_request_on_a_gpu_less_sku_is_an_error() {
        let mut c = config();
        c.sku_types.insert("CPU".into(), sku(0, 4.0, 8192));
        let text = job(
            "taskRoles:\n  t:\n    resourcePerInstance: {gpu: 1, cpu: 1, memoryMB: 1}\nextras: {hivedScheduler: {taskRoles: {t: {skuType: CPU}}}}\n",
        );
        let e = read_job_str(&text, "t", &c).unwrap_err();
        assert_eq!(e.yaml_path(), Some("taskRoles.t.resourcePerInstance.gpu"));
    }

    #[test]
    fn task_asking_for_nothing_is_an_error() {
        let body = "taskRoles:\n  t:\n    resourcePerInstance: {gpu: 0, cpu: 0, memoryMB: 0}\n";
        assert_eq!(err_path(body), "taskRoles.t.resourcePerInstance");
    }

    #[test]
    fn gang_job_keeps_one_member_per_role_even_of_equal_size() {
        let body = "taskRoles:\n  a:\n    instances: 2\n    resourcePerInstance: {gpu: 1, cpu: 1, memoryMB: 1}\n  b:\n    instances: 3\n    resourcePerInstance: {gpu: 1, cpu: 1, memoryMB: 1}\n";
        let j = read(body).unwrap();
        assert_eq!(j.groups.len(), 1);
        let members: Vec<(u32, u32)> = j.groups[0]
            .members
            .iter()
            .map(|m| (m.pod_number, m.leaf_cell_number))
            .collect();
        assert_eq!(members, vec![(2, 1), (3, 1)]);
    }

    #[test]
    fn non_gang_job_has_one_group_per_instance() {
        let body = format!("{ONE_ROLE}extras: {{gangAllocation: false}}\n");
        let j = read(&body).unwrap();
        let names: Vec<&str> = j.groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, vec!["j/train-0", "j/train-1"]);
        // cpu 8 on the cluster's smallest SKU (cpu 2): 4 leaves per pod.
        let one_pod = vec![GroupMember::whole(1, 4)];
        assert!(j.groups.iter().all(|g| g.members == one_pod));
        assert_eq!(
            j.group_of("train", 1).map(|g| g.name.as_str()),
            Some("j/train-1")
        );
        assert!(j.group_of("train", 2).is_none());
    }

    #[test]
    fn named_groups_hold_their_roles_and_others_go_alone_with_a_warning() {
        let body = "taskRoles:\n  a: {instances: 1, resourcePerInstance: {gpu: 1, cpu: 1, memoryMB: 1}}\n  b: {instances: 2, resourcePerInstance: {gpu: 2, cpu: 1, memoryMB: 1}}\n  c: {instances: 1, resourcePerInstance: {gpu: 1, cpu: 1, memoryMB: 1}}\nextras:\n  hivedScheduler:\n    taskRoles:\n      a: {affinityGroupName: g}\n      c: {affinityGroupName: g}\n";
        let j = read(body).unwrap();
        let names: Vec<&str> = j.groups.iter().map(|g| g.name.as_str()).collect();
        assert_eq!(names, vec!["j/g", "j/b-0", "j/b-1"]);
        assert_eq!(j.groups[0].pod_count(), 2);
        assert_eq!(j.tasks[2].affinity_group.as_deref(), Some("j/g"));
        assert!(
            j.warnings.iter().any(|w| w.contains("taskRoles.b")),
            "{:?}",
            j.warnings
        );
    }

    #[test]
    fn roles_of_one_group_must_agree_on_sku_type() {
        let body = "taskRoles:\n  a: {resourcePerInstance: {gpu: 1, cpu: 1, memoryMB: 1}}\n  b: {resourcePerInstance: {gpu: 1, cpu: 1, memoryMB: 1}}\nextras: {hivedScheduler: {taskRoles: {a: {skuType: SMALL}, b: {skuType: BIG}}}}\n";
        let e = read(body).unwrap_err();
        let text = e.to_string();
        assert_eq!(
            e.yaml_path(),
            Some("extras.hivedScheduler.taskRoles.b.skuType")
        );
        assert!(text.contains("`a`") && text.contains("`b`"), "{text}");
    }

    #[test]
    fn job_level_lazy_preemption_reaches_every_group() {
        let body = format!(
            "{ONE_ROLE}extras: {{gangAllocation: false, hivedScheduler: {{lazyPreemptionEnable: true}}}}\n"
        );
        assert!(
            read(&body)
                .unwrap()
                .groups
                .iter()
                .all(|g| g.lazy_preemption_enable)
        );
    }

    #[test]
    fn unknown_priority_class_lists_valid_ones() {
        let e = read(&format!(
            "{ONE_ROLE}extras: {{hivedScheduler: {{jobPriorityClass: urgent}}}}\n"
        ))
        .unwrap_err();
        assert_eq!(
            e.yaml_path(),
            Some("extras.hivedScheduler.jobPriorityClass")
        );
        let text = e.to_string();
        assert!(
            ["crit", "prod", "test", "oppo"]
                .iter()
                .all(|c| text.contains(c)),
            "{text}"
        );
    }

    #[test]
    fn crit_is_120() {
        let j = read(&format!(
            "{ONE_ROLE}extras: {{hivedScheduler: {{jobPriorityClass: crit}}}}\n"
        ))
        .unwrap();
        assert_eq!(j.priority, 120);
    }

    #[test]
    fn type_errors_carry_path_and_position() {
        let e = read("taskRoles:\n  t:\n    instances: two\n").unwrap_err();
        match e {
            JobFileError::Invalid {
                yaml_path,
                location,
                problem,
                ..
            } => {
                assert_eq!(yaml_path, "taskRoles.t.instances");
                assert_eq!(
                    location,
                    Some(YamlLocation {
                        line: 6,
                        column: 16
                    })
                );
                assert!(!problem.contains("at line"), "{problem}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn malformed_yaml_is_a_syntax_error_with_position() {
        let e = read_job_str("name: x\n  bad: : :\n", "bad.yaml", &config()).unwrap_err();
        assert!(
            matches!(
                e,
                JobFileError::Syntax {
                    location: Some(YamlLocation { line: 2, .. }),
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().starts_with("bad.yaml:2:"), "{e}");
    }

    #[test]
    fn for_user_prefixes_group_names() {
        let j = read(ONE_ROLE).unwrap().for_user("alice");
        assert_eq!(j.groups[0].name, "alice~j/default");
        assert_eq!(
            j.group_of("train", 0).map(|g| g.name.as_str()),
            Some("alice~j/default")
        );
    }

    #[test]
    fn legacy_gpu_type_is_an_error_not_ignored() {
        let body = format!(
            "{ONE_ROLE}extras: {{hivedScheduler: {{taskRoles: {{train: {{gpuType: SMALL}}}}}}}}\n"
        );
        assert_eq!(
            err_path(&body),
            "extras.hivedScheduler.taskRoles.train.gpuType"
        );
    }

    #[test]
    fn sku_type_may_be_a_leaf_type_without_sku_spec() {
        let mut c = config();
        c.cell_types.insert(
            "T4-NODE".into(),
            CellTypeSpec {
                child_cell_type: "T4".into(),
                child_cell_number: 2,
                is_node_level: true,
            },
        );
        let text = job(
            "taskRoles:\n  t:\n    resourcePerInstance: {gpu: 2, cpu: 64, memoryMB: 1}\nextras: {hivedScheduler: {taskRoles: {t: {skuType: T4}}}}\n",
        );
        // No SKU sizes for T4: one leaf per GPU, cpu not counted.
        assert_eq!(
            read_job_str(&text, "t", &c).unwrap().tasks[0].leaf_cell_number,
            2
        );
    }
}
