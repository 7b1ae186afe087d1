//! The tuner's loop: every interval, for each AgentRuntime whose `spec.runtime.autoscaling.type`
//! is `tuner`, read its pods' gateway metrics, feed the summed load to that agent's [`Tuner`],
//! and write the Deployment's replicas when the answer changes. An agent whose Deployment an
//! HPA targets is left alone.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Client, ResourceExt};
use omnia_api::crd::AgentRuntime;
use serde_json::json;

use crate::health::{AgentLabels, Metrics};
use crate::render::AGENT_LABEL;
use crate::render::objects::{Autoscaling, HEALTH_PORT};
use crate::scrape::{self, PodLoad};
use crate::tuner::{Behaviour, Target, Tuner};

/// The field manager of the tuner's writes: it owns `spec.replicas` and nothing else, so the
/// reconciler's applies (which leave replicas out for tuned agents) never undo it.
pub const MANAGER: &str = "omnia-tuner";
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(2);

/// Which load the agent is tuned on, and how much of it one pod should carry.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Measure {
    Connections(f64),
    InFlight(f64),
}

impl Measure {
    /// From `spec.runtime.autoscaling`: `targetConnectionsPerPod` wins, then
    /// `targetInFlightPerPod`; with neither, 100 connections per pod.
    pub fn of(a: &Autoscaling) -> Self {
        match (a.target_connections_per_pod, a.target_in_flight_per_pod) {
            (Some(n), _) if n > 0.0 => Self::Connections(n),
            (_, Some(n)) if n > 0.0 => Self::InFlight(n),
            _ => Self::Connections(100.0),
        }
    }

    /// The agent's load over its pods, and the per-pod target.
    pub fn load(self, pods: &[PodLoad]) -> (f64, f64) {
        match self {
            Self::Connections(per) => (pods.iter().map(|p| p.connections).sum(), per),
            Self::InFlight(per) => (pods.iter().map(|p| p.in_flight).sum(), per),
        }
    }
}

/// The tuners, one per agent, kept between rounds.
pub struct TunerLoop {
    client: Client,
    http: scrape::Client,
    metrics: Arc<Metrics>,
    namespace: Option<String>,
    started: Instant,
    /// The pods' gateway health port (8081; another in tests, where pods are local servers).
    metrics_port: u16,
    tuners: HashMap<String, (Target, Tuner)>,
}

impl std::fmt::Debug for TunerLoop {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TunerLoop")
            .field("agents", &self.tuners.len())
            .finish_non_exhaustive()
    }
}

impl TunerLoop {
    pub fn new(client: Client, metrics: Arc<Metrics>, namespace: Option<String>) -> Self {
        Self {
            client,
            http: scrape::client(),
            metrics,
            namespace,
            started: Instant::now(),
            metrics_port: u16::try_from(HEALTH_PORT).unwrap_or(8081),
            tuners: HashMap::new(),
        }
    }

    /// Scrapes the pods on `port` instead of the gateway's health port.
    #[must_use]
    pub fn with_metrics_port(mut self, port: u16) -> Self {
        self.metrics_port = port;
        self
    }

    /// Runs a round every `interval`, forever.
    pub async fn run(mut self, interval: Duration) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            if let Err(e) = self.round().await {
                tracing::warn!(error = %e, "tuner round failed");
            }
        }
    }

    /// One look at every tuned agent.
    ///
    /// # Errors
    /// When the AgentRuntimes cannot be listed.
    pub async fn round(&mut self) -> Result<(), kube::Error> {
        let agents: Api<AgentRuntime> = match &self.namespace {
            Some(ns) => Api::namespaced(self.client.clone(), ns),
            None => Api::all(self.client.clone()),
        };
        let mut seen = Vec::new();
        for agent in agents.list(&ListParams::default()).await? {
            let Ok(Some(autoscaling)) = Autoscaling::of(&agent) else {
                continue;
            };
            if autoscaling.kind.as_deref() != Some("tuner") {
                continue;
            }
            let key = crate::reconcile::key(&agent);
            seen.push(key.clone());
            if let Err(e) = self.tune(&agent, &autoscaling, &key).await {
                tracing::warn!(agent = %key, error = %e, "tuning failed");
            }
        }
        // Agents gone or no longer tuned start afresh if they come back.
        self.tuners.retain(|k, _| seen.contains(k));
        Ok(())
    }

    async fn tune(
        &mut self,
        agent: &AgentRuntime,
        a: &Autoscaling,
        key: &str,
    ) -> Result<(), kube::Error> {
        let namespace = agent.namespace().unwrap_or_else(|| "default".to_owned());
        let name = agent.name_any();
        let deployments: Api<Deployment> = Api::namespaced(self.client.clone(), &namespace);
        let Some(deployment) = deployments.get_opt(&name).await? else {
            return Ok(());
        };
        let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(self.client.clone(), &namespace);
        let owned_by_hpa = hpas
            .list(&ListParams::default())
            .await?
            .into_iter()
            .any(|h| {
                h.spec.scale_target_ref.kind == "Deployment" && h.spec.scale_target_ref.name == name
            });
        if owned_by_hpa {
            tracing::debug!(agent = %key, "an HPA scales this Deployment; the tuner leaves it alone");
            return Ok(());
        }
        let measure = Measure::of(a);
        let current = deployment.spec.replicas.unwrap_or(1);
        let pods = self.pod_loads(&namespace, &name).await?;
        if pods.is_empty() {
            return Ok(());
        }
        let (load, per_pod) = measure.load(&pods);
        let target = Target {
            min: u32::try_from(a.min()).unwrap_or(1),
            max: u32::try_from(a.max()).unwrap_or(1),
            per_pod,
        };
        let entry = self.tuners.entry(key.to_owned()).or_insert_with(|| {
            let tuner = Tuner::new(
                target,
                Behaviour::default(),
                u32::try_from(current).unwrap_or(1),
            );
            (target, tuner)
        });
        if entry.0 != target {
            // New bounds or target: start from what runs now.
            *entry = (
                target,
                Tuner::new(
                    target,
                    Behaviour::default(),
                    u32::try_from(current).unwrap_or(1),
                ),
            );
        }
        let wanted = entry.1.observe(self.started.elapsed(), load);
        let labels = AgentLabels {
            namespace: namespace.clone(),
            agent: name.clone(),
        };
        self.metrics
            .tuned_replicas
            .get_or_create(&labels)
            .set(i64::from(wanted));
        self.metrics.tuned_load.get_or_create(&labels).set(load);
        let wanted = i32::try_from(wanted).unwrap_or(i32::MAX);
        if wanted != current {
            tracing::info!(agent = %key, load, from = current, to = wanted, "tuner scales");
            let patch = json!({
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": { "name": name },
                "spec": { "replicas": wanted },
            });
            deployments
                .patch(
                    &name,
                    &PatchParams::apply(MANAGER).force(),
                    &Patch::Apply(&patch),
                )
                .await?;
        }
        Ok(())
    }

    /// The load of each running pod of the agent that answered.
    async fn pod_loads(&self, namespace: &str, name: &str) -> Result<Vec<PodLoad>, kube::Error> {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), namespace);
        let listed = pods
            .list(&ListParams::default().labels(&format!("{AGENT_LABEL}={name}")))
            .await?;
        let addrs: Vec<SocketAddr> = listed
            .into_iter()
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .filter_map(|p| p.status?.pod_ip?.parse::<IpAddr>().ok())
            .map(|ip| SocketAddr::new(ip, self.metrics_port))
            .collect();
        let results = join_all(
            addrs
                .iter()
                .map(|a| scrape::scrape(&self.http, *a, SCRAPE_TIMEOUT)),
        )
        .await;
        Ok(results
            .into_iter()
            .filter_map(|r| {
                r.map_err(|e| tracing::debug!(error = %e, "pod not scraped"))
                    .ok()
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(connections: f64, in_flight: f64) -> PodLoad {
        PodLoad {
            connections,
            in_flight,
            ..PodLoad::default()
        }
    }

    #[test]
    fn the_measure_follows_the_spec() {
        let a = Autoscaling {
            target_in_flight_per_pod: Some(8.0),
            ..Autoscaling::default()
        };
        assert_eq!(Measure::of(&a), Measure::InFlight(8.0));
        let both = Autoscaling {
            target_connections_per_pod: Some(50.0),
            ..a
        };
        assert_eq!(Measure::of(&both), Measure::Connections(50.0));
        assert_eq!(
            Measure::of(&Autoscaling::default()),
            Measure::Connections(100.0)
        );
    }

    #[test]
    fn the_load_is_summed_over_the_pods() {
        let pods = [load(10.0, 1.0), load(30.0, 2.0)];
        assert_eq!(Measure::Connections(50.0).load(&pods), (40.0, 50.0));
        assert_eq!(Measure::InFlight(8.0).load(&pods), (3.0, 8.0));
    }
}
