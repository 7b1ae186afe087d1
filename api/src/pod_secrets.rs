//! Secrets handed to a pod by the operator.
//!
//! As environment variables, the seed's security model for credentials:
//! `OMNIA_SECRETS_FROM_ENV` lists `namespace/name=PREFIX` entries, comma-separated. Each becomes a
//! Secret whose keys are the variables starting with `PREFIX` (the rest of the variable's name is
//! the key), loaded as if its document were among the manifests; the pod spec fills those
//! variables with `envFrom: [{prefix: PREFIX, secretRef: {name}}]`.
//!
//! As a mounted directory, for client-key Secrets, whose `keyHash` is 32 raw bytes that an
//! environment variable cannot hold: a Secret document (labels and owners, no values) annotated
//! `omnia.altairalabs.ai/data-from-dir: DIR` takes its `data` from the files in `DIR` (a Secret
//! volume: one file per key).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::error::ConfigError;
use crate::index::{Index, Origin};
use crate::manifest::{Document, Secret};

/// The variable that lists the Secrets held in the environment.
pub const SECRETS_FROM_ENV: &str = "OMNIA_SECRETS_FROM_ENV";
/// The annotation naming the directory a Secret's values are read from.
pub const DATA_FROM_DIR: &str = "omnia.altairalabs.ai/data-from-dir";

/// Fills the `data` of every Secret annotated [`DATA_FROM_DIR`] from its directory.
pub(crate) fn fill_from_dirs(index: &mut Index) -> Result<(), ConfigError> {
    for entry in index.secrets.values_mut() {
        let Some(dir) = entry
            .obj
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(DATA_FROM_DIR))
            .cloned()
        else {
            continue;
        };
        let field = format!("metadata.annotations.{DATA_FROM_DIR}");
        let data = read_dir(Path::new(&dir)).map_err(|e| {
            entry
                .origin
                .error(field.clone(), format!("cannot read {dir}: {e}"))
        })?;
        entry.obj.data.extend(data);
    }
    Ok(())
}

/// Each regular file of `dir` (not hidden: a Secret volume's `..data` links are), base64.
fn read_dir(dir: &Path) -> std::io::Result<BTreeMap<String, String>> {
    use base64::Engine as _;
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !entry.path().is_file() {
            continue;
        }
        let bytes = std::fs::read(entry.path())?;
        out.insert(
            name,
            base64::engine::general_purpose::STANDARD.encode(bytes),
        );
    }
    Ok(out)
}

/// Adds the Secrets `OMNIA_SECRETS_FROM_ENV` lists (if set) to `index`.
pub(crate) fn add_from_env(index: &mut Index) -> Result<(), ConfigError> {
    let Ok(list) = std::env::var(SECRETS_FROM_ENV) else {
        return Ok(());
    };
    for (i, secret) in secrets(&list, std::env::vars())?.into_iter().enumerate() {
        let origin = Origin {
            file: PathBuf::from(format!("${SECRETS_FROM_ENV}")),
            document: i + 1,
            object: format!(
                "Secret {}",
                secret.metadata.name.as_deref().unwrap_or_default()
            ),
        };
        index.insert(origin, Document::Secret(Box::new(secret)))?;
    }
    Ok(())
}

/// The Secrets `list` names, with their keys taken from `vars`.
fn secrets(
    list: &str,
    vars: impl Iterator<Item = (String, String)>,
) -> Result<Vec<Secret>, ConfigError> {
    let vars: Vec<(String, String)> = vars.collect();
    let mut out = Vec::new();
    for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let parsed = entry
            .split_once('=')
            .and_then(|(id, prefix)| Some((id.split_once('/')?, prefix)));
        let Some(((namespace, name), prefix)) =
            parsed.filter(|((ns, n), p)| !ns.is_empty() && !n.is_empty() && !p.is_empty())
        else {
            return Err(ConfigError::global(format!(
                "{SECRETS_FROM_ENV}: `{entry}` is not `namespace/name=PREFIX`"
            )));
        };
        let string_data: BTreeMap<String, String> = vars
            .iter()
            .filter_map(|(var, value)| {
                let key = var.strip_prefix(prefix)?;
                (!key.is_empty()).then(|| (key.to_owned(), value.clone()))
            })
            .collect();
        out.push(Secret {
            api_version: "v1".to_owned(),
            kind: "Secret".to_owned(),
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                namespace: Some(namespace.to_owned()),
                ..ObjectMeta::default()
            },
            secret_type: None,
            data: BTreeMap::new(),
            string_data,
            immutable: None,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Iterator<Item = (String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect::<Vec<_>>()
            .into_iter()
    }

    #[test]
    fn each_listed_secret_takes_the_variables_under_its_prefix() {
        let found = secrets(
            "agents/openai=OMNIA_SECRET_0_, agents/redis=OMNIA_SECRET_1_",
            vars(&[
                ("OMNIA_SECRET_0_api-key", "sk-1"),
                ("OMNIA_SECRET_1_url", "redis://r:6379"),
                ("OMNIA_SECRET_10_other", "not this one"),
                ("PATH", "/bin"),
            ]),
        )
        .unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].metadata.namespace.as_deref(), Some("agents"));
        assert_eq!(found[0].metadata.name.as_deref(), Some("openai"));
        assert_eq!(
            found[0].get_text("api-key").unwrap().as_deref(),
            Some("sk-1")
        );
        assert_eq!(found[0].keys(), ["api-key"]);
        assert_eq!(found[1].keys(), ["url"]);
    }

    #[test]
    fn a_malformed_entry_is_an_error_naming_it() {
        for list in ["openai=P_", "agents/openai", "/openai=P_", "agents/openai="] {
            let e = secrets(list, vars(&[])).unwrap_err();
            assert!(e.to_string().contains(list), "{e}");
        }
    }

    #[test]
    fn a_secret_takes_its_values_from_its_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("keyHash"), [0u8, 159, 255, 10]).unwrap();
        std::fs::write(dir.path().join("scopes"), r#"{"role":"editor"}"#).unwrap();
        std::fs::create_dir(dir.path().join("..2026_12_02")).unwrap();
        std::fs::write(dir.path().join("..data"), "a link in a real volume").unwrap();
        let text = format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: key-1\n  annotations:\n    \
             {DATA_FROM_DIR}: {}\n",
            dir.path().display()
        );
        let mut index = Index::default();
        crate::load::add_text_for_tests(&mut index, &text);
        fill_from_dirs(&mut index).unwrap();
        let secret = &index.secrets.values().next().unwrap().obj;
        assert_eq!(secret.keys(), ["keyHash", "scopes"]);
        assert_eq!(
            secret.get("keyHash").unwrap().unwrap().bytes,
            [0u8, 159, 255, 10]
        );
    }

    #[test]
    fn a_missing_directory_is_an_error_naming_it() {
        let text = format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: key-1\n  annotations:\n    \
             {DATA_FROM_DIR}: /nonexistent/omnia\n"
        );
        let mut index = Index::default();
        crate::load::add_text_for_tests(&mut index, &text);
        let e = fill_from_dirs(&mut index).unwrap_err().to_string();
        assert!(
            e.contains("/nonexistent/omnia") && e.contains(DATA_FROM_DIR),
            "{e}"
        );
    }
}
