//! Kueue's controller `Configuration` (`apiVersion: config.kueue.x-k8s.io/v1beta1` or
//! `v1beta2`, `kind: Configuration`, the document of Kueue's `controller_manager_config.yaml`,
//! which has no `metadata.name`), read for the one part that changes admission here:
//! `fairSharing`. In v1beta1 `fairSharing.enable: true` turns fair sharing on and
//! `preemptionStrategies` defaults to `[LessThanOrEqualToFinalShare, LessThanInitialShare]`
//! (Kueue's conversion to v1beta2 fills it in); in v1beta2 the presence of the
//! `fairSharing` block turns it on and `preemptionStrategies` is required, as Kueue's
//! validation demands. Other fields are noted and ignored. What fair sharing does is the
//! `kueue` layer's business.

use super::k8s::{self, Object, ObjectError};

/// One of Kueue's fair-sharing preemption strategies (`fairSharing.preemptionStrategies`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FairStrategy {
    /// Rule S2-a: preempt when the preemptor's share with its new workload is at most
    /// the target's share after the victim leaves.
    LessThanOrEqualToFinalShare,
    /// Rule S2-b: preempt when the preemptor's share with its new workload is below the
    /// target's share before any victim leaves.
    LessThanInitialShare,
}

impl FairStrategy {
    /// The name as Kueue spells it.
    pub fn name(self) -> &'static str {
        match self {
            FairStrategy::LessThanOrEqualToFinalShare => "LessThanOrEqualToFinalShare",
            FairStrategy::LessThanInitialShare => "LessThanInitialShare",
        }
    }
}

/// Fair sharing as the Configuration turns it on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FairSharing {
    /// The preemption strategies in order: the next is tried only when the previous
    /// ones did not make room.
    pub preemption_strategies: Vec<FairStrategy>,
}

impl Default for FairSharing {
    /// Kueue's default strategies.
    fn default() -> Self {
        FairSharing {
            preemption_strategies: vec![
                FairStrategy::LessThanOrEqualToFinalShare,
                FairStrategy::LessThanInitialShare,
            ],
        }
    }
}

/// The strategy lists Kueue's validation accepts.
const VALID: &str = "[LessThanOrEqualToFinalShare], [LessThanInitialShare] or \
[LessThanOrEqualToFinalShare, LessThanInitialShare]";

/// Whether `object` is a Kueue controller Configuration.
pub(crate) fn is_configuration(object: &Object) -> bool {
    object.kind == "Configuration" && object.api_version.starts_with("config.kueue.x-k8s.io/")
}

/// Reads a Configuration object: its fair sharing (`None` when off) and a note naming
/// the top-level fields that were ignored, if any.
pub(crate) fn read_configuration(
    object: &Object,
) -> Result<(Option<FairSharing>, Option<String>), ObjectError> {
    let v1beta1 = object.api_version == "config.kueue.x-k8s.io/v1beta1";
    if !v1beta1 && object.api_version != "config.kueue.x-k8s.io/v1beta2" {
        return Err(object.error(
            "apiVersion",
            format!(
                "{:?} is not a Configuration version cellsim reads; use config.kueue.x-k8s.io/v1beta1 or v1beta2",
                object.api_version
            ),
        ));
    }
    let ignored: Vec<String> = object
        .value
        .as_mapping()
        .into_iter()
        .flatten()
        .filter_map(|(k, _)| k8s::text(k))
        .filter(|k| {
            !matches!(
                k.as_str(),
                "apiVersion" | "kind" | "metadata" | "fairSharing"
            )
        })
        .collect();
    let note = (!ignored.is_empty()).then(|| {
        format!(
            "Configuration: only fairSharing is modelled (with Kueue's default feature gates); ignored {}",
            ignored.join(", ")
        )
    });
    let Some(block) = object.get("fairSharing") else {
        return Ok((None, note));
    };
    if !block.is_mapping() {
        return Err(object.error(
            "fairSharing",
            format!("expected a mapping, found {}", k8s::describe(block)),
        ));
    }
    let enabled = match (v1beta1, object.get("fairSharing.enable")) {
        (true, None) => false,
        (true, Some(serde_yaml_ng::Value::Bool(b))) => *b,
        (true, Some(other)) => {
            return Err(object.error(
                "fairSharing.enable",
                format!("expected true or false, found {}", k8s::describe(other)),
            ));
        }
        (false, None) => true,
        (false, Some(_)) => {
            return Err(object.error(
                "fairSharing.enable",
                "v1beta2 has no enable field: the fairSharing block itself turns fair sharing on; remove enable (or the whole block to turn it off)",
            ));
        }
    };
    let strategies = k8s::list_at(
        object,
        object.get("fairSharing.preemptionStrategies"),
        "fairSharing.preemptionStrategies",
    )?;
    let mut parsed = Vec::with_capacity(strategies.len());
    for (i, value) in strategies.iter().enumerate() {
        let path = format!("fairSharing.preemptionStrategies[{i}]");
        let strategy = match k8s::text(value).as_deref() {
            Some("LessThanOrEqualToFinalShare") => FairStrategy::LessThanOrEqualToFinalShare,
            Some("LessThanInitialShare") => FairStrategy::LessThanInitialShare,
            _ => {
                return Err(object.error(
                    &path,
                    format!(
                        "{} is not a strategy; use LessThanOrEqualToFinalShare or LessThanInitialShare",
                        k8s::describe(value)
                    ),
                ));
            }
        };
        parsed.push(strategy);
    }
    if parsed.is_empty() {
        if !v1beta1 {
            return Err(object.error(
                "fairSharing.preemptionStrategies",
                format!("v1beta2 requires it (as Kueue's validation does); use {VALID}"),
            ));
        }
        parsed = FairSharing::default().preemption_strategies;
    }
    let valid = matches!(
        parsed.as_slice(),
        [FairStrategy::LessThanOrEqualToFinalShare]
            | [FairStrategy::LessThanInitialShare]
            | [
                FairStrategy::LessThanOrEqualToFinalShare,
                FairStrategy::LessThanInitialShare
            ]
    );
    if !valid {
        let names: Vec<&str> = parsed.iter().map(|s| s.name()).collect();
        return Err(object.error(
            "fairSharing.preemptionStrategies",
            format!(
                "[{}] is not a list Kueue accepts; use {VALID}",
                names.join(", ")
            ),
        ));
    }
    let fair = enabled.then_some(FairSharing {
        preemption_strategies: parsed,
    });
    Ok((fair, note))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kueue::read_kueue_str;

    /// Kueue's controller config as its Helm chart and manifests ship it, with fair
    /// sharing turned on, beside one ResourceFlavor.
    const CONFIG: &str = r#"apiVersion: config.kueue.x-k8s.io/v1beta1
kind: Configuration
health:
  healthProbeBindAddress: :8081
metrics:
  bindAddress: :8443
webhook:
  port: 9443
leaderElection:
  leaderElect: true
  resourceName: c1f6bfd2.kueue.x-k8s.io
controller:
  groupKindConcurrency:
    Job.batch: 5
    Workload.kueue.x-k8s.io: 5
clientConnection:
  qps: 50
  burst: 100
waitForPodsReady:
  enable: false
integrations:
  frameworks:
  - "batch/job"
  - "kubeflow.org/pytorchjob"
fairSharing:
  enable: true
  preemptionStrategies: [LessThanOrEqualToFinalShare, LessThanInitialShare]
---
apiVersion: kueue.x-k8s.io/v1beta1
kind: ResourceFlavor
metadata: {name: a100}
"#;

    fn read(text: &str) -> Result<crate::kueue::KueueConfig, String> {
        read_kueue_str(text, "k.yaml").map_err(|e| e.to_string())
    }

    #[test]
    fn a_realistic_configuration_turns_fair_sharing_on() {
        let config = read(CONFIG).unwrap();
        assert_eq!(config.fair_sharing, Some(FairSharing::default()));
        assert!(config.flavors.contains_key("a100"));
        let notes = config.notes.join("\n");
        assert!(
            notes.contains("ignored health, metrics, webhook, leaderElection, controller"),
            "{notes}"
        );
    }

    #[test]
    fn v1beta1_defaults_the_strategies_and_is_off_unless_enabled() {
        let text = CONFIG.replace(
            "  preemptionStrategies: [LessThanOrEqualToFinalShare, LessThanInitialShare]\n",
            "",
        );
        assert_eq!(
            read(&text).unwrap().fair_sharing,
            Some(FairSharing::default())
        );
        let off = text.replace("enable: true\n---", "enable: false\n---");
        assert_eq!(read(&off).unwrap().fair_sharing, None);
        let only = CONFIG.replace(
            "[LessThanOrEqualToFinalShare, LessThanInitialShare]",
            "[LessThanInitialShare]",
        );
        assert_eq!(
            read(&only)
                .unwrap()
                .fair_sharing
                .unwrap()
                .preemption_strategies,
            [FairStrategy::LessThanInitialShare]
        );
    }

    #[test]
    fn v1beta2_is_on_by_its_block_and_needs_strategies() {
        let v2 = CONFIG
            .replace(
                "config.kueue.x-k8s.io/v1beta1",
                "config.kueue.x-k8s.io/v1beta2",
            )
            .replace(
                "  enable: true\n  preemptionStrategies",
                "  preemptionStrategies",
            );
        assert_eq!(
            read(&v2).unwrap().fair_sharing,
            Some(FairSharing::default())
        );
        let err = read(&v2.replace(
            "  preemptionStrategies: [LessThanOrEqualToFinalShare, LessThanInitialShare]\n",
            "  preemptionStrategies: []\n",
        ))
        .unwrap_err();
        assert!(
            err.contains(
                "k.yaml: Configuration: field fairSharing.preemptionStrategies: v1beta2 requires it"
            ),
            "{err}"
        );
        let err =
            read(&v2.replace("fairSharing:\n", "fairSharing:\n  enable: true\n")).unwrap_err();
        assert!(
            err.contains("field fairSharing.enable: v1beta2 has no enable"),
            "{err}"
        );
    }

    #[test]
    fn bad_values_name_the_field() {
        let err =
            read(&CONFIG.replace("enable: true\n  pre", "enable: yes please\n  pre")).unwrap_err();
        assert!(
            err.contains("field fairSharing.enable: expected true or false"),
            "{err}"
        );
        let err =
            read(&CONFIG.replace("LessThanInitialShare]", "LessThanFinalShare]")).unwrap_err();
        assert!(
            err.contains("field fairSharing.preemptionStrategies[1]: the text \"LessThanFinalShare\" is not a strategy"),
            "{err}"
        );
        let err = read(&CONFIG.replace(
            "[LessThanOrEqualToFinalShare, LessThanInitialShare]",
            "[LessThanInitialShare, LessThanOrEqualToFinalShare]",
        ))
        .unwrap_err();
        assert!(err.contains("is not a list Kueue accepts"), "{err}");
        let err = read(&CONFIG.replace(
            "v1beta1\nkind: Configuration",
            "v1alpha1\nkind: Configuration",
        ))
        .unwrap_err();
        assert!(err.contains("field apiVersion"), "{err}");
        let twice = format!("{CONFIG}---\n{}", CONFIG.split("---").next().unwrap());
        assert!(
            read(&twice)
                .unwrap_err()
                .contains("a second Kueue Configuration")
        );
    }
}
