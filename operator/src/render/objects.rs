//! The Deployment, Service, PodDisruptionBudget and HorizontalPodAutoscaler of an agent.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HPAScalingRules, HorizontalPodAutoscaler,
    HorizontalPodAutoscalerBehavior, HorizontalPodAutoscalerSpec, MetricSpec, MetricTarget,
    ResourceMetricSource,
};
use k8s_openapi::api::core::v1::{
    Capabilities, ConfigMapVolumeSource, Container, ContainerPort, EmptyDirVolumeSource,
    EnvFromSource, EnvVar, HTTPGetAction, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
    ResourceRequirements, SeccompProfile, SecretEnvSource, SecretVolumeSource, SecurityContext,
    Service, ServicePort, ServiceSpec, Volume, VolumeMount,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use omnia_api::crd::AgentRuntime;
use serde::Deserialize;
use serde_json::Value;

use super::{Settings, owned_meta, selector};

/// The annotation carrying the configuration's hash on the pod template.
pub const CONFIG_HASH: &str = "omnia.altairalabs.ai/config-hash";
/// The gateway's health and metrics port (`/healthz`, `/readyz`, `/metrics`).
pub const HEALTH_PORT: i32 = 8081;
/// The runtime's gRPC port (loopback: only the gateway beside it calls it).
pub const GRPC_PORT: i32 = 9000;
/// The runtime's metrics port.
pub const METRICS_PORT: i32 = 9001;
/// Added to the drain timeout for `terminationGracePeriodSeconds`: time to stop after the drain.
pub const GRACE_MARGIN: Duration = Duration::from_secs(5);
const CONFIG_DIR: &str = "/etc/omnia/config";
/// The gateway's drain timeout when the facade names none (`OMNIA_FACADE_DRAIN_TIMEOUT_SECONDS`).
const DEFAULT_DRAIN: Duration = Duration::from_secs(30);

/// `spec.runtime.autoscaling` (Omnia's fields, and ours for the tuner).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Autoscaling {
    #[serde(default)]
    pub enabled: bool,
    /// `hpa` (Omnia's default), `keda`, or `tuner` (ours: replicas tuned from live load).
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub min_replicas: Option<i32>,
    #[serde(default)]
    pub max_replicas: Option<i32>,
    #[serde(default)]
    pub target_memory_utilization_percentage: Option<i32>,
    /// Omnia spells it with `CPU` in capitals.
    #[serde(default, rename = "targetCPUUtilizationPercentage")]
    pub target_cpu_utilization_percentage: Option<i32>,
    #[serde(default)]
    pub scale_down_stabilization_seconds: Option<i32>,
    /// Tuner: WebSocket connections one pod should carry.
    #[serde(default)]
    pub target_connections_per_pod: Option<f64>,
    /// Tuner: requests in flight one pod should carry.
    #[serde(default)]
    pub target_in_flight_per_pod: Option<f64>,
    #[serde(default)]
    pub keda: Option<Value>,
}

/// Who sets the Deployment's replicas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scaling {
    /// The spec's replica count.
    Fixed(i32),
    /// An HPA the operator creates.
    Hpa,
    /// The operator's tuner.
    Tuner,
}

impl Autoscaling {
    /// The agent's `spec.runtime.autoscaling`, if set and enabled.
    ///
    /// # Errors
    /// The reason when it does not read as autoscaling settings.
    pub fn of(agent: &AgentRuntime) -> Result<Option<Self>, String> {
        let Some(value) = agent
            .spec
            .runtime
            .as_ref()
            .and_then(|r| r.autoscaling.as_ref())
        else {
            return Ok(None);
        };
        let parsed: Self = serde_json::from_value(value.clone())
            .map_err(|e| format!("spec.runtime.autoscaling: {e}"))?;
        Ok(parsed.enabled.then_some(parsed))
    }

    /// Who scales the agent.
    ///
    /// # Errors
    /// For `keda`, which this operator does not drive, and unknown types.
    pub fn scaling(this: Option<&Self>, replicas: u32) -> Result<Scaling, String> {
        match this.map(|a| a.kind.as_deref().unwrap_or("hpa")) {
            None => Ok(Scaling::Fixed(i32::try_from(replicas).unwrap_or(i32::MAX))),
            Some("hpa") => Ok(Scaling::Hpa),
            Some("tuner") => Ok(Scaling::Tuner),
            Some("keda") => Err(
                "spec.runtime.autoscaling.type keda is not supported by this operator: use hpa \
                 or tuner"
                    .to_owned(),
            ),
            Some(other) => Err(format!(
                "spec.runtime.autoscaling.type `{other}` is not one of hpa, tuner"
            )),
        }
    }

    pub fn min(&self) -> i32 {
        self.min_replicas.unwrap_or(1).max(1)
    }

    pub fn max(&self) -> i32 {
        self.max_replicas.unwrap_or(10).max(self.min())
    }
}

/// What the Deployment is built from besides the agent itself.
#[derive(Debug, Clone)]
pub struct PodInputs<'a> {
    pub settings: &'a Settings,
    pub config_hash: &'a str,
    pub facade_port: u16,
    /// The port of the agent's `mcp` facade (its functions as MCP tools), if it has one.
    pub mcp_port: Option<u16>,
    pub drain_timeout: Option<Duration>,
    pub scaling: Scaling,
    /// The Secrets handed to the containers as environment variables.
    pub secrets: &'a [String],
    /// The client-key Secrets mounted (read-only) in the facade container.
    pub client_keys: &'a [String],
}

/// Why the pod cannot be built from the spec.
#[derive(Debug, thiserror::Error)]
#[error("{field}: {reason}")]
pub struct PodError {
    pub field: &'static str,
    pub reason: String,
}

fn typed<T: serde::de::DeserializeOwned>(
    field: &'static str,
    value: Option<&Value>,
) -> Result<Option<T>, PodError> {
    value
        .map(|v| serde_json::from_value(v.clone()))
        .transpose()
        .map_err(|e| PodError {
            field,
            reason: e.to_string(),
        })
}

/// The agent's Deployment: the gateway and runtime containers side by side.
///
/// # Errors
/// When a Kubernetes-typed field of the spec (resources, env, tolerations, ...) does not read as
/// its Kubernetes type.
pub fn deployment(agent: &AgentRuntime, pod: &PodInputs<'_>) -> Result<Deployment, PodError> {
    let spec = &agent.spec;
    let runtime = spec.runtime.as_ref();
    let facade = spec
        .facade
        .as_ref()
        .or_else(|| spec.facades.as_ref().and_then(|f| f.first()));
    let name = agent.metadata.name.clone().unwrap_or_default();

    let resources: Option<ResourceRequirements> = match runtime.and_then(|r| r.resources.as_ref()) {
        Some(own) => typed("spec.runtime.resources", Some(own))?,
        None => typed("spec.resources", spec.resources.as_ref())?,
    };
    let common_env: Vec<EnvVar> = typed("spec.env", spec.env.as_ref())?.unwrap_or_default();
    let runtime_env: Vec<EnvVar> = typed(
        "spec.runtime.extraEnv",
        runtime.and_then(|r| r.extra_env.as_ref()),
    )?
    .unwrap_or_default();
    let gateway_env: Vec<EnvVar> = typed(
        "spec.facade.extraEnv",
        facade.and_then(|f| f.extra_env.as_ref()),
    )?
    .unwrap_or_default();
    let secrets_env = secrets_env(agent, pod.secrets);
    let env_from: Vec<EnvFromSource> = pod
        .secrets
        .iter()
        .enumerate()
        .map(|(i, secret)| EnvFromSource {
            prefix: Some(secret_prefix(i)),
            secret_ref: Some(SecretEnvSource {
                name: secret.clone(),
                optional: Some(false),
            }),
            ..EnvFromSource::default()
        })
        .collect();

    let drain = pod.drain_timeout.unwrap_or(DEFAULT_DRAIN);
    let mut gateway_vars = vec![
        env("OMNIA_FACADE_PORT", pod.facade_port.to_string()),
        // The gateway drains for this long; the pod's grace period is this plus a margin.
        env(
            "OMNIA_FACADE_DRAIN_TIMEOUT_SECONDS",
            drain.as_secs().to_string(),
        ),
        env("OMNIA_HEALTH_PORT", HEALTH_PORT.to_string()),
        env("OMNIA_RUNTIME_ADDRESS", format!("127.0.0.1:{GRPC_PORT}")),
    ];
    gateway_vars.extend(secrets_env.iter().cloned());
    gateway_vars.extend(common_env.iter().cloned());
    gateway_vars.extend(gateway_env);
    let mut runtime_vars = vec![
        env("OMNIA_RUNTIME_LISTEN", format!("127.0.0.1:{GRPC_PORT}")),
        env("OMNIA_METRICS_LISTEN", format!("0.0.0.0:{METRICS_PORT}")),
    ];
    runtime_vars.extend(secrets_env);
    runtime_vars.extend(common_env);
    runtime_vars.extend(runtime_env);

    let http_probe = |path: &str, period: i32| Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::String("health".to_owned()),
            ..HTTPGetAction::default()
        }),
        period_seconds: Some(period),
        ..Probe::default()
    };
    let mounts = vec![
        VolumeMount {
            name: "config".to_owned(),
            mount_path: CONFIG_DIR.to_owned(),
            read_only: Some(true),
            ..VolumeMount::default()
        },
        VolumeMount {
            name: "tmp".to_owned(),
            mount_path: "/tmp".to_owned(),
            ..VolumeMount::default()
        },
    ];
    // `spec.runtime.volumes` / `volumeMounts` (Omnia's): the pod's and the runtime container's.
    let extra_volumes: Vec<Volume> = typed(
        "spec.runtime.volumes",
        runtime.and_then(|r| r.volumes.as_ref()),
    )?
    .unwrap_or_default();
    let extra_mounts: Vec<VolumeMount> = typed(
        "spec.runtime.volumeMounts",
        runtime.and_then(|r| r.volume_mounts.as_ref()),
    )?
    .unwrap_or_default();
    let mut runtime_mounts = mounts.clone();
    runtime_mounts.extend(extra_mounts);
    let mut gateway_mounts = mounts.clone();
    gateway_mounts.extend(
        pod.client_keys
            .iter()
            .enumerate()
            .map(|(i, name)| VolumeMount {
                name: format!("client-key-{i}"),
                mount_path: super::client_key_dir(name),
                read_only: Some(true),
                ..VolumeMount::default()
            }),
    );
    let mut volumes = vec![
        Volume {
            name: "config".to_owned(),
            config_map: Some(ConfigMapVolumeSource {
                name: super::config::name(agent),
                ..ConfigMapVolumeSource::default()
            }),
            ..Volume::default()
        },
        Volume {
            name: "tmp".to_owned(),
            empty_dir: Some(EmptyDirVolumeSource::default()),
            ..Volume::default()
        },
    ];
    volumes.extend(extra_volumes);
    volumes.extend(pod.client_keys.iter().enumerate().map(|(i, name)| Volume {
        name: format!("client-key-{i}"),
        secret: Some(SecretVolumeSource {
            secret_name: Some(name.clone()),
            ..SecretVolumeSource::default()
        }),
        ..Volume::default()
    }));
    let gateway = Container {
        name: "facade".to_owned(),
        image: Some(
            facade
                .and_then(|f| f.image.clone())
                .unwrap_or_else(|| pod.settings.gateway_image.clone()),
        ),
        args: Some(vec!["serve".into(), "--config".into(), CONFIG_DIR.into()]),
        ports: Some(
            [
                Some(port("facade", i32::from(pod.facade_port))),
                Some(port("health", HEALTH_PORT)),
                pod.mcp_port.map(|p| port("mcp", i32::from(p))),
            ]
            .into_iter()
            .flatten()
            .collect(),
        ),
        env: Some(gateway_vars),
        env_from: Some(env_from.clone()),
        resources: Some(facade_resources()),
        readiness_probe: Some(http_probe("/readyz", 5)),
        liveness_probe: Some(Probe {
            failure_threshold: Some(3),
            ..http_probe("/healthz", 10)
        }),
        security_context: Some(hardened()),
        volume_mounts: Some(gateway_mounts),
        ..Container::default()
    };
    let runtime_container = Container {
        name: "runtime".to_owned(),
        image: Some(
            spec.framework
                .as_ref()
                .and_then(|f| f.image.clone())
                .unwrap_or_else(|| pod.settings.runtime_image.clone()),
        ),
        args: Some(vec!["--config".into(), CONFIG_DIR.into()]),
        ports: Some(vec![port("grpc", GRPC_PORT), port("metrics", METRICS_PORT)]),
        env: Some(runtime_vars),
        env_from: Some(env_from),
        resources,
        security_context: Some(hardened()),
        volume_mounts: Some(runtime_mounts),
        ..Container::default()
    };
    let grace = drain + GRACE_MARGIN;
    let mut annotations: BTreeMap<String, String> = typed(
        "spec.extraPodAnnotations",
        spec.extra_pod_annotations.as_ref(),
    )?
    .unwrap_or_default();
    annotations.insert(CONFIG_HASH.to_owned(), pod.config_hash.to_owned());
    let pod_spec = PodSpec {
        containers: vec![gateway, runtime_container],
        // Agent pods never call the API server.
        automount_service_account_token: Some(false),
        termination_grace_period_seconds: Some(i64::try_from(grace.as_secs()).unwrap_or(i64::MAX)),
        security_context: Some(PodSecurityContext {
            run_as_non_root: Some(true),
            run_as_user: Some(65532),
            run_as_group: Some(65532),
            seccomp_profile: Some(SeccompProfile {
                type_: "RuntimeDefault".to_owned(),
                ..SeccompProfile::default()
            }),
            ..PodSecurityContext::default()
        }),
        volumes: Some(volumes),
        node_selector: typed(
            "spec.runtime.nodeSelector",
            runtime.and_then(|r| r.node_selector.as_ref()),
        )?,
        tolerations: typed(
            "spec.runtime.tolerations",
            runtime.and_then(|r| r.tolerations.as_ref()),
        )?,
        affinity: typed(
            "spec.runtime.affinity",
            runtime.and_then(|r| r.affinity.as_ref()),
        )?,
        ..PodSpec::default()
    };
    let mut labels = super::labels(agent);
    labels.extend(selector(agent));
    Ok(Deployment {
        metadata: owned_meta(agent, name),
        spec: DeploymentSpec {
            // Left out when an HPA or the tuner owns the count, so applying never fights them.
            replicas: match pod.scaling {
                Scaling::Fixed(n) => Some(n),
                Scaling::Hpa | Scaling::Tuner => None,
            },
            selector: LabelSelector {
                match_labels: Some(selector(agent)),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels),
                    annotations: Some(annotations),
                    ..ObjectMeta::default()
                }),
                spec: Some(pod_spec),
            },
            ..DeploymentSpec::default()
        },
        ..Deployment::default()
    })
}

/// The facade's requests: small and fixed (it relays; the runtime does the work), and present,
/// because an HPA's utilization metric is undefined unless every container requests the
/// resource.
fn facade_resources() -> ResourceRequirements {
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".to_owned(), Quantity("50m".to_owned())),
            ("memory".to_owned(), Quantity("64Mi".to_owned())),
        ])),
        ..ResourceRequirements::default()
    }
}

/// The prefix of the `i`th Secret's variables.
pub fn secret_prefix(i: usize) -> String {
    format!("OMNIA_SECRET_{i}_")
}

/// `OMNIA_SECRETS_FROM_ENV`: tells the loader which Secrets the variables hold.
fn secrets_env(agent: &AgentRuntime, secrets: &[String]) -> Vec<EnvVar> {
    if secrets.is_empty() {
        return Vec::new();
    }
    let namespace = agent.metadata.namespace.as_deref().unwrap_or("default");
    let list: Vec<String> = secrets
        .iter()
        .enumerate()
        .map(|(i, name)| format!("{namespace}/{name}={}", secret_prefix(i)))
        .collect();
    vec![env(omnia_api::SECRETS_FROM_ENV, list.join(","))]
}

fn env(name: &str, value: String) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value),
        ..EnvVar::default()
    }
}

fn port(name: &str, number: i32) -> ContainerPort {
    ContainerPort {
        name: Some(name.to_owned()),
        container_port: number,
        protocol: Some("TCP".to_owned()),
        ..ContainerPort::default()
    }
}

/// Non-root, read-only root filesystem, no privilege escalation, every capability dropped.
fn hardened() -> SecurityContext {
    SecurityContext {
        run_as_non_root: Some(true),
        read_only_root_filesystem: Some(true),
        allow_privilege_escalation: Some(false),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_owned()]),
            ..Capabilities::default()
        }),
        ..SecurityContext::default()
    }
}

/// The Service named after the agent: its facade, the health port for scraping, and its MCP
/// port when it has one.
pub fn service(agent: &AgentRuntime, facade_port: u16, mcp_port: Option<u16>) -> Service {
    let name = agent.metadata.name.clone().unwrap_or_default();
    let service_port = |name: &str, number: i32| ServicePort {
        name: Some(name.to_owned()),
        port: number,
        target_port: Some(IntOrString::String(name.to_owned())),
        protocol: Some("TCP".to_owned()),
        ..ServicePort::default()
    };
    Service {
        metadata: owned_meta(agent, name),
        spec: Some(ServiceSpec {
            selector: Some(selector(agent)),
            ports: Some(
                [
                    Some(service_port("facade", i32::from(facade_port))),
                    Some(service_port("health", HEALTH_PORT)),
                    mcp_port.map(|p| service_port("mcp", i32::from(p))),
                ]
                .into_iter()
                .flatten()
                .collect(),
            ),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// A budget of one pod down at a time, for an agent that runs more than one.
pub fn pod_disruption_budget(agent: &AgentRuntime) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: owned_meta(agent, agent.metadata.name.clone().unwrap_or_default()),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(LabelSelector {
                match_labels: Some(selector(agent)),
                ..LabelSelector::default()
            }),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    }
}

/// The HPA `spec.runtime.autoscaling` asks for: memory (Omnia's default target, 70 %) and CPU
/// when set.
pub fn horizontal_pod_autoscaler(agent: &AgentRuntime, a: &Autoscaling) -> HorizontalPodAutoscaler {
    let name = agent.metadata.name.clone().unwrap_or_default();
    let resource = |resource: &str, percent: i32| MetricSpec {
        type_: "Resource".to_owned(),
        resource: Some(ResourceMetricSource {
            name: resource.to_owned(),
            target: MetricTarget {
                type_: "Utilization".to_owned(),
                average_utilization: Some(percent),
                ..MetricTarget::default()
            },
        }),
        ..MetricSpec::default()
    };
    let mut metrics = vec![resource(
        "memory",
        a.target_memory_utilization_percentage.unwrap_or(70),
    )];
    if let Some(cpu) = a.target_cpu_utilization_percentage {
        metrics.push(resource("cpu", cpu));
    }
    HorizontalPodAutoscaler {
        metadata: owned_meta(agent, name.clone()),
        spec: HorizontalPodAutoscalerSpec {
            scale_target_ref: CrossVersionObjectReference {
                api_version: Some("apps/v1".to_owned()),
                kind: "Deployment".to_owned(),
                name,
            },
            min_replicas: Some(a.min()),
            max_replicas: a.max(),
            metrics: Some(metrics),
            behavior: a.scale_down_stabilization_seconds.map(|seconds| {
                HorizontalPodAutoscalerBehavior {
                    scale_down: Some(HPAScalingRules {
                        stabilization_window_seconds: Some(seconds),
                        ..HPAScalingRules::default()
                    }),
                    ..HorizontalPodAutoscalerBehavior::default()
                }
            }),
        },
        ..HorizontalPodAutoscaler::default()
    }
}
