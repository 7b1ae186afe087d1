#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The PromptPack, Provider and ToolRegistry status reconcilers against the mocked API server,
//! and the watch mappers that send a change of one of them to the agents that reference it.

mod mock_api;

use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher;
use mock_api::{CORE, NS, OMNIA, World, condition, lines, run};
use omnia_api::crd::{AgentRuntime, PromptPack, Provider, ToolRegistry};
use omnia_operator::controller::mappers;
use omnia_operator::reconcile::dependency::{reconcile_pack, reconcile_provider, reconcile_tools};
use serde_json::{Value, json};

fn pack(version: &str) -> Value {
    json!({"apiVersion": "omnia.altairalabs.ai/v1alpha1", "kind": "PromptPack",
           "metadata": {"name": "pack", "namespace": NS, "generation": 3},
           "spec": {"source": {"type": "configmap", "configMapRef": {"name": "pack-json"}},
                    "version": version}})
}

fn pack_source(document: &Value) -> World {
    let mut world = World::default();
    world.objects.insert(
        format!("{CORE}/configmaps/pack-json"),
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "pack-json", "namespace": NS},
               "data": {"pack.json": document.to_string()}}),
    );
    world
}

fn valid_pack() -> Value {
    json!({"id": "p", "name": "P", "version": "1.0.0",
           "template_engine": {"version": "v1", "syntax": "{{variable}}"},
           "prompts": {"default": {"id": "default", "name": "D", "version": "1.0.0",
                                   "system_template": "Be brief."}}})
}

#[tokio::test]
async fn a_valid_pack_is_active() {
    let path = format!("{OMNIA}/promptpacks/pack");
    let (result, seen) = run::<PromptPack, _, _>(
        pack_source(&valid_pack()),
        path.clone(),
        pack("1.0.0"),
        reconcile_pack,
    )
    .await;
    result.unwrap();
    assert_eq!(
        lines(&seen),
        [
            format!("GET {CORE}/configmaps/pack-json"),
            format!("PATCH {path}/status")
        ]
    );
    let status = &seen[1].body["status"];
    assert_eq!(status["phase"], "Active");
    assert_eq!(status["activeVersion"], "1.0.0");
    assert_eq!(status["observedGeneration"], 3);
    assert_eq!(condition(&seen[1], "Ready")["status"], "True");
}

#[tokio::test]
async fn a_pack_that_breaks_the_schema_fails_with_the_path() {
    let mut broken = valid_pack();
    broken["prompts"]["default"]
        .as_object_mut()
        .unwrap()
        .remove("system_template");
    let path = format!("{OMNIA}/promptpacks/pack");
    let (result, seen) =
        run::<PromptPack, _, _>(pack_source(&broken), path, pack("1.0.0"), reconcile_pack).await;
    result.unwrap();
    let status = seen.last().unwrap();
    assert_eq!(status.body["status"]["phase"], "Failed");
    assert!(status.body["status"].get("activeVersion").is_none());
    let ready = condition(status, "Ready");
    assert_eq!(ready["reason"], "SchemaInvalid");
    let message = ready["message"].as_str().unwrap();
    assert!(
        message.contains("/prompts/default") && message.contains("system_template"),
        "{message}"
    );
}

#[tokio::test]
async fn a_pack_whose_configmap_is_missing_names_it() {
    let path = format!("{OMNIA}/promptpacks/pack");
    let (result, seen) =
        run::<PromptPack, _, _>(World::default(), path, pack("1.0.0"), reconcile_pack).await;
    result.unwrap();
    let ready = condition(seen.last().unwrap(), "Ready");
    assert_eq!(ready["reason"], "SourceNotFound");
    assert!(ready["message"].as_str().unwrap().contains("`pack-json`"));
}

#[tokio::test]
async fn an_unchanged_status_is_not_written_again() {
    let path = format!("{OMNIA}/promptpacks/pack");
    let (_, first) = run::<PromptPack, _, _>(
        pack_source(&valid_pack()),
        path.clone(),
        pack("1.0.0"),
        reconcile_pack,
    )
    .await;
    let mut settled = pack("1.0.0");
    settled["status"] = first[1].body["status"].clone();
    let (result, second) =
        run::<PromptPack, _, _>(pack_source(&valid_pack()), path, settled, reconcile_pack).await;
    result.unwrap();
    assert_eq!(lines(&second), [format!("GET {CORE}/configmaps/pack-json")]);
}

fn provider(key: Option<&str>) -> Value {
    let mut secret_ref = json!({"name": "openai"});
    if let Some(key) = key {
        secret_ref["key"] = json!(key);
    }
    json!({"apiVersion": "omnia.altairalabs.ai/v1alpha1", "kind": "Provider",
           "metadata": {"name": "gpt", "namespace": NS},
           "spec": {"type": "openai", "model": "gpt-4o", "credential": {"secretRef": secret_ref}}})
}

fn with_secret() -> World {
    let mut world = World::default();
    world.objects.insert(
        format!("{CORE}/secrets/openai"),
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "openai", "namespace": NS},
               "data": {"OPENAI_API_KEY": "c2stMQ=="}}),
    );
    world
}

#[tokio::test]
async fn a_provider_is_ready_when_its_secret_has_the_key() {
    let path = format!("{OMNIA}/providers/gpt");
    let (result, seen) = run::<Provider, _, _>(
        with_secret(),
        path.clone(),
        provider(Some("OPENAI_API_KEY")),
        reconcile_provider,
    )
    .await;
    result.unwrap();
    assert_eq!(
        lines(&seen),
        [
            format!("GET {CORE}/secrets/openai"),
            format!("PATCH {path}/status")
        ]
    );
    assert_eq!(seen[1].body["status"]["phase"], "Ready");
}

#[tokio::test]
async fn a_provider_without_its_secret_or_key_is_in_error() {
    let path = format!("{OMNIA}/providers/gpt");
    let (_, seen) = run::<Provider, _, _>(
        World::default(),
        path.clone(),
        provider(None),
        reconcile_provider,
    )
    .await;
    let status = seen.last().unwrap();
    assert_eq!(status.body["status"]["phase"], "Error");
    assert_eq!(condition(status, "Ready")["reason"], "SecretNotFound");

    let (_, seen) = run::<Provider, _, _>(
        with_secret(),
        path,
        provider(Some("api-key")),
        reconcile_provider,
    )
    .await;
    let ready = condition(seen.last().unwrap(), "Ready");
    assert_eq!(ready["reason"], "SecretKeyNotFound");
    assert!(ready["message"].as_str().unwrap().contains("`api-key`"));
}

#[tokio::test]
async fn a_tool_registry_checks_its_handlers_secrets() {
    let tools = json!({"apiVersion": "omnia.altairalabs.ai/v1alpha1", "kind": "ToolRegistry",
        "metadata": {"name": "tools", "namespace": NS},
        "spec": {"handlers": [{"name": "weather", "type": "http",
            "tool": {"name": "weather", "description": "d", "inputSchema": {"type": "object"}},
            "httpConfig": {"endpoint": "http://weather/api", "authType": "bearer",
                           "authSecretRef": {"name": "openai", "key": "token"}}}]}});
    let path = format!("{OMNIA}/toolregistries/tools");
    let (_, seen) = run::<ToolRegistry, _, _>(with_secret(), path, tools, reconcile_tools).await;
    let status = seen.last().unwrap();
    assert_eq!(status.body["status"]["phase"], "Error");
    assert_eq!(condition(status, "Ready")["reason"], "SecretKeyNotFound");
}

fn store(agents: &[Value]) -> kube::runtime::reflector::Store<AgentRuntime> {
    let mut writer = Writer::<AgentRuntime>::default();
    for agent in agents {
        let agent: AgentRuntime = serde_json::from_value(agent.clone()).unwrap();
        writer.apply_watcher_event(&watcher::Event::Apply(agent));
    }
    writer.as_reader()
}

fn agent(name: &str, namespace: &str, spec: Value) -> Value {
    json!({"apiVersion": "omnia.altairalabs.ai/v1alpha1", "kind": "AgentRuntime",
           "metadata": {"name": name, "namespace": namespace}, "spec": spec})
}

fn names(refs: Vec<kube::runtime::reflector::ObjectRef<AgentRuntime>>) -> Vec<String> {
    let mut names: Vec<String> = refs.into_iter().map(|r| r.name).collect();
    names.sort();
    names
}

#[test]
fn a_change_reaches_exactly_the_agents_that_reference_it() {
    let store = store(&[
        agent(
            "a",
            NS,
            json!({"promptPackRef": {"name": "pack"},
            "providers": [{"name": "default", "providerRef": {"name": "gpt"}}],
            "toolRegistryRef": {"name": "tools"}}),
        ),
        agent(
            "b",
            NS,
            json!({"promptPackRef": {"name": "pack"}, "providerRef": {"name": "claude"}}),
        ),
        agent("c", NS, json!({"promptPackRef": {"name": "other"}})),
        agent(
            "d",
            "elsewhere",
            json!({"promptPackRef": {"name": "pack"},
            "providers": [{"name": "default", "providerRef": {"name": "gpt", "namespace": NS}}]}),
        ),
    ]);
    assert_eq!(names(mappers::prompt_pack(&store, "pack", NS)), ["a", "b"]);
    assert_eq!(
        names(mappers::prompt_pack(&store, "pack", "elsewhere")),
        ["d"]
    );
    assert_eq!(names(mappers::provider(&store, "gpt", NS)), ["a", "d"]);
    assert_eq!(names(mappers::provider(&store, "claude", NS)), ["b"]);
    assert_eq!(names(mappers::tool_registry(&store, "tools", NS)), ["a"]);
    assert!(mappers::tool_registry(&store, "tools", "elsewhere").is_empty());
    assert_eq!(names(mappers::secret(&store, NS)), ["a", "b", "c"]);
    assert_eq!(names(mappers::config_map(&store, "elsewhere")), ["d"]);
}
