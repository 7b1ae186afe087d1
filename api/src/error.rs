//! The one error type of loading: where the problem is (file, document, object, field) and why.

use std::fmt;
use std::path::{Path, PathBuf};

/// A manifest could not be loaded or resolved.
///
/// Displays as `FILE: document N (KIND NAME): FIELD: REASON`, leaving out the parts that do not
/// apply (a missing file has no document; a YAML syntax error has no field), e.g.
/// ``examples/x.yaml: document 2 (AgentRuntime summarizer): spec.facade.type: unknown variant `socket`, ...``.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub struct ConfigError {
    /// The manifest file (or directory, or the joined argument list when no single file is at
    /// fault).
    pub file: Option<PathBuf>,
    /// 1-based position of the YAML document in its file, counting empty documents too, so it
    /// matches the `---` separators a reader counts.
    pub document: Option<usize>,
    /// `KIND NAME` of the object at fault (`AgentRuntime summarizer`), when known.
    pub object: Option<String>,
    /// Dotted field path inside the document (`spec.facade.type`, `spec.providers[0].name`).
    pub field: Option<String>,
    /// What is wrong, in words.
    pub reason: String,
}

impl ConfigError {
    /// An error about a whole file or directory (unreadable, empty, ...).
    pub(crate) fn file(file: impl Into<PathBuf>, reason: impl Into<String>) -> Self {
        Self {
            file: Some(file.into()),
            document: None,
            object: None,
            field: None,
            reason: reason.into(),
        }
    }

    /// An error about the whole set of inputs (e.g. no AgentRuntime anywhere).
    pub(crate) fn global(reason: impl Into<String>) -> Self {
        Self {
            file: None,
            document: None,
            object: None,
            field: None,
            reason: reason.into(),
        }
    }

    /// An error about one document.
    pub(crate) fn document(
        file: impl Into<PathBuf>,
        document: usize,
        object: Option<String>,
        field: Option<String>,
        reason: impl Into<String>,
    ) -> Self {
        Self {
            file: Some(file.into()),
            document: Some(document),
            object,
            field,
            reason: reason.into(),
        }
    }

    /// The file at fault, if any.
    pub fn file_path(&self) -> Option<&Path> {
        self.file.as_deref()
    }

    /// The field path at fault, if any.
    pub fn field_path(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// The reason, without location.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(file) = &self.file {
            write!(f, "{}: ", file.display())?;
        }
        if let Some(document) = self.document {
            write!(f, "document {document}")?;
            match &self.object {
                Some(object) => write!(f, " ({object}): ")?,
                None => f.write_str(": ")?,
            }
        } else if let Some(object) = &self.object {
            write!(f, "{object}: ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        f.write_str(&self.reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_reads_file_document_object_field_reason() {
        let e = ConfigError::document(
            "examples/x.yaml",
            2,
            Some("AgentRuntime summarizer".into()),
            Some("spec.facade.type".into()),
            "unknown variant `socket`",
        );
        assert_eq!(
            e.to_string(),
            "examples/x.yaml: document 2 (AgentRuntime summarizer): spec.facade.type: unknown variant `socket`"
        );
    }

    #[test]
    fn display_leaves_out_absent_parts() {
        let e = ConfigError::file("conf", "no manifest files");
        assert_eq!(e.to_string(), "conf: no manifest files");
        assert_eq!(
            ConfigError::global("no AgentRuntime").to_string(),
            "no AgentRuntime"
        );
    }
}
