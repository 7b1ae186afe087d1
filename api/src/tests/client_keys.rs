//! `externalAuth`: client-key Secrets, OIDC and edge trust.

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use super::{FUNCTION, agent_error, agent_ok};
use crate::JwksSource;

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

fn digest_text() -> String {
    STANDARD.encode(DIGEST)
}

#[test]
fn client_key_from_string_data_with_expiry_scopes_and_role() {
    let body = format!(
        "stringData:\n  keyHash: {}\n  expiresAt: '2030-01-01T00:00:00Z'\n  scopes: 'functions:invoke, sessions:read media'\n  role: editor",
        digest_text()
    );
    let agent = agent_ok(
        &with_auth("{clientKeys: {}}"),
        &key_secret("k1", "a", &body),
    );
    let policy = agent.auth.client_keys.unwrap();
    assert_eq!(policy.keys.len(), 1);
    let key = &policy.keys[0];
    assert_eq!(key.name, "k1");
    assert_eq!(key.sha256, DIGEST);
    assert_eq!(key.expires_at_unix, Some(1_893_456_000));
    assert_eq!(key.scopes, ["functions:invoke", "sessions:read", "media"]);
    assert_eq!(key.role.as_deref(), Some("editor"));
}

#[test]
fn client_key_from_data_is_decoded_twice() {
    // In `data`, Kubernetes base64-encodes the base64 text of the digest once more.
    let body = format!("data:\n  keyHash: {}", STANDARD.encode(digest_text()));
    let spec = with_auth("{clientKeys: {defaultRole: viewer, trustEndUserHeader: true}}");
    let policy = agent_ok(&spec, &key_secret("k2", "a", &body))
        .auth
        .client_keys
        .unwrap();
    assert!(policy.trust_end_user_header);
    assert_eq!(policy.default_role.as_deref(), Some("viewer"));
    assert_eq!(policy.keys[0].sha256, DIGEST);
    assert_eq!(policy.keys[0].expires_at_unix, None);
    assert!(policy.keys[0].scopes.is_empty());
    // No role on the key: the policy's default applies.
    assert_eq!(policy.keys[0].role.as_deref(), Some("viewer"));
}

#[test]
fn wrong_length_hash_is_an_error_naming_the_secret() {
    let body = format!("stringData:\n  keyHash: {}", STANDARD.encode([1u8; 20]));
    let e = agent_error(
        &with_auth("{clientKeys: {}}"),
        &key_secret("short", "a", &body),
    );
    assert_eq!(e.object.as_deref(), Some("Secret short"));
    assert_eq!(e.document, Some(5));
    assert_eq!(e.field_path(), Some("stringData.keyHash"));
    assert_eq!(
        e.reason(),
        "decodes to 20 bytes; a SHA-256 digest is 32 bytes"
    );
}

#[test]
fn hash_that_is_not_base64_is_an_error() {
    // In `data` the value decodes once to text that is not base64.
    let body = format!("data:\n  keyHash: {}", STANDARD.encode("not base64!"));
    let e = agent_error(
        &with_auth("{clientKeys: {}}"),
        &key_secret("bad", "a", &body),
    );
    assert_eq!(e.field_path(), Some("data.keyHash"));
    assert!(
        e.reason()
            .starts_with("not the base64 text of a SHA-256 digest"),
        "{e}"
    );
}

#[test]
fn missing_hash_is_an_error() {
    let e = agent_error(
        &with_auth("{apiKeys: {}}"),
        &key_secret("nohash", "a", "stringData: {role: admin}"),
    );
    assert_eq!(e.field_path(), Some("data.keyHash"));
}

#[test]
fn bad_expiry_is_an_error() {
    let body = format!(
        "stringData:\n  keyHash: {}\n  expiresAt: tomorrow",
        digest_text()
    );
    let e = agent_error(&with_auth("{clientKeys: {}}"), &key_secret("k", "a", &body));
    assert_eq!(e.field_path(), Some("stringData.expiresAt"));
    assert!(
        e.reason().starts_with("`tomorrow` is not an RFC 3339 time"),
        "{e}"
    );
}

#[test]
fn only_keys_labelled_for_this_agent_are_collected() {
    let body = format!("stringData: {{keyHash: {}}}", digest_text());
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
    let names: Vec<&str> = policy.keys.iter().map(|k| k.name.as_str()).collect();
    assert_eq!(names, ["ours"]);
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
fn oidc_defaults() {
    let agent = agent_ok(
        &with_auth("{oidc: {issuer: 'https://idp.example/', audience: omnia}}"),
        "",
    );
    let oidc = agent.auth.oidc.unwrap();
    assert_eq!(
        oidc.jwks,
        JwksSource::Url("https://idp.example/.well-known/jwks.json".into())
    );
    assert_eq!(oidc.subject_claim, "sub");
    assert_eq!(oidc.role_claim, "omnia.role");
    assert_eq!(oidc.end_user_claim, "sub");
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
