//! Reading manifest files: paths to documents to an [`Index`], then resolution.

use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::Value;

use crate::error::ConfigError;
use crate::index::{Index, Origin};
use crate::manifest::{MetadataExt as _, Parsed, parse_document};
use crate::resolved::{Notice, ResolvedConfig};

/// The file name endings read from directories.
const EXTENSIONS: &[&str] = &["yaml", "yml", "json"];

/// Loads and resolves the manifests in `paths`.
///
/// Each path is a file or a directory; directories are walked recursively in sorted order, taking
/// `*.yaml`, `*.yml` and `*.json` and skipping hidden entries (`.git`, `.github`, ...). Files may
/// hold several YAML documents separated by `---`; empty documents are skipped. Secrets listed
/// in `OMNIA_SECRETS_FROM_ENV` are read from the environment (see [`crate::SECRETS_FROM_ENV`]).
///
/// # Errors
/// The first problem found, naming the file, document, field and reason: an unreadable path, an
/// empty directory, a YAML syntax error, an unknown kind or field, a bad value, a dangling
/// reference, or no AgentRuntime at all.
pub fn load(paths: &[PathBuf]) -> Result<ResolvedConfig, ConfigError> {
    if paths.is_empty() {
        return Err(ConfigError::global("no manifest paths given"));
    }
    let mut files = Vec::new();
    for path in paths {
        collect(path, &mut files)?;
    }
    let mut index = Index::default();
    for file in &files {
        let text = fs::read_to_string(file)
            .map_err(|e| ConfigError::file(file.clone(), format!("cannot read: {e}")))?;
        add_file(&mut index, file, &text)?;
    }
    crate::pod_secrets::add_from_env(&mut index)?;
    crate::pod_secrets::fill_from_dirs(&mut index)?;
    if index.agents.is_empty() {
        return Err(match paths {
            [one] => ConfigError::file(one.clone(), "no AgentRuntime found"),
            _ => ConfigError::global(format!(
                "no AgentRuntime found in {}",
                paths
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            )),
        });
    }
    crate::resolve::resolve(&index)
}

/// Loads and resolves manifests held in memory, as if read from a file called `name`.
///
/// # Errors
/// As [`load`].
pub fn load_str(name: &str, text: &str) -> Result<ResolvedConfig, ConfigError> {
    let mut index = Index::default();
    let file = PathBuf::from(name);
    add_file(&mut index, &file, text)?;
    if index.agents.is_empty() {
        return Err(ConfigError::file(file, "no AgentRuntime found"));
    }
    crate::resolve::resolve(&index)
}

/// Adds `path` (a file, or every manifest under a directory) to `files`.
fn collect(path: &Path, files: &mut Vec<PathBuf>) -> Result<(), ConfigError> {
    let meta =
        fs::metadata(path).map_err(|e| ConfigError::file(path, format!("cannot read: {e}")))?;
    if !meta.is_dir() {
        // A file named explicitly is read whatever its extension: the user asked for it.
        files.push(path.to_path_buf());
        return Ok(());
    }
    let before = files.len();
    walk(path, files)?;
    if files.len() == before {
        return Err(ConfigError::file(
            path,
            "no manifest files (*.yaml, *.yml, *.json) in this directory",
        ));
    }
    Ok(())
}

fn walk(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), ConfigError> {
    let entries =
        fs::read_dir(dir).map_err(|e| ConfigError::file(dir, format!("cannot read: {e}")))?;
    let mut paths = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| ConfigError::file(dir, format!("cannot read: {e}")))?;
        paths.push(entry.path());
    }
    // Sorted so the document order (and so the agent order and the first error) is stable.
    paths.sort();
    for path in paths {
        let hidden = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if path.is_dir() {
            walk(&path, files)?;
        } else if path
            .extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        {
            files.push(path);
        }
    }
    Ok(())
}

/// Parses `text` into `index` as one file (for the tests of what happens after parsing).
#[cfg(test)]
pub(crate) fn add_text_for_tests(index: &mut Index, text: &str) {
    if let Err(e) = add_file(index, Path::new("test.yaml"), text) {
        panic!("{e}");
    }
}

/// Parses every document of one file into `index`.
fn add_file(index: &mut Index, file: &Path, text: &str) -> Result<(), ConfigError> {
    for (i, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let number = i + 1;
        let value = Value::deserialize(document).map_err(|e| {
            ConfigError::document(file, number, None, None, format!("invalid YAML: {e}"))
        })?;
        if value.is_null() {
            // A stray `---` (or a document of only comments).
            continue;
        }
        let object = describe(&value);
        let parsed = parse_document(value)
            .map_err(|e| ConfigError::document(file, number, object.clone(), e.field, e.reason))?;
        let parsed = match parsed {
            Parsed::Used(document) => document,
            Parsed::Skipped { api_version, kind } => {
                let name = object.map_or_else(String::new, |o| format!(" ({o})"));
                index.notices.push(Notice::info(format!(
                    "{}: document {number}{name}: skipped: kind {kind} ({api_version}) \
                     configures nothing served here",
                    file.display()
                )));
                continue;
            }
        };
        let origin = Origin {
            file: file.to_path_buf(),
            document: number,
            object: format!("{} {}", parsed.kind(), parsed.metadata().name_str()),
        };
        index.insert(origin, parsed)?;
    }
    Ok(())
}

/// `KIND NAME` read from a document that may not parse, so its errors can still name it.
fn describe(value: &Value) -> Option<String> {
    let kind = value.get("kind")?.as_str()?;
    match value
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
    {
        Some(name) => Some(format!("{kind} {name}")),
        None => Some(kind.to_owned()),
    }
}
