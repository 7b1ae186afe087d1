#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The objects an AgentRuntime renders to (`reconcile::agent::plan`), field by field, from the
//! example agents and the seed and Omnia fixtures. Every rendered object is checked by
//! `kubernetes-validate --strict` against the Kubernetes API schemas.
//!
//! The inputs are those manifests as the API server hands them to the reconciler: every object
//! has a namespace, a `uid` and a `resourceVersion`, and a Secret's `stringData` is folded into
//! `data`. They are picked the way the reconciler fetches them (`render::refs`), and, as it does,
//! `plan` is only called once every referenced Secret exists. The `kube::Client` in the
//! `Context` is a mock that nothing answers: rendering never calls the API server.
//!
//! kubernetes-validate comes from the pinned virtualenv `$OMNIA_PYENV` (default
//! `~/.cache/omnia-rs/pyenv`) that `./test.sh` sets up; a missing tool fails the test.

mod tools;

use std::path::PathBuf;

use base64::Engine as _;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{Resource, ResourceExt};
use omnia_api::crd::{AgentRuntime, PromptPack, Provider, ToolRegistry};
use omnia_api::manifest::prompt_pack::PackSourceType;
use omnia_operator::reconcile::Context;
use omnia_operator::reconcile::agent::{Plan, plan};
use omnia_operator::render::{Inputs, Settings, refs};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tools::repo;

const GATEWAY_IMAGE: &str = "registry.example/omnia-gateway:render-test";
const RUNTIME_IMAGE: &str = "registry.example/omnia-runtime:render-test";
const CONFIG_HASH: &str = "omnia.altairalabs.ai/config-hash";
const OMNIA_API_VERSION: &str = "omnia.altairalabs.ai/v1alpha1";

// ---------------------------------------------------------------------------------------------
// The inputs: manifests as the API server returns them.

/// The manifest files of one agent: a directory's `*.yaml` files (not its subdirectories:
/// tools-agent keeps its HTTP service's files there), or one file.
fn files(path: &str) -> Vec<PathBuf> {
    let path = repo().join(path);
    if path.is_file() {
        return vec![path];
    }
    let mut found: Vec<PathBuf> = std::fs::read_dir(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    found.sort();
    assert!(!found.is_empty(), "no manifests in {}", path.display());
    found
}

/// Every agent that renders as its manifests stand: each example directory and the seed and
/// Omnia fixtures (the Omnia agent fixture asks for KEDA and is covered on its own).
fn unchanged_agents() -> Vec<String> {
    let mut paths: Vec<String> = std::fs::read_dir(repo().join("examples"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.join("agentruntime.yaml").is_file())
        .map(|p| {
            format!(
                "examples/{}",
                p.file_name().unwrap().to_str().unwrap().to_owned()
            )
        })
        .collect();
    paths.sort();
    assert!(paths.len() >= 7, "examples/ lost agents: {paths:?}");
    paths.extend(
        [
            "api/tests/fixtures/production-agent.yaml",
            "api/tests/fixtures/summarizer.yaml",
            "api/tests/fixtures/echo-function",
            "api/tests/fixtures/omnia/function.yaml",
        ]
        .map(str::to_owned),
    );
    paths
}

/// The objects of one agent's manifests, as JSON, the way the API server stores them.
#[derive(Clone)]
struct Cluster {
    objects: Vec<Value>,
}

impl Cluster {
    fn load(path: &str) -> Self {
        let mut cluster = Self {
            objects: Vec::new(),
        };
        for file in files(path) {
            cluster.add(&std::fs::read_to_string(&file).unwrap());
        }
        let agents = cluster.of_kind("AgentRuntime").count();
        assert_eq!(agents, 1, "{path}: expected one AgentRuntime");
        cluster
    }

    /// Adds the documents of `yaml`, each given what the API server sets on create.
    fn add(&mut self, yaml: &str) {
        for document in serde_yaml_ng::Deserializer::from_str(yaml) {
            let mut object = Value::deserialize(document).unwrap();
            if object.is_null() {
                continue;
            }
            let n = self.objects.len() + 1;
            let meta = object["metadata"].as_object_mut().unwrap();
            meta.entry("namespace").or_insert(json!("default"));
            meta.entry("uid")
                .or_insert(json!(format!("00000000-0000-4000-8000-{n:012x}")));
            meta.entry("resourceVersion").or_insert(json!("1"));
            if object["kind"] == "Secret"
                && let Some(Value::Object(plain)) =
                    object.as_object_mut().unwrap().remove("stringData")
            {
                let data = object
                    .as_object_mut()
                    .unwrap()
                    .entry("data")
                    .or_insert(json!({}));
                for (key, value) in plain {
                    let text = value.as_str().unwrap();
                    data[key] = json!(base64::engine::general_purpose::STANDARD.encode(text));
                }
            }
            self.objects.push(object);
        }
    }

    fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Value> {
        self.objects.iter().filter(move |o| o["kind"] == kind)
    }

    /// The object of that kind and name, to change it.
    fn object(&mut self, kind: &str, name: &str) -> &mut Value {
        self.objects
            .iter_mut()
            .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
            .unwrap_or_else(|| panic!("no {kind} {name}"))
    }

    /// The AgentRuntime, to change it.
    fn agent(&mut self) -> &mut Value {
        self.objects
            .iter_mut()
            .find(|o| o["kind"] == "AgentRuntime")
            .unwrap()
    }

    fn typed<K>(&self) -> Vec<K>
    where
        K: Resource<DynamicType = ()> + DeserializeOwned,
    {
        self.of_kind(&K::kind(&()))
            .map(|o| {
                serde_json::from_value(o.clone())
                    .unwrap_or_else(|e| panic!("{} {}: {e}", K::kind(&()), o["metadata"]["name"]))
            })
            .collect()
    }

    /// What the reconciler fetches for the agent: its PromptPack and the pack's ConfigMap, its
    /// Providers, its ToolRegistry, the Secrets those name (all of which must exist: the
    /// reconciler does not render before they do), and its client-key Secrets.
    fn fetch(&self) -> Fetched {
        let agent: AgentRuntime = self.typed().remove(0);
        let find = |kind: &str, (namespace, name): &refs::Ref| {
            self.objects
                .iter()
                .find(|o| {
                    o["kind"] == kind
                        && o["metadata"]["namespace"] == namespace.as_str()
                        && o["metadata"]["name"] == name.as_str()
                })
                .cloned()
        };
        let get = |kind: &str, r: &refs::Ref| {
            find(kind, r).unwrap_or_else(|| panic!("{kind} {r:?} is not in the set"))
        };
        let pack_ref = refs::prompt_pack(&agent);
        let pack: PromptPack = serde_json::from_value(get("PromptPack", &pack_ref)).unwrap();
        let pack_source = pack
            .spec
            .source
            .config_map_ref
            .as_ref()
            .filter(|_| pack.spec.source.kind == PackSourceType::Configmap)
            .map(|cm| {
                let r = (pack_ref.0.clone(), cm.name.clone());
                serde_json::from_value::<ConfigMap>(get("ConfigMap", &r)).unwrap()
            });
        let providers: Vec<Provider> = refs::providers(&agent)
            .iter()
            .map(|r| serde_json::from_value(get("Provider", r)).unwrap())
            .collect();
        let tool_registry: Option<ToolRegistry> = refs::tool_registry(&agent)
            .map(|r| serde_json::from_value(get("ToolRegistry", &r)).unwrap());
        let namespace = agent.namespace().unwrap();
        let secrets: Vec<Secret> = refs::secrets(&agent, &providers, tool_registry.as_ref())
            .into_iter()
            .map(|name| {
                let r = (namespace.clone(), name);
                let found = find("Secret", &r).unwrap_or_else(|| {
                    panic!("Secret {r:?} is referenced but missing: the reconciler would wait")
                });
                serde_json::from_value(found).unwrap()
            })
            .collect();
        // The reconciler lists them by label when the agent takes client keys.
        let auth = agent.spec.external_auth.as_ref();
        let takes_keys = auth.is_some_and(|a| a.client_keys.is_some() || a.api_keys.is_some());
        let client_keys: Vec<Secret> = self
            .of_kind("Secret")
            .filter(|o| {
                let labels = &o["metadata"]["labels"];
                takes_keys
                    && o["metadata"]["namespace"] == namespace.as_str()
                    && labels["omnia.altairalabs.ai/credential-kind"] == "agent-client-key"
                    && labels["omnia.altairalabs.ai/agent"] == agent.name_any().as_str()
            })
            .map(|o| serde_json::from_value(o.clone()).unwrap())
            .collect();
        Fetched {
            agent,
            pack,
            pack_source,
            providers,
            tool_registry,
            secrets,
            client_keys,
        }
    }
}

/// Sets `pointer` (`/spec/runtime/autoscaling`) to `value`, making the objects on the way.
fn set(object: &mut Value, pointer: &str, value: Value) {
    let mut at = object;
    let segments: Vec<&str> = pointer.trim_start_matches('/').split('/').collect();
    let (last, path) = segments.split_last().unwrap();
    for segment in path {
        at = match at {
            Value::Array(items) => &mut items[segment.parse::<usize>().unwrap()],
            other => other
                .as_object_mut()
                .unwrap()
                .entry(*segment)
                .or_insert(json!({})),
        };
    }
    match at {
        Value::Array(items) => items[last.parse::<usize>().unwrap()] = value,
        other => {
            other
                .as_object_mut()
                .unwrap()
                .insert((*last).to_owned(), value);
        }
    }
}

/// Removes the field at `pointer`.
fn remove(object: &mut Value, pointer: &str) {
    let (parent, field) = pointer.rsplit_once('/').unwrap();
    let removed = object
        .pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .and_then(|o| o.remove(field));
    assert!(removed.is_some(), "nothing at {pointer}");
}

/// What `plan` renders from.
struct Fetched {
    agent: AgentRuntime,
    pack: PromptPack,
    pack_source: Option<ConfigMap>,
    providers: Vec<Provider>,
    tool_registry: Option<ToolRegistry>,
    secrets: Vec<Secret>,
    client_keys: Vec<Secret>,
}

impl Fetched {
    fn inputs(&self) -> Inputs<'_> {
        Inputs {
            agent: &self.agent,
            pack: &self.pack,
            pack_source: self.pack_source.as_ref(),
            providers: &self.providers,
            tool_registry: self.tool_registry.as_ref(),
            secrets: &self.secrets,
            client_keys: &self.client_keys,
        }
    }

    fn plan(&self) -> Result<Plan, String> {
        plan(&self.agent, &self.inputs(), &context())
    }

    fn rendered(&self) -> Rendered {
        match self.plan() {
            Ok(plan) => Rendered::of(&plan),
            Err(e) => panic!("{}: plan failed: {e}", self.agent.name_any()),
        }
    }

    fn refused(&self) -> String {
        match self.plan() {
            Ok(_) => panic!("{}: plan succeeded", self.agent.name_any()),
            Err(e) => e,
        }
    }
}

/// A Context for `plan`. Its client is a mock service whose handle is dropped when this
/// returns, so a request made through it would fail instead of reaching anything.
fn context() -> Context {
    let (service, _handle) = tower_test::mock::pair::<
        http::Request<kube::client::Body>,
        http::Response<kube::client::Body>,
    >();
    Context::with_clock(
        kube::Client::new(service, "default"),
        Settings {
            gateway_image: GATEWAY_IMAGE.to_owned(),
            runtime_image: RUNTIME_IMAGE.to_owned(),
        },
        || Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
    )
}

/// A plan's objects as they go to the API server (JSON, with `apiVersion` and `kind`).
struct Rendered {
    config_map: Value,
    deployment: Value,
    service: Value,
    pdb: Option<Value>,
    hpa: Option<Value>,
    facade_port: u16,
}

fn to_json<T: Serialize>(object: &T) -> Value {
    serde_json::to_value(object).unwrap()
}

impl Rendered {
    fn of(plan: &Plan) -> Self {
        Self {
            config_map: to_json(&plan.config_map),
            deployment: to_json(&plan.deployment),
            service: to_json(&plan.service),
            pdb: plan.pdb.as_ref().map(to_json),
            hpa: plan.hpa.as_ref().map(to_json),
            facade_port: plan.facade_port,
        }
    }

    fn all(&self) -> Vec<&Value> {
        let mut out = vec![&self.config_map, &self.deployment, &self.service];
        out.extend(self.pdb.iter());
        out.extend(self.hpa.iter());
        out
    }

    fn config_text(&self) -> &str {
        self.config_map["data"]["agent.yaml"].as_str().unwrap()
    }

    fn hash(&self) -> &str {
        self.deployment["spec"]["template"]["metadata"]["annotations"][CONFIG_HASH]
            .as_str()
            .unwrap()
    }

    fn pod(&self) -> &Value {
        &self.deployment["spec"]["template"]["spec"]
    }

    fn container(&self, name: &str) -> &Value {
        self.pod()["containers"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no container {name}"))
    }
}

/// A container's plain `env` values, by name, in order.
fn env(container: &Value) -> Vec<(String, String)> {
    container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|var| {
            (
                var["name"].as_str().unwrap().to_owned(),
                var["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn env_value(container: &Value, name: &str) -> Option<String> {
    env(container)
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v)
}

// ---------------------------------------------------------------------------------------------
// kubernetes-validate, run as deploy_manifests.rs runs it.

/// Checks every object with `kubernetes-validate --strict`, as deploy_manifests.rs does.
fn validate(objects: &[&Value]) {
    let mut yaml = String::new();
    for object in objects {
        yaml.push_str("---\n");
        yaml.push_str(&serde_yaml_ng::to_string(object).unwrap());
    }
    tools::validate("the rendered objects", &yaml);
}

// ---------------------------------------------------------------------------------------------
// Cases built from the fixtures.

/// The Omnia agent fixture (facades[], drainTimeout, extraEnv, extraPodAnnotations,
/// runtime.resources) with HPA autoscaling instead of KEDA, and the Secret its voyage Provider
/// names, without which the reconciler would not render it.
fn omnia_agent_with_hpa() -> Cluster {
    let mut cluster = Cluster::load("api/tests/fixtures/omnia/agent.yaml");
    set(
        cluster.agent(),
        "/spec/runtime/autoscaling/type",
        json!("hpa"),
    );
    cluster.add(VOYAGE_SECRET);
    cluster
}

const VOYAGE_SECRET: &str = "
apiVersion: v1
kind: Secret
metadata: {name: voyage-credentials, namespace: support}
stringData: {VOYAGE_API_KEY: pa-voyage-render-test}
";

/// examples/summarizer with a claude Provider whose key is in the Secret `claude-credentials`.
const CLAUDE_KEY: &str = "sk-ant-render-test-0123456789";

fn summarizer_with_claude_secret() -> Cluster {
    let mut cluster = Cluster::load("examples/summarizer");
    let provider = cluster.object("Provider", "claude-sonnet");
    set(provider, "/spec/type", json!("claude"));
    set(
        provider,
        "/spec/credential",
        json!({"secretRef": {"name": "claude-credentials", "key": "api-key"}}),
    );
    cluster.add(&format!(
        "
apiVersion: v1
kind: Secret
metadata: {{name: claude-credentials, namespace: my-workspace}}
type: Opaque
stringData: {{api-key: {CLAUDE_KEY}}}
"
    ));
    cluster
}

// ---------------------------------------------------------------------------------------------
// 1. Everything renders, and Kubernetes would accept it.

#[tokio::test]
async fn every_agent_renders_objects_the_kubernetes_schemas_accept() {
    let mut clusters: Vec<(String, Cluster)> = unchanged_agents()
        .into_iter()
        .map(|path| {
            let cluster = Cluster::load(&path);
            (path, cluster)
        })
        .collect();
    clusters.push(("omnia agent, hpa".to_owned(), omnia_agent_with_hpa()));
    clusters.push((
        "summarizer, claude".to_owned(),
        summarizer_with_claude_secret(),
    ));
    let rendered: Vec<Rendered> = clusters
        .iter()
        .map(|(path, cluster)| {
            let fetched = cluster.fetch();
            let rendered = fetched.rendered();
            for object in rendered.all() {
                assert_eq!(
                    object["metadata"]["namespace"],
                    json!(fetched.agent.namespace()),
                    "{path}: {} in the agent's namespace",
                    object["kind"]
                );
            }
            rendered
        })
        .collect();
    for r in &rendered {
        let kinds: Vec<(&Value, &Value)> = r
            .all()
            .iter()
            .map(|o| (&o["apiVersion"], &o["kind"]))
            .collect();
        assert_eq!(
            kinds[..3],
            [
                (&json!("v1"), &json!("ConfigMap")),
                (&json!("apps/v1"), &json!("Deployment")),
                (&json!("v1"), &json!("Service")),
            ]
        );
    }
    // The seed agent (3 replicas) brings a PDB and the Omnia agent an HPA: both kinds are checked.
    let all: Vec<&Value> = rendered.iter().flat_map(Rendered::all).collect();
    for kind in ["PodDisruptionBudget", "HorizontalPodAutoscaler"] {
        assert!(all.iter().any(|o| o["kind"] == kind), "no {kind} rendered");
    }
    validate(&all);
}

// ---------------------------------------------------------------------------------------------
// 2. The Deployment and Service.

#[tokio::test]
async fn the_seed_agent_runs_gateway_and_runtime_side_by_side_hardened() {
    let cluster = Cluster::load("api/tests/fixtures/production-agent.yaml");
    let fetched = cluster.fetch();
    let uid = fetched.agent.uid().unwrap();
    let r = fetched.rendered();
    let deployment = &r.deployment;

    assert_eq!(deployment["metadata"]["name"], "production-agent");
    assert_eq!(deployment["spec"]["replicas"], 3);
    let names: Vec<&Value> = r.pod()["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| &c["name"])
        .collect();
    assert_eq!(names, ["facade", "runtime"]);

    let facade = r.container("facade");
    let runtime = r.container("runtime");
    assert_eq!(facade["image"], GATEWAY_IMAGE);
    assert_eq!(runtime["image"], RUNTIME_IMAGE);
    assert_eq!(
        facade["args"],
        json!(["serve", "--config", "/etc/omnia/config"])
    );
    assert_eq!(runtime["args"], json!(["--config", "/etc/omnia/config"]));
    assert_eq!(
        facade["ports"],
        json!([
            {"name": "facade", "containerPort": 8080, "protocol": "TCP"},
            {"name": "health", "containerPort": 8081, "protocol": "TCP"},
        ])
    );
    assert_eq!(
        runtime["ports"],
        json!([
            {"name": "grpc", "containerPort": 9000, "protocol": "TCP"},
            {"name": "metrics", "containerPort": 9001, "protocol": "TCP"},
        ])
    );
    assert_eq!(
        facade["readinessProbe"]["httpGet"],
        json!({"path": "/readyz", "port": "health"})
    );
    assert_eq!(
        facade["livenessProbe"]["httpGet"],
        json!({"path": "/healthz", "port": "health"})
    );
    // The gateway listens where its ports say and reaches the runtime over loopback.
    assert_eq!(env_value(facade, "OMNIA_FACADE_PORT").unwrap(), "8080");
    assert_eq!(env_value(facade, "OMNIA_HEALTH_PORT").unwrap(), "8081");
    assert_eq!(
        env_value(facade, "OMNIA_RUNTIME_ADDRESS").unwrap(),
        "127.0.0.1:9000"
    );
    assert_eq!(
        env_value(runtime, "OMNIA_RUNTIME_LISTEN").unwrap(),
        "127.0.0.1:9000"
    );
    assert_eq!(
        env_value(runtime, "OMNIA_METRICS_LISTEN").unwrap(),
        "0.0.0.0:9001"
    );
    // The seed's `env` reaches both containers.
    for container in [facade, runtime] {
        assert_eq!(env_value(container, "LOG_LEVEL").unwrap(), "info");
    }
    // The seed's top-level `resources` go to the runtime container.
    assert_eq!(
        runtime["resources"],
        json!({
            "requests": {"cpu": "500m", "memory": "256Mi"},
            "limits": {"cpu": "1000m", "memory": "512Mi"},
        })
    );

    // No drainTimeout: the gateway's 30 s drain plus 5 s to stop.
    assert_eq!(r.pod()["terminationGracePeriodSeconds"], 35);

    for container in [facade, runtime] {
        assert_eq!(
            container["securityContext"],
            json!({
                "runAsNonRoot": true,
                "readOnlyRootFilesystem": true,
                "allowPrivilegeEscalation": false,
                "capabilities": {"drop": ["ALL"]},
            }),
            "{}",
            container["name"]
        );
        assert_eq!(
            container["volumeMounts"][0],
            json!({"name": "config", "mountPath": "/etc/omnia/config", "readOnly": true})
        );
    }
    assert_eq!(r.pod()["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        r.pod()["securityContext"]["seccompProfile"],
        json!({"type": "RuntimeDefault"})
    );
    assert_eq!(r.pod()["automountServiceAccountToken"], false);
    let config_volume = r.pod()["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "config")
        .unwrap();
    assert_eq!(
        config_volume["configMap"]["name"],
        "production-agent-config"
    );
    assert_eq!(r.config_map["metadata"]["name"], "production-agent-config");

    // The pods the Deployment selects are its own template's and the Service's.
    let selector = &deployment["spec"]["selector"]["matchLabels"];
    let template_labels = deployment["spec"]["template"]["metadata"]["labels"]
        .as_object()
        .unwrap();
    for (key, value) in selector.as_object().unwrap() {
        assert_eq!(template_labels.get(key), Some(value), "{key}");
    }
    assert_eq!(r.service["spec"]["selector"], *selector);
    assert_eq!(
        r.service["spec"]["ports"],
        json!([
            {"name": "facade", "port": 8080, "targetPort": "facade", "protocol": "TCP"},
            {"name": "health", "port": 8081, "targetPort": "health", "protocol": "TCP"},
        ])
    );
    assert_eq!(r.facade_port, 8080);

    // Everything is the agent's, so deleting the agent collects it.
    for object in r.all() {
        assert_eq!(
            object["metadata"]["ownerReferences"],
            json!([{
                "apiVersion": OMNIA_API_VERSION,
                "kind": "AgentRuntime",
                "name": "production-agent",
                "uid": uid,
                "controller": true,
            }]),
            "{}",
            object["kind"]
        );
        assert_eq!(
            object["metadata"]["labels"]["omnia.altairalabs.ai/agent"],
            "production-agent"
        );
    }
}

#[tokio::test]
async fn omnia_facades_set_drain_grace_extra_env_annotations_and_images() {
    let mut cluster = omnia_agent_with_hpa();
    let r = cluster.fetch().rendered();
    // facades[0].drainTimeout 45s: 45 s to drain plus 5 s to stop.
    assert_eq!(r.pod()["terminationGracePeriodSeconds"], 50);
    let facade = r.container("facade");
    let runtime = r.container("runtime");
    // facades[0].extraEnv goes to the gateway only.
    assert_eq!(env_value(facade, "LOG_LEVEL").unwrap(), "debug");
    assert_eq!(env_value(runtime, "LOG_LEVEL"), None);
    assert_eq!(
        runtime["resources"],
        json!({"requests": {"cpu": "100m", "memory": "128Mi"}})
    );
    let annotations = &r.deployment["spec"]["template"]["metadata"]["annotations"];
    assert_eq!(annotations["sidecar.istio.io/inject"], "false");
    assert_eq!(annotations[CONFIG_HASH].as_str().unwrap().len(), 64);
    assert_eq!(facade["image"], GATEWAY_IMAGE);
    assert_eq!(runtime["image"], RUNTIME_IMAGE);

    // A facade's image replaces the gateway's, spec.framework.image the runtime's.
    set(
        cluster.agent(),
        "/spec/facades/0/image",
        json!("registry.example/own-gateway:2"),
    );
    set(
        cluster.agent(),
        "/spec/framework",
        json!({"image": "registry.example/own-runtime:3"}),
    );
    let r = cluster.fetch().rendered();
    assert_eq!(
        r.container("facade")["image"],
        "registry.example/own-gateway:2"
    );
    assert_eq!(
        r.container("runtime")["image"],
        "registry.example/own-runtime:3"
    );
}

#[tokio::test]
async fn the_facade_port_is_the_specs_and_8080_by_default() {
    let mut cluster = Cluster::load("examples/demo-agent");
    set(cluster.agent(), "/spec/facade/port", json!(9090));
    let r = cluster.fetch().rendered();
    assert_eq!(r.facade_port, 9090);
    let facade = r.container("facade");
    assert_eq!(
        facade["ports"][0],
        json!({"name": "facade", "containerPort": 9090, "protocol": "TCP"})
    );
    assert_eq!(env_value(facade, "OMNIA_FACADE_PORT").unwrap(), "9090");
    assert_eq!(
        r.service["spec"]["ports"][0],
        json!({"name": "facade", "port": 9090, "targetPort": "facade", "protocol": "TCP"})
    );

    let mut cluster = Cluster::load("examples/summarizer-omnia");
    remove(cluster.agent(), "/spec/facades/0/port");
    let r = cluster.fetch().rendered();
    assert_eq!(r.facade_port, 8080);
    assert_eq!(r.container("facade")["ports"][0]["containerPort"], 8080);
    assert_eq!(r.service["spec"]["ports"][0]["port"], 8080);
}

/// The gateway drains for `OMNIA_FACADE_DRAIN_TIMEOUT_SECONDS` (default 30, gateway/src/main.rs)
/// and does not read `drainTimeout` from its configuration, so the pod must tell it.
#[tokio::test]
async fn the_gateway_is_told_the_facades_drain_timeout() {
    let r = omnia_agent_with_hpa().fetch().rendered();
    assert_eq!(r.pod()["terminationGracePeriodSeconds"], 50);
    assert_eq!(
        env_value(r.container("facade"), "OMNIA_FACADE_DRAIN_TIMEOUT_SECONDS").as_deref(),
        Some("45")
    );
}

// ---------------------------------------------------------------------------------------------
// 3. Secrets reach the pods as environment variables, never through the ConfigMap.

#[tokio::test]
async fn a_providers_secret_reaches_both_containers_as_environment_only() {
    let fetched = summarizer_with_claude_secret().fetch();
    assert_eq!(fetched.secrets.len(), 1);
    let r = fetched.rendered();
    for name in ["facade", "runtime"] {
        let container = r.container(name);
        assert_eq!(
            container["envFrom"],
            json!([{
                "prefix": "OMNIA_SECRET_0_",
                "secretRef": {"name": "claude-credentials", "optional": false},
            }]),
            "{name}"
        );
        assert_eq!(
            env_value(container, "OMNIA_SECRETS_FROM_ENV").unwrap(),
            "my-workspace/claude-credentials=OMNIA_SECRET_0_",
            "{name}"
        );
        assert!(
            !container.to_string().contains(CLAUDE_KEY),
            "{name} holds the key itself"
        );
    }
    let text = r.config_text();
    let encoded = base64::engine::general_purpose::STANDARD.encode(CLAUDE_KEY);
    assert!(
        !text.contains(CLAUDE_KEY),
        "the key is in agent.yaml:\n{text}"
    );
    assert!(
        !text.contains(&encoded),
        "the key is in agent.yaml:\n{text}"
    );
    assert!(!text.contains("kind: Secret"), "{text}");
    // The loader saw the key when the operator checked the configuration: with the Secret as
    // the pods get it, the provider has its key.
    let loaded = load_as_pods(&fetched, &r);
    let provider = &loaded.agent("summarizer").unwrap().provider;
    assert_eq!(provider.api_key.as_ref().unwrap().expose(), CLAUDE_KEY);
}

#[tokio::test]
async fn each_secret_of_the_seed_agent_gets_its_own_prefix() {
    let fetched = Cluster::load("api/tests/fixtures/production-agent.yaml").fetch();
    let r = fetched.rendered();
    for name in ["facade", "runtime"] {
        let container = r.container(name);
        assert_eq!(
            container["envFrom"],
            json!([
                {"prefix": "OMNIA_SECRET_0_",
                 "secretRef": {"name": "openai-credentials", "optional": false}},
                {"prefix": "OMNIA_SECRET_1_",
                 "secretRef": {"name": "redis-credentials", "optional": false}},
            ]),
            "{name}"
        );
        assert_eq!(
            env_value(container, "OMNIA_SECRETS_FROM_ENV").unwrap(),
            "agents/openai-credentials=OMNIA_SECRET_0_,agents/redis-credentials=OMNIA_SECRET_1_"
        );
    }
    let text = r.config_text();
    for secret in [
        "sk-openai-test-key",
        "c2stb3BlbmFpLXRlc3Qta2V5",
        "redis://redis.agents.svc:6379/0",
    ] {
        assert!(!text.contains(secret), "{secret} is in agent.yaml");
    }
}

// ---------------------------------------------------------------------------------------------
// 4. What the pods read is what the operator checked, and what the user wrote.

/// What a pod loads, laid out in a scratch directory as the kubelet lays it out: the ConfigMap's
/// `agent.yaml` in the config directory, each client-key Secret as one file per key in its
/// mounted directory (the ConfigMap's paths to those directories moved under the scratch one),
/// and the Secrets the pod gets as environment variables as Secret documents beside agent.yaml
/// (the loader reads both the same way; a file keeps the test's own environment untouched).
fn load_as_pods(fetched: &Fetched, r: &Rendered) -> omnia_api::ResolvedConfig {
    let scratch = std::env::temp_dir().join(format!(
        "omnia-render-{}-{}",
        std::process::id(),
        fetched.agent.uid().unwrap()
    ));
    let config = scratch.join("config");
    std::fs::create_dir_all(&config).unwrap();
    let mut text = r.config_text().to_owned();
    for secret in &fetched.client_keys {
        let mounted = omnia_operator::render::client_key_dir(&secret.name_any());
        let dir = scratch.join(mounted.trim_start_matches('/'));
        assert!(
            text.contains(&mounted),
            "agent.yaml does not name {mounted}"
        );
        text = text.replace(&mounted, dir.to_str().unwrap());
        std::fs::create_dir_all(&dir).unwrap();
        for (key, value) in secret.data.iter().flatten() {
            std::fs::write(dir.join(key), &value.0).unwrap();
        }
    }
    std::fs::write(config.join("agent.yaml"), &text).unwrap();
    let mut environment = String::new();
    for secret in &fetched.secrets {
        let document = json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": secret.name_any(), "namespace": secret.namespace()},
            "data": secret.data,
        });
        environment.push_str("---\n");
        environment.push_str(&serde_yaml_ng::to_string(&document).unwrap());
    }
    if !environment.is_empty() {
        std::fs::write(config.join("secrets-from-env.yaml"), environment).unwrap();
    }
    let loaded = omnia_api::load(&[config]);
    std::fs::remove_dir_all(&scratch).unwrap();
    loaded.unwrap_or_else(|e| panic!("the pods' configuration does not load: {e}\n{text}"))
}

/// `agent` without what names the file it came from.
fn placeless(mut agent: omnia_api::Agent) -> omnia_api::Agent {
    agent.source = PathBuf::new();
    agent.pack.origin = String::new();
    agent
}

#[tokio::test]
async fn the_config_map_loads_into_the_agent_the_user_wrote() {
    for path in unchanged_agents() {
        let fetched = Cluster::load(&path).fetch();
        let name = fetched.agent.name_any();
        let r = fetched.rendered();
        let from_pods = load_as_pods(&fetched, &r);
        assert_eq!(from_pods.agents.len(), 1, "{path}");
        let from_pods = placeless(from_pods.agents[0].clone());
        let written = omnia_api::load(&files(&path)).unwrap();
        let written = placeless(written.agent(&name).unwrap().clone());

        assert_eq!(from_pods.name, name, "{path}");
        assert_eq!(from_pods.mode, written.mode, "{path}");
        assert_eq!(from_pods.facade.port, r.facade_port, "{path}");
        assert_eq!(from_pods.facade, written.facade, "{path}");
        assert_eq!(from_pods, written, "{path}");
    }
}

/// Omnia's dashboard mints client keys as Secrets labelled for the agent and owned by it; the
/// gateway admits callers by them. Agent pods cannot read them from the API server (no service
/// account token), so the facade container gets each one mounted, and no ConfigMap holds them.
#[tokio::test]
async fn client_keys_minted_for_the_agent_reach_its_facade_as_files() {
    const KEY_SECRET: &str = "agent-support-agent-clientkey-ci";
    let cluster = omnia_agent_with_hpa();
    let fetched = cluster.fetch();
    let names: Vec<String> = fetched
        .client_keys
        .iter()
        .map(ResourceExt::name_any)
        .collect();
    assert_eq!(names, [KEY_SECRET]);
    let r = fetched.rendered();

    let mounted = omnia_operator::render::client_key_dir(KEY_SECRET);
    let facade_mount = r.container("facade")["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["mountPath"] == mounted.as_str())
        .unwrap_or_else(|| panic!("the facade does not mount {mounted}"));
    assert_eq!(facade_mount["readOnly"], true);
    let volume = r.pod()["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == facade_mount["name"])
        .unwrap();
    assert_eq!(volume["secret"]["secretName"], KEY_SECRET);
    let runtime_mounts = r.container("runtime")["volumeMounts"].to_string();
    assert!(
        !runtime_mounts.contains(mounted.as_str()),
        "the runtime has no use for client keys: {runtime_mounts}"
    );

    let text = r.config_text();
    for value in fetched.client_keys[0]
        .data
        .iter()
        .flatten()
        .map(|(_, v)| &v.0)
    {
        let encoded = base64::engine::general_purpose::STANDARD.encode(value);
        assert!(
            !text.contains(&encoded),
            "a client key's value is in agent.yaml"
        );
    }

    // The same manifests loaded whole, as `omnia-gateway dev` reads them, hold one key; the pods
    // load the same one.
    let mut whole = String::new();
    for object in &cluster.objects {
        whole.push_str("---\n");
        whole.push_str(&serde_yaml_ng::to_string(object).unwrap());
    }
    let written = omnia_api::load_str("omnia/agent.yaml", &whole).unwrap();
    let policy =
        |config: &omnia_api::ResolvedConfig| config.agents[0].auth.client_keys.clone().unwrap();
    assert_eq!(policy(&written).keys.len(), 1);
    assert_eq!(policy(&load_as_pods(&fetched, &r)), policy(&written));
}

// ---------------------------------------------------------------------------------------------
// 5. The config hash rolls the pods exactly when what they read changes.

#[tokio::test]
async fn the_config_hash_follows_what_the_pods_read() {
    let base = summarizer_with_claude_secret();
    let hash = |cluster: &Cluster| cluster.fetch().rendered().hash().to_owned();
    let first = hash(&base);
    assert_eq!(first.len(), 64);
    assert!(first.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(hash(&base), first, "same inputs, same hash");
    assert_eq!(
        hash(&summarizer_with_claude_secret()),
        first,
        "same manifests read again, same hash"
    );

    let changed = |what: &str, change: &dyn Fn(&mut Cluster)| {
        let mut cluster = base.clone();
        change(&mut cluster);
        let h = hash(&cluster);
        assert_ne!(h, first, "{what} must roll the pods");
    };
    changed("a new PromptPack version", &|c: &mut Cluster| {
        set(
            c.object("PromptPack", "summarizer-pack"),
            "/spec/version",
            json!("1.0.1"),
        );
    });
    changed("new pack JSON", &|c: &mut Cluster| {
        let cm = c.object("ConfigMap", "summarizer-pack-contents");
        let text = cm["data"]["pack.json"].as_str().unwrap();
        let edited = text.replace("You summarise text.", "You summarise text briefly.");
        assert_ne!(edited, text);
        set(cm, "/data/pack.json", json!(edited));
    });
    changed("another model", &|c: &mut Cluster| {
        set(
            c.object("Provider", "claude-sonnet"),
            "/spec/model",
            json!("claude-opus-4-20250514"),
        );
    });
    changed("a rotated Secret", &|c: &mut Cluster| {
        set(
            c.object("Secret", "claude-credentials"),
            "/metadata/resourceVersion",
            json!("2"),
        );
    });

    // Writes that change nothing the pods read: the agent's and the referenced objects' server
    // metadata, and status.
    let mut cluster = base.clone();
    let agent = cluster.agent();
    set(agent, "/metadata/resourceVersion", json!("77"));
    set(agent, "/metadata/generation", json!(5));
    set(
        agent,
        "/metadata/managedFields",
        json!([{
            "manager": "kubectl-client-side-apply",
            "operation": "Update",
            "apiVersion": OMNIA_API_VERSION,
            "time": "2026-07-01T10:00:00Z",
            "fieldsType": "FieldsV1",
            "fieldsV1": {"f:spec": {"f:mode": {}}},
        }]),
    );
    set(
        agent,
        "/status",
        json!({"phase": "Running", "replicas": {"desired": 1, "ready": 1, "available": 1}}),
    );
    for (kind, name) in [
        ("PromptPack", "summarizer-pack"),
        ("ConfigMap", "summarizer-pack-contents"),
        ("Provider", "claude-sonnet"),
    ] {
        set(
            cluster.object(kind, name),
            "/metadata/resourceVersion",
            json!("78"),
        );
    }
    let unchanged = cluster.fetch().rendered();
    assert_eq!(
        unchanged.hash(),
        first,
        "server metadata must not roll the pods"
    );
    let before = base.fetch().rendered();
    assert_eq!(unchanged.deployment, before.deployment);
    assert_eq!(unchanged.config_map, before.config_map);

    // A client key re-minted (a new resourceVersion of its Secret) rolls the pods too.
    let mut cluster = omnia_agent_with_hpa();
    let before = hash(&cluster);
    set(
        cluster.object("Secret", "agent-support-agent-clientkey-ci"),
        "/metadata/resourceVersion",
        json!("2"),
    );
    assert_ne!(
        hash(&cluster),
        before,
        "a re-minted client key must roll the pods"
    );
}

// ---------------------------------------------------------------------------------------------
// 6. Who sets the replica count.

#[tokio::test]
async fn fixed_replicas_get_a_disruption_budget_only_when_more_than_one() {
    let fetched = Cluster::load("api/tests/fixtures/production-agent.yaml").fetch();
    let r = fetched.rendered();
    assert_eq!(r.deployment["spec"]["replicas"], 3);
    assert!(r.hpa.is_none());
    let pdb = r.pdb.as_ref().expect("3 replicas get a PDB");
    assert_eq!(pdb["apiVersion"], "policy/v1");
    assert_eq!(pdb["metadata"]["name"], "production-agent");
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    assert_eq!(
        pdb["spec"]["selector"], r.deployment["spec"]["selector"],
        "the PDB covers the Deployment's pods"
    );

    // spec.runtime.replicas: 1 (Omnia's shape).
    let r = Cluster::load("api/tests/fixtures/echo-function")
        .fetch()
        .rendered();
    assert_eq!(r.deployment["spec"]["replicas"], 1);
    assert!(r.pdb.is_none() && r.hpa.is_none());
    // No replicas at all: one.
    let r = Cluster::load("examples/echo-agent").fetch().rendered();
    assert_eq!(r.deployment["spec"]["replicas"], 1);
    assert!(r.pdb.is_none() && r.hpa.is_none());

    // Autoscaling turned off is the fixed count.
    let mut cluster = Cluster::load("examples/echo-agent");
    set(
        cluster.agent(),
        "/spec/runtime",
        json!({"replicas": 2, "autoscaling": {"enabled": false, "minReplicas": 4}}),
    );
    let r = cluster.fetch().rendered();
    assert_eq!(r.deployment["spec"]["replicas"], 2);
    assert!(r.pdb.is_some() && r.hpa.is_none());
}

fn echo_agent_autoscaled(autoscaling: Value) -> Cluster {
    let mut cluster = Cluster::load("examples/echo-agent");
    set(cluster.agent(), "/spec/runtime/autoscaling", autoscaling);
    cluster
}

#[tokio::test]
async fn hpa_autoscaling_leaves_the_replicas_to_an_hpa() {
    let fetched =
        echo_agent_autoscaled(json!({"enabled": true, "minReplicas": 2, "maxReplicas": 6})).fetch();
    let uid = fetched.agent.uid().unwrap();
    let r = fetched.rendered();
    assert!(
        r.deployment["spec"].get("replicas").is_none(),
        "replicas left to the HPA: {}",
        r.deployment["spec"]
    );
    let hpa = r.hpa.as_ref().expect("an HPA");
    assert_eq!(hpa["apiVersion"], "autoscaling/v2");
    assert_eq!(hpa["kind"], "HorizontalPodAutoscaler");
    assert_eq!(hpa["metadata"]["name"], "echo-agent");
    assert_eq!(hpa["metadata"]["ownerReferences"][0]["uid"], uid);
    assert_eq!(
        hpa["spec"],
        json!({
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "echo-agent"},
            "minReplicas": 2,
            "maxReplicas": 6,
            "metrics": [{
                "type": "Resource",
                "resource": {"name": "memory",
                             "target": {"type": "Utilization", "averageUtilization": 70}},
            }],
        })
    );
    assert_eq!(r.pdb.as_ref().unwrap()["spec"]["maxUnavailable"], 1);

    // The memory target and the scale-down window, when given.
    let r = echo_agent_autoscaled(json!({
        "enabled": true, "type": "hpa", "minReplicas": 1, "maxReplicas": 3,
        "targetMemoryUtilizationPercentage": 80, "scaleDownStabilizationSeconds": 120,
    }))
    .fetch()
    .rendered();
    let hpa = r.hpa.as_ref().unwrap();
    assert_eq!(
        hpa["spec"]["metrics"],
        json!([{"type": "Resource", "resource": {"name": "memory",
            "target": {"type": "Utilization", "averageUtilization": 80}}}])
    );
    assert_eq!(
        hpa["spec"]["behavior"],
        json!({"scaleDown": {"stabilizationWindowSeconds": 120}})
    );
}

/// Omnia's AgentRuntime spells the CPU target `targetCPUUtilizationPercentage`.
#[tokio::test]
async fn the_hpa_takes_omnias_cpu_target() {
    let r = echo_agent_autoscaled(json!({
        "enabled": true, "minReplicas": 1, "maxReplicas": 3,
        "targetCPUUtilizationPercentage": 60,
    }))
    .fetch()
    .rendered();
    assert_eq!(
        r.hpa.as_ref().unwrap()["spec"]["metrics"],
        json!([
            {"type": "Resource", "resource": {"name": "memory",
                "target": {"type": "Utilization", "averageUtilization": 70}}},
            {"type": "Resource", "resource": {"name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 60}}},
        ])
    );
}

/// An HPA computes a Resource metric's utilization from every container's request; with one
/// container lacking it the metric is undefined and the HPA never scales.
#[tokio::test]
async fn every_container_an_hpa_measures_has_a_memory_request() {
    let mut cluster = omnia_agent_with_hpa();
    set(
        cluster.agent(),
        "/spec/runtime/resources",
        json!({"requests": {"cpu": "100m", "memory": "128Mi"}}),
    );
    let r = cluster.fetch().rendered();
    assert!(r.hpa.is_some());
    for name in ["facade", "runtime"] {
        assert!(
            r.container(name)["resources"]["requests"]["memory"].is_string(),
            "{name} has no memory request"
        );
    }
}

#[tokio::test]
async fn the_tuner_owns_the_replicas_without_an_hpa() {
    let r = echo_agent_autoscaled(json!({"enabled": true, "type": "tuner", "maxReplicas": 4}))
        .fetch()
        .rendered();
    assert!(
        r.deployment["spec"].get("replicas").is_none(),
        "replicas left to the tuner: {}",
        r.deployment["spec"]
    );
    assert!(r.hpa.is_none());
    assert!(r.pdb.is_some(), "the tuner may run more than one pod");
}

#[tokio::test]
async fn keda_autoscaling_is_refused_by_name() {
    // The Omnia fixture as written asks for KEDA.
    let mut cluster = Cluster::load("api/tests/fixtures/omnia/agent.yaml");
    cluster.add(VOYAGE_SECRET);
    let reason = cluster.fetch().refused();
    assert!(reason.contains("spec.runtime.autoscaling.type"), "{reason}");
    assert!(reason.contains("keda"), "{reason}");

    let reason = echo_agent_autoscaled(json!({"enabled": true, "type": "bogus"}))
        .fetch()
        .refused();
    assert!(reason.contains("`bogus`"), "{reason}");
}

// ---------------------------------------------------------------------------------------------
// 7. A configuration the loader refuses is the plan's error, with the loader's words.

#[tokio::test]
async fn a_configuration_the_loader_refuses_is_refused_with_its_message() {
    // A function without an outputSchema.
    let mut cluster = Cluster::load("examples/summarizer");
    remove(cluster.agent(), "/spec/outputSchema");
    let reason = cluster.fetch().refused();
    assert!(
        reason.contains(
            "(AgentRuntime summarizer): spec.outputSchema: required when spec.mode is function"
        ),
        "{reason}"
    );
    assert!(
        reason.starts_with("AgentRuntime my-workspace/summarizer: "),
        "{reason}"
    );

    // Mock scenarios on a claude Provider.
    let mut cluster = Cluster::load("examples/echo-function");
    set(
        cluster.object("Provider", "echo-provider"),
        "/spec/type",
        json!("claude"),
    );
    let reason = cluster.fetch().refused();
    assert!(
        reason.contains("(Provider echo-provider): spec.mock: only allowed when spec.type is mock"),
        "{reason}"
    );

    // A pack ConfigMap whose JSON does not parse.
    let mut cluster = Cluster::load("examples/echo-agent");
    set(
        cluster.object("ConfigMap", "chat-pack-contents"),
        "/data/pack.json",
        json!("{not json"),
    );
    let reason = cluster.fetch().refused();
    assert!(
        reason.contains("(ConfigMap chat-pack-contents): data.pack.json: "),
        "{reason}"
    );
}

#[tokio::test]
async fn kubernetes_typed_fields_that_do_not_read_are_refused() {
    let mut cluster = Cluster::load("api/tests/fixtures/echo-function");
    set(
        cluster.agent(),
        "/spec/runtime/resources",
        json!({"requests": {"cpu": ["1"]}}),
    );
    let reason = cluster.fetch().refused();
    assert!(reason.starts_with("spec.runtime.resources: "), "{reason}");

    // `env` written as a map instead of a list of EnvVars.
    let mut cluster = Cluster::load("api/tests/fixtures/production-agent.yaml");
    set(cluster.agent(), "/spec/env", json!({"LOG_LEVEL": "info"}));
    let reason = cluster.fetch().refused();
    assert!(reason.starts_with("spec.env: "), "{reason}");
}

/// The seed writes `resources` at the top of the spec; an error in it must name that field.
#[tokio::test]
async fn an_unreadable_seed_resources_field_is_named_as_written() {
    let mut cluster = Cluster::load("api/tests/fixtures/production-agent.yaml");
    set(
        cluster.agent(),
        "/spec/resources",
        json!({"requests": {"cpu": ["1"]}}),
    );
    let reason = cluster.fetch().refused();
    assert!(reason.starts_with("spec.resources: "), "{reason}");
}
