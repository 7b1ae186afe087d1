#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The deploy/ tree renders valid Kubernetes objects: the Helm chart (default values, and values
//! that turn its optional parts off) and the kustomize base are rendered by the real `helm` and
//! `kubectl kustomize`, every object is checked by `kubernetes-validate --strict` against the
//! Kubernetes API schemas, and the operator's Deployment, RBAC and CRDs are what the operator
//! and the security model need. No cluster is involved: what the API server's admission would
//! add (defaults, webhooks, CRD CEL rules) is not checked here.
//!
//! The tools come from the pinned virtualenv `$OMNIA_PYENV` (default `~/.cache/omnia-rs/pyenv`)
//! that `./test.sh` sets up; a missing tool fails the test.

mod tools;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::{Value, json};
use tools::{output, repo, tool, validate};

/// The files `crdgen` writes to deploy/crds/ (`{plural}.{group}.yaml`).
const CRD_FILES: [&str; 4] = [
    "agentruntimes.omnia.altairalabs.ai.yaml",
    "promptpacks.omnia.altairalabs.ai.yaml",
    "providers.omnia.altairalabs.ai.yaml",
    "toolregistries.omnia.altairalabs.ai.yaml",
];

fn helm_template(extra: &[&str]) -> Vec<Value> {
    let mut args = vec![
        "template",
        "omnia",
        "deploy/helm/omnia",
        "--namespace",
        "omnia-system",
        "--include-crds",
    ];
    args.extend_from_slice(extra);
    let yaml = output(&tool("helm"), &args);
    validate(&format!("helm template {}", extra.join(" ")), &yaml)
}

fn kustomize_base() -> Vec<Value> {
    let yaml = output(&tool("kubectl"), &["kustomize", "deploy/kustomize/base"]);
    validate("kubectl kustomize deploy/kustomize/base", &yaml)
}

fn find<'a>(objects: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objects.iter().filter(|o| o["kind"] == kind).collect()
}

fn one<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    let found = find(objects, kind);
    assert_eq!(found.len(), 1, "expected one {kind}, found {}", found.len());
    found[0]
}

fn kinds(objects: &[Value]) -> BTreeMap<String, usize> {
    let mut kinds = BTreeMap::new();
    for object in objects {
        *kinds
            .entry(object["kind"].as_str().unwrap().to_owned())
            .or_insert(0) += 1;
    }
    kinds
}

fn yaml_file(path: &Path) -> Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_yaml_ng::from_str(&text).unwrap()
}

/// The CRDs in deploy/crds/, which must be exactly the files crdgen writes.
fn crd_files() -> Vec<Value> {
    let dir = repo().join("deploy/crds");
    let mut found: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name != "kustomization.yaml")
        .collect();
    found.sort();
    assert_eq!(
        found, CRD_FILES,
        "deploy/crds/ must hold exactly the CRDs crdgen writes \
         (`cargo run -p omnia-operator --bin crdgen`) beside kustomization.yaml"
    );
    CRD_FILES
        .iter()
        .map(|name| yaml_file(&dir.join(name)))
        .collect()
}

/// Every CRD file is in `objects`, unchanged, and no other CRD is. Numbers are compared by
/// value: crdgen writes `minimum: 0.0` (the schema type's numbers are floats) and kustomize
/// writes that back as `0`, which the API server reads as the same number.
fn assert_crds(what: &str, objects: &[Value]) {
    let rendered = find(objects, "CustomResourceDefinition");
    let files = crd_files();
    assert_eq!(rendered.len(), files.len(), "{what}: CRD count");
    for file in &files {
        let name = &file["metadata"]["name"];
        let same = rendered.iter().find(|crd| crd["metadata"]["name"] == *name);
        assert!(
            same.is_some_and(|crd| floats(crd) == floats(file)),
            "{what}: CRD {name} missing or not as in deploy/crds/"
        );
    }
}

/// `value` with every number as a float.
fn floats(value: &Value) -> Value {
    match value {
        Value::Number(n) => json!(n.as_f64().unwrap()),
        Value::Array(items) => items.iter().map(floats).collect(),
        Value::Object(fields) => fields.iter().map(|(k, v)| (k.clone(), floats(v))).collect(),
        other => other.clone(),
    }
}

/// The image reference the chart makes of `.Values.image.<name>` (an empty tag is appVersion).
fn default_image(name: &str) -> String {
    let values = yaml_file(&repo().join("deploy/helm/omnia/values.yaml"));
    let chart = yaml_file(&repo().join("deploy/helm/omnia/Chart.yaml"));
    let image = &values["image"][name];
    let tag = match image["tag"].as_str() {
        Some("") | None => chart["appVersion"].as_str().unwrap(),
        Some(tag) => tag,
    };
    format!("{}:{tag}", image["repository"].as_str().unwrap())
}

fn operator_container(deployment: &Value) -> &Value {
    let containers = deployment["spec"]["template"]["spec"]["containers"]
        .as_array()
        .unwrap();
    assert_eq!(containers.len(), 1, "the operator pod has one container");
    &containers[0]
}

fn env(container: &Value) -> BTreeMap<String, String> {
    container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|var| {
            assert!(
                var.get("valueFrom").is_none(),
                "env {} is not a plain value",
                var["name"]
            );
            (
                var["name"].as_str().unwrap().to_owned(),
                var["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

/// The container runs as 65532, not root, on a read-only root file system, without privilege
/// escalation or capabilities, under the runtime's default seccomp profile.
fn assert_hardened(deployment: &Value) {
    let security = &operator_container(deployment)["securityContext"];
    assert_eq!(security["runAsNonRoot"], true, "{security}");
    assert_eq!(security["runAsUser"], 65532, "{security}");
    assert_eq!(security["readOnlyRootFilesystem"], true, "{security}");
    assert_eq!(security["allowPrivilegeEscalation"], false, "{security}");
    assert_eq!(
        security["capabilities"],
        json!({"drop": ["ALL"]}),
        "{security}"
    );
    assert_eq!(
        security["seccompProfile"]["type"], "RuntimeDefault",
        "{security}"
    );
    assert!(security.get("privileged").is_none_or(|p| p == false));
}

/// Port `metrics` is `port`, and the probes ask it `/readyz` and `/healthz`.
fn assert_probes(deployment: &Value, port: u64) {
    let container = operator_container(deployment);
    assert_eq!(
        container["ports"],
        json!([{"name": "metrics", "containerPort": port, "protocol": "TCP"}])
    );
    assert_eq!(
        container["readinessProbe"]["httpGet"],
        json!({"path": "/readyz", "port": "metrics"})
    );
    assert_eq!(
        container["livenessProbe"]["httpGet"],
        json!({"path": "/healthz", "port": "metrics"})
    );
}

/// The verbs each `(apiGroup, resource)` is granted, over all rules.
fn grants(role: &Value) -> BTreeMap<(String, String), BTreeSet<String>> {
    let mut grants: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for rule in role["rules"].as_array().unwrap() {
        let strings = |key: &str| -> Vec<String> {
            rule[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s.as_str().unwrap().to_owned())
                .collect()
        };
        assert!(
            rule.get("resourceNames").is_none() && rule.get("nonResourceURLs").is_none(),
            "unexpected rule {rule}"
        );
        for group in strings("apiGroups") {
            for resource in strings("resources") {
                grants
                    .entry((group.clone(), resource))
                    .or_default()
                    .extend(strings("verbs"));
            }
        }
    }
    grants
}

/// The `ClusterRole` grants what the operator needs and nothing else: no wildcards, Secrets only
/// read, and write access only to the kinds the operator creates.
fn assert_rbac(role: &Value) {
    let read = ["get", "list", "watch"];
    let manage = [
        "get", "list", "watch", "create", "update", "patch", "delete",
    ];
    let mut expected: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    let mut grant = |group: &str, resources: &[&str], verbs: &[&str]| {
        for resource in resources {
            expected.insert(
                (group.to_owned(), (*resource).to_owned()),
                verbs.iter().map(|v| (*v).to_owned()).collect(),
            );
        }
    };
    let omnia = [
        "agentruntimes",
        "promptpacks",
        "providers",
        "toolregistries",
    ];
    grant(
        "omnia.altairalabs.ai",
        &omnia,
        &["get", "list", "watch", "patch", "update"],
    );
    let status: Vec<String> = omnia.iter().map(|r| format!("{r}/status")).collect();
    let status: Vec<&str> = status.iter().map(String::as_str).collect();
    grant("omnia.altairalabs.ai", &status, &["get", "patch", "update"]);
    grant(
        "omnia.altairalabs.ai",
        &["agentruntimes/finalizers"],
        &["update"],
    );
    grant("", &["configmaps", "services"], &manage);
    grant("", &["secrets", "pods"], &read);
    grant("", &["events"], &["create", "patch"]);
    grant("events.k8s.io", &["events"], &["create", "patch"]);
    grant("apps", &["deployments"], &manage);
    grant("policy", &["poddisruptionbudgets"], &manage);
    grant("autoscaling", &["horizontalpodautoscalers"], &manage);

    let actual = grants(role);
    assert_eq!(actual, expected, "the ClusterRole's grants");
    // Said on its own, since it is the security model's rule: Secrets are read, never written.
    let secrets = &actual[&(String::new(), "secrets".to_owned())];
    assert_eq!(
        secrets.iter().map(String::as_str).collect::<Vec<_>>(),
        ["get", "list", "watch"]
    );
    assert!(
        actual.iter().all(|((group, resource), verbs)| group != "*"
            && resource != "*"
            && !verbs.contains("*")),
        "no wildcard grants"
    );
}

#[test]
fn chart_with_default_values_renders_valid_hardened_objects() {
    let objects = helm_template(&[]);
    assert_eq!(
        kinds(&objects),
        BTreeMap::from(
            [
                ("ClusterRole", 1),
                ("ClusterRoleBinding", 1),
                ("CustomResourceDefinition", 4),
                ("Deployment", 1),
                ("Service", 1),
                ("ServiceAccount", 1),
            ]
            .map(|(k, n)| (k.to_owned(), n))
        ),
        "the chart's objects (deploy/crds/kustomization.yaml must stay out of crds/)"
    );
    assert_crds("helm template", &objects);

    let deployment = one(&objects, "Deployment");
    assert_eq!(deployment["metadata"]["namespace"], "omnia-system");
    assert_hardened(deployment);
    assert_probes(deployment, 8081);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    let container = operator_container(deployment);
    assert_eq!(container["image"], default_image("operator"));
    assert_eq!(
        env(container),
        BTreeMap::from(
            [
                ("OMNIA_GATEWAY_IMAGE", default_image("gateway").as_str()),
                ("OMNIA_RUNTIME_IMAGE", default_image("runtime").as_str()),
                ("OMNIA_TUNER_ENABLED", "true"),
                ("OMNIA_TUNER_INTERVAL", "15s"),
                ("OMNIA_WATCH_NAMESPACE", ""),
                ("OMNIA_OPERATOR_HEALTH_LISTEN", "0.0.0.0:8081"),
                ("RUST_LOG", "info"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
        )
    );

    // The pod runs as the chart's service account, which the binding gives the ClusterRole.
    let account = one(&objects, "ServiceAccount");
    assert_eq!(account["metadata"]["namespace"], "omnia-system");
    assert_eq!(pod["serviceAccountName"], account["metadata"]["name"]);
    let role = one(&objects, "ClusterRole");
    assert_rbac(role);
    let binding = one(&objects, "ClusterRoleBinding");
    assert_eq!(binding["roleRef"]["name"], role["metadata"]["name"]);
    assert_eq!(binding["roleRef"]["kind"], "ClusterRole");
    assert_eq!(
        binding["subjects"],
        json!([{
            "kind": "ServiceAccount",
            "name": account["metadata"]["name"],
            "namespace": "omnia-system",
        }])
    );

    // The Service selects the operator's pods and reaches their metrics port.
    let service = one(&objects, "Service");
    assert_eq!(
        service["spec"]["selector"],
        deployment["spec"]["selector"]["matchLabels"]
    );
    assert_eq!(
        deployment["spec"]["template"]["metadata"]["labels"],
        deployment["spec"]["selector"]["matchLabels"]
    );
    assert_eq!(
        service["spec"]["ports"],
        json!([{"name": "metrics", "port": 8081, "targetPort": "metrics", "protocol": "TCP"}])
    );
}

#[test]
fn chart_values_turn_parts_off_and_reach_the_operator() {
    let objects = helm_template(&[
        "--set",
        "tuner.enabled=false",
        "--set",
        "tuner.interval=1m",
        "--set",
        "rbac.create=false",
        "--set",
        "serviceAccount.create=false",
        "--set",
        "serviceAccount.name=x",
        "--set",
        "watchNamespace=agents",
        "--set",
        "logLevel=info\\,omnia_operator=debug",
        "--set",
        "metrics.port=9090",
        "--set",
        "image.operator.repository=registry.example/omnia-operator",
        "--set",
        "image.operator.tag=1.2.3",
        "--set",
        "image.operator.pullPolicy=Always",
        "--set",
        "image.gateway.tag=9.9.9",
        "--set",
        "image.runtime.repository=registry.example/omnia-runtime",
        "--set",
        "nodeSelector.kubernetes\\.io/os=linux",
        "--set",
        "tolerations[0].key=dedicated,tolerations[0].operator=Exists",
        // --set would make `true` a YAML boolean, which no annotation may be.
        "--set-string",
        "podAnnotations.example/scrape=true",
    ]);
    assert!(find(&objects, "ServiceAccount").is_empty());
    assert!(find(&objects, "ClusterRole").is_empty());
    assert!(find(&objects, "ClusterRoleBinding").is_empty());
    assert_crds("helm template with overrides", &objects);

    let deployment = one(&objects, "Deployment");
    assert_hardened(deployment);
    assert_probes(deployment, 9090);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "x");
    assert_eq!(pod["nodeSelector"], json!({"kubernetes.io/os": "linux"}));
    assert_eq!(
        pod["tolerations"],
        json!([{"key": "dedicated", "operator": "Exists"}])
    );
    assert_eq!(
        deployment["spec"]["template"]["metadata"]["annotations"],
        json!({"example/scrape": "true"})
    );
    let container = operator_container(deployment);
    assert_eq!(container["image"], "registry.example/omnia-operator:1.2.3");
    assert_eq!(container["imagePullPolicy"], "Always");
    let env = env(container);
    let chart = yaml_file(&repo().join("deploy/helm/omnia/Chart.yaml"));
    let app_version = chart["appVersion"].as_str().unwrap();
    assert_eq!(env["OMNIA_GATEWAY_IMAGE"], "omnia-gateway:9.9.9");
    assert_eq!(
        env["OMNIA_RUNTIME_IMAGE"],
        format!("registry.example/omnia-runtime:{app_version}")
    );
    assert_eq!(env["OMNIA_TUNER_ENABLED"], "false");
    assert_eq!(env["OMNIA_TUNER_INTERVAL"], "1m");
    assert_eq!(env["OMNIA_WATCH_NAMESPACE"], "agents");
    assert_eq!(env["OMNIA_OPERATOR_HEALTH_LISTEN"], "0.0.0.0:9090");
    assert_eq!(env["RUST_LOG"], "info,omnia_operator=debug");
    assert_eq!(one(&objects, "Service")["spec"]["ports"][0]["port"], 9090);
}

#[test]
fn kustomize_base_renders_valid_objects_equal_to_the_chart_defaults() {
    let base = kustomize_base();
    let chart = helm_template(&[]);
    assert_eq!(
        kinds(&base),
        BTreeMap::from(
            [
                ("ClusterRole", 1),
                ("ClusterRoleBinding", 1),
                ("CustomResourceDefinition", 4),
                ("Deployment", 1),
                ("Namespace", 1),
                ("Service", 1),
                ("ServiceAccount", 1),
            ]
            .map(|(k, n)| (k.to_owned(), n))
        )
    );
    assert_crds("kubectl kustomize", &base);
    assert_eq!(one(&base, "Namespace")["metadata"]["name"], "omnia-system");
    for kind in ["ServiceAccount", "Deployment", "Service"] {
        assert_eq!(
            one(&base, kind)["metadata"]["namespace"],
            "omnia-system",
            "{kind}"
        );
    }

    // The same RBAC as the chart: rules, in order, and the binding's subject.
    let role = one(&base, "ClusterRole");
    assert_rbac(role);
    assert_eq!(role["rules"], one(&chart, "ClusterRole")["rules"]);
    assert_eq!(
        one(&base, "ClusterRoleBinding")["subjects"],
        one(&chart, "ClusterRoleBinding")["subjects"]
    );
    assert_eq!(
        one(&base, "ServiceAccount")["metadata"]["name"],
        one(&chart, "ServiceAccount")["metadata"]["name"]
    );

    // The same operator pod (env, images, probes, security, resources) and Service.
    let deployment = one(&base, "Deployment");
    assert_hardened(deployment);
    assert_eq!(
        deployment["spec"]["template"]["spec"],
        one(&chart, "Deployment")["spec"]["template"]["spec"]
    );
    assert_eq!(
        deployment["spec"]["selector"],
        one(&chart, "Deployment")["spec"]["selector"]
    );
    assert_eq!(deployment["spec"]["replicas"], 1);
    assert_eq!(
        one(&base, "Service")["spec"],
        one(&chart, "Service")["spec"]
    );
}
