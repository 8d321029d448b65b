//! TLS for the HTTP checks, with rustls and the ring provider.
//!
//! The certificate decision: the handshake accepts any certificate, because the question
//! is reachability and self-hosted clusters often use self-signed or private-CA ones.
//! The handshake signature is still verified, so the peer really holds the key of the
//! certificate it shows. After the handshake the chain is checked against this
//! machine's trusted roots and the outcome goes into the detail ("certificate trusted",
//! "certificate not trusted: issued by an unknown authority ..."), so a person sees what
//! a Spark job that does verify would run into.

use std::io;
use std::net::IpAddr;
use std::sync::{Arc, OnceLock};

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

struct Tls {
    connector: TlsConnector,
    /// None when this machine has no trusted roots to check against.
    trust: Option<Arc<WebPkiServerVerifier>>,
}

/// Built once: loading the system's roots reads a few hundred certificates.
fn tls() -> Result<&'static Tls, io::Error> {
    static TLS: OnceLock<Result<Tls, String>> = OnceLock::new();
    TLS.get_or_init(build)
        .as_ref()
        .map_err(|error| io::Error::other(error.clone()))
}

fn build() -> Result<Tls, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|error| format!("TLS set-up failed: {error}"))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate {
            provider: provider.clone(),
        }))
        .with_no_client_auth();
    // The checks speak HTTP/1.1 only.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let trust = trusted_roots().and_then(|roots| {
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
            .ok()
    });
    Ok(Tls {
        connector: TlsConnector::from(Arc::new(config)),
        trust,
    })
}

fn trusted_roots() -> Option<RootCertStore> {
    let loaded = rustls_native_certs::load_native_certs();
    let mut roots = RootCertStore::empty();
    roots.add_parsable_certificates(loaded.certs);
    (!roots.is_empty()).then_some(roots)
}

/// The name to send as SNI and check the certificate against: the host as written, or
/// the peer's address when that is not a valid name.
pub(super) fn server_name(written: &str, address: IpAddr) -> ServerName<'static> {
    let host = written.trim_start_matches('[').trim_end_matches(']');
    ServerName::try_from(host.to_owned()).unwrap_or_else(|_| ServerName::IpAddress(address.into()))
}

/// Runs a TLS handshake over `io`.
pub(super) async fn connect<S>(io: S, name: ServerName<'static>) -> io::Result<TlsStream<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    tls()?.connector.connect(name, io).await
}

/// Whether this machine would trust the certificate the server showed, in words.
pub(super) fn trust_note<S>(stream: &TlsStream<S>, name: &ServerName<'_>) -> String {
    let (_, connection) = stream.get_ref();
    let Some((end_entity, intermediates)) = connection
        .peer_certificates()
        .and_then(|chain| chain.split_first())
    else {
        return "no certificate shown".to_owned();
    };
    let Some(verifier) = tls().ok().and_then(|tls| tls.trust.as_ref()) else {
        return "certificate not checked: this machine has no trusted root certificates".to_owned();
    };
    match verifier.verify_server_cert(end_entity, intermediates, name, &[], UnixTime::now()) {
        Ok(_) => "certificate trusted".to_owned(),
        Err(rustls::Error::InvalidCertificate(error)) => {
            format!("certificate not trusted: {}", explain(&error, name))
        }
        Err(error) => format!("certificate not trusted: {error}"),
    }
}

fn explain(error: &CertificateError, name: &ServerName<'_>) -> String {
    match error {
        CertificateError::UnknownIssuer => {
            "issued by an unknown authority (self-signed or a private CA)".to_owned()
        }
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => "expired".to_owned(),
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            format!("not issued for {}", name.to_str())
        }
        other => other.to_string(),
    }
}

/// Why a handshake failed, in the terms the HTTP check decides on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum HandshakeFailure {
    /// The server sent a TLS alert: it speaks TLS but would not agree.
    Alert(String),
    /// The server answered with something that is not TLS.
    NotTls,
    /// The connection was closed or reset without a TLS answer.
    Closed,
    Other(String),
}

pub(super) fn classify(error: &io::Error) -> HandshakeFailure {
    if let Some(tls_error) = error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        return match tls_error {
            rustls::Error::AlertReceived(alert) => {
                HandshakeFailure::Alert(format!("the server sent the TLS alert {alert:?}"))
            }
            rustls::Error::InvalidMessage(_)
            | rustls::Error::InappropriateMessage { .. }
            | rustls::Error::InappropriateHandshakeMessage { .. } => HandshakeFailure::NotTls,
            other => HandshakeFailure::Other(other.to_string()),
        };
    }
    match error.kind() {
        io::ErrorKind::UnexpectedEof
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe => HandshakeFailure::Closed,
        _ => HandshakeFailure::Other(error.to_string()),
    }
}

/// Accepts any certificate but checks that the handshake is signed by its key: the
/// certificate is judged after the handshake (here, and by the credentialed `tls`
/// stage), so a person learns what is wrong with it.
#[derive(Debug)]
pub(crate) struct AcceptAnyCertificate {
    provider: Arc<CryptoProvider>,
}

impl AcceptAnyCertificate {
    pub(crate) fn new(provider: Arc<CryptoProvider>) -> Self {
        Self { provider }
    }
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
