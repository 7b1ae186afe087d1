//! `externalAuth`: client-key Secrets, OIDC and edge trust.

use std::collections::BTreeMap;
use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::{FUNCTION, agent_error, agent_ok, load_agent};
use crate::{JwksSource, NoticeLevel};

const DIGEST: [u8; 32] = [7; 32];

fn with_auth(auth: &str) -> String {
    format!("{FUNCTION}  externalAuth: {auth}\n")
}

/// A client-key Secret for agent `agent` with the given body (`data:` / `stringData:` lines).
fn key_secret(name: &str, agent: &str, body: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  labels:\n    \
         omnia.altairalabs.ai/credential-kind: agent-client-key\n    \
         omnia.altairalabs.ai/agent: {agent}\n{body}\n"
    )
}

/// `data:` lines as Kubernetes stores them: each value base64-encoded once.
fn data(entries: &[(&str, &[u8])]) -> String {
    let mut out = String::from("data:");
    for (key, value) in entries {
        out.push_str(&format!("\n  {key}: {}", STANDARD.encode(value)));
    }
    out
}

/// The warnings of a load, as text.
fn warnings(config: &crate::ResolvedConfig) -> Vec<&str> {
    config
        .notices
        .iter()
        .filter(|n| n.level == NoticeLevel::Warning)
        .map(|n| n.message.as_str())
        .collect()
}

#[test]
fn omnia_key_secret_with_raw_digest_claims_and_expiry_loads() {
    let body = data(&[
        ("keyHash", &DIGEST),
        ("scopes", br#"{"role": "editor", "tenant": "acme"}"#),
        ("expiresAt", b"2030-01-01T00:00:00Z"),
    ]);
    let agent = agent_ok(
        &with_auth("{clientKeys: {}}"),
        &key_secret("agent-a-clientkey-ci", "a", &body),
    );
    let policy = agent.auth.client_keys.unwrap();
    let key = &policy.keys[0];
    assert_eq!(
        key.id, "ci",
        "the id is the name after agent-<agent>-clientkey-"
    );
    assert_eq!(key.secret, "agent-a-clientkey-ci");
    assert_eq!(key.sha256, DIGEST);
    assert_eq!(key.expires_at_unix, Some(1_893_456_000));
    assert_eq!(key.claims["role"], "editor");
    assert_eq!(key.claims["tenant"], "acme");
}

#[test]
fn key_without_claims_gets_the_default_role_viewer() {
    let body = data(&[("keyHash", &DIGEST)]);
    let policy = agent_ok(&with_auth("{clientKeys: {}}"), &key_secret("k", "a", &body))
        .auth
        .client_keys
        .unwrap();
    assert_eq!(policy.default_role, "viewer");
    assert_eq!(
        policy.keys[0].id, "k",
        "a name not in Omnia's pattern is the id"
    );
    assert_eq!(
        policy.keys[0].claims,
        BTreeMap::from([("role".to_owned(), "viewer".to_owned())])
    );
    let spec = with_auth("{clientKeys: {defaultRole: editor, trustEndUserHeader: true}}");
    let policy = agent_ok(&spec, &key_secret("k", "a", &body))
        .auth
        .client_keys
        .unwrap();
    assert!(policy.trust_end_user_header);
    assert_eq!(policy.keys[0].claims["role"], "editor");
}

#[test]
fn malformed_key_secrets_are_left_out_with_a_warning_and_the_others_still_load() {
    let good = key_secret("good", "a", &data(&[("keyHash", &DIGEST)]));
    // Base64 text of the digest, encoded again by `data`: 44 bytes, not the raw digest.
    let text = STANDARD.encode(DIGEST);
    let cases = [
        (
            "double",
            data(&[("keyHash", text.as_bytes())]),
            "data.keyHash",
        ),
        (
            "hex",
            data(&[("keyHash", "07".repeat(32).as_bytes())]),
            "data.keyHash",
        ),
        ("nohash", data(&[("scopes", b"{}")]), "data.keyHash"),
        (
            "words",
            data(&[("keyHash", &DIGEST), ("scopes", b"functions:invoke media")]),
            "data.scopes",
        ),
        (
            "when",
            data(&[("keyHash", &DIGEST), ("expiresAt", b"tomorrow")]),
            "data.expiresAt",
        ),
    ];
    for (name, body, field) in cases {
        let extra = format!("{good}{}", key_secret(name, "a", &body));
        let config = load_agent(&with_auth("{clientKeys: {}}"), &extra).unwrap();
        let keys = &config.agents[0].auth.client_keys.as_ref().unwrap().keys;
        assert_eq!(keys.len(), 1, "{name}: only the good key loads");
        assert_eq!(keys[0].id, "good");
        let warnings = warnings(&config);
        assert_eq!(warnings.len(), 1, "{name}: {warnings:?}");
        assert!(
            warnings[0].contains(&format!("(Secret {name}): {field}:")),
            "{name}: {}",
            warnings[0]
        );
    }
}

#[test]
fn secret_owned_by_another_agent_runtime_uid_is_not_this_agents_key() {
    let owned = |name: &str, uid: &str| {
        key_secret(name, "a", &data(&[("keyHash", &DIGEST)])).replace(
            "  labels:",
            &format!(
                "  ownerReferences:\n  - {{apiVersion: omnia.altairalabs.ai/v1alpha1, \
                 kind: AgentRuntime, name: a, uid: {uid}}}\n  labels:"
            ),
        )
    };
    let extra = format!("{}{}", owned("mine", "uid-a"), owned("planted", "uid-b"));
    let spec = with_auth("{clientKeys: {}}");
    let text = super::manifest(&spec, &extra).replacen(
        "metadata: {name: a}",
        "metadata: {name: a, uid: uid-a}",
        1,
    );
    let config = crate::load_str("test.yaml", &text).unwrap();
    let keys = &config.agents[0].auth.client_keys.as_ref().unwrap().keys;
    let ids: Vec<&str> = keys.iter().map(|k| k.id.as_str()).collect();
    assert_eq!(ids, ["mine"]);
    let warnings = warnings(&config);
    assert!(
        warnings[0].contains("(Secret planted): not a client key of AgentRuntime a"),
        "{warnings:?}"
    );
}

#[test]
fn secret_owned_by_an_agent_runtime_of_another_name_is_not_this_agents_key() {
    let body = data(&[("keyHash", &DIGEST)]);
    let extra = key_secret("theirs", "a", &body).replace(
        "  labels:",
        "  ownerReferences:\n  - {apiVersion: omnia.altairalabs.ai/v1alpha1, kind: AgentRuntime, \
         name: b, uid: u}\n  labels:",
    );
    let config = load_agent(&with_auth("{clientKeys: {}}"), &extra).unwrap();
    assert!(
        config.agents[0]
            .auth
            .client_keys
            .as_ref()
            .unwrap()
            .keys
            .is_empty()
    );
    assert_eq!(warnings(&config).len(), 1);
}

#[test]
fn shared_token_is_refused_pointing_to_client_keys() {
    let e = agent_error(&with_auth("{sharedToken: {secretRef: {name: tok}}}"), "");
    assert_eq!(e.field_path(), Some("spec.externalAuth.sharedToken"));
    assert!(e.reason().contains("clientKeys"), "{e}");
}

#[test]
fn only_keys_labelled_for_this_agent_are_collected() {
    let body = data(&[("keyHash", &DIGEST)]);
    let other_agent = key_secret("theirs", "b", &body);
    let other_ns = key_secret("elsewhere", "a", &body)
        .replace("  name: elsewhere", "  name: elsewhere\n  namespace: x");
    let unlabelled =
        format!("---\napiVersion: v1\nkind: Secret\nmetadata: {{name: plain}}\n{body}\n");
    let ours = key_secret("ours", "a", &body);
    let extra = format!("{other_agent}{other_ns}{unlabelled}{ours}");
    let policy = agent_ok(&with_auth("{apiKeys: {}}"), &extra)
        .auth
        .client_keys
        .unwrap();
    let ids: Vec<&str> = policy.keys.iter().map(|k| k.id.as_str()).collect();
    assert_eq!(ids, ["ours"]);
}

#[test]
fn keys_are_not_collected_without_the_policy() {
    // A broken key Secret is not even read when the agent does not enable client keys.
    let extra = key_secret("broken", "a", "stringData: {keyHash: x}");
    let agent = agent_ok(FUNCTION, &extra);
    assert_eq!(agent.auth.client_keys, None);
    let agent = agent_ok(&with_auth("{edgeTrust: {}}"), &extra);
    assert_eq!(agent.auth.client_keys, None);
}

#[test]
fn both_client_keys_and_api_keys_is_an_error() {
    let e = agent_error(&with_auth("{clientKeys: {}, apiKeys: {}}"), "");
    assert_eq!(e.field_path(), Some("spec.externalAuth.apiKeys"));
}

#[test]
fn oidc_without_a_jwks_source_discovers_the_keys_from_the_issuer() {
    let agent = agent_ok(
        &with_auth("{oidc: {issuer: 'https://idp.example/', audience: omnia}}"),
        "",
    );
    let oidc = agent.auth.oidc.unwrap();
    assert_eq!(oidc.jwks, JwksSource::Discover);
    assert_eq!(oidc.issuer, "https://idp.example/");
    assert_eq!(oidc.subject_claim, "sub");
    assert_eq!(oidc.role_claim, "omnia.role");
    assert_eq!(oidc.end_user_claim, "sub");
}

#[test]
fn oidc_jwks_url_is_used_as_given() {
    let auth = "{oidc: {issuer: 'https://idp.example', audience: a, jwksUrl: 'https://keys.example/certs'}}";
    let oidc = agent_ok(&with_auth(auth), "").auth.oidc.unwrap();
    assert_eq!(
        oidc.jwks,
        JwksSource::Url("https://keys.example/certs".into())
    );
}

#[test]
fn oidc_jwks_file_is_relative_to_the_manifest() {
    let auth = "{oidc: {issuer: i, audience: a, jwksFile: keys/jwks.json, claimMapping: {role: groups, endUser: actor}}}";
    let text = super::manifest(&with_auth(auth), "");
    let oidc = crate::load_str("conf/agents.yaml", &text)
        .unwrap()
        .agents
        .remove(0)
        .auth
        .oidc
        .unwrap();
    assert_eq!(
        oidc.jwks,
        JwksSource::File(PathBuf::from("conf/keys/jwks.json"))
    );
    assert_eq!(oidc.role_claim, "groups");
    assert_eq!(oidc.end_user_claim, "actor");
    assert_eq!(oidc.subject_claim, "sub");
}

#[test]
fn oidc_with_two_jwks_sources_is_an_error() {
    let e = agent_error(
        &with_auth("{oidc: {issuer: i, audience: a, jwksFile: f, jwksUrl: u}}"),
        "",
    );
    assert_eq!(e.field_path(), Some("spec.externalAuth.oidc.jwksUrl"));
}

#[test]
fn oidc_without_audience_is_an_error() {
    let e = agent_error(&with_auth("{oidc: {issuer: i}}"), "");
    assert_eq!(e.field_path(), Some("spec.externalAuth.oidc"));
    assert_eq!(e.reason(), "missing field `audience`");
}

#[test]
fn edge_trust_defaults_and_lower_cases_headers() {
    let auth =
        "{edgeTrust: {headerMapping: {role: X-Groups}, claimsFromHeaders: {X-Tenant: tenant}}}";
    let edge = agent_ok(&with_auth(auth), "").auth.edge_trust.unwrap();
    assert_eq!(edge.subject_header, "x-user-id");
    assert_eq!(edge.role_header, "x-groups");
    assert_eq!(edge.end_user_header, "x-user-id");
    assert_eq!(edge.email_header, "x-user-email");
    assert_eq!(edge.claims_from_headers["x-tenant"], "tenant");
}

#[test]
fn a_key_mounted_as_files_by_the_operator_loads() {
    // As a pod sees it: the Secret's labels and directory in the manifests, its values as files.
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("key-ci");
    std::fs::create_dir(&keys).unwrap();
    std::fs::write(keys.join("keyHash"), DIGEST).unwrap();
    std::fs::write(keys.join("scopes"), br#"{"role": "editor"}"#).unwrap();
    let stub = format!(
        "---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: agent-a-clientkey-ci\n  \
         annotations:\n    omnia.altairalabs.ai/data-from-dir: {}\n  labels:\n    \
         omnia.altairalabs.ai/credential-kind: agent-client-key\n    \
         omnia.altairalabs.ai/agent: a\n",
        keys.display()
    );
    let file = dir.path().join("agent.yaml");
    std::fs::write(
        &file,
        super::manifest(&with_auth("{clientKeys: {}}"), &stub),
    )
    .unwrap();
    let config = crate::load(&[file]).unwrap();
    let policy = config.agents[0].auth.client_keys.clone().unwrap();
    assert_eq!(policy.keys.len(), 1, "{:?}", warnings(&config));
    assert_eq!(policy.keys[0].claims["role"], "editor");
    assert_eq!(policy.keys[0].sha256, DIGEST);
}
