//! ToolRegistry: every Omnia field loads, Omnia's defaults and rules apply, auth Secrets are
//! read (and never printed), agents get the registry they reference.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::json;

use super::{FUNCTION, fixture};
use crate::{
    ConfigError, GrpcRetryPolicy, HandlerKind, HttpRetryPolicy, McpRetryPolicy, McpTransport,
    ResolvedConfig, ToolAuth, ToolRegistry, load, load_str,
};

/// A ToolRegistry `tools` with one handler of each type, every field set on some handler.
const FULL: &str = r#"---
apiVersion: omnia.altairalabs.ai/v1alpha1
kind: ToolRegistry
metadata: {name: tools}
spec:
  handlers:
    - name: orders
      type: http
      selector: {matchLabels: {app: orders}, namespace: shop, port: http}
      tool:
        name: lookup_order
        description: Look up an order
        inputSchema: {type: object, properties: {order_id: {type: string}}, required: [order_id]}
        outputSchema: {type: object}
      httpConfig:
        endpoint: http://orders.shop.svc
        method: get
        headers: {X-Team: shop}
        contentType: application/x-www-form-urlencoded
        authType: bearer
        authSecretRef: {name: tool-creds, key: token}
        queryParams: [order_id]
        headerParams: {X-Customer-ID: "{{.customer_id}}"}
        staticQuery: {v: "2"}
        staticBody: {source: agent}
        bodyMapping: "{id: order_id}"
        responseMapping: "items[0]"
        redact: [ssn]
        urlTemplate: "/orders/{{.order_id}}"
        retryPolicy: {maxAttempts: 3}
      timeout: 5s
    - name: petstore
      type: openapi
      openAPIConfig:
        specURL: http://pets/openapi.json
        baseURL: http://pets/v2
        operationFilter: [listPets]
        headers: {X-Trace: "1"}
        authType: basic
        authSecretRef: {name: tool-creds, key: basic}
        retryPolicy:
          maxAttempts: 2
          initialBackoff: 1s
          backoffMultiplier: "1.5"
          maxBackoff: 10s
          retryOn: []
          retryOnNetworkError: false
          respectRetryAfter: false
    - name: inventory
      type: grpc
      tool: {name: check_stock, description: Check stock, inputSchema: {type: object}}
      grpcConfig:
        endpoint: inventory:9090
        tls: true
        tlsCertPath: /certs/tls.crt
        tlsKeyPath: /certs/tls.key
        tlsCAPath: /certs/ca.crt
        tlsInsecureSkipVerify: true
        retryPolicy: {maxAttempts: 4, retryableStatusCodes: [UNAVAILABLE]}
    - name: files
      type: mcp
      mcpConfig:
        transport: stdio
        command: mcp-files
        args: [--root, /data]
        workDir: /data
        env: {LOG: debug}
        toolFilter: {allowlist: [read], blocklist: [delete]}
        retryPolicy: {maxAttempts: 2, backoffMultiplier: 3}
    - name: location
      type: client
      tool: {name: get_location, description: Where the user is, inputSchema: {type: object}}
      clientConfig: {consentMessage: Share your location?, categories: [location]}
status:
  phase: Ready
  discoveredToolsCount: 3
---
apiVersion: v1
kind: Secret
metadata: {name: tool-creds}
stringData: {token: tok-bearer-123, basic: "ana:s3cret-pw", key: k-apikey-456}
"#;

/// [`FUNCTION`] referencing ToolRegistry `tools`.
fn with_tools() -> String {
    format!("{FUNCTION}  toolRegistryRef: {{name: tools}}\n")
}

fn load_full() -> ResolvedConfig {
    super::load_agent(&with_tools(), FULL).unwrap_or_else(|e| panic!("expected success: {e}"))
}

fn registry(config: &ResolvedConfig) -> &ToolRegistry {
    config.agents[0].tools.as_ref().expect("agent has tools")
}

/// Loads a ToolRegistry `tools` whose `spec.handlers` is `handlers` (flow YAML), with the
/// `tool-creds` Secret, referenced by the agent; expects an error at the registry.
fn registry_error(handlers: &str) -> ConfigError {
    let extra = format!(
        "---\napiVersion: omnia.altairalabs.ai/v1alpha1\nkind: ToolRegistry\n\
         metadata: {{name: tools}}\nspec: {{handlers: {handlers}}}\n---\napiVersion: v1\n\
         kind: Secret\nmetadata: {{name: tool-creds}}\nstringData: {{token: t, plain: nocolon}}\n"
    );
    let e = super::agent_error(&with_tools(), &extra);
    assert_eq!(e.object.as_deref(), Some("ToolRegistry tools"), "{e}");
    e
}

/// An http handler with `config` added to its httpConfig (flow YAML fields).
fn http(config: &str) -> String {
    format!(
        "[{{name: h, type: http, tool: {{name: t, description: d, inputSchema: {{type: object}}}}, \
         httpConfig: {{endpoint: 'http://x'{config}}}}}]"
    )
}

#[test]
fn a_full_registry_resolves_with_defaults_applied() {
    let config = load_full();
    let tools = registry(&config);
    assert_eq!(tools.name, "tools");
    assert_eq!(tools.namespace, "default");
    let names: Vec<&str> = tools.handlers.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(
        names,
        ["orders", "petstore", "inventory", "files", "location"]
    );

    let orders = &tools.handlers[0];
    assert_eq!(orders.timeout, Duration::from_secs(5));
    let tool = orders.tool.as_ref().unwrap();
    assert_eq!(tool.name, "lookup_order");
    assert_eq!(tool.description, "Look up an order");
    assert_eq!(tool.input_schema["required"], json!(["order_id"]));
    assert_eq!(tool.output_schema, Some(json!({"type": "object"})));
    let HandlerKind::Http(h) = &orders.kind else {
        panic!("{:?}", orders.kind)
    };
    assert_eq!(h.endpoint, "http://orders.shop.svc");
    assert_eq!(h.method, "GET");
    assert_eq!(h.headers["X-Team"], "shop");
    assert_eq!(h.content_type, "application/x-www-form-urlencoded");
    assert_eq!(h.query_params, ["order_id"]);
    assert_eq!(h.header_params["X-Customer-ID"], "{{.customer_id}}");
    assert_eq!(h.static_query["v"], "2");
    assert_eq!(h.static_body, Some(json!({"source": "agent"})));
    assert_eq!(h.body_mapping.as_deref(), Some("{id: order_id}"));
    assert_eq!(h.response_mapping.as_deref(), Some("items[0]"));
    assert_eq!(h.redact, ["ssn"]);
    assert_eq!(h.url_template.as_deref(), Some("/orders/{{.order_id}}"));
    assert_eq!(
        h.retry,
        Some(HttpRetryPolicy {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(100),
            backoff_multiplier: 2.0,
            max_backoff: Duration::from_secs(30),
            retry_on: vec![408, 429, 500, 502, 503, 504],
            retry_on_network_error: true,
            respect_retry_after: true,
        })
    );

    let petstore = &tools.handlers[1];
    assert_eq!(petstore.timeout, Duration::from_secs(30));
    assert_eq!(petstore.tool, None);
    let HandlerKind::OpenApi(o) = &petstore.kind else {
        panic!("{:?}", petstore.kind)
    };
    assert_eq!(o.spec_url, "http://pets/openapi.json");
    assert_eq!(o.base_url.as_deref(), Some("http://pets/v2"));
    assert_eq!(o.operation_filter, ["listPets"]);
    assert_eq!(o.headers["X-Trace"], "1");
    assert_eq!(
        o.retry,
        Some(HttpRetryPolicy {
            max_attempts: 2,
            initial_backoff: Duration::from_secs(1),
            backoff_multiplier: 1.5,
            max_backoff: Duration::from_secs(10),
            retry_on: vec![],
            retry_on_network_error: false,
            respect_retry_after: false,
        })
    );

    let inventory = &tools.handlers[2];
    assert_eq!(inventory.tool.as_ref().unwrap().name, "check_stock");
    let HandlerKind::Grpc(g) = &inventory.kind else {
        panic!("{:?}", inventory.kind)
    };
    assert_eq!(g.endpoint, "inventory:9090");
    assert!(g.tls && g.tls_insecure_skip_verify);
    assert_eq!(g.tls_cert_path, Some(PathBuf::from("/certs/tls.crt")));
    assert_eq!(g.tls_key_path, Some(PathBuf::from("/certs/tls.key")));
    assert_eq!(g.tls_ca_path, Some(PathBuf::from("/certs/ca.crt")));
    assert_eq!(
        g.retry,
        Some(GrpcRetryPolicy {
            max_attempts: 4,
            initial_backoff: Duration::from_millis(100),
            backoff_multiplier: 2.0,
            max_backoff: Duration::from_secs(30),
            retryable_status_codes: vec!["UNAVAILABLE".into()],
        })
    );

    let HandlerKind::Mcp(m) = &tools.handlers[3].kind else {
        panic!("{:?}", tools.handlers[3].kind)
    };
    assert_eq!(m.transport, McpTransport::Stdio);
    assert_eq!(m.command.as_deref(), Some("mcp-files"));
    assert_eq!(m.endpoint, None);
    assert_eq!(m.args, ["--root", "/data"]);
    assert_eq!(m.work_dir, Some(PathBuf::from("/data")));
    assert_eq!(m.env["LOG"], "debug");
    assert_eq!(m.allowlist, ["read"]);
    assert_eq!(m.blocklist, ["delete"]);
    assert_eq!(
        m.retry,
        Some(McpRetryPolicy {
            max_attempts: 2,
            initial_backoff: Duration::from_millis(100),
            backoff_multiplier: 3.0,
            max_backoff: Duration::from_secs(30),
        })
    );

    let location = &tools.handlers[4];
    assert_eq!(location.tool.as_ref().unwrap().name, "get_location");
    let HandlerKind::Client(c) = &location.kind else {
        panic!("{:?}", location.kind)
    };
    assert_eq!(c.consent_message, "Share your location?");
    assert_eq!(c.categories, ["location"]);
}

#[test]
fn grpc_retry_defaults_and_minimal_handlers() {
    let extra = "---\napiVersion: omnia.altairalabs.ai/v1alpha1\nkind: ToolRegistry\n\
                 metadata: {name: tools}\nspec:\n  handlers:\n\
                 \x20   - {name: g, type: grpc, tool: {name: g, description: d, inputSchema: true}, \
                 grpcConfig: {endpoint: 'g:1', retryPolicy: {maxAttempts: 1}}}\n\
                 \x20   - {name: c, type: client}\n\
                 \x20   - {name: s, type: mcp, mcpConfig: {transport: streamable-http, endpoint: 'http://m'}}\n";
    let agent = super::agent_ok(&with_tools(), extra);
    let tools = agent.tools.unwrap();
    let HandlerKind::Grpc(g) = &tools.handlers[0].kind else {
        panic!()
    };
    assert!(!g.tls);
    let retry = g.retry.as_ref().unwrap();
    assert_eq!(
        retry.retryable_status_codes,
        ["UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED"]
    );
    assert_eq!(
        tools.handlers[1].kind,
        HandlerKind::Client(crate::ClientToolConfig::default())
    );
    assert_eq!(tools.handlers[1].tool, None);
    let HandlerKind::Mcp(m) = &tools.handlers[2].kind else {
        panic!()
    };
    assert_eq!(m.transport, McpTransport::StreamableHttp);
    assert_eq!(m.retry, None);
}

#[test]
fn auth_secrets_are_resolved_and_never_printed() {
    let config = load_full();
    let tools = registry(&config);
    let HandlerKind::Http(h) = &tools.handlers[0].kind else {
        panic!()
    };
    let Some(ToolAuth::Bearer(token)) = &h.auth else {
        panic!("{:?}", h.auth)
    };
    assert_eq!(token.expose(), "tok-bearer-123");
    let HandlerKind::OpenApi(o) = &tools.handlers[1].kind else {
        panic!()
    };
    let Some(ToolAuth::Basic { user, password }) = &o.auth else {
        panic!("{:?}", o.auth)
    };
    assert_eq!(user, "ana");
    assert_eq!(password.expose(), "s3cret-pw");

    let api_key = FULL.replace(
        "authType: bearer\n        authSecretRef: {name: tool-creds, key: token}",
        "authType: api-key\n        authSecretRef: {name: tool-creds, key: key}",
    );
    let config = super::load_agent(&with_tools(), &api_key).unwrap();
    let HandlerKind::Http(h) = &registry(&config).handlers[0].kind else {
        panic!()
    };
    let Some(ToolAuth::ApiKeyHeader { header, value }) = &h.auth else {
        panic!("{:?}", h.auth)
    };
    assert_eq!(header, "X-API-Key");
    assert_eq!(value.expose(), "k-apikey-456");

    for config in [load_full(), config] {
        let debug = format!("{config:?}");
        for secret in ["tok-bearer-123", "s3cret-pw", "k-apikey-456"] {
            assert!(!debug.contains(secret), "{secret} printed");
        }
    }
}

#[test]
fn no_auth_type_or_none_means_no_auth() {
    let extra = "---\napiVersion: omnia.altairalabs.ai/v1alpha1\nkind: ToolRegistry\n\
                 metadata: {name: tools}\nspec: {handlers: [\
                 {name: a, type: openapi, openAPIConfig: {specURL: 'http://s'}}, \
                 {name: b, type: openapi, openAPIConfig: {specURL: 'http://s', authType: none}}]}\n";
    let tools = super::agent_ok(&with_tools(), extra).tools.unwrap();
    for handler in &tools.handlers {
        let HandlerKind::OpenApi(o) = &handler.kind else {
            panic!()
        };
        assert_eq!(o.auth, None);
        assert_eq!(o.retry, None);
    }
}

#[test]
fn each_validation_error_names_its_field() {
    let h0 = "spec.handlers[0]";
    let cases: Vec<(String, String, &str)> = vec![
        ("[]".into(), "spec.handlers".into(), "at least one handler"),
        (
            "[{name: c, type: client}, {name: c, type: client}]".into(),
            "spec.handlers[1].name".into(),
            "duplicate handler name `c`",
        ),
        (
            "[{name: Bad_Name, type: client}]".into(),
            format!("{h0}.name"),
            "not a DNS-1123 label",
        ),
        (
            "[{name: c, type: ftp}]".into(),
            format!("{h0}.type"),
            "unknown variant `ftp`",
        ),
        (
            "[{name: h, type: http, tool: {name: t, description: d, inputSchema: {}}}]".into(),
            format!("{h0}.httpConfig"),
            "required when type is http",
        ),
        (
            "[{name: c, type: client, grpcConfig: {endpoint: 'x:1'}}]".into(),
            format!("{h0}.grpcConfig"),
            "only allowed when type is grpc; this handler's type is client",
        ),
        (
            "[{name: h, type: http, httpConfig: {endpoint: 'http://x'}}]".into(),
            format!("{h0}.tool"),
            "required when type is http",
        ),
        (
            "[{name: g, type: grpc, grpcConfig: {endpoint: 'x:1'}}]".into(),
            format!("{h0}.tool"),
            "required when type is grpc",
        ),
        (
            "[{name: c, type: client, tool: {name: Lookup, description: d, inputSchema: {}}}]"
                .into(),
            format!("{h0}.tool.name"),
            "must match ^[a-z][a-z0-9_]*$",
        ),
        (
            format!(
                "[{{name: c, type: client, tool: {{name: {}, description: d, inputSchema: {{}}}}}}]",
                "a".repeat(65)
            ),
            format!("{h0}.tool.name"),
            "at most 64 characters",
        ),
        (
            "[{name: c, type: client, tool: {name: t, description: d, inputSchema: {type: 12}}}]"
                .into(),
            format!("{h0}.tool.inputSchema"),
            "not a valid JSON Schema",
        ),
        (
            "[{name: a, type: client, tool: {name: t, description: d, inputSchema: {}}}, \
             {name: b, type: client, tool: {name: t, description: d, inputSchema: {}}}]"
                .into(),
            "spec.handlers[1].tool.name".into(),
            "duplicate tool name `t`",
        ),
        (
            "[{name: c, type: client, timeout: soon}]".into(),
            format!("{h0}.timeout"),
            "invalid duration `soon`",
        ),
        (
            "[{name: c, type: client, timeout: 0s}]".into(),
            format!("{h0}.timeout"),
            "greater than 0",
        ),
        (
            http(", bogus: 1"),
            format!("{h0}.httpConfig.bogus"),
            "unknown field `bogus`",
        ),
        (
            http(", method: FETCH"),
            format!("{h0}.httpConfig.method"),
            "unknown HTTP method `FETCH`",
        ),
        (
            http(", retryPolicy: {maxAttempts: 0}"),
            format!("{h0}.httpConfig.retryPolicy.maxAttempts"),
            "must be between 1 and 10",
        ),
        (
            http(", retryPolicy: {maxAttempts: 11}"),
            format!("{h0}.httpConfig.retryPolicy.maxAttempts"),
            "must be between 1 and 10",
        ),
        (
            http(", retryPolicy: {maxAttempts: 2, backoffMultiplier: '0.5'}"),
            format!("{h0}.httpConfig.retryPolicy.backoffMultiplier"),
            "below 1",
        ),
        (
            http(", retryPolicy: {maxAttempts: 2, initialBackoff: 2s, maxBackoff: 1s}"),
            format!("{h0}.httpConfig.retryPolicy.maxBackoff"),
            "below initialBackoff",
        ),
        (
            http(", retryPolicy: {maxAttempts: 2, retryOn: [503, 99]}"),
            format!("{h0}.httpConfig.retryPolicy.retryOn[1]"),
            "99 is not an HTTP status code",
        ),
        (
            "[{name: g, type: grpc, tool: {name: t, description: d, inputSchema: {}}, \
             grpcConfig: {endpoint: 'x:1', retryPolicy: {maxAttempts: 2, \
             retryableStatusCodes: [NOPE]}}}]"
                .into(),
            format!("{h0}.grpcConfig.retryPolicy.retryableStatusCodes[0]"),
            "`NOPE` is not a gRPC status code name",
        ),
        (
            "[{name: m, type: mcp, mcpConfig: {transport: sse}}]".into(),
            format!("{h0}.mcpConfig.endpoint"),
            "required when transport is sse",
        ),
        (
            "[{name: m, type: mcp, mcpConfig: {transport: streamable-http}}]".into(),
            format!("{h0}.mcpConfig.endpoint"),
            "required when transport is streamable-http",
        ),
        (
            "[{name: m, type: mcp, mcpConfig: {transport: stdio, endpoint: 'http://m'}}]".into(),
            format!("{h0}.mcpConfig.command"),
            "required when transport is stdio",
        ),
        (
            "[{name: m, type: mcp, mcpConfig: {transport: stdio, command: x, \
             retryPolicy: {maxAttempts: 12}}}]"
                .into(),
            format!("{h0}.mcpConfig.retryPolicy.maxAttempts"),
            "must be between 1 and 10",
        ),
        (
            http(", authType: oauth"),
            format!("{h0}.httpConfig.authType"),
            "unknown authType `oauth`: expected none, bearer, basic or api-key",
        ),
        (
            http(", authType: bearer"),
            format!("{h0}.httpConfig.authSecretRef"),
            "required when authType is bearer",
        ),
        (
            http(", authSecretRef: {name: tool-creds, key: token}"),
            format!("{h0}.httpConfig.authSecretRef"),
            "set, but authType is none",
        ),
        (
            http(", authType: bearer, authSecretRef: {name: tool-creds}"),
            format!("{h0}.httpConfig.authSecretRef"),
            "missing field `key`",
        ),
        (
            http(", authType: bearer, authSecretRef: {name: nope, key: token}"),
            format!("{h0}.httpConfig.authSecretRef.name"),
            "Secret `default/nope` not found",
        ),
        (
            http(", authType: api-key, authSecretRef: {name: tool-creds, key: other}"),
            format!("{h0}.httpConfig.authSecretRef.key"),
            "Secret `default/tool-creds` has no key `other` (its keys: plain, token)",
        ),
        (
            http(", authType: basic, authSecretRef: {name: tool-creds, key: plain}"),
            format!("{h0}.httpConfig.authSecretRef.key"),
            "must hold `user:password`",
        ),
        (
            "[{name: o, type: openapi, openAPIConfig: {specURL: 'http://s', authType: basic, \
             authSecretRef: {name: gone, key: k}}}]"
                .into(),
            format!("{h0}.openAPIConfig.authSecretRef.name"),
            "Secret `default/gone` not found",
        ),
    ];
    for (handlers, field, reason) in cases {
        let e = registry_error(&handlers);
        assert_eq!(e.field_path(), Some(field.as_str()), "{handlers}: {e}");
        assert!(e.reason().contains(reason), "{handlers}: {e}");
    }
}

#[test]
fn a_basic_auth_error_does_not_print_the_value() {
    let e = registry_error(&http(
        ", authType: basic, authSecretRef: {name: tool-creds, key: plain}",
    ));
    assert!(!e.to_string().contains("nocolon"), "{e}");
}

#[test]
fn a_bad_registry_fails_even_when_no_agent_references_it() {
    let extra = "---\napiVersion: omnia.altairalabs.ai/v1alpha1\nkind: ToolRegistry\n\
                 metadata: {name: unused}\nspec: {handlers: [{name: h, type: http}]}\n";
    let e = super::agent_error(FUNCTION, extra);
    assert_eq!(e.object.as_deref(), Some("ToolRegistry unused"));
    assert_eq!(e.field_path(), Some("spec.handlers[0].httpConfig"));
}

#[test]
fn secrets_are_looked_up_in_the_registry_namespace() {
    // The registry lives in `tools-ns`; its Secret must too.
    let text = super::manifest(
        &format!("{FUNCTION}  toolRegistryRef: {{name: tools, namespace: tools-ns}}\n"),
        &FULL.replace(
            "metadata: {name: tools}",
            "metadata: {name: tools, namespace: tools-ns}",
        ),
    );
    let e = load_str("test.yaml", &text).unwrap_err();
    assert_eq!(
        e.field_path(),
        Some("spec.handlers[0].httpConfig.authSecretRef.name")
    );
    assert_eq!(e.reason(), "Secret `tools-ns/tool-creds` not found");
    let text = text.replace(
        "metadata: {name: tool-creds}",
        "metadata: {name: tool-creds, namespace: tools-ns}",
    );
    let config = load_str("test.yaml", &text).unwrap();
    let tools = registry(&config);
    assert_eq!(tools.namespace, "tools-ns");
    assert_eq!(config.agents[0].namespace, "default");
}

#[test]
fn an_agent_without_a_reference_has_no_tools() {
    assert_eq!(super::agent_ok(FUNCTION, FULL).tools, None);
}

#[test]
fn a_missing_registry_is_an_error_naming_it_and_the_namespace() {
    let e = super::agent_error(
        &format!("{FUNCTION}  toolRegistryRef: {{name: tools, namespace: elsewhere}}\n"),
        FULL,
    );
    assert_eq!(e.object.as_deref(), Some("AgentRuntime a"));
    assert_eq!(e.field_path(), Some("spec.toolRegistryRef.name"));
    assert_eq!(
        e.reason(),
        "ToolRegistry `tools` not found in namespace `elsewhere`"
    );
}

#[test]
fn inert_fields_are_listed() {
    let config = load_full();
    let notices: Vec<&str> = config.notices.iter().map(|n| n.message.as_str()).collect();
    let registry = notices
        .iter()
        .find(|n| n.contains("(ToolRegistry tools)"))
        .unwrap_or_else(|| panic!("{notices:#?}"));
    assert!(
        registry.ends_with(": accepted, not yet acted on: status, spec.handlers[0].selector"),
        "{registry}"
    );
    // The reference itself is acted on now.
    assert!(
        notices.iter().all(|n| !n.contains("spec.toolRegistryRef")),
        "{notices:#?}"
    );
}

#[test]
fn a_registry_of_acted_on_fields_gets_no_notice() {
    let extra = "---\napiVersion: omnia.altairalabs.ai/v1alpha1\nkind: ToolRegistry\n\
                 metadata: {name: tools}\nspec: {handlers: [{name: c, type: client}]}\n";
    let config = super::load_agent(&with_tools(), extra).unwrap();
    assert!(
        config
            .notices
            .iter()
            .all(|n| !n.message.contains("ToolRegistry")),
        "{:#?}",
        config.notices
    );
}

#[test]
fn fixture_registries_resolve() {
    let config = load(&[fixture("production-agent.yaml")]).unwrap();
    let tools = config.agents[0].tools.as_ref().unwrap();
    assert_eq!(
        (tools.name.as_str(), tools.namespace.as_str()),
        ("service-tools", "agents")
    );
    assert_eq!(
        tools.handlers[0].tool.as_ref().unwrap().name,
        "lookup_order"
    );
    let config = load(&[fixture("omnia/agent.yaml")]).unwrap();
    let agent = config.agent("support-agent").unwrap();
    let tools = agent.tools.as_ref().unwrap();
    assert_eq!(tools.name, "support-tools");
    let HandlerKind::Http(h) = &tools.handlers[0].kind else {
        panic!()
    };
    assert_eq!(h.method, "POST");
    assert_eq!(h.auth, None);
}
