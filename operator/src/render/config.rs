//! The agent's ConfigMap: the manifests the gateway and runtime containers read
//! (`--config /etc/omnia/config`), checked here with the same loader before anything is applied,
//! and the hash that rolls the pods when any of them changes.

use std::fmt::Write as _;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Resource;
use omnia_api::ResolvedConfig;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::Inputs;

/// The ConfigMap key the manifests are under (mounted as `/etc/omnia/config/agent.yaml`).
pub const KEY: &str = "agent.yaml";

/// The rendered configuration.
#[derive(Debug)]
pub struct Rendered {
    /// The manifests, as YAML documents.
    pub text: String,
    /// What the containers will resolve (with the Secrets' values, which are not in `text`).
    pub resolved: ResolvedConfig,
    /// SHA-256 of `text` and of the Secrets' versions: any change rolls the pods, a rotated
    /// Secret included (environment variables are read only when a container starts).
    pub hash: String,
}

/// Why the configuration cannot run.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The loader refused it: the message the pods would have crashed with.
    #[error("{0}")]
    Invalid(String),
    #[error("cannot render the configuration: {0}")]
    Render(String),
}

/// Renders and checks the configuration for `inputs`.
///
/// # Errors
/// [`ConfigError::Invalid`] with the loader's message when the manifests would not load.
pub fn render(inputs: &Inputs<'_>) -> Result<Rendered, ConfigError> {
    let mut documents = vec![custom(inputs.agent, true)?, custom(inputs.pack, false)?];
    if let Some(source) = inputs.pack_source {
        documents.push(json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": plain_meta(source),
            "data": source.data.clone().unwrap_or_default(),
        }));
    }
    for provider in inputs.providers {
        documents.push(custom(provider, false)?);
    }
    if let Some(tools) = inputs.tool_registry {
        documents.push(custom(tools, false)?);
    }
    let manifests = yaml_documents(&documents)?;
    // Client keys reach the pods as mounted files; the ConfigMap holds what the loader needs to
    // find them (their labels, owners and directory), never their values.
    let stubs: Vec<Value> = inputs.client_keys.iter().map(client_key_stub).collect();
    let text = format!("{manifests}{}", yaml_documents(&stubs)?);
    // The Secrets' values go only to the loader here.
    let secrets: Vec<Value> = inputs
        .secrets
        .iter()
        .chain(inputs.client_keys)
        .map(secret_document)
        .collect();
    let checked = format!("{manifests}{}", yaml_documents(&secrets)?);
    let name = format!(
        "AgentRuntime {}/{}",
        inputs
            .agent
            .metadata
            .namespace
            .as_deref()
            .unwrap_or("default"),
        inputs.agent.metadata.name.as_deref().unwrap_or_default()
    );
    let resolved =
        omnia_api::load_str(&name, &checked).map_err(|e| ConfigError::Invalid(e.to_string()))?;
    let mut digest = Sha256::new();
    digest.update(text.as_bytes());
    for secret in inputs.secrets.iter().chain(inputs.client_keys) {
        let meta = &secret.metadata;
        digest.update(format!(
            "\0{}@{}",
            meta.name.as_deref().unwrap_or_default(),
            meta.resource_version.as_deref().unwrap_or_default()
        ));
    }
    let hash = digest.finalize().iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    });
    Ok(Rendered {
        text,
        resolved,
        hash,
    })
}

/// An Omnia object as a manifest: `apiVersion`, `kind`, the metadata the loader reads, `spec`.
/// The agent keeps its `uid`: the gateway matches client-key Secrets to it.
fn custom<K>(object: &K, with_uid: bool) -> Result<Value, ConfigError>
where
    K: Resource<DynamicType = ()> + Serialize,
{
    let mut value = serde_json::to_value(object).map_err(|e| ConfigError::Render(e.to_string()))?;
    let mut meta = plain_meta(object);
    if with_uid && let Some(uid) = &object.meta().uid {
        meta["uid"] = json!(uid);
    }
    Ok(json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "metadata": meta,
        "spec": value.get_mut("spec").map(Value::take).unwrap_or(Value::Null),
    }))
}

/// `name`, `namespace` and `labels`: what the loader reads (the rest changes on every write and
/// would roll the pods for nothing).
fn plain_meta<K: Resource>(object: &K) -> Value {
    let meta = object.meta();
    let mut out = json!({
        "name": meta.name,
        "namespace": meta.namespace.as_deref().unwrap_or("default"),
    });
    if let Some(labels) = meta.labels.as_ref().filter(|l| !l.is_empty()) {
        out["labels"] = json!(labels);
    }
    out
}

/// A client-key Secret without its values, which the loader reads from its mounted directory.
fn client_key_stub(secret: &Secret) -> Value {
    let mut meta = secret_meta(secret);
    let dir = super::client_key_dir(secret.metadata.name.as_deref().unwrap_or_default());
    meta["annotations"] = json!({ omnia_api::DATA_FROM_DIR: dir });
    json!({"apiVersion": "v1", "kind": "Secret", "metadata": meta})
}

/// A Secret's `name`, `namespace`, `labels` and `ownerReferences` (the gateway checks a client
/// key's owner against the agent's uid).
fn secret_meta(secret: &Secret) -> Value {
    let mut meta = plain_meta(secret);
    if let Some(owners) = secret
        .metadata
        .owner_references
        .as_ref()
        .filter(|o| !o.is_empty())
    {
        meta["ownerReferences"] = json!(owners);
    }
    meta
}

fn secret_document(secret: &Secret) -> Value {
    let data: serde_json::Map<String, Value> = secret
        .data
        .iter()
        .flatten()
        .map(|(k, ByteString(v))| (k.clone(), json!(base64_encode(v))))
        .collect();
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": secret_meta(secret),
        "data": data,
        "stringData": secret.string_data.clone().unwrap_or_default(),
    })
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn yaml_documents(documents: &[Value]) -> Result<String, ConfigError> {
    let mut out = String::new();
    for document in documents {
        let text =
            serde_yaml_ng::to_string(document).map_err(|e| ConfigError::Render(e.to_string()))?;
        out.push_str("---\n");
        out.push_str(&text);
    }
    Ok(out)
}

/// The ConfigMap for the rendered configuration.
pub fn config_map(agent: &omnia_api::crd::AgentRuntime, rendered: &Rendered) -> ConfigMap {
    ConfigMap {
        metadata: super::owned_meta(agent, name(agent)),
        data: Some(std::collections::BTreeMap::from([(
            KEY.to_owned(),
            rendered.text.clone(),
        )])),
        ..ConfigMap::default()
    }
}

/// The ConfigMap's name: `{agent}-config`.
pub fn name(agent: &omnia_api::crd::AgentRuntime) -> String {
    format!(
        "{}-config",
        agent.metadata.name.as_deref().unwrap_or_default()
    )
}
