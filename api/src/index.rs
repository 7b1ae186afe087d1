//! Every parsed document, filed by kind, namespace and name, with where it came from.

use std::collections::BTreeMap;
use std::path::PathBuf;

use crate::error::ConfigError;
use crate::manifest::{
    AgentRuntime, ConfigMap, Document, FieldError, MetadataExt as _, PromptPack, Provider, Secret,
    ToolRegistry,
};
use crate::resolved::Notice;

/// Where a document is: its file, its 1-based position, and `KIND NAME`.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    pub file: PathBuf,
    pub document: usize,
    pub object: String,
}

impl Origin {
    /// An error about `field` of this document.
    pub fn error(&self, field: impl Into<String>, reason: impl Into<String>) -> ConfigError {
        ConfigError::document(
            self.file.clone(),
            self.document,
            Some(self.object.clone()),
            Some(field.into()),
            reason,
        )
    }

    /// A [`FieldError`] of this document as a [`ConfigError`].
    pub fn field_error(&self, e: FieldError) -> ConfigError {
        ConfigError::document(
            self.file.clone(),
            self.document,
            Some(self.object.clone()),
            e.field,
            e.reason,
        )
    }

    /// `FILE: document N (KIND NAME)`: how messages about this document start.
    pub fn label(&self) -> String {
        format!(
            "{}: document {} ({})",
            self.file.display(),
            self.document,
            self.object
        )
    }

    /// `FILE document N`, for pointing at a first definition.
    pub fn place(&self) -> String {
        format!("{} document {}", self.file.display(), self.document)
    }
}

/// A parsed object and its origin.
#[derive(Debug, Clone)]
pub(crate) struct Entry<T> {
    pub origin: Origin,
    pub obj: Box<T>,
}

/// `(namespace, name)`.
pub(crate) type Key = (String, String);

/// The documents of every input file.
#[derive(Debug, Default)]
pub(crate) struct Index {
    /// In file order: the resolved agents keep it.
    pub agents: Vec<Entry<AgentRuntime>>,
    pub packs: BTreeMap<Key, Entry<PromptPack>>,
    pub providers: BTreeMap<Key, Entry<Provider>>,
    pub tool_registries: BTreeMap<Key, Entry<ToolRegistry>>,
    pub secrets: BTreeMap<Key, Entry<Secret>>,
    pub config_maps: BTreeMap<Key, Entry<ConfigMap>>,
    /// What loading found worth a log line (skipped documents, ...), in file order.
    pub notices: Vec<Notice>,
}

impl Index {
    /// Files one document; a second object of the same kind, namespace and name is an error, and
    /// so is a second AgentRuntime of the same name in any namespace (the name is its URL).
    pub fn insert(&mut self, origin: Origin, document: Document) -> Result<(), ConfigError> {
        let meta = document.metadata();
        if meta.name_str().is_empty() {
            // `generateName` alone only means something to an API server.
            return Err(origin.error("metadata.name", "missing or empty"));
        }
        let key = (
            meta.namespace_or_default().to_owned(),
            meta.name_str().to_owned(),
        );
        match document {
            Document::AgentRuntime(obj) => {
                let name = obj.metadata.name_str();
                check_dns_label(&origin, "metadata.name", name)?;
                check_dns_label(
                    &origin,
                    "metadata.namespace",
                    obj.metadata.namespace_or_default(),
                )?;
                if let Some(first) = self
                    .agents
                    .iter()
                    .find(|a| a.obj.metadata.name_str() == name)
                {
                    return Err(origin.error(
                        "metadata.name",
                        format!(
                            "duplicate AgentRuntime `{name}` (first in {}): agent names are \
                             URL segments and must be unique",
                            first.origin.place()
                        ),
                    ));
                }
                self.agents.push(Entry { origin, obj });
                Ok(())
            }
            Document::PromptPack(obj) => file(&mut self.packs, key, origin, obj),
            Document::Provider(obj) => file(&mut self.providers, key, origin, obj),
            Document::ToolRegistry(obj) => file(&mut self.tool_registries, key, origin, obj),
            Document::Secret(obj) => file(&mut self.secrets, key, origin, obj),
            Document::ConfigMap(obj) => file(&mut self.config_maps, key, origin, obj),
        }
    }
}

fn file<T>(
    map: &mut BTreeMap<Key, Entry<T>>,
    key: Key,
    origin: Origin,
    obj: Box<T>,
) -> Result<(), ConfigError> {
    if let Some(first) = map.get(&key) {
        return Err(origin.error(
            "metadata.name",
            format!(
                "duplicate {} in namespace `{}` (first in {})",
                origin.object,
                key.0,
                first.origin.place()
            ),
        ));
    }
    map.insert(key, Entry { origin, obj });
    Ok(())
}

/// A DNS-1123 label: `^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`, at most 63 characters.
pub(crate) fn is_dns_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    let edge_ok = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes.first().is_some_and(edge_ok)
        && bytes.last().is_some_and(edge_ok)
        && bytes.iter().all(|b| edge_ok(b) || *b == b'-')
}

fn check_dns_label(origin: &Origin, field: &str, name: &str) -> Result<(), ConfigError> {
    if is_dns_label(name) {
        Ok(())
    } else {
        Err(origin.error(
            field,
            format!(
                "`{name}` is not a DNS-1123 label (lower-case letters, digits and '-', starting \
                 and ending with a letter or digit, at most 63 characters)"
            ),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::is_dns_label;

    #[test]
    fn dns_labels() {
        for good in [
            "a",
            "summarizer",
            "echo-function",
            "a1",
            "0",
            &"a".repeat(63),
        ] {
            assert!(is_dns_label(good), "{good}");
        }
        for bad in ["", "-a", "a-", "Summarizer", "a_b", "a.b", &"a".repeat(64)] {
            assert!(!is_dns_label(bad), "{bad}");
        }
    }
}
