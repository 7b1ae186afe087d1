//! What an AgentRuntime becomes: pure functions from the objects the reconciler fetched to the
//! objects it applies. Nothing here talks to the API server, so the tests check every field.

pub mod config;
pub mod objects;
pub mod refs;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Resource as _;
use kube::api::ObjectMeta;
use omnia_api::crd::{AgentRuntime, PromptPack, Provider, ToolRegistry};
use std::collections::BTreeMap;

/// The operator's own settings that shape every agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The gateway (facade) container's image, unless the agent's facade names one.
    pub gateway_image: String,
    /// The runtime container's image, unless `spec.framework.image` names one.
    pub runtime_image: String,
}

/// Everything an AgentRuntime references, as fetched.
#[derive(Debug, Clone, Copy)]
pub struct Inputs<'a> {
    pub agent: &'a AgentRuntime,
    pub pack: &'a PromptPack,
    /// The ConfigMap holding the pack's JSON (`source.type: configmap`).
    pub pack_source: Option<&'a ConfigMap>,
    pub providers: &'a [Provider],
    pub tool_registry: Option<&'a ToolRegistry>,
    /// The Secrets the agent's objects reference that exist.
    pub secrets: &'a [Secret],
    /// The agent's client-key Secrets (labelled for it), mounted as files in the facade.
    pub client_keys: &'a [Secret],
}

/// Where client-key Secret `name` is mounted in the facade container.
pub fn client_key_dir(name: &str) -> String {
    format!("/etc/omnia/client-keys/{name}")
}

/// The label every object made for an agent carries, naming it.
pub const AGENT_LABEL: &str = "omnia.altairalabs.ai/agent";
/// The field manager of the operator's server-side applies.
pub const MANAGER: &str = "omnia-operator";

/// The labels of an agent's objects (and the selector of its pods: the first two).
pub fn labels(agent: &AgentRuntime) -> BTreeMap<String, String> {
    let name = agent.metadata.name.clone().unwrap_or_default();
    BTreeMap::from([
        (AGENT_LABEL.to_owned(), name.clone()),
        ("app.kubernetes.io/instance".to_owned(), name),
        (
            "app.kubernetes.io/name".to_owned(),
            "omnia-agent".to_owned(),
        ),
        (
            "app.kubernetes.io/managed-by".to_owned(),
            MANAGER.to_owned(),
        ),
    ])
}

/// The pods' selector: the labels that never change for an agent.
pub fn selector(agent: &AgentRuntime) -> BTreeMap<String, String> {
    let mut labels = labels(agent);
    labels.retain(|k, _| k == AGENT_LABEL || k == "app.kubernetes.io/instance");
    labels
}

/// `metadata` for an object named `name` owned by `agent` (garbage-collected with it).
pub fn owned_meta(agent: &AgentRuntime, name: String) -> ObjectMeta {
    ObjectMeta {
        name: Some(name),
        namespace: agent.metadata.namespace.clone(),
        labels: Some(labels(agent)),
        owner_references: agent.controller_owner_ref(&()).map(|r| vec![r]),
        ..ObjectMeta::default()
    }
}
