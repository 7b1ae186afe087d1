//! Provider credentials: Secrets, env vars, files; absent or placeholder keys are `None`.

use super::{FUNCTION, fixture};
use crate::load_str;

/// [`FUNCTION`] with Provider `prov` given `spec` (a flow mapping) and `extra` documents.
fn provider_key(spec: &str, extra: &str) -> Result<Option<String>, crate::ConfigError> {
    let text =
        super::manifest(FUNCTION, extra).replace("spec: {type: mock}", &format!("spec: {spec}"));
    load_str("dir/test.yaml", &text).map(|mut c| {
        c.agents
            .remove(0)
            .provider
            .api_key
            .map(|k| k.expose().to_owned())
    })
}

fn secret(body: &str) -> String {
    format!("---\napiVersion: v1\nkind: Secret\nmetadata: {{name: creds}}\n{body}\n")
}

#[test]
fn missing_secret_means_no_key() {
    let key = provider_key("{type: openai, credential: {secretRef: {name: creds}}}", "");
    assert_eq!(key, Ok(None));
}

#[test]
fn placeholder_and_empty_values_mean_no_key() {
    let spec = "{type: openai, secretRef: {name: creds, key: k}}";
    assert_eq!(
        provider_key(spec, &secret("stringData: {k: REPLACE_ME}")),
        Ok(None)
    );
    assert_eq!(provider_key(spec, &secret("stringData: {k: ''}")), Ok(None));
}

#[test]
fn conventional_key_then_api_key() {
    let spec = "{type: openai, secretRef: {name: creds}}";
    let both = secret("stringData: {OPENAI_API_KEY: conventional, api-key: generic}");
    assert_eq!(provider_key(spec, &both), Ok(Some("conventional".into())));
    let generic = secret("stringData: {api-key: generic}");
    assert_eq!(provider_key(spec, &generic), Ok(Some("generic".into())));
}

#[test]
fn named_key_missing_from_the_secret_means_no_key() {
    let spec = "{type: openai, secretRef: {name: creds, key: other}}";
    assert_eq!(
        provider_key(spec, &secret("stringData: {api-key: x}")),
        Ok(None)
    );
}

#[test]
fn data_values_are_base64_decoded_and_trimmed() {
    // "sk-data\n", as `echo sk-data | base64` writes it.
    let spec = "{type: openai, credentialsRef: {secretRef: {name: creds, key: k}}}";
    assert_eq!(
        provider_key(spec, &secret("data: {k: c2stZGF0YQo=}")),
        Ok(Some("sk-data".into()))
    );
}

#[test]
fn bad_base64_in_a_secret_is_an_error_at_the_secret() {
    let spec = "{type: openai, secretRef: {name: creds, key: k}}";
    let e = provider_key(spec, &secret("data: {k: '!!!'}")).unwrap_err();
    assert_eq!(e.object.as_deref(), Some("Secret creds"));
    assert_eq!(e.field_path(), Some("data.k"));
    assert!(e.reason().starts_with("not valid base64"), "{e}");
}

#[test]
fn env_var_credential_is_read() {
    // Cargo sets CARGO_PKG_NAME for the test process; no test mutates the environment.
    let key = provider_key("{type: openai, credential: {envVar: CARGO_PKG_NAME}}", "");
    assert_eq!(key, Ok(Some("omnia-api".into())));
    let key = provider_key(
        "{type: openai, credential: {envVar: OMNIA_TEST_SURELY_UNSET_VAR}}",
        "",
    );
    assert_eq!(key, Ok(None));
}

#[test]
fn file_credential_is_read_relative_to_the_manifest() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("key.txt"), "sk-file\n").unwrap();
    let text = super::manifest(FUNCTION, "").replace(
        "spec: {type: mock}",
        "spec: {type: openai, credential: {filePath: key.txt}}",
    );
    let manifest = dir.path().join("m.yaml");
    std::fs::write(&manifest, text).unwrap();
    let config = crate::load(&[manifest]).unwrap();
    assert_eq!(
        config.agents[0]
            .provider
            .api_key
            .as_ref()
            .map(crate::ApiKey::expose),
        Some("sk-file")
    );
}

#[test]
fn two_credential_sources_are_an_error() {
    let e = provider_key(
        "{type: openai, secretRef: {name: creds}, credential: {envVar: X}}",
        "",
    )
    .unwrap_err();
    assert_eq!(e.object.as_deref(), Some("Provider prov"));
    assert_eq!(e.field_path(), Some("spec.credential"));
    let e = provider_key("{type: openai, credential: {envVar: X, filePath: /k}}", "").unwrap_err();
    assert_eq!(e.reason(), "set at most one of secretRef, envVar, filePath");
}

#[test]
fn missing_session_store_secret_means_no_url() {
    let config = crate::load(&[fixture("production-agent.yaml")]).unwrap();
    assert!(config.agents[0].session.store_url.is_some());
    let spec = format!("{FUNCTION}  session: {{type: redis, storeRef: {{name: gone}}}}\n");
    let agent = super::agent_ok(&spec, "");
    assert_eq!(agent.session.store_ref.as_deref(), Some("gone"));
    assert_eq!(agent.session.store_url, None);
}

#[test]
fn session_store_url_falls_back_to_the_only_key() {
    let spec = format!("{FUNCTION}  session: {{type: postgres, storeRef: {{name: pg}}}}\n");
    let pg = "---\napiVersion: v1\nkind: Secret\nmetadata: {name: pg}\n\
              stringData: {dsn: 'postgres://u@db/omnia'}\n";
    let agent = super::agent_ok(&spec, pg);
    assert_eq!(agent.session.kind, crate::SessionStore::Postgres);
    assert_eq!(
        agent.session.store_url.as_deref(),
        Some("postgres://u@db/omnia")
    );
}
