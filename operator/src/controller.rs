//! The controllers, wired: AgentRuntimes own their objects (a change to one re-reconciles its
//! agent) and watch what they reference, mapped back to the agents that name it; PromptPacks,
//! Providers and ToolRegistries have their own status reconcilers.

use std::sync::Arc;

use futures_util::StreamExt as _;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{Controller, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use omnia_api::crd::{AgentRuntime, PromptPack, Provider, ToolRegistry};

use crate::reconcile::{self, Context, agent, dependency};
use crate::render::refs;

/// The API of `K` in `namespace`, or in every namespace.
fn api<K>(client: &Client, namespace: Option<&str>) -> Api<K>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope, DynamicType = ()>,
{
    match namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    }
}

/// The agents in `store` for which `references` holds.
fn agents_where(
    store: &Store<AgentRuntime>,
    references: impl Fn(&AgentRuntime) -> bool,
) -> Vec<ObjectRef<AgentRuntime>> {
    store
        .state()
        .iter()
        .filter(|a| references(a))
        .map(|a| ObjectRef::from_obj(a.as_ref()))
        .collect()
}

fn namespace_of<K: ResourceExt>(object: &K) -> String {
    object.namespace().unwrap_or_else(|| "default".to_owned())
}

/// Which agents a changed object concerns, given the agents the controller knows.
pub mod mappers {
    use super::{AgentRuntime, ObjectRef, ResourceExt, Store, agents_where, namespace_of, refs};

    pub fn prompt_pack(
        store: &Store<AgentRuntime>,
        name: &str,
        ns: &str,
    ) -> Vec<ObjectRef<AgentRuntime>> {
        agents_where(store, |a| {
            refs::prompt_pack(a) == (ns.to_owned(), name.to_owned())
        })
    }

    pub fn provider(
        store: &Store<AgentRuntime>,
        name: &str,
        ns: &str,
    ) -> Vec<ObjectRef<AgentRuntime>> {
        let wanted = (ns.to_owned(), name.to_owned());
        agents_where(store, |a| refs::providers(a).contains(&wanted))
    }

    pub fn tool_registry(
        store: &Store<AgentRuntime>,
        name: &str,
        ns: &str,
    ) -> Vec<ObjectRef<AgentRuntime>> {
        let wanted = (ns.to_owned(), name.to_owned());
        agents_where(store, |a| refs::tool_registry(a).as_ref() == Some(&wanted))
    }

    /// A ConfigMap concerns the agents whose PromptPack it holds. Which pack that is needs the
    /// PromptPack, so every agent in the namespace whose pack names a ConfigMap is looked at.
    pub fn config_map(store: &Store<AgentRuntime>, ns: &str) -> Vec<ObjectRef<AgentRuntime>> {
        agents_where(store, |a| {
            namespace_of(a) == ns && refs::prompt_pack(a).0 == ns
        })
    }

    /// A Secret concerns every agent in its namespace (an agent's Secrets are named through its
    /// Providers and ToolRegistry, which the store does not hold).
    pub fn secret(store: &Store<AgentRuntime>, ns: &str) -> Vec<ObjectRef<AgentRuntime>> {
        agents_where(store, |a| namespace_of(a) == ns)
    }

    /// For callers holding an object rather than its name.
    pub fn name_ns<K: ResourceExt>(object: &K) -> (String, String) {
        (object.name_any(), namespace_of(object))
    }
}

/// Runs every controller until the process is asked to stop.
pub async fn run(ctx: Arc<Context>, namespace: Option<String>) {
    let client = ctx.client.clone();
    let metrics = ctx.metrics.clone();
    let ns = namespace.as_deref();
    let config = watcher::Config::default();
    let agents = Controller::new(api::<AgentRuntime>(&client, ns), config.clone());
    let store = agents.store();
    let (s1, s2, s3, s4, s5) = (
        store.clone(),
        store.clone(),
        store.clone(),
        store.clone(),
        store,
    );
    let agents = agents
        .owns(api::<Deployment>(&client, ns), config.clone())
        .owns(api::<Service>(&client, ns), config.clone())
        .owns(api::<PodDisruptionBudget>(&client, ns), config.clone())
        .owns(api::<HorizontalPodAutoscaler>(&client, ns), config.clone())
        .watches(api::<PromptPack>(&client, ns), config.clone(), move |o| {
            let (name, ns) = mappers::name_ns(&o);
            mappers::prompt_pack(&s1, &name, &ns)
        })
        .watches(api::<Provider>(&client, ns), config.clone(), move |o| {
            let (name, ns) = mappers::name_ns(&o);
            mappers::provider(&s2, &name, &ns)
        })
        .watches(api::<ToolRegistry>(&client, ns), config.clone(), move |o| {
            let (name, ns) = mappers::name_ns(&o);
            mappers::tool_registry(&s3, &name, &ns)
        })
        // The agents' own ConfigMaps are owned (and labelled); the others may hold a pack.
        .watches(api::<ConfigMap>(&client, ns), config.clone(), move |o| {
            let ours = o.labels().contains_key(crate::render::AGENT_LABEL);
            if ours {
                Vec::new()
            } else {
                mappers::config_map(&s4, &mappers::name_ns(&o).1)
            }
        })
        .watches(api::<Secret>(&client, ns), config.clone(), move |o| {
            mappers::secret(&s5, &mappers::name_ns(&o).1)
        })
        .shutdown_on_signal()
        .run(agent::reconcile, reconcile::error_policy, ctx.clone())
        .for_each(|result| {
            let metrics = metrics.clone();
            async move { log(&metrics, "AgentRuntime", result.map(|(o, _)| o.name)) }
        });
    let packs = Controller::new(api::<PromptPack>(&client, ns), config.clone())
        .shutdown_on_signal()
        .run(
            dependency::reconcile_pack,
            reconcile::error_policy,
            ctx.clone(),
        )
        .for_each(|result| {
            let metrics = metrics.clone();
            async move { log(&metrics, "PromptPack", result.map(|(o, _)| o.name)) }
        });
    let providers = Controller::new(api::<Provider>(&client, ns), config.clone())
        .shutdown_on_signal()
        .run(
            dependency::reconcile_provider,
            reconcile::error_policy,
            ctx.clone(),
        )
        .for_each(|result| {
            let metrics = metrics.clone();
            async move { log(&metrics, "Provider", result.map(|(o, _)| o.name)) }
        });
    let tools = Controller::new(api::<ToolRegistry>(&client, ns), config)
        .shutdown_on_signal()
        .run(dependency::reconcile_tools, reconcile::error_policy, ctx)
        .for_each(|result| {
            let metrics = metrics.clone();
            async move { log(&metrics, "ToolRegistry", result.map(|(o, _)| o.name)) }
        });
    tokio::join!(agents, packs, providers, tools);
}

fn log<E: std::fmt::Display>(
    metrics: &crate::health::Metrics,
    kind: &str,
    result: Result<String, E>,
) {
    metrics.reconciled(kind, result.is_ok());
    match result {
        Ok(name) => tracing::debug!(kind, %name, "reconciled"),
        Err(e) => tracing::warn!(kind, error = %e, "controller"),
    }
}
