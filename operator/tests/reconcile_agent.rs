#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The AgentRuntime reconciler against kube's mocked client (the controller-rs
//! `ApiServerVerifier` way): every request the reconciler makes is recorded with its method,
//! path and body, answered from a table of objects, and asserted.

mod mock_api;

use std::collections::HashMap;

use kube::runtime::controller::Action;
use mock_api::{CORE, NS, OMNIA, Seen, World, condition, find, lines, run};
use omnia_api::crd::AgentRuntime;
use omnia_operator::reconcile::Error;
use omnia_operator::reconcile::agent::{FINALIZER, reconcile};
use serde_json::{Value, json};

async fn reconcile_in(world: World, agent: Value) -> (Result<Action, Error>, Vec<Seen>, Value) {
    let path = format!("{OMNIA}/agentruntimes/summarizer");
    let (result, seen) = run::<AgentRuntime, _, _>(world, path, agent.clone(), reconcile).await;
    (result, seen, agent)
}

fn agent(finalized: bool) -> Value {
    let mut agent = json!({
        "apiVersion": "omnia.altairalabs.ai/v1alpha1",
        "kind": "AgentRuntime",
        "metadata": {"name": "summarizer", "namespace": NS, "uid": "0f8e1c2a-uid", "generation": 2,
                     "resourceVersion": "100"},
        "spec": {
            "mode": "function",
            "promptPackRef": {"name": "summarizer-pack"},
            "facade": {"type": "grpc", "port": 8080},
            "providers": [{"name": "default", "providerRef": {"name": "claude-sonnet"}}],
            "inputSchema": {"type": "object", "required": ["text"],
                            "properties": {"text": {"type": "string"}}},
            "outputSchema": {"type": "object", "required": ["summary"],
                             "properties": {"summary": {"type": "string"}}}
        }
    });
    if finalized {
        agent["metadata"]["finalizers"] = json!([FINALIZER]);
    }
    agent
}

fn pack_json(version: &str) -> String {
    json!({
        "id": "summarizer", "name": "Summarizer", "version": version,
        "template_engine": {"version": "v1", "syntax": "{{variable}}"},
        "prompts": {"default": {"id": "default", "name": "Summarize", "version": version,
            "system_template": "Summarise {{text}} as JSON {\"summary\": ...}."}}
    })
    .to_string()
}

/// The summarizer's PromptPack, its ConfigMap and its mock Provider.
fn world(pack_version: &str) -> World {
    let mut objects = HashMap::new();
    objects.insert(
        format!("{OMNIA}/promptpacks/summarizer-pack"),
        json!({"apiVersion": "omnia.altairalabs.ai/v1alpha1", "kind": "PromptPack",
               "metadata": {"name": "summarizer-pack", "namespace": NS},
               "spec": {"source": {"type": "configmap", "configMapRef": {"name": "summarizer-pack-contents"}},
                        "version": pack_version}}),
    );
    objects.insert(
        format!("{CORE}/configmaps/summarizer-pack-contents"),
        json!({"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": "summarizer-pack-contents", "namespace": NS},
               "data": {"pack.json": pack_json(pack_version)}}),
    );
    objects.insert(
        format!("{OMNIA}/providers/claude-sonnet"),
        json!({"apiVersion": "omnia.altairalabs.ai/v1alpha1", "kind": "Provider",
               "metadata": {"name": "claude-sonnet", "namespace": NS},
               "spec": {"type": "mock", "model": "claude-sonnet-4-20250514"}}),
    );
    World {
        objects,
        ..World::default()
    }
}

#[tokio::test]
async fn a_new_agent_first_gets_the_finalizer_and_nothing_else() {
    let (result, seen, _) = reconcile_in(world("1.0.0"), agent(false)).await;
    result.unwrap();
    assert_eq!(
        lines(&seen),
        [format!("PATCH {OMNIA}/agentruntimes/summarizer")]
    );
    let patch = &seen[0];
    assert_eq!(patch.content_type, "application/json-patch+json");
    let ops = patch.body.as_array().unwrap();
    assert!(
        ops.iter().any(|op| op["op"] == "add"
            && op["path"] == "/metadata/finalizers"
            && op["value"] == json!([FINALIZER])),
        "{}",
        patch.body
    );
}

#[tokio::test]
async fn an_agent_is_created_from_what_it_references() {
    let (result, seen, _) = reconcile_in(world("1.0.0"), agent(true)).await;
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(
        lines(&seen),
        [
            format!("GET {OMNIA}/promptpacks/summarizer-pack"),
            format!("GET {CORE}/configmaps/summarizer-pack-contents"),
            format!("GET {OMNIA}/providers/claude-sonnet"),
            format!("PATCH {CORE}/configmaps/summarizer-config"),
            format!("PATCH /apis/apps/v1/namespaces/{NS}/deployments/summarizer"),
            format!("PATCH {CORE}/services/summarizer"),
            format!("DELETE /apis/policy/v1/namespaces/{NS}/poddisruptionbudgets/summarizer"),
            format!(
                "DELETE /apis/autoscaling/v2/namespaces/{NS}/horizontalpodautoscalers/summarizer"
            ),
            format!("PATCH {OMNIA}/agentruntimes/summarizer/status"),
        ]
    );
    for applied in seen
        .iter()
        .filter(|s| s.content_type.starts_with("application/apply-patch"))
    {
        assert!(
            applied.query.contains("fieldManager=omnia-operator"),
            "{}",
            applied.query
        );
        assert!(applied.query.contains("force=true"), "{}", applied.query);
        let owner = &applied.body["metadata"]["ownerReferences"][0];
        assert_eq!(owner["kind"], "AgentRuntime");
        assert_eq!(owner["uid"], "0f8e1c2a-uid");
        assert_eq!(owner["controller"], true);
    }
    let config = find(&seen, &format!("PATCH {CORE}/configmaps/summarizer-config"));
    let text = config.body["data"]["agent.yaml"].as_str().unwrap();
    assert!(
        text.contains("kind: AgentRuntime") && text.contains("kind: PromptPack"),
        "{text}"
    );
    assert!(
        text.contains("uid: 0f8e1c2a-uid"),
        "the gateway matches client keys by uid"
    );

    let deployment = find(
        &seen,
        &format!("PATCH /apis/apps/v1/namespaces/{NS}/deployments/summarizer"),
    );
    let pod = &deployment.body["spec"]["template"];
    assert!(pod["metadata"]["annotations"]["omnia.altairalabs.ai/config-hash"].is_string());
    assert_eq!(deployment.body["spec"]["replicas"], 1);
    let containers = pod["spec"]["containers"].as_array().unwrap();
    assert_eq!(
        containers[0]["image"],
        "registry.example/omnia-gateway:1.2.3"
    );
    assert_eq!(
        containers[1]["image"],
        "registry.example/omnia-runtime:1.2.3"
    );

    let status = find(
        &seen,
        &format!("PATCH {OMNIA}/agentruntimes/summarizer/status"),
    );
    assert_eq!(status.content_type, "application/merge-patch+json");
    let body = &status.body["status"];
    assert_eq!(body["phase"], "Pending", "no pod is ready yet");
    assert_eq!(body["observedGeneration"], 2);
    assert_eq!(body["activeVersion"], "1.0.0");
    assert_eq!(
        body["serviceEndpoint"],
        "summarizer.my-workspace.svc.cluster.local:8080"
    );
    assert_eq!(
        body["replicas"],
        json!({"desired": 1, "ready": 0, "available": 0})
    );
    for kind in ["PromptPackReady", "ProviderReady", "ToolRegistryReady"] {
        assert_eq!(condition(status, kind)["status"], "True", "{kind}");
    }
    let ready = condition(status, "Ready");
    assert_eq!(ready["status"], "False");
    assert_eq!(ready["reason"], "PodsNotReady");
    assert_eq!(ready["lastTransitionTime"], "2026-12-02T12:00:00Z");
    assert_eq!(
        condition(status, "Available")["reason"],
        "NoReplicasAvailable"
    );
}

#[tokio::test]
async fn ready_pods_make_the_agent_running_and_ready() {
    let mut world = world("1.0.0");
    world.deployment_status = Some(json!({"observedGeneration": 1, "replicas": 1,
        "readyReplicas": 1, "availableReplicas": 1, "updatedReplicas": 1}));
    let (result, seen, _) = reconcile_in(world, agent(true)).await;
    result.unwrap();
    let status = find(
        &seen,
        &format!("PATCH {OMNIA}/agentruntimes/summarizer/status"),
    );
    assert_eq!(status.body["status"]["phase"], "Running");
    assert_eq!(
        status.body["status"]["replicas"],
        json!({"desired": 1, "ready": 1, "available": 1})
    );
    let ready = condition(status, "Ready");
    assert_eq!(
        (ready["status"].as_str(), ready["reason"].as_str()),
        (Some("True"), Some("Running"))
    );
    assert_eq!(condition(status, "Available")["status"], "True");
}

#[tokio::test]
async fn a_prompt_pack_change_rolls_the_pods() {
    let hash = |seen: &[Seen]| {
        let d = find(
            seen,
            &format!("PATCH /apis/apps/v1/namespaces/{NS}/deployments/summarizer"),
        );
        d.body["spec"]["template"]["metadata"]["annotations"]["omnia.altairalabs.ai/config-hash"]
            .clone()
    };
    let (_, before, _) = reconcile_in(world("1.0.0"), agent(true)).await;
    let (_, again, _) = reconcile_in(world("1.0.0"), agent(true)).await;
    let (_, after, _) = reconcile_in(world("1.1.0"), agent(true)).await;
    assert_eq!(
        hash(&before),
        hash(&again),
        "the same inputs render the same pods"
    );
    assert_ne!(
        hash(&before),
        hash(&after),
        "a new pack version rolls the pods"
    );
    let config = find(
        &after,
        &format!("PATCH {CORE}/configmaps/summarizer-config"),
    );
    assert!(
        config.body["data"]["agent.yaml"]
            .as_str()
            .unwrap()
            .contains("1.1.0")
    );
    let status = find(
        &after,
        &format!("PATCH {OMNIA}/agentruntimes/summarizer/status"),
    );
    assert_eq!(status.body["status"]["activeVersion"], "1.1.0");
}

#[tokio::test]
async fn a_missing_prompt_pack_is_named_and_nothing_is_deployed() {
    let mut world = world("1.0.0");
    world
        .objects
        .remove(&format!("{OMNIA}/promptpacks/summarizer-pack"));
    let (result, seen, _) = reconcile_in(world, agent(true)).await;
    result.unwrap();
    assert_eq!(
        lines(&seen),
        [
            format!("GET {OMNIA}/promptpacks/summarizer-pack"),
            format!("GET {OMNIA}/providers/claude-sonnet"),
            format!("PATCH {OMNIA}/agentruntimes/summarizer/status"),
        ]
    );
    let status = &seen[2];
    assert_eq!(status.body["status"]["phase"], "Pending");
    let pack = condition(status, "PromptPackReady");
    assert_eq!(pack["status"], "False");
    assert_eq!(pack["reason"], "PromptPackNotFound");
    let message = pack["message"].as_str().unwrap();
    assert!(
        message.contains("summarizer-pack") && message.contains(NS),
        "{message}"
    );
    let ready = condition(status, "Ready");
    assert_eq!(ready["reason"], "DependenciesNotReady");
    assert!(
        ready["message"]
            .as_str()
            .unwrap()
            .contains("summarizer-pack")
    );
}

#[tokio::test]
async fn a_missing_credential_secret_is_named() {
    let mut world = world("1.0.0");
    world.objects.insert(
        format!("{OMNIA}/providers/claude-sonnet"),
        json!({"apiVersion": "omnia.altairalabs.ai/v1alpha1", "kind": "Provider",
               "metadata": {"name": "claude-sonnet", "namespace": NS},
               "spec": {"type": "claude", "model": "claude-sonnet-4-20250514",
                        "credential": {"secretRef": {"name": "anthropic"}}}}),
    );
    let (result, seen, _) = reconcile_in(world, agent(true)).await;
    result.unwrap();
    assert!(lines(&seen).contains(&format!("GET {CORE}/secrets/anthropic")));
    assert!(
        !lines(&seen).iter().any(|l| l.contains("/deployments/")),
        "{:#?}",
        lines(&seen)
    );
    let status = seen.last().unwrap();
    let provider = condition(status, "ProviderReady");
    assert_eq!(provider["reason"], "SecretNotFound");
    assert!(
        provider["message"]
            .as_str()
            .unwrap()
            .contains("`anthropic`")
    );
}

#[tokio::test]
async fn a_present_credential_secret_reaches_the_pods_as_environment() {
    let mut world = world("1.0.0");
    world.objects.insert(
        format!("{OMNIA}/providers/claude-sonnet"),
        json!({"apiVersion": "omnia.altairalabs.ai/v1alpha1", "kind": "Provider",
               "metadata": {"name": "claude-sonnet", "namespace": NS},
               "spec": {"type": "claude", "model": "claude-sonnet-4-20250514",
                        "credential": {"secretRef": {"name": "anthropic"}}}}),
    );
    world.objects.insert(
        format!("{CORE}/secrets/anthropic"),
        json!({"apiVersion": "v1", "kind": "Secret",
               "metadata": {"name": "anthropic", "namespace": NS, "resourceVersion": "7"},
               "data": {"ANTHROPIC_API_KEY": "c2stYW50LXNlY3JldA=="}}),
    );
    let (result, seen, _) = reconcile_in(world, agent(true)).await;
    result.unwrap();
    let config = find(&seen, &format!("PATCH {CORE}/configmaps/summarizer-config"));
    let text = config.body["data"]["agent.yaml"].as_str().unwrap();
    assert!(
        !text.contains("sk-ant-secret") && !text.contains("c2stYW50LXNlY3JldA"),
        "{text}"
    );
    let deployment = find(
        &seen,
        &format!("PATCH /apis/apps/v1/namespaces/{NS}/deployments/summarizer"),
    );
    for container in deployment.body["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap()
    {
        assert_eq!(
            container["envFrom"],
            json!([{"prefix": "OMNIA_SECRET_0_", "secretRef": {"name": "anthropic", "optional": false}}])
        );
        let env = container["env"].as_array().unwrap();
        assert!(env.contains(&json!({"name": "OMNIA_SECRETS_FROM_ENV",
                                     "value": "my-workspace/anthropic=OMNIA_SECRET_0_"})));
    }
}

#[tokio::test]
async fn a_configuration_the_loader_refuses_fails_the_agent_with_its_reason() {
    let mut bad = agent(true);
    bad["spec"]["facade"]["drainTimeout"] = json!("soon");
    let (result, seen, _) = reconcile_in(world("1.0.0"), bad).await;
    result.unwrap();
    assert!(!lines(&seen).iter().any(|l| l.contains("/deployments/")));
    let status = seen.last().unwrap();
    assert_eq!(status.body["status"]["phase"], "Failed");
    let ready = condition(status, "Ready");
    assert_eq!(ready["reason"], "InvalidConfiguration");
    let message = ready["message"].as_str().unwrap();
    assert!(message.contains("drainTimeout"), "{message}");
}

#[tokio::test]
async fn more_than_one_replica_gets_a_disruption_budget() {
    let mut three = agent(true);
    three["spec"]["replicas"] = json!(3);
    let (result, seen, _) = reconcile_in(world("1.0.0"), three).await;
    result.unwrap();
    let pdb = find(
        &seen,
        &format!("PATCH /apis/policy/v1/namespaces/{NS}/poddisruptionbudgets/summarizer"),
    );
    assert_eq!(pdb.body["spec"]["maxUnavailable"], 1);
    let deployment = find(
        &seen,
        &format!("PATCH /apis/apps/v1/namespaces/{NS}/deployments/summarizer"),
    );
    assert_eq!(deployment.body["spec"]["replicas"], 3);
}

#[tokio::test]
async fn autoscaling_asks_for_an_hpa_and_leaves_replicas_to_it() {
    let mut scaled = agent(true);
    scaled["spec"]["runtime"] =
        json!({"autoscaling": {"enabled": true, "minReplicas": 2, "maxReplicas": 6}});
    let (result, seen, _) = reconcile_in(world("1.0.0"), scaled).await;
    result.unwrap();
    let hpa = find(
        &seen,
        &format!("PATCH /apis/autoscaling/v2/namespaces/{NS}/horizontalpodautoscalers/summarizer"),
    );
    assert_eq!(hpa.body["spec"]["minReplicas"], 2);
    assert_eq!(hpa.body["spec"]["maxReplicas"], 6);
    assert_eq!(hpa.body["spec"]["scaleTargetRef"]["name"], "summarizer");
    let deployment = find(
        &seen,
        &format!("PATCH /apis/apps/v1/namespaces/{NS}/deployments/summarizer"),
    );
    assert!(
        deployment.body["spec"].get("replicas").is_none(),
        "the HPA owns the count"
    );
}

#[tokio::test]
async fn deletion_removes_the_finalizer() {
    let mut going = agent(true);
    going["metadata"]["deletionTimestamp"] = json!("2026-12-02T12:00:00Z");
    let (result, seen, _) = reconcile_in(world("1.0.0"), going).await;
    result.unwrap();
    assert_eq!(
        lines(&seen),
        [format!("PATCH {OMNIA}/agentruntimes/summarizer")]
    );
    let ops = seen[0].body.as_array().unwrap();
    assert!(
        ops.iter().any(|op| op["op"] == "remove"),
        "{}",
        seen[0].body
    );
    assert!(
        ops.iter()
            .any(|op| op["op"] == "test" && op["value"] == FINALIZER),
        "{}",
        seen[0].body
    );
}

#[tokio::test]
async fn an_api_server_error_is_an_error_to_retry() {
    let mut world = world("1.0.0");
    world.failing = Some(format!("{OMNIA}/providers/claude-sonnet"));
    let (result, seen, _) = reconcile_in(world, agent(true)).await;
    assert!(matches!(result, Err(Error::Kube(_))), "{result:?}");
    assert!(
        !lines(&seen).iter().any(|l| l.contains("/status")),
        "nothing half-known is written"
    );
}

#[tokio::test]
async fn client_keys_are_mounted_in_the_facade_and_never_written_to_the_config_map() {
    let mut world = world("1.0.0");
    world.objects.insert(
        format!("{CORE}/secrets"),
        json!({"apiVersion": "v1", "kind": "SecretList", "metadata": {"resourceVersion": "9"},
               "items": [{"apiVersion": "v1", "kind": "Secret",
                   "metadata": {"name": "key-alice", "namespace": NS, "resourceVersion": "4",
                       "labels": {"omnia.altairalabs.ai/credential-kind": "agent-client-key",
                                  "omnia.altairalabs.ai/agent": "summarizer"},
                       "ownerReferences": [{"apiVersion": "omnia.altairalabs.ai/v1alpha1",
                           "kind": "AgentRuntime", "name": "summarizer", "uid": "0f8e1c2a-uid"}]},
                   "data": {"keyHash": "n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=",
                            "scopes": "eyJyb2xlIjoiZWRpdG9yIn0="}}]}),
    );
    let mut keyed = agent(true);
    keyed["spec"]["externalAuth"] = json!({"clientKeys": {}});
    let (result, seen, _) = reconcile_in(world, keyed).await;
    result.unwrap();
    let list = find(&seen, &format!("GET {CORE}/secrets"));
    assert!(
        list.query.contains("labelSelector=omnia.altairalabs.ai%2Fcredential-kind%3Dagent-client-key%2Comnia.altairalabs.ai%2Fagent%3Dsummarizer"),
        "{}",
        list.query
    );
    let config = find(&seen, &format!("PATCH {CORE}/configmaps/summarizer-config"));
    let text = config.body["data"]["agent.yaml"].as_str().unwrap();
    assert!(!text.contains("n4bQgYhMfWWaL"), "{text}");
    assert!(
        text.contains("omnia.altairalabs.ai/data-from-dir: /etc/omnia/client-keys/key-alice"),
        "{text}"
    );
    assert!(text.contains("uid: 0f8e1c2a-uid"));
    let deployment = find(
        &seen,
        &format!("PATCH /apis/apps/v1/namespaces/{NS}/deployments/summarizer"),
    );
    let pod = &deployment.body["spec"]["template"]["spec"];
    assert!(
        pod["volumes"]
            .as_array()
            .unwrap()
            .contains(&json!({"name": "client-key-0", "secret": {"secretName": "key-alice"}}))
    );
    let facade_mounts = pod["containers"][0]["volumeMounts"].as_array().unwrap();
    assert!(
        facade_mounts.contains(&json!({"name": "client-key-0", "readOnly": true,
        "mountPath": "/etc/omnia/client-keys/key-alice"}))
    );
    let runtime_mounts = pod["containers"][1]["volumeMounts"].as_array().unwrap();
    assert!(
        !runtime_mounts.iter().any(|m| m["name"] == "client-key-0"),
        "only the facade checks keys"
    );
}
