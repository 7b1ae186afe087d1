//! Omnia manifests and their loader.
//!
//! The gateway and the runtime are configured by the same Kubernetes manifests that go to a
//! cluster: `AgentRuntime`, `PromptPack`, `Provider`, `ToolRegistry`
//! (`omnia.altairalabs.ai/v1alpha1`) plus `Secret` and `ConfigMap` (`v1`), in one or more YAML
//! files. [`load`] reads them, refuses unknown fields and bad values, follows every reference and
//! returns a [`ResolvedConfig`]; every failure is a [`ConfigError`] naming the file, the document,
//! the field and the reason.
//!
//! - [`manifest`]: the raw manifest types, as written.
//! - [`resolved`]: what the gateway and runtime run (re-exported at the crate root).

pub mod crd;
mod duration;
mod error;
mod index;
mod load;
pub mod manifest;
mod pod_secrets;
mod resolve;
pub mod resolved;
mod schema;

pub use duration::parse_duration;
pub use error::ConfigError;
pub use load::{load, load_str};
pub use pod_secrets::{DATA_FROM_DIR, SECRETS_FROM_ENV};
pub use resolved::*;
pub use schema::json_schema_validator;

#[cfg(test)]
mod tests;
