//! TLS for the `grpc` tool adapter: the rustls (ring) client configuration of a `tls: true`
//! handler, and the connector the channel dials through (tokio-rustls over TCP). `tlsCAPath`
//! replaces the system roots (`SSL_CERT_FILE`, else the usual bundle paths), `tlsCertPath` +
//! `tlsKeyPath` is the client certificate, and `tlsInsecureSkipVerify` accepts any server
//! certificate (signatures are still checked).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use hyper_util::rt::TokioIo;
use omnia_api::GrpcTool;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::net::TcpStream;
use tonic::transport::Uri;

/// Why a TLS setting cannot work: the field at fault, as the manifest spells it, and why.
type ConfigError = (&'static str, String);

/// Candidate system CA bundles, after `SSL_CERT_FILE`.
const SYSTEM_BUNDLES: [&str; 5] = [
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem",
];

/// The rustls client configuration of a `tls: true` handler.
pub(crate) fn tls_config(tool: &GrpcTool) -> Result<Arc<rustls::ClientConfig>, ConfigError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| ("grpcConfig.tls", e.to_string()))?;
    let builder = if tool.tls_insecure_skip_verify {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyServerCertificate(provider)))
    } else {
        let mut roots = rustls::RootCertStore::empty();
        match &tool.tls_ca_path {
            Some(path) => {
                const FIELD: &str = "grpcConfig.tlsCAPath";
                for certificate in read_certificates(path).map_err(|e| (FIELD, e))? {
                    roots.add(certificate).map_err(|e| {
                        (
                            FIELD,
                            format!("{}: not a CA certificate: {e}", path.display()),
                        )
                    })?;
                }
            }
            None => {
                const FIELD: &str = "grpcConfig.tls";
                let bundle = std::env::var_os("SSL_CERT_FILE")
                    .map(PathBuf::from)
                    .into_iter()
                    .chain(SYSTEM_BUNDLES.iter().map(PathBuf::from))
                    .find(|path| path.is_file())
                    .ok_or_else(|| {
                        (
                            FIELD,
                            "no CA bundle to verify the server with: set tlsCAPath (or \
                             SSL_CERT_FILE)"
                                .to_owned(),
                        )
                    })?;
                let certificates = read_certificates(&bundle).map_err(|e| (FIELD, e))?;
                roots.add_parsable_certificates(certificates);
            }
        }
        builder.with_root_certificates(roots)
    };
    let mut config = match (&tool.tls_cert_path, &tool.tls_key_path) {
        (Some(cert), Some(key)) => {
            let chain = read_certificates(cert).map_err(|e| ("grpcConfig.tlsCertPath", e))?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                (
                    "grpcConfig.tlsKeyPath",
                    format!("{}: no PEM private key: {e}", key.display()),
                )
            })?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| ("grpcConfig.tlsKeyPath", e.to_string()))?
        }
        (None, None) => builder.with_no_client_auth(),
        (Some(_), None) => {
            return Err((
                "grpcConfig.tlsKeyPath",
                "tlsCertPath is set without tlsKeyPath: set both or neither".to_owned(),
            ));
        }
        (None, Some(_)) => {
            return Err((
                "grpcConfig.tlsCertPath",
                "tlsKeyPath is set without tlsCertPath: set both or neither".to_owned(),
            ));
        }
    };
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(Arc::new(config))
}

pub(crate) fn read_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certificates = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if certificates.is_empty() {
        return Err(format!("{}: no PEM certificate in it", path.display()));
    }
    Ok(certificates)
}

/// `tlsInsecureSkipVerify`: any certificate is accepted; the handshake's signatures are still
/// verified, so the peer holds the key of the certificate it sent.
#[derive(Debug)]
struct AnyServerCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AnyServerCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Connects the channel over TLS: TCP, then the rustls handshake (ALPN `h2`, SNI and hostname
/// verification against `server_name`).
#[derive(Clone)]
pub(crate) struct TlsConnector {
    connector: tokio_rustls::TlsConnector,
    server_name: ServerName<'static>,
    /// `host:port`.
    address: String,
}

impl std::fmt::Debug for TlsConnector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConnector")
            .field("server_name", &self.server_name)
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

impl TlsConnector {
    pub(crate) fn new(
        config: Arc<rustls::ClientConfig>,
        server_name: ServerName<'static>,
        address: String,
    ) -> TlsConnector {
        TlsConnector {
            connector: tokio_rustls::TlsConnector::from(config),
            server_name,
            address,
        }
    }
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl tonic::codegen::Service<Uri> for TlsConnector {
    type Response = TokioIo<tokio_rustls::client::TlsStream<TcpStream>>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: Uri) -> Self::Future {
        let this = self.clone();
        Box::pin(async move {
            let tcp = TcpStream::connect(&this.address).await?;
            tcp.set_nodelay(true)?;
            let stream = this.connector.connect(this.server_name, tcp).await?;
            Ok(TokioIo::new(stream))
        })
    }
}
