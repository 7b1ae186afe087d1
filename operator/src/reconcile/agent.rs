//! One AgentRuntime: fetch what it references, render, apply (server-side, owned by the agent),
//! and write the status a person reads (`kubectl get ar`, `kubectl wait --for=condition=Ready`).

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::finalizer::{Event, finalizer};
use kube::{Api, Resource, ResourceExt};
use omnia_api::crd::{
    AgentRuntime, AgentRuntimePhase, AgentRuntimeStatus, PromptPack, Provider, ReplicaStatus,
    ToolRegistry,
};
use omnia_api::manifest::prompt_pack::PackSourceType;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::conditions::{Observed, merge};
use super::{Context, Error};
use crate::render::objects::{self, Autoscaling, PodInputs, Scaling};
use crate::render::{self, Inputs, MANAGER, config, refs};

/// The finalizer the operator puts on every AgentRuntime.
pub const FINALIZER: &str = "omnia.altairalabs.ai/agent-runtime";
/// How often a settled agent is looked at again even if nothing it watches changed.
const RESYNC: Duration = Duration::from_secs(300);

/// The controller's reconcile.
///
/// # Errors
/// When the API server refuses a request or cannot be reached (requeued with backoff).
pub async fn reconcile(agent: Arc<AgentRuntime>, ctx: Arc<Context>) -> Result<Action, Error> {
    let namespace = agent.namespace().unwrap_or_else(|| "default".to_owned());
    let api: Api<AgentRuntime> = Api::namespaced(ctx.client.clone(), &namespace);
    let key = super::key(agent.as_ref());
    let action = finalizer(&api, FINALIZER, agent, |event| async {
        match event {
            Event::Apply(agent) => apply(&agent, &ctx).await,
            Event::Cleanup(agent) => cleanup(&agent, &ctx),
        }
    })
    .await
    .map_err(|e| match e {
        kube::runtime::finalizer::Error::ApplyFailed(e)
        | kube::runtime::finalizer::Error::CleanupFailed(e) => e,
        kube::runtime::finalizer::Error::AddFinalizer(e)
        | kube::runtime::finalizer::Error::RemoveFinalizer(e) => Error::Kube(e),
        other => Error::Finalizer(other.to_string()),
    })?;
    ctx.succeeded(&key);
    Ok(action)
}

/// What owner references cannot do when an agent goes: forget the operator's own state of it
/// (its backoff). The objects it owns are collected by Kubernetes.
fn cleanup(agent: &AgentRuntime, ctx: &Context) -> Result<Action, Error> {
    ctx.succeeded(&super::key(agent));
    tracing::info!(agent = %super::key(agent), "AgentRuntime deleted");
    Ok(Action::await_change())
}

/// The objects an agent references, as found.
struct Found {
    pack: Option<PromptPack>,
    pack_source: Option<ConfigMap>,
    providers: Vec<Provider>,
    tool_registry: Option<ToolRegistry>,
    secrets: Vec<Secret>,
    client_keys: Vec<Secret>,
    conditions: Vec<Observed>,
}

async fn get<K>(ctx: &Context, (namespace, name): &refs::Ref) -> Result<Option<K>, Error>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(ctx.client.clone(), namespace);
    Ok(api.get_opt(name).await?)
}

/// Fetches what `agent` references, with a condition for each kind.
async fn fetch(agent: &AgentRuntime, ctx: &Context) -> Result<Found, Error> {
    let namespace = agent.namespace().unwrap_or_else(|| "default".to_owned());
    let mut conditions = Vec::new();

    let pack_ref = refs::prompt_pack(agent);
    let pack: Option<PromptPack> = get(ctx, &pack_ref).await?;
    let mut pack_source = None;
    match &pack {
        None => conditions.push(Observed::no(
            "PromptPackReady",
            "PromptPackNotFound",
            format!(
                "PromptPack `{}` not found in namespace `{}`: create it, or fix \
                 spec.promptPackRef.name",
                pack_ref.1, pack_ref.0
            ),
        )),
        Some(pack) => {
            let source = &pack.spec.source;
            let wanted = (source.kind == PackSourceType::Configmap)
                .then(|| source.config_map_ref.as_ref().map(|r| r.name.clone()))
                .flatten();
            if let Some(cm) = wanted {
                pack_source = get(ctx, &(pack_ref.0.clone(), cm.clone())).await?;
                if pack_source.is_none() {
                    conditions.push(Observed::no(
                        "PromptPackReady",
                        "PromptPackSourceNotFound",
                        format!(
                            "ConfigMap `{cm}` (the source of PromptPack `{}`) not found in \
                             namespace `{}`",
                            pack_ref.1, pack_ref.0
                        ),
                    ));
                }
            }
            if pack_source.is_some() || wanted_none(pack) {
                conditions.push(Observed::yes(
                    "PromptPackReady",
                    "Found",
                    format!("PromptPack `{}` version {}", pack_ref.1, pack.spec.version),
                ));
            }
        }
    }

    let mut providers = Vec::new();
    let mut missing_providers = Vec::new();
    for provider_ref in refs::providers(agent) {
        match get::<Provider>(ctx, &provider_ref).await? {
            Some(p) => providers.push(p),
            None => missing_providers.push(format!(
                "`{}` (namespace `{}`)",
                provider_ref.1, provider_ref.0
            )),
        }
    }

    let registry_ref = refs::tool_registry(agent);
    let tool_registry = match &registry_ref {
        Some(r) => get::<ToolRegistry>(ctx, r).await?,
        None => None,
    };
    conditions.push(match (&registry_ref, &tool_registry) {
        (None, _) => Observed::yes(
            "ToolRegistryReady",
            "NotReferenced",
            "the agent uses no ToolRegistry",
        ),
        (Some(r), Some(_)) => Observed::yes(
            "ToolRegistryReady",
            "Found",
            format!("ToolRegistry `{}`", r.1),
        ),
        (Some(r), None) => Observed::no(
            "ToolRegistryReady",
            "ToolRegistryNotFound",
            format!(
                "ToolRegistry `{}` not found in namespace `{}`: create it, or fix \
                 spec.toolRegistryRef.name",
                r.1, r.0
            ),
        ),
    });

    let mut secrets = Vec::new();
    let mut missing_secrets = Vec::new();
    for name in refs::secrets(agent, &providers, tool_registry.as_ref()) {
        match get::<Secret>(ctx, &(namespace.clone(), name.clone())).await? {
            Some(s) => secrets.push(s),
            None => missing_secrets.push(format!("`{name}`")),
        }
    }
    conditions.push(if !missing_providers.is_empty() {
        Observed::no(
            "ProviderReady",
            "ProviderNotFound",
            format!(
                "Provider {} not found: create it, or fix spec.providers",
                missing_providers.join(", ")
            ),
        )
    } else if !missing_secrets.is_empty() {
        Observed::no(
            "ProviderReady",
            "SecretNotFound",
            format!(
                "Secret {} not found in namespace `{namespace}`: the agent's providers, tools or \
                 stores name it",
                missing_secrets.join(", ")
            ),
        )
    } else {
        Observed::yes(
            "ProviderReady",
            "Found",
            format!(
                "{} Provider(s), every referenced Secret present",
                providers.len()
            ),
        )
    });
    let client_keys = client_keys(agent, ctx, &namespace).await?;
    Ok(Found {
        pack,
        pack_source,
        providers,
        tool_registry,
        secrets,
        client_keys,
        conditions,
    })
}

/// The agent's client-key Secrets (Omnia's labels), when its `externalAuth` takes client keys.
async fn client_keys(
    agent: &AgentRuntime,
    ctx: &Context,
    namespace: &str,
) -> Result<Vec<Secret>, Error> {
    let auth = agent.spec.external_auth.as_ref();
    if auth.is_none_or(|a| a.client_keys.is_none() && a.api_keys.is_none()) {
        return Ok(Vec::new());
    }
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let selector = format!(
        "omnia.altairalabs.ai/credential-kind=agent-client-key,{}={}",
        render::AGENT_LABEL,
        agent.name_any()
    );
    Ok(api
        .list(&ListParams::default().labels(&selector))
        .await?
        .items)
}

/// A pack whose JSON is inline needs no ConfigMap.
fn wanted_none(pack: &PromptPack) -> bool {
    pack.spec.source.kind != PackSourceType::Configmap || pack.spec.source.config_map_ref.is_none()
}

/// Applies `object` server-side as the operator, taking the fields over from anyone else.
async fn apply_object<K>(ctx: &Context, namespace: &str, object: &K) -> Result<K, Error>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + Serialize
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(ctx.client.clone(), namespace);
    let name = object.meta().name.clone().unwrap_or_default();
    Ok(api
        .patch(
            &name,
            &PatchParams::apply(MANAGER).force(),
            &Patch::Apply(object),
        )
        .await?)
}

/// Deletes `name` if it exists.
async fn delete_if_present<K>(ctx: &Context, namespace: &str, name: &str) -> Result<(), Error>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(ctx.client.clone(), namespace);
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

async fn apply(agent: &AgentRuntime, ctx: &Context) -> Result<Action, Error> {
    let namespace = agent.namespace().unwrap_or_else(|| "default".to_owned());
    let name = agent.name_any();
    let found = fetch(agent, ctx).await?;
    let mut status = AgentRuntimeStatus {
        active_version: found.pack.as_ref().map(|p| p.spec.version.clone()),
        observed_generation: agent.metadata.generation,
        ..AgentRuntimeStatus::default()
    };
    let mut observed = found.conditions.clone();
    let Some(pack) = found
        .pack
        .as_ref()
        .filter(|_| observed.iter().all(|c| c.ok))
    else {
        let waiting: Vec<String> = observed
            .iter()
            .filter(|c| !c.ok)
            .map(|c| c.message.clone())
            .collect();
        observed.push(Observed::no(
            "Available",
            "NotDeployed",
            "waiting for what the agent references",
        ));
        observed.push(Observed::no(
            "Ready",
            "DependenciesNotReady",
            waiting.join("; "),
        ));
        status.phase = Some(AgentRuntimePhase::Pending);
        write_status(agent, ctx, status, &observed).await?;
        return Ok(Action::requeue(RESYNC));
    };
    let inputs = Inputs {
        agent,
        pack,
        pack_source: found.pack_source.as_ref(),
        providers: &found.providers,
        tool_registry: found.tool_registry.as_ref(),
        secrets: &found.secrets,
        client_keys: &found.client_keys,
    };
    let rendered = match plan(agent, &inputs, ctx) {
        Ok(plan) => plan,
        Err(reason) => {
            observed.push(Observed::no(
                "Available",
                "NotDeployed",
                "the configuration does not load",
            ));
            observed.push(Observed::no("Ready", "InvalidConfiguration", reason));
            status.phase = Some(AgentRuntimePhase::Failed);
            write_status(agent, ctx, status, &observed).await?;
            return Ok(Action::requeue(RESYNC));
        }
    };
    apply_object(ctx, &namespace, &rendered.config_map).await?;
    let deployment = apply_object(ctx, &namespace, &rendered.deployment).await?;
    apply_object(ctx, &namespace, &rendered.service).await?;
    match &rendered.pdb {
        Some(pdb) => drop(apply_object(ctx, &namespace, pdb).await?),
        None => delete_if_present::<PodDisruptionBudget>(ctx, &namespace, &name).await?,
    }
    match &rendered.hpa {
        Some(hpa) => drop(apply_object(ctx, &namespace, hpa).await?),
        None => delete_if_present::<HorizontalPodAutoscaler>(ctx, &namespace, &name).await?,
    }

    let observed_status = deployment.status.clone().unwrap_or_default();
    let replicas = ReplicaStatus {
        desired: deployment
            .spec
            .replicas
            .or(observed_status.replicas)
            .unwrap_or(1),
        ready: observed_status.ready_replicas.unwrap_or(0),
        available: observed_status.available_replicas.unwrap_or(0),
    };
    status.replicas = Some(replicas);
    status.service_endpoint = Some(format!(
        "{name}.{namespace}.svc.cluster.local:{}",
        rendered.facade_port
    ));
    let rolled_out = observed_status.observed_generation >= deployment.metadata.generation
        && observed_status.updated_replicas.unwrap_or(0) >= replicas.desired;
    if replicas.available > 0 {
        observed.push(Observed::yes(
            "Available",
            "MinimumReplicasAvailable",
            format!(
                "{} of {} pods available",
                replicas.available, replicas.desired
            ),
        ));
    } else {
        observed.push(Observed::no(
            "Available",
            "NoReplicasAvailable",
            format!(
                "no pod ready yet (0 of {}): see `kubectl get pods -l {}={name}`",
                replicas.desired,
                render::AGENT_LABEL
            ),
        ));
    }
    let ready = replicas.ready > 0 && rolled_out;
    observed.push(if ready {
        Observed::yes(
            "Ready",
            "Running",
            format!("{} of {} pods ready", replicas.ready, replicas.desired),
        )
    } else if replicas.ready > 0 {
        Observed::no(
            "Ready",
            "RollingOut",
            format!(
                "rolling out: {} of {} pods updated",
                observed_status.updated_replicas.unwrap_or(0),
                replicas.desired
            ),
        )
    } else {
        Observed::no(
            "Ready",
            "PodsNotReady",
            format!("0 of {} pods ready", replicas.desired),
        )
    });
    status.phase = Some(if ready {
        AgentRuntimePhase::Running
    } else {
        AgentRuntimePhase::Pending
    });
    write_status(agent, ctx, status, &observed).await?;
    Ok(Action::requeue(RESYNC))
}

/// Everything to apply for an agent.
pub struct Plan {
    pub config_map: ConfigMap,
    pub deployment: Deployment,
    pub service: Service,
    pub pdb: Option<PodDisruptionBudget>,
    pub hpa: Option<HorizontalPodAutoscaler>,
    pub facade_port: u16,
}

/// Renders the agent's objects, or the reason it cannot run (for the status).
pub fn plan(agent: &AgentRuntime, inputs: &Inputs<'_>, ctx: &Context) -> Result<Plan, String> {
    let rendered = config::render(inputs).map_err(|e| e.to_string())?;
    let name = agent.name_any();
    let resolved = rendered
        .resolved
        .agent(&name)
        .ok_or_else(|| format!("the configuration has no agent `{name}`"))?;
    let autoscaling = Autoscaling::of(agent)?;
    let scaling = Autoscaling::scaling(autoscaling.as_ref(), resolved.replicas)?;
    let mcp_port = resolved
        .facades
        .iter()
        .find(|f| f.kind == omnia_api::FacadeType::Mcp)
        .map(|f| f.port);
    let secrets: Vec<String> = inputs.secrets.iter().map(ResourceExt::name_any).collect();
    let client_keys: Vec<String> = inputs
        .client_keys
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    let pod = PodInputs {
        settings: &ctx.settings,
        config_hash: &rendered.hash,
        facade_port: resolved.facade.port,
        mcp_port,
        drain_timeout: resolved.facade.drain_timeout,
        scaling,
        secrets: &secrets,
        client_keys: &client_keys,
    };
    let deployment = objects::deployment(agent, &pod).map_err(|e| e.to_string())?;
    let many = match (scaling, autoscaling.as_ref()) {
        (Scaling::Fixed(n), _) => n > 1,
        (_, Some(a)) => a.max() > 1,
        (_, None) => false,
    };
    Ok(Plan {
        config_map: config::config_map(agent, &rendered),
        deployment,
        service: objects::service(agent, resolved.facade.port, mcp_port),
        pdb: many.then(|| objects::pod_disruption_budget(agent)),
        hpa: match (scaling, &autoscaling) {
            (Scaling::Hpa, Some(a)) => Some(objects::horizontal_pod_autoscaler(agent, a)),
            _ => None,
        },
        facade_port: resolved.facade.port,
    })
}

/// Writes `status` with `observed` as its conditions (a merge patch of the status subresource).
async fn write_status(
    agent: &AgentRuntime,
    ctx: &Context,
    mut status: AgentRuntimeStatus,
    observed: &[Observed],
) -> Result<(), Error> {
    let previous = agent
        .status
        .as_ref()
        .map(|s| s.conditions.as_slice())
        .unwrap_or_default();
    status.conditions = merge(previous, observed, agent.metadata.generation, &(ctx.now)());
    if agent.status.as_ref() == Some(&status) {
        return Ok(());
    }
    super::patch_status(ctx, agent, &status).await
}
