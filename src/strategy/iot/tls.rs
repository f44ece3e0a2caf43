//! The mutual-TLS client configuration, built once per source, and the
//! translation of TLS failures into errors that name the side that
//! rejected the handshake and the reason.

use std::sync::Arc;

use rustls::client::ResolvesClientCert;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::sign::{CertifiedKey, SigningKey};
use rustls::{
    AlertDescription, CertificateError, ClientConfig, DigitallySignedStruct, InconsistentKeys,
    RootCertStore, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};

use super::config::{ClientKey, IotConfig, Pem};
use super::endpoint::Endpoint;
use crate::error::Error;

/// Builds the client configuration: the device certificate and key, and the
/// roots the server certificate must chain to.
///
/// The certificate and key are checked to match here, because rustls does
/// not check it and a mismatch would otherwise surface as an opaque
/// handshake failure on every refresh.
pub(crate) fn client_config(config: &IotConfig) -> Result<Arc<ClientConfig>, Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());

    let chain = load_certificates("certificate", &config.certificate)?;
    let key = load_signing_key(&config.key, &provider)?;
    let certified = CertifiedKey::new(chain, key);
    check_keys_match(&certified)?;

    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|error| {
            Error::configuration("the TLS provider supports no safe protocol version")
                .with_source(error)
        })?;

    let builder = if config.accept_invalid_server_certificate {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyServerCertificate { provider }))
    } else {
        builder.with_root_certificates(root_store(config.ca.as_ref())?)
    };

    let client =
        builder.with_client_cert_resolver(Arc::new(DeviceCertificate(Arc::new(certified))));
    Ok(Arc::new(client))
}

fn load_certificates(parameter: &str, pem: &Pem) -> Result<Vec<CertificateDer<'static>>, Error> {
    let bytes = pem.load(parameter)?;
    let invalid = |why: &str| {
        Error::validation(
            parameter,
            describe_pem_value(pem),
            format!("`{parameter}` {why}; pass PEM with one or more `BEGIN CERTIFICATE` blocks"),
        )
    };

    let certificates = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| invalid("is not valid PEM").with_source(error))?;
    if certificates.is_empty() {
        return Err(invalid("contains no certificate"));
    }
    Ok(certificates)
}

fn load_signing_key(
    key: &ClientKey,
    provider: &CryptoProvider,
) -> Result<Arc<dyn SigningKey>, Error> {
    match key {
        ClientKey::Pem(pem) => {
            let bytes = pem.load("private_key")?;
            // Parse errors from `pki-types` name the PEM section, never its
            // content, so they are safe to keep as the source.
            let der = PrivateKeyDer::from_pem_slice(&bytes).map_err(|error| {
                Error::validation(
                    "private_key",
                    describe_pem_value(pem),
                    "`private_key` contains no readable private key; pass PEM with a \
                     `BEGIN PRIVATE KEY`, `BEGIN EC PRIVATE KEY` or `BEGIN RSA PRIVATE KEY` block",
                )
                .with_source(error)
            })?;
            provider.key_provider.load_private_key(der).map_err(|error| {
                Error::validation(
                    "private_key",
                    describe_pem_value(pem),
                    "`private_key` is not a key type TLS can use; pass an ECDSA P-256/P-384, RSA or Ed25519 key",
                )
                .with_source(error)
            })
        }
        #[cfg(feature = "pkcs11")]
        ClientKey::Pkcs11(key) => super::pkcs11::open_signing_key(key),
    }
}

/// Names the file behind a PEM setting; in-memory PEM has no value to show.
fn describe_pem_value(pem: &Pem) -> Option<String> {
    match pem {
        Pem::File(path) => Some(path.display().to_string()),
        Pem::Bytes(_) => None,
    }
}

fn check_keys_match(certified: &CertifiedKey) -> Result<(), Error> {
    match certified.keys_match() {
        Ok(()) => Ok(()),
        Err(rustls::Error::InconsistentKeys(InconsistentKeys::KeyMismatch)) => {
            Err(Error::configuration(
                "the certificate and the private key do not match; pass the key the certificate was issued for",
            ))
        }
        Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => {
            Err(Error::configuration(
                "the private key does not expose its public key, so it cannot be checked against the certificate",
            ))
        }
        Err(error) => Err(Error::validation(
            "certificate",
            None,
            "`certificate` does not parse as an X.509 certificate",
        )
        .with_source(error)),
    }
}

fn root_store(ca: Option<&Pem>) -> Result<RootCertStore, Error> {
    let Some(ca) = ca else {
        return Ok(RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        });
    };

    let mut roots = RootCertStore::empty();
    for certificate in load_certificates("ca", ca)? {
        roots.add(certificate).map_err(|error| {
            Error::validation(
                "ca",
                describe_pem_value(ca),
                "`ca` contains a certificate that is not a valid trust anchor",
            )
            .with_source(error)
        })?;
    }
    Ok(roots)
}

/// Hands rustls the one device certificate, whatever the server hints.
#[derive(Debug)]
struct DeviceCertificate(Arc<CertifiedKey>);

impl ResolvesClientCert for DeviceCertificate {
    fn resolve(
        &self,
        _root_hints: &[&[u8]],
        _schemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }

    fn has_certs(&self) -> bool {
        true
    }
}

/// Skips the server certificate check but still verifies the handshake
/// signatures, so the session keys are bound to the presented key.
#[derive(Debug)]
struct AcceptAnyServerCertificate {
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for AcceptAnyServerCertificate {
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
        rustls::crypto::verify_tls12_signature(
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
        rustls::crypto::verify_tls13_signature(
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

/// Finds a rustls error in a chain of causes.
///
/// `io::Error::source` skips the wrapped error itself, so each I/O error is
/// also opened with `get_ref`.
pub(crate) fn find_tls_error<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a rustls::Error> {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(tls) = error.downcast_ref::<rustls::Error>() {
            return Some(tls);
        }
        if let Some(tls) = error
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(tls);
        }
        current = error.source();
    }
    None
}

/// Describes a TLS failure by the side that rejected the handshake.
///
/// A rejected certificate, on either side, is not retryable: it stays
/// rejected until someone changes the certificate, the CA bundle or the
/// provider's registration, so the refresher waits its maximum backoff.
pub(crate) fn tls_failure(error: &rustls::Error, endpoint: &Endpoint) -> Error {
    let certificate_rejected = matches!(error, rustls::Error::InvalidCertificate(_))
        || matches!(error, rustls::Error::AlertReceived(alert) if is_client_certificate_alert(*alert));
    let message = match error {
        rustls::Error::InvalidCertificate(reason) => format!(
            "this client rejected the server certificate of {endpoint}: {}; {}",
            describe_certificate_error(reason),
            "check the CA bundle (`ca`) and the endpoint"
        ),
        rustls::Error::AlertReceived(alert) if is_client_certificate_alert(*alert) => format!(
            "the server at {endpoint} rejected the client certificate (TLS alert {alert:?}); \
             check that the certificate is registered and active in AWS IoT, not expired or \
             revoked, and issued by a CA the provider trusts"
        ),
        rustls::Error::AlertReceived(alert) => {
            format!("the server at {endpoint} aborted the TLS handshake (TLS alert {alert:?})")
        }
        other => format!("the TLS handshake with {endpoint} failed: {other}"),
    };
    Error::connection(message)
        .with_source(error.clone())
        .with_retryable(!certificate_rejected)
}

fn describe_certificate_error(error: &CertificateError) -> String {
    match error {
        CertificateError::UnknownIssuer => "it is not issued by a trusted CA".to_owned(),
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "it has expired".to_owned()
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => {
            "it is not valid for this host name".to_owned()
        }
        other => format!("{other:?}"),
    }
}

/// Alerts a server sends when it does not accept the client certificate.
fn is_client_certificate_alert(alert: AlertDescription) -> bool {
    matches!(
        alert,
        AlertDescription::BadCertificate
            | AlertDescription::UnsupportedCertificate
            | AlertDescription::CertificateRevoked
            | AlertDescription::CertificateExpired
            | AlertDescription::CertificateUnknown
            | AlertDescription::UnknownCA
            | AlertDescription::AccessDenied
            | AlertDescription::CertificateRequired
            | AlertDescription::DecryptError
    )
}
