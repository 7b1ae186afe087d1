//! A Provider's API key, where it was looked for, and why it may be missing.
//!
//! Loading stays lenient (a missing Secret gives no key, so dev mode can run on the mock
//! provider), but the resolved [`Provider`] keeps enough to let the runtime refuse to start with
//! a message naming the Secret and key to fix.

use std::fmt;
use std::path::PathBuf;

use super::{Provider, ProviderType};

/// The generic Secret key tried after the provider's conventional one.
const GENERIC_KEY: &str = "api-key";

/// An API key. `Debug` and `Display` print `***` so the key cannot leak into logs or messages;
/// [`ApiKey::expose`] is the one way to read it, for the request header.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> Self {
        Self(key.into())
    }

    /// The key itself, to put in a request; never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

impl fmt::Display for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Where the manifest says a Provider's API key is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialSource {
    /// A Secret among the manifests (in the Provider's namespace).
    Secret {
        namespace: String,
        name: String,
        /// The keys tried, in order: the one named, else the provider's conventional keys.
        keys: Vec<String>,
    },
    /// An environment variable of the process loading the manifests.
    EnvVar(String),
    /// A file, resolved against the manifest's directory.
    File(PathBuf),
}

impl fmt::Display for CredentialSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Secret {
                namespace, name, ..
            } => write!(f, "Secret `{namespace}/{name}`"),
            Self::EnvVar(name) => write!(f, "environment variable `{name}`"),
            Self::File(path) => write!(f, "file `{}`", path.display()),
        }
    }
}

/// Why a configured [`CredentialSource`] gave no key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CredentialProblem {
    /// The Secret is not among the loaded manifests.
    SecretNotFound,
    /// The Secret holds none of the keys tried.
    KeyNotFound,
    /// The value is empty (or only whitespace). `key` is the Secret key holding it; `None` for
    /// an environment variable or a file.
    Empty { key: Option<String> },
    /// The value is the `REPLACE_ME` placeholder of Omnia's examples; `key` as for `Empty`.
    Placeholder { key: Option<String> },
    /// The environment variable is not set.
    EnvVarNotSet,
    /// The file (or environment variable) could not be read: the reason, never its content.
    Unreadable(String),
}

impl ProviderType {
    /// The Secret keys tried when a reference names none: the provider's environment-variable
    /// name (Omnia mounts the Secret as env), then the generic `api-key`.
    pub(crate) fn conventional_keys(self) -> &'static [&'static str] {
        match self {
            Self::Claude => &["ANTHROPIC_API_KEY", GENERIC_KEY],
            Self::Openai => &["OPENAI_API_KEY", GENERIC_KEY],
            Self::Gemini => &["GEMINI_API_KEY", "GOOGLE_API_KEY", GENERIC_KEY],
            _ => &[GENERIC_KEY],
        }
    }
}

impl Provider {
    /// Why this provider has no API key, as a sentence naming the Secret (or variable, or file)
    /// and key to fix; `None` when the key was found, or when none is configured and the type
    /// needs none. The key value never appears.
    pub fn missing_credential(&self) -> Option<String> {
        if self.api_key.is_some() {
            return None;
        }
        let who = format!("Provider `{}` (namespace `{}`)", self.name, self.namespace);
        let Some(source) = &self.credential else {
            if !self.kind.needs_api_key() {
                return None;
            }
            let key = self
                .kind
                .conventional_keys()
                .first()
                .unwrap_or(&GENERIC_KEY);
            return Some(format!(
                "{who} has no credential: set spec.credential.secretRef (spec.provider.secretRef \
                 for an inline provider) to a Secret with key `{key}`"
            ));
        };
        let at = |key: &Option<String>| match key {
            Some(key) => format!("key `{key}` of {source}"),
            None => source.to_string(),
        };
        let why = match &self.credential_problem {
            Some(CredentialProblem::SecretNotFound) => format!("{source} was not found"),
            Some(CredentialProblem::KeyNotFound) => key_not_found(source),
            Some(CredentialProblem::Empty { key }) => format!("{} is empty", at(key)),
            Some(CredentialProblem::Placeholder { key }) => {
                format!("{} holds the placeholder REPLACE_ME", at(key))
            }
            Some(CredentialProblem::EnvVarNotSet) => format!("{source} is not set"),
            Some(CredentialProblem::Unreadable(reason)) => {
                format!("{source} cannot be read: {reason}")
            }
            // The loader always records a problem; this keeps the method total.
            None => format!("{source} gave no usable key"),
        };
        Some(format!("{who}: {why}"))
    }
}

/// "Secret `ns/x` has no key `A` (also tried `B`, `C`)".
fn key_not_found(source: &CredentialSource) -> String {
    match source {
        CredentialSource::Secret { keys, .. } => match keys.split_first() {
            Some((first, [])) => format!("{source} has no key `{first}`"),
            Some((first, rest)) => {
                format!(
                    "{source} has no key `{first}` (also tried {})",
                    quoted(rest)
                )
            }
            None => format!("{source} has no key"),
        },
        _ => format!("{source} has no key"),
    }
}

/// `` `A`, `B` ``.
fn quoted<S: AsRef<str>>(items: &[S]) -> String {
    items
        .iter()
        .map(|s| format!("`{}`", s.as_ref()))
        .collect::<Vec<_>>()
        .join(", ")
}
