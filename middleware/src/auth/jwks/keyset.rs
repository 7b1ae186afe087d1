//! A set of verification keys, converted once from JWKs (or a PEM key) so requests never re-parse
//! them, and the choice of the key that verifies a token.

use jsonwebtoken::jwk::{
    AlgorithmParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
};
use jsonwebtoken::{Algorithm, DecodingKey};

use super::super::{AuthConfigError, unauthorized};
use super::truncate;
use crate::error::GatewayError;

/// One public key.
struct VerifyingKey {
    kid: Option<String>,
    alg: Algorithm,
    key: DecodingKey,
}

/// A set of usable verification keys. Immutable: a refresh builds a new set and swaps it in.
pub(crate) struct KeySet {
    keys: Vec<VerifyingKey>,
}

impl KeySet {
    /// No key at all: what a URL set holds until its first successful fetch.
    pub(crate) fn empty() -> Self {
        Self { keys: Vec::new() }
    }

    /// One key without a `kid` (a PEM public key): it verifies tokens whatever `kid` they name.
    pub(crate) fn single(key: DecodingKey, alg: Algorithm) -> Self {
        Self {
            keys: vec![VerifyingKey {
                kid: None,
                alg,
                key,
            }],
        }
    }

    /// The keys of a JWKS usable with one of `accepted`; keys for other algorithms, encryption
    /// keys and unsupported key types are skipped. The result may be empty.
    pub(crate) fn usable(set: &JwkSet, accepted: &[Algorithm]) -> Self {
        Self {
            keys: set
                .keys
                .iter()
                .filter_map(|jwk| convert(jwk, accepted))
                .collect(),
        }
    }

    /// Like [`KeySet::usable`], but an empty result is an error: a validator that can never
    /// admit anything is a misconfiguration.
    pub(crate) fn from_jwk_set(
        set: &JwkSet,
        accepted: &[Algorithm],
        origin: &str,
    ) -> Result<Self, AuthConfigError> {
        Self::usable(set, accepted).non_empty(accepted, origin)
    }

    /// Parses a JWKS document; the result may be empty. Each key is read on its own so one exotic
    /// entry (an unknown key type, an encryption key) does not make the whole document unusable.
    pub(crate) fn parse(
        bytes: &[u8],
        accepted: &[Algorithm],
        origin: &str,
    ) -> Result<Self, AuthConfigError> {
        #[derive(serde::Deserialize)]
        struct Document {
            keys: Vec<serde_json::Value>,
        }
        let document: Document =
            serde_json::from_slice(bytes).map_err(|err| AuthConfigError::Keys {
                origin: origin.to_owned(),
                detail: format!("not a JWKS document: {err}"),
            })?;
        let keys = document
            .keys
            .into_iter()
            .filter_map(|value| serde_json::from_value::<Jwk>(value).ok())
            .collect();
        Ok(Self::usable(&JwkSet { keys }, accepted))
    }

    /// Parses a JWKS document that must hold a usable key (a file, or a URL at start-up).
    pub(crate) fn from_json(
        bytes: &[u8],
        accepted: &[Algorithm],
        origin: &str,
    ) -> Result<Self, AuthConfigError> {
        Self::parse(bytes, accepted, origin)?.non_empty(accepted, origin)
    }

    /// This set, or an error naming `origin` when it holds no key.
    pub(crate) fn non_empty(
        self,
        accepted: &[Algorithm],
        origin: &str,
    ) -> Result<Self, AuthConfigError> {
        if self.keys.is_empty() {
            return Err(AuthConfigError::Keys {
                origin: origin.to_owned(),
                detail: format!("no usable key for {}", alg_list(accepted)),
            });
        }
        Ok(self)
    }

    pub(crate) fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// The key ids in the set, for logs about what a refresh changed.
    pub(crate) fn kids(&self) -> Vec<&str> {
        let mut kids: Vec<&str> = self.keys.iter().filter_map(|k| k.kid.as_deref()).collect();
        kids.sort_unstable();
        kids
    }

    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// The key that verifies a token with this `kid` and `alg`.
    pub(crate) fn select(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<&DecodingKey, GatewayError> {
        if let Some(kid) = kid
            && let Some(found) = self.keys.iter().find(|k| k.kid.as_deref() == Some(kid))
        {
            if found.alg != alg {
                return Err(unauthorized(format!(
                    "key {:?} is for {:?}, the token uses {alg:?}",
                    truncate(kid),
                    found.alg
                )));
            }
            return Ok(&found.key);
        }
        // No kid, or a kid we do not know: a sole candidate for the algorithm is unambiguous.
        // With a kid, only kid-less keys (a configured PEM key) are candidates.
        let mut candidates = self
            .keys
            .iter()
            .filter(|k| k.alg == alg && (kid.is_none() || k.kid.is_none()));
        match (candidates.next(), candidates.next(), kid) {
            (Some(only), None, _) => Ok(&only.key),
            (_, _, Some(kid)) => Err(unauthorized(format!("no key with kid {:?}", truncate(kid)))),
            (None, _, None) => Err(unauthorized(format!("no key for {alg:?} tokens"))),
            (Some(_), Some(_), None) => Err(unauthorized(
                "the token has no kid and several keys could have signed it",
            )),
        }
    }
}

fn convert(jwk: &Jwk, accepted: &[Algorithm]) -> Option<VerifyingKey> {
    if matches!(jwk.common.public_key_use, Some(ref u) if *u != PublicKeyUse::Signature) {
        return None;
    }
    let declared = jwk.common.key_algorithm;
    let alg = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) if matches!(declared, None | Some(KeyAlgorithm::RS256)) => {
            Algorithm::RS256
        }
        AlgorithmParameters::EllipticCurve(p)
            if p.curve == EllipticCurve::P256
                && matches!(declared, None | Some(KeyAlgorithm::ES256)) =>
        {
            Algorithm::ES256
        }
        _ => return None,
    };
    if !accepted.contains(&alg) {
        return None;
    }
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(VerifyingKey {
        kid: jwk.common.key_id.clone(),
        alg,
        key,
    })
}

fn alg_list(accepted: &[Algorithm]) -> String {
    accepted
        .iter()
        .map(|a| format!("{a:?}"))
        .collect::<Vec<_>>()
        .join("/")
}
