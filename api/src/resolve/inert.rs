//! Fields that load (they are real Omnia or seed fields) but that nothing here acts on yet: each
//! document that sets any gets one start-up line naming them, so nobody believes a setting is in
//! force when it is not. The list shrinks as features land; the operator will read the rest.
//! Each kind's list is one function here (`tool_registry` for ToolRegistry).

use crate::index::Origin;
use crate::manifest::agent_runtime::FacadeSpec;
use crate::manifest::{AgentRuntimeSpec, PromptPackSpec, ProviderSpec, ToolRegistry};
use crate::resolved::Notice;

/// The notice for one document, when it sets any inert field.
pub(super) fn notice(origin: &Origin, fields: &[String]) -> Option<Notice> {
    if fields.is_empty() {
        return None;
    }
    Some(Notice::info(format!(
        "{}: accepted, not yet acted on: {}",
        origin.label(),
        fields.join(", ")
    )))
}

/// The AgentRuntime fields set but not acted on.
pub(super) fn agent_runtime(spec: &AgentRuntimeSpec) -> Vec<String> {
    let mut fields = Vec::new();
    let mut note = |set: bool, field: &str| {
        if set {
            fields.push(field.to_owned());
        }
    };
    note(spec.replicas.is_some(), "spec.replicas");
    note(spec.runtime.is_some(), "spec.runtime");
    note(spec.framework.is_some(), "spec.framework");
    note(spec.session.is_some(), "spec.session");
    note(spec.context.is_some(), "spec.context");
    note(spec.output_format.is_some(), "spec.outputFormat");
    note(spec.evals.is_some(), "spec.evals");
    note(spec.console.is_some(), "spec.console");
    note(spec.a2a.is_some(), "spec.a2a");
    note(
        spec.media.as_ref().is_some_and(|m| m.base_path.is_some()),
        "spec.media.basePath",
    );
    note(
        spec.extra_pod_annotations.is_some(),
        "spec.extraPodAnnotations",
    );
    note(spec.resources.is_some(), "spec.resources");
    note(spec.env.is_some(), "spec.env");
    note(spec.memory.is_some(), "spec.memory");
    note(spec.duplex.is_some(), "spec.duplex");
    note(spec.pod_overrides.is_some(), "spec.podOverrides");
    note(spec.privacy_policy_ref.is_some(), "spec.privacyPolicyRef");
    note(spec.rollout.is_some(), "spec.rollout");
    note(spec.service_group.is_some(), "spec.serviceGroup");
    for (i, p) in spec.providers.iter().enumerate() {
        note(
            !p.required_capabilities.is_empty(),
            &format!("spec.providers[{i}].requiredCapabilities"),
        );
    }
    if let Some(facade) = &spec.facade {
        facade_fields(&mut fields, "spec.facade", facade);
    }
    for (i, facade) in spec.facades.iter().flatten().enumerate() {
        facade_fields(&mut fields, &format!("spec.facades[{i}]"), facade);
    }
    fields
}

/// A facade's inert fields; a2a, mcp and custom facades are not served at all yet.
fn facade_fields(fields: &mut Vec<String>, at: &str, spec: &FacadeSpec) {
    use crate::manifest::agent_runtime::FacadeTypeName as T;
    if let Some(kind @ (T::A2a | T::Mcp | T::Custom)) = spec.kind {
        let name = match kind {
            T::A2a => "a2a",
            T::Mcp => "mcp",
            _ => "custom",
        };
        fields.push(format!("{at} (type {name})"));
        return;
    }
    let set = [
        (spec.drain_timeout.is_some(), "drainTimeout"),
        (spec.client_tool_timeout.is_some(), "clientToolTimeout"),
        (spec.image.is_some(), "image"),
        (spec.extra_env.is_some(), "extraEnv"),
        (spec.a2a.is_some(), "a2a"),
        (spec.mcp.is_some(), "mcp"),
        (spec.expose.is_some(), "expose"),
    ];
    fields.extend(
        set.iter()
            .filter(|(is_set, _)| *is_set)
            .map(|(_, name)| format!("{at}.{name}")),
    );
}

/// The Provider fields set but not acted on.
pub(super) fn provider(spec: &ProviderSpec) -> Vec<String> {
    let mut fields = Vec::new();
    let mut note = |set: bool, field: &str| {
        if set {
            fields.push(field.to_owned());
        }
    };
    note(spec.tts.is_some(), "spec.tts");
    note(spec.stt.is_some(), "spec.stt");
    note(spec.embedding.is_some(), "spec.embedding");
    note(spec.platform.is_some(), "spec.platform");
    note(spec.auth.is_some(), "spec.auth");
    note(!spec.capabilities.is_empty(), "spec.capabilities");
    if let Some(d) = &spec.defaults {
        note(d.context_window.is_some(), "spec.defaults.contextWindow");
        note(
            d.truncation_strategy.is_some(),
            "spec.defaults.truncationStrategy",
        );
    }
    fields
}

/// The PromptPack fields set but not acted on.
pub(super) fn prompt_pack(spec: &PromptPackSpec) -> Vec<String> {
    [
        (spec.skills.is_some(), "spec.skills"),
        (spec.skills_config.is_some(), "spec.skillsConfig"),
        (spec.rollout.is_some(), "spec.rollout"),
    ]
    .iter()
    .filter(|(set, _)| *set)
    .map(|(_, field)| (*field).to_owned())
    .collect()
}

/// The ToolRegistry fields set but not acted on: `status` (never read) and every handler's
/// `selector` (Service discovery of the endpoint).
pub(super) fn tool_registry(registry: &ToolRegistry) -> Vec<String> {
    let mut fields = Vec::new();
    if registry.has_status() {
        fields.push("status".to_owned());
    }
    for (i, handler) in registry.spec.handlers.iter().enumerate() {
        if handler.selector.is_some() {
            fields.push(format!("spec.handlers[{i}].selector"));
        }
    }
    fields
}
