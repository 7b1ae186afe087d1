//! AgentRuntime -> Provider(s) -> credentials.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::duration::parse_duration;
use crate::error::ConfigError;
use crate::index::{Entry, Index, Origin};
use crate::manifest::agent_runtime::InlineProvider;
use crate::manifest::common::{Decimal, SecretKeyRef};
use crate::manifest::provider::{
    CredentialSpec, PricingSpec, ProviderDefaultsSpec, ProviderRoleName, ProviderTypeName,
};
use crate::manifest::{AgentRuntime, MetadataExt as _, Provider as ProviderResource, Secret};
use crate::resolved::{
    ApiKey, CredentialProblem, CredentialSource, Handler, MockScenario, Mode, Pricing, Provider,
    ProviderDefaults, ProviderRole, ProviderType,
};

/// An API key with this value is a placeholder from an example, not a credential.
const PLACEHOLDER: &str = "REPLACE_ME";
/// `spec.providers[]` entry that wins when there are several.
const DEFAULT_ROLE: &str = "default";

/// The agent's providers: the default one and every named one.
pub(super) struct Providers {
    pub default: Provider,
    pub named: BTreeMap<String, Provider>,
}

/// Resolves `spec.providers[]`, `spec.providerRef` or the inline `spec.provider` (only one).
pub(super) fn resolve(
    entry: &Entry<AgentRuntime>,
    mode: Mode,
    handler: Handler,
    index: &Index,
) -> Result<Providers, ConfigError> {
    let origin = &entry.origin;
    let spec = &entry.obj.spec;
    let namespace = entry.obj.metadata.namespace_or_default();
    let sources = [
        (!spec.providers.is_empty(), "spec.providers"),
        (spec.provider_ref.is_some(), "spec.providerRef"),
        (spec.provider.is_some(), "spec.provider"),
    ];
    let set: Vec<&str> = sources.iter().filter(|s| s.0).map(|s| s.1).collect();
    if let [_, second, ..] = set.as_slice() {
        return Err(origin.error(*second, format!("set only one of {}", set.join(", "))));
    }
    if !spec.providers.is_empty() {
        let mut named = BTreeMap::new();
        for (i, item) in spec.providers.iter().enumerate() {
            if named.contains_key(&item.name) {
                return Err(origin.error(
                    format!("spec.providers[{i}].name"),
                    format!("duplicate provider name `{}`", item.name),
                ));
            }
            let field = format!("spec.providers[{i}].providerRef.name");
            let ns = item.provider_ref.namespace.as_deref().unwrap_or(namespace);
            let provider = by_reference(origin, &field, ns, &item.provider_ref.name, index)?;
            // Omnia's controller checks the binding's role against the Provider's (default llm).
            let wanted = item.role.map_or(ProviderRole::Llm, role);
            if provider.role != wanted {
                return Err(origin.error(
                    format!("spec.providers[{i}].role"),
                    format!(
                        "Provider `{}` has role {} but this binding needs {}",
                        item.provider_ref.name,
                        provider.role.as_str(),
                        wanted.as_str()
                    ),
                ));
            }
            named.insert(item.name.clone(), provider);
        }
        let only = || (named.len() == 1).then(|| named.values().next()).flatten();
        let default = match named.get(DEFAULT_ROLE).or_else(only) {
            Some(p) => p.clone(),
            None => {
                let names: Vec<&str> = named.keys().map(String::as_str).collect();
                return Err(origin.error(
                    "spec.providers",
                    format!(
                        "no provider named `{DEFAULT_ROLE}` among {} ({}): name one `{DEFAULT_ROLE}`",
                        names.len(),
                        names.join(", ")
                    ),
                ));
            }
        };
        if default.role != ProviderRole::Llm {
            return Err(origin.error(
                "spec.providers",
                format!(
                    "the default provider `{}` has role {}: the agent's default provider must \
                     be an llm",
                    default.name,
                    default.role.as_str()
                ),
            ));
        }
        return Ok(Providers { default, named });
    }
    let single = if let Some(reference) = &spec.provider_ref {
        let ns = reference.namespace.as_deref().unwrap_or(namespace);
        by_reference(origin, "spec.providerRef.name", ns, &reference.name, index)?
    } else if let Some(inline) = &spec.provider {
        from_inline(origin, namespace, inline, index)?
    } else if mode == Mode::Function || handler == Handler::Runtime {
        return Err(origin.error(
            "spec.providers",
            "no provider: function-mode agents and agents with the runtime handler need \
             spec.providers (or spec.providerRef, or spec.provider)",
        ));
    } else {
        // demo and echo handlers answer without a model.
        return Ok(Providers {
            default: none(namespace),
            named: BTreeMap::new(),
        });
    };
    // A single provider plays the default role, so lookups by role find it.
    let named = BTreeMap::from([(DEFAULT_ROLE.to_owned(), single.clone())]);
    Ok(Providers {
        default: single,
        named,
    })
}

/// The stand-in provider of agents that need none.
fn none(namespace: &str) -> Provider {
    Provider {
        name: "none".to_owned(),
        namespace: namespace.to_owned(),
        kind: ProviderType::Mock,
        role: ProviderRole::Llm,
        headers: BTreeMap::new(),
        model: String::new(),
        base_url: None,
        api_key: None,
        credential: None,
        credential_problem: None,
        pricing: Pricing::default(),
        defaults: ProviderDefaults::default(),
        mock_scenarios: Vec::new(),
    }
}

fn by_reference(
    origin: &Origin,
    field: &str,
    namespace: &str,
    name: &str,
    index: &Index,
) -> Result<Provider, ConfigError> {
    match index
        .providers
        .get(&(namespace.to_owned(), name.to_owned()))
    {
        Some(entry) => from_resource(entry, index),
        None => Err(origin.error(
            field,
            format!("Provider `{name}` not found in namespace `{namespace}`"),
        )),
    }
}

/// A Provider resource, with its credentials looked up.
fn from_resource(entry: &Entry<ProviderResource>, index: &Index) -> Result<Provider, ConfigError> {
    let origin = &entry.origin;
    let spec = &entry.obj.spec;
    let namespace = entry.obj.metadata.namespace_or_default();
    let kind = fold(spec.kind);
    let sources = [
        (spec.secret_ref.is_some(), "spec.secretRef"),
        (spec.credential.is_some(), "spec.credential"),
        (spec.credentials_ref.is_some(), "spec.credentialsRef"),
    ];
    let set: Vec<&str> = sources.iter().filter(|s| s.0).map(|s| s.1).collect();
    if let [_, second, ..] = set.as_slice() {
        return Err(origin.error(*second, format!("set only one of {}", set.join(", "))));
    }
    let lookup = if let Some(secret_ref) = &spec.secret_ref {
        Some(from_secret(kind, namespace, secret_ref, index)?)
    } else if let Some((field, credential)) = spec
        .credential
        .as_ref()
        .map(|c| ("spec.credential", c))
        .or(spec
            .credentials_ref
            .as_ref()
            .map(|c| ("spec.credentialsRef", c)))
    {
        from_credential(origin, field, kind, namespace, credential, index)?
    } else {
        None
    };
    let credentials = Credentials::from(lookup);
    let mock_scenarios = match &spec.mock {
        Some(_) if kind != ProviderType::Mock => {
            return Err(origin.error("spec.mock", "only allowed when spec.type is mock"));
        }
        Some(mock) => mock
            .scenarios
            .iter()
            .map(|s| MockScenario {
                name: s.name.clone(),
                when: s.when.clone(),
                output: s.output.clone(),
            })
            .collect(),
        None => Vec::new(),
    };
    Ok(Provider {
        name: entry.obj.metadata.name_str().to_owned(),
        namespace: namespace.to_owned(),
        kind,
        role: spec.role.map_or(ProviderRole::Llm, role),
        headers: spec.headers.clone(),
        model: spec.model.clone().unwrap_or_default(),
        base_url: spec.base_url.clone(),
        api_key: credentials.api_key,
        credential: credentials.source,
        credential_problem: credentials.problem,
        pricing: pricing(spec.pricing.as_ref()),
        defaults: defaults(origin, "spec.defaults", spec.defaults.as_ref())?,
        mock_scenarios,
    })
}

/// The inline `spec.provider` of an agent (both shapes), named `inline`.
fn from_inline(
    origin: &Origin,
    namespace: &str,
    inline: &InlineProvider,
    index: &Index,
) -> Result<Provider, ConfigError> {
    let kind = match (inline.name, inline.kind) {
        (Some(_), Some(_)) => {
            return Err(origin.error(
                "spec.provider.type",
                "set only one of spec.provider.name and spec.provider.type",
            ));
        }
        (Some(kind), None) | (None, Some(kind)) => fold(kind),
        (None, None) => {
            return Err(origin.error(
                "spec.provider",
                "missing the provider type: set spec.provider.name (or spec.provider.type)",
            ));
        }
    };
    let secret_ref = match (&inline.api_key_secret_ref, &inline.secret_ref) {
        (Some(_), Some(_)) => {
            return Err(origin.error(
                "spec.provider.secretRef",
                "set only one of spec.provider.apiKeySecretRef and spec.provider.secretRef",
            ));
        }
        (Some(r), None) | (None, Some(r)) => Some(r),
        (None, None) => None,
    };
    let lookup = match secret_ref {
        Some(r) => Some(from_secret(kind, namespace, r, index)?),
        None => None,
    };
    let credentials = Credentials::from(lookup);
    Ok(Provider {
        name: "inline".to_owned(),
        namespace: namespace.to_owned(),
        kind,
        role: ProviderRole::Llm,
        headers: BTreeMap::new(),
        model: inline.model.clone().unwrap_or_default(),
        base_url: inline.base_url.clone(),
        api_key: credentials.api_key,
        credential: credentials.source,
        credential_problem: credentials.problem,
        pricing: pricing(inline.pricing.as_ref()),
        defaults: defaults(origin, "spec.provider.config", inline.config.as_ref())?,
        mock_scenarios: Vec::new(),
    })
}

/// Folds aliases: `anthropic` is Claude, `google` is Gemini.
fn fold(name: ProviderTypeName) -> ProviderType {
    match name {
        ProviderTypeName::Claude | ProviderTypeName::Anthropic => ProviderType::Claude,
        ProviderTypeName::Openai => ProviderType::Openai,
        ProviderTypeName::Gemini | ProviderTypeName::Google => ProviderType::Gemini,
        ProviderTypeName::Ollama => ProviderType::Ollama,
        ProviderTypeName::Mock => ProviderType::Mock,
        ProviderTypeName::Echo => ProviderType::Echo,
        ProviderTypeName::Bedrock => ProviderType::Bedrock,
        ProviderTypeName::Vertex => ProviderType::Vertex,
        ProviderTypeName::AzureAi => ProviderType::AzureAi,
        ProviderTypeName::Vllm => ProviderType::Vllm,
        ProviderTypeName::Voyageai => ProviderType::VoyageAi,
        ProviderTypeName::Cartesia => ProviderType::Cartesia,
        ProviderTypeName::Elevenlabs => ProviderType::ElevenLabs,
        ProviderTypeName::Imagen => ProviderType::Imagen,
        ProviderTypeName::Huggingface => ProviderType::HuggingFace,
    }
}

fn role(name: ProviderRoleName) -> ProviderRole {
    match name {
        ProviderRoleName::Llm => ProviderRole::Llm,
        ProviderRoleName::Embedding => ProviderRole::Embedding,
        ProviderRoleName::Tts => ProviderRole::Tts,
        ProviderRoleName::Stt => ProviderRole::Stt,
        ProviderRoleName::Image => ProviderRole::Image,
    }
}

/// What a configured credential gave: the key, or why there is none.
struct Lookup {
    source: CredentialSource,
    found: Result<ApiKey, CredentialProblem>,
}

/// A [`Lookup`] split into the three [`Provider`] fields.
struct Credentials {
    api_key: Option<ApiKey>,
    source: Option<CredentialSource>,
    problem: Option<CredentialProblem>,
}

impl From<Option<Lookup>> for Credentials {
    fn from(lookup: Option<Lookup>) -> Self {
        let Some(Lookup { source, found }) = lookup else {
            return Self {
                api_key: None,
                source: None,
                problem: None,
            };
        };
        let (api_key, problem) = match found {
            Ok(key) => (Some(key), None),
            Err(problem) => (None, Some(problem)),
        };
        Self {
            api_key,
            source: Some(source),
            problem,
        }
    }
}

fn from_credential(
    origin: &Origin,
    field: &str,
    kind: ProviderType,
    namespace: &str,
    credential: &CredentialSpec,
    index: &Index,
) -> Result<Option<Lookup>, ConfigError> {
    let count = [
        credential.secret_ref.is_some(),
        credential.env_var.is_some(),
        credential.file_path.is_some(),
    ]
    .into_iter()
    .filter(|set| *set)
    .count();
    if count > 1 {
        return Err(origin.error(field, "set at most one of secretRef, envVar, filePath"));
    }
    if let Some(secret_ref) = &credential.secret_ref {
        return from_secret(kind, namespace, secret_ref, index).map(Some);
    }
    if let Some(var) = &credential.env_var {
        let found = match std::env::var(var) {
            Ok(value) => usable(&value, None).map(ApiKey::new),
            Err(std::env::VarError::NotPresent) => Err(CredentialProblem::EnvVarNotSet),
            Err(e @ std::env::VarError::NotUnicode(_)) => {
                Err(CredentialProblem::Unreadable(e.to_string()))
            }
        };
        let source = CredentialSource::EnvVar(var.clone());
        return Ok(Some(Lookup { source, found }));
    }
    if let Some(path) = &credential.file_path {
        let path = relative_to(&origin.file, path);
        let found = match std::fs::read_to_string(&path) {
            Ok(value) => usable(&value, None).map(ApiKey::new),
            Err(e) => Err(CredentialProblem::Unreadable(e.to_string())),
        };
        let source = CredentialSource::File(path);
        return Ok(Some(Lookup { source, found }));
    }
    Ok(None)
}

/// The key of a Secret; a missing Secret or key is a recorded problem, not an error, so dev mode
/// can run on the mock provider.
fn from_secret(
    kind: ProviderType,
    namespace: &str,
    secret_ref: &SecretKeyRef,
    index: &Index,
) -> Result<Lookup, ConfigError> {
    let keys: Vec<String> = match &secret_ref.key {
        Some(key) => vec![key.clone()],
        None => kind
            .conventional_keys()
            .iter()
            .map(|k| (*k).to_owned())
            .collect(),
    };
    let found = match index
        .secrets
        .get(&(namespace.to_owned(), secret_ref.name.clone()))
    {
        None => Err(CredentialProblem::SecretNotFound),
        Some(secret) => match first_present(secret, &keys)? {
            Some((key, value)) => usable(&value, Some(key)).map(ApiKey::new),
            None => Err(CredentialProblem::KeyNotFound),
        },
    };
    let source = CredentialSource::Secret {
        namespace: namespace.to_owned(),
        name: secret_ref.name.clone(),
        keys,
    };
    Ok(Lookup { source, found })
}

/// The first of `keys` the Secret holds, with its value as text.
fn first_present<'k>(
    secret: &Entry<Secret>,
    keys: &'k [String],
) -> Result<Option<(&'k str, String)>, ConfigError> {
    for key in keys {
        let value = secret
            .obj
            .get_text(key)
            .map_err(|e| secret.origin.field_error(e))?;
        if let Some(value) = value {
            return Ok(Some((key, value)));
        }
    }
    Ok(None)
}

/// The first of `keys` the Secret holds, as usable text (placeholders count as absent).
pub(super) fn first_value(
    secret: &Entry<Secret>,
    keys: &[String],
) -> Result<Option<String>, ConfigError> {
    Ok(first_present(secret, keys)?.and_then(|(_, value)| usable(&value, None).ok()))
}

/// The trimmed value, unless it is empty or the `REPLACE_ME` placeholder of Omnia's examples;
/// `key` is the Secret key it came from, for the problem.
fn usable(value: &str, key: Option<&str>) -> Result<String, CredentialProblem> {
    let value = value.trim();
    let key = key.map(str::to_owned);
    if value.is_empty() {
        Err(CredentialProblem::Empty { key })
    } else if value == PLACEHOLDER {
        Err(CredentialProblem::Placeholder { key })
    } else {
        Ok(value.to_owned())
    }
}

/// `path` as written, or relative to the manifest file's directory.
pub(super) fn relative_to(manifest: &Path, path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    match manifest.parent() {
        Some(dir) => dir.join(path),
        None => path.to_path_buf(),
    }
}

fn pricing(spec: Option<&PricingSpec>) -> Pricing {
    let get = |d: Option<Decimal>| d.map_or(0.0, |d| d.0);
    spec.map_or_else(Pricing::default, |p| Pricing {
        input_per_1k: get(p.input_cost_per_1k),
        output_per_1k: get(p.output_cost_per_1k),
        cached_per_1k: p.cached_cost_per_1k.map(|d| d.0),
    })
}

/// `spec.defaults` (`at`), or `spec.provider.config` of an inline provider.
fn defaults(
    origin: &Origin,
    at: &str,
    spec: Option<&ProviderDefaultsSpec>,
) -> Result<ProviderDefaults, ConfigError> {
    let Some(d) = spec else {
        return Ok(ProviderDefaults::default());
    };
    let timeout = |field: &str, text: Option<&str>| {
        text.map(|t| positive_duration(t).map_err(|e| origin.error(format!("{at}.{field}"), e)))
            .transpose()
    };
    Ok(ProviderDefaults {
        temperature: d.temperature.map(|t| t.0),
        top_p: d.top_p.map(|t| t.0),
        max_tokens: d.max_tokens,
        request_timeout: timeout("requestTimeout", d.request_timeout.as_deref())?,
        stream_idle_timeout: timeout("streamIdleTimeout", d.stream_idle_timeout.as_deref())?,
    })
}

/// A Go duration > 0: a zero timeout would fail every call, so it is surely a mistake.
fn positive_duration(text: &str) -> Result<Duration, String> {
    let refuse =
        || format!("`{text}` is not a positive duration: a timeout must be greater than 0");
    if text.starts_with('-') {
        return Err(refuse());
    }
    let duration = parse_duration(text)?;
    if duration.is_zero() {
        return Err(refuse());
    }
    Ok(duration)
}
