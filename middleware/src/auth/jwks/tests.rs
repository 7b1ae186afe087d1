//! Key sources, the refresh schedule, discovery and the unknown-`kid` rate limit, against JWKS and
//! discovery documents served on a loopback port.

use std::time::Duration;

use http::{HeaderMap, HeaderValue};
use serde_json::json;

use super::fetch::{check_jwks_uri, freshness};
use super::*;
use crate::auth::test_support::*;

const BOTH: &[Algorithm] = &[Algorithm::RS256, Algorithm::ES256];

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// Refreshes every few milliseconds; unknown kids never refetch (1 h), so only the schedule can
/// change the keys.
fn fast() -> JwksRefresh {
    JwksRefresh {
        default_interval: ms(10),
        min_interval: ms(10),
        unknown_kid_interval: Duration::from_secs(3600),
        ..JwksRefresh::default()
    }
}

async fn from_url(server: &JwksServer, refresh: JwksRefresh) -> Jwks {
    install_crypto_provider();
    Jwks::load(JwksSource::Url(server.url()), BOTH, refresh, ISSUER)
        .await
        .unwrap()
}

fn admits(set: &Arc<KeySet>, kid: &str) -> bool {
    set.select(Some(kid), Algorithm::RS256).is_ok()
}

// -------------------------------------------------------------------------------------------
// Files and static sets
// -------------------------------------------------------------------------------------------

#[tokio::test]
async fn file_source_loads_rsa_and_ec_keys() {
    let source = JwksSource::File(testdata("jwks.json"));
    let jwks = Jwks::load(source, BOTH, JwksRefresh::default(), ISSUER)
        .await
        .unwrap();
    let set = jwks.keys_for(Some("rsa-1")).await;
    assert!(set.select(Some("rsa-1"), Algorithm::RS256).is_ok());
    assert!(set.select(Some("ec-1"), Algorithm::ES256).is_ok());
    assert_eq!(jwks.refresh_in(), None, "a file is read once");
}

#[tokio::test]
async fn missing_file_is_a_config_error_naming_the_path() {
    let source = JwksSource::File(testdata("absent.json"));
    let err = Jwks::load(source, BOTH, JwksRefresh::default(), ISSUER)
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("absent.json"), "{err}");
}

#[tokio::test]
async fn set_without_usable_keys_is_a_config_error() {
    // The management plane accepts RS256 only, so an EC-only set can never admit anything.
    let source = JwksSource::Static(jwk_set(&[EC1_JWK]));
    let err = Jwks::load(source, &[Algorithm::RS256], JwksRefresh::default(), ISSUER)
        .await
        .err()
        .unwrap();
    assert!(matches!(err, AuthConfigError::Keys { .. }), "{err}");
}

#[tokio::test]
async fn kid_naming_a_key_of_another_algorithm_is_refused() {
    let source = JwksSource::Static(jwk_set(&[RSA1_JWK, EC1_JWK]));
    let jwks = Jwks::load(source, BOTH, JwksRefresh::default(), ISSUER)
        .await
        .unwrap();
    let set = jwks.keys_for(Some("ec-1")).await;
    assert!(set.select(Some("ec-1"), Algorithm::RS256).is_err());
}

#[tokio::test]
async fn no_kid_with_two_keys_of_the_algorithm_is_refused() {
    let source = JwksSource::Static(jwk_set(&[RSA1_JWK, RSA2_JWK]));
    let jwks = Jwks::load(source, BOTH, JwksRefresh::default(), ISSUER)
        .await
        .unwrap();
    let set = jwks.keys_for(None).await;
    assert!(set.select(None, Algorithm::RS256).is_err());
}

// -------------------------------------------------------------------------------------------
// URLs: start-up, the schedule, Cache-Control
// -------------------------------------------------------------------------------------------

#[tokio::test]
async fn url_source_is_fetched_at_construction() {
    let server = JwksServer::start(jwks_json(&[RSA1_JWK])).await;
    let jwks = from_url(&server, JwksRefresh::default()).await;
    assert_eq!(server.hits(), 1);
    assert!(admits(&jwks.keys_for(Some("rsa-1")).await, "rsa-1"));
    assert_eq!(server.hits(), 1, "a known kid must not refetch");
}

#[tokio::test]
async fn unreachable_url_is_a_config_error() {
    install_crypto_provider();
    let source = JwksSource::Url(closed_port_url().await);
    let err = Jwks::load(source, BOTH, JwksRefresh::default(), ISSUER)
        .await
        .err()
        .unwrap();
    assert!(matches!(err, AuthConfigError::Fetch { .. }), "{err}");
}

#[tokio::test]
async fn rotated_key_is_picked_up_by_the_scheduled_refresh_without_a_restart() {
    let server = JwksServer::start(jwks_json(&[RSA1_JWK])).await;
    let jwks = from_url(&server, fast()).await;
    assert!(!jwks.current().has_kid("rsa-2"));

    server.serve(jwks_json(&[RSA1_JWK, RSA2_JWK]));

    eventually("the rotated key was fetched", || {
        jwks.current().has_kid("rsa-2")
    })
    .await;
    assert!(admits(&jwks.current(), "rsa-2"));
}

#[tokio::test]
async fn revoked_key_is_dropped_by_the_scheduled_refresh() {
    let server = JwksServer::start(jwks_json(&[RSA1_JWK, RSA2_JWK])).await;
    let jwks = from_url(&server, fast()).await;
    assert!(admits(&jwks.current(), "rsa-1"));

    server.serve(jwks_json(&[RSA2_JWK]));

    eventually("the revoked key was dropped", || {
        !jwks.current().has_kid("rsa-1")
    })
    .await;
    assert!(!admits(&jwks.keys_for(Some("rsa-1")).await, "rsa-1"));
    assert!(admits(&jwks.current(), "rsa-2"));
}

#[tokio::test]
async fn cache_control_max_age_sets_the_refresh_interval() {
    let server = JwksServer::start(jwks_json(&[RSA1_JWK])).await;
    server.cache_control("public, max-age=3600, must-revalidate");
    // Without the header this would refresh every 10 ms.
    let jwks = from_url(&server, fast()).await;
    assert_eq!(jwks.refresh_in(), Some(Duration::from_secs(3600)));
}

#[tokio::test]
async fn short_max_age_refreshes_sooner_than_the_default() {
    let server = JwksServer::start(jwks_json(&[RSA1_JWK])).await;
    server.cache_control("max-age=0");
    let refresh = JwksRefresh {
        default_interval: Duration::from_secs(24 * 3600),
        ..fast()
    };
    let _jwks = from_url(&server, refresh).await;
    // Only max-age=0 (held at the 10 ms floor) can bring these fetches within a day.
    eventually("refetched on max-age=0", || server.hits() >= 3).await;
}

#[test]
fn max_age_is_held_within_the_floor_and_the_ceiling() {
    let refresh = JwksRefresh::default();
    let secs = Duration::from_secs;
    assert_eq!(refresh.interval_for(None), secs(15 * 60));
    assert_eq!(refresh.interval_for(Some(secs(600))), secs(600));
    assert_eq!(refresh.interval_for(Some(secs(5))), secs(60));
    assert_eq!(refresh.interval_for(Some(secs(365 * 86400))), secs(86400));
}

#[test]
fn freshness_reads_max_age_less_age_and_no_cache() {
    let headers = |pairs: &[(&'static str, &'static str)]| {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    };
    let secs = Duration::from_secs;
    assert_eq!(freshness(&headers(&[])), None);
    assert_eq!(
        freshness(&headers(&[("cache-control", "public, max-age=18603")])),
        Some(secs(18603))
    );
    assert_eq!(
        freshness(&headers(&[
            ("cache-control", "max-age=600"),
            ("age", "100")
        ])),
        Some(secs(500))
    );
    assert_eq!(
        freshness(&headers(&[("cache-control", "no-cache, max-age=600")])),
        Some(Duration::ZERO)
    );
    assert_eq!(
        freshness(&headers(&[("cache-control", "max-age=soon")])),
        None
    );
}

#[tokio::test]
async fn failed_refresh_keeps_the_current_keys() {
    let server = JwksServer::start(jwks_json(&[RSA1_JWK])).await;
    let jwks = from_url(&server, fast()).await;

    server.serve("the identity provider is having a bad day".into());

    eventually("a failed refresh", || server.hits() >= 3).await;
    assert!(admits(&jwks.current(), "rsa-1"));
}

#[tokio::test]
async fn document_without_usable_keys_withdraws_the_old_ones() {
    install_crypto_provider();
    let server = JwksServer::start(jwks_json(&[RSA1_JWK])).await;
    // RS256 only, as the management plane: an EC key is of no use to it.
    let source = JwksSource::Url(server.url());
    let jwks = Jwks::load(source, &[Algorithm::RS256], fast(), ISSUER)
        .await
        .unwrap();

    server.serve(jwks_json(&[EC1_JWK]));

    eventually("rsa-1 withdrawn", || !jwks.current().has_kid("rsa-1")).await;
    assert!(jwks.current().select(None, Algorithm::RS256).is_err());
}

#[tokio::test]
async fn known_kid_requests_succeed_while_a_refresh_stalls() {
    let server = JwksServer::start(jwks_json(&[RSA1_JWK])).await;
    // The stalled fetch never times out while the test runs.
    let refresh = JwksRefresh {
        fetch_timeout: Duration::from_secs(3600),
        ..fast()
    };
    let jwks = from_url(&server, refresh).await;

    server.stall();
    eventually("a refresh is stuck on the server", || server.hits() >= 2).await;

    // A hang guard, not a speed check: a request waiting on that fetch would wait an hour.
    let lookups = async {
        for _ in 0..10 {
            assert!(admits(&jwks.keys_for(Some("rsa-1")).await, "rsa-1"));
        }
    };
    tokio::time::timeout(Duration::from_secs(30), lookups)
        .await
        .expect("a known-kid request waited on the stalled refresh");
}

// -------------------------------------------------------------------------------------------
// Unknown kids
// -------------------------------------------------------------------------------------------

#[tokio::test]
async fn unknown_kid_refetches_a_rotated_set() {
    let server = JwksServer::start(jwks_json(&[RSA1_JWK])).await;
    let jwks = from_url(&server, JwksRefresh::default()).await;
    server.serve(jwks_json(&[RSA1_JWK, RSA2_JWK]));
    let set = jwks.keys_for(Some("rsa-2")).await;
    assert_eq!(server.hits(), 2);
    assert!(admits(&set, "rsa-2"));
}

#[tokio::test]
async fn a_burst_of_unknown_kids_causes_one_fetch_per_interval() {
    let server = JwksServer::start(jwks_json(&[RSA1_JWK])).await;
    let refresh = JwksRefresh {
        unknown_kid_interval: Duration::from_secs(3600),
        ..JwksRefresh::default()
    };
    let jwks = from_url(&server, refresh).await;

    for burst in 0..2 {
        let lookups = (0..50).map(|i| {
            let jwks = &jwks;
            async move { jwks.keys_for(Some(&format!("made-up-{burst}-{i}"))).await }
        });
        for set in futures_util::future::join_all(lookups).await {
            assert!(set.has_kid("rsa-1"));
        }
    }
    assert_eq!(
        server.hits(),
        2,
        "one fetch at start-up, one for all the made-up kids of the hour"
    );
}

#[tokio::test]
async fn a_burst_for_a_rotated_key_shares_one_fetch_and_every_request_gets_the_key() {
    let server = JwksServer::start(jwks_json(&[RSA1_JWK])).await;
    let jwks = from_url(&server, JwksRefresh::default()).await;
    server.serve(jwks_json(&[RSA1_JWK, RSA2_JWK]));

    let lookups = (0..50).map(|_| jwks.keys_for(Some("rsa-2")));
    for set in futures_util::future::join_all(lookups).await {
        assert!(admits(&set, "rsa-2"));
    }
    assert_eq!(server.hits(), 2, "one fetch at start-up, one for the burst");
}

#[tokio::test]
async fn lenient_url_starts_empty_when_the_first_fetch_fails_and_fetches_on_demand() {
    install_crypto_provider();
    let server = JwksServer::start("the dashboard is restarting".into()).await;
    let refresh = JwksRefresh {
        unknown_kid_interval: Duration::ZERO,
        ..JwksRefresh::default()
    };
    let jwks = Jwks::load_url_lenient(server.url(), BOTH, refresh)
        .await
        .unwrap();
    assert!(
        jwks.keys_for(None)
            .await
            .select(None, Algorithm::RS256)
            .is_err()
    );
    server.serve(jwks_json(&[RSA1_JWK]));
    assert!(admits(&jwks.keys_for(Some("rsa-1")).await, "rsa-1"));
    assert_eq!(server.hits(), 2);
}

// -------------------------------------------------------------------------------------------
// OIDC discovery
// -------------------------------------------------------------------------------------------

/// An issuer that publishes its keys at `/protocol/openid-connect/certs`, as Keycloak does.
async fn issuer(document_issuer: Option<&str>) -> JwksServer {
    let server = JwksServer::empty().await;
    let issuer = document_issuer.map_or_else(|| server.base(), str::to_owned);
    let metadata = json!({
        "issuer": issuer,
        "jwks_uri": format!("{}/protocol/openid-connect/certs", server.base()),
        "authorization_endpoint": format!("{}/auth", server.base()),
        "id_token_signing_alg_values_supported": ["RS256"],
    });
    server.serve_at("/.well-known/openid-configuration", metadata.to_string());
    server.serve_at("/protocol/openid-connect/certs", jwks_json(&[RSA1_JWK]));
    server
}

#[tokio::test]
async fn discovery_fetches_the_jwks_the_issuer_points_at() {
    install_crypto_provider();
    let server = issuer(None).await;
    let jwks = Jwks::load(JwksSource::Discover, BOTH, fast(), &server.base())
        .await
        .unwrap();
    assert!(admits(&jwks.current(), "rsa-1"));
    assert_eq!(server.hits_at("/.well-known/openid-configuration"), 1);
    assert_eq!(server.hits_at("/protocol/openid-connect/certs"), 1);

    server.serve_at("/protocol/openid-connect/certs", jwks_json(&[RSA2_JWK]));
    eventually("the discovered JWKS refreshed", || {
        jwks.current().has_kid("rsa-2")
    })
    .await;
}

#[tokio::test]
async fn discovery_document_of_another_issuer_is_a_config_error() {
    install_crypto_provider();
    let server = issuer(Some("https://elsewhere.example")).await;
    let err = Jwks::load(JwksSource::Discover, BOTH, fast(), &server.base())
        .await
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .contains("the document is for issuer \"https://elsewhere.example\""),
        "{err}"
    );
}

#[tokio::test]
async fn issuer_without_a_discovery_document_is_a_config_error() {
    install_crypto_provider();
    let server = JwksServer::start(jwks_json(&[RSA1_JWK])).await;
    let err = Jwks::load(JwksSource::Discover, BOTH, fast(), &server.base())
        .await
        .err()
        .unwrap();
    assert!(matches!(err, AuthConfigError::Fetch { .. }), "{err}");
    assert!(err.to_string().contains("404"), "{err}");
}

#[test]
fn discovered_jwks_uri_must_be_https_for_an_https_issuer() {
    let https = "https://idp.example";
    assert!(check_jwks_uri(https, "https://keys.example/certs").is_ok());
    let err = check_jwks_uri(https, "http://keys.example/certs").unwrap_err();
    assert!(err.contains("plain http for an https issuer"), "{err}");
    assert!(check_jwks_uri("http://127.0.0.1:8080", "http://127.0.0.1:8080/certs").is_ok());
    assert!(check_jwks_uri(https, "file:///etc/keys").is_err());
}

#[tokio::test]
async fn issuer_that_is_not_a_url_cannot_be_discovered() {
    install_crypto_provider();
    let err = Jwks::load(JwksSource::Discover, BOTH, fast(), "omnia-dashboard")
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("cannot discover"), "{err}");
}
