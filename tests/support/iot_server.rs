//! A local AWS IoT Core credentials provider for tests: mutual TLS on
//! 127.0.0.1 with certificates generated at test time.
//!
//! It serves `GET /role-aliases/<alias>/credentials`, requires a client
//! certificate issued by its client CA, checks the thing-name and duration
//! headers, and can respond with the provider's error JSON or malformed
//! JSON, never respond, or drop the connection. It counts requests, handshakes and
//! resumed handshakes.
#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_refresh_session::clock::{Clock, SystemClock};
use aws_refresh_session::credentials::format_rfc3339;
use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PublicKeyData, SignatureAlgorithm,
};
use rustls::server::WebPkiClientVerifier;
use rustls::{HandshakeKind, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// The only role alias the server vends credentials for.
pub const ROLE_ALIAS: &str = "test-role-alias";

/// A certificate authority that issues server and client certificates.
pub struct Authority {
    pub ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

/// A certificate and its private key, both PEM.
#[derive(Clone)]
pub struct Identity {
    pub cert_pem: String,
    pub key_pem: String,
}

impl Authority {
    pub fn new(name: &str) -> Authority {
        let key = KeyPair::generate().expect("generate CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).expect("self-sign CA");
        Authority {
            ca_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        }
    }

    /// Issues a server certificate for 127.0.0.1 and localhost.
    pub fn server(&self) -> Identity {
        let key = KeyPair::generate().expect("generate server key");
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
                .expect("server params");
        params
            .distinguished_name
            .push(DnType::CommonName, "local iot provider");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = params.signed_by(&key, &self.issuer).expect("sign server");
        Identity {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// Issues a client certificate valid from 1975 to 4096.
    pub fn client(&self, thing_name: &str) -> Identity {
        let key = KeyPair::generate().expect("generate client key");
        let cert = self
            .client_params(thing_name)
            .signed_by(&key, &self.issuer)
            .expect("sign client");
        Identity {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// Issues a client certificate that expired in 2021.
    pub fn expired_client(&self, thing_name: &str) -> Identity {
        let key = KeyPair::generate().expect("generate client key");
        let mut params = self.client_params(thing_name);
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2021, 1, 1);
        let cert = params.signed_by(&key, &self.issuer).expect("sign client");
        Identity {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// Issues a client certificate for a public key held elsewhere (a
    /// PKCS#11 token), given as a DER SubjectPublicKeyInfo.
    pub fn client_for_spki(&self, thing_name: &str, spki_der: &[u8]) -> String {
        let public_key = SpkiPublicKey::parse(spki_der);
        self.client_params(thing_name)
            .signed_by(&public_key, &self.issuer)
            .expect("sign client for token key")
            .pem()
    }

    fn client_params(&self, thing_name: &str) -> CertificateParams {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("client params");
        params
            .distinguished_name
            .push(DnType::CommonName, thing_name);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params
    }
}

/// A public key read from a DER SubjectPublicKeyInfo, for rcgen.
struct SpkiPublicKey {
    key: Vec<u8>,
    algorithm: &'static SignatureAlgorithm,
}

impl SpkiPublicKey {
    /// Splits `SEQUENCE { AlgorithmIdentifier, BIT STRING }` just enough to
    /// take the key bits and tell EC from RSA.
    fn parse(spki: &[u8]) -> SpkiPublicKey {
        let (outer, _) = der_element(spki, 0x30);
        let (algorithm_id, rest) = der_element(outer, 0x30);
        let (bits, _) = der_element(rest, 0x03);
        let rsa_oid = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
        let is_rsa = algorithm_id
            .windows(rsa_oid.len())
            .any(|window| window == rsa_oid);
        SpkiPublicKey {
            // The first byte of a BIT STRING counts unused bits (0 here).
            key: bits[1..].to_vec(),
            algorithm: if is_rsa {
                &rcgen::PKCS_RSA_SHA256
            } else {
                &rcgen::PKCS_ECDSA_P256_SHA256
            },
        }
    }
}

impl PublicKeyData for SpkiPublicKey {
    fn der_bytes(&self) -> &[u8] {
        &self.key
    }

    fn algorithm(&self) -> &'static SignatureAlgorithm {
        self.algorithm
    }
}

/// Returns the content of the DER element of type `tag` at the start of
/// `input`, and what follows it.
fn der_element(input: &[u8], tag: u8) -> (&[u8], &[u8]) {
    assert_eq!(input[0], tag, "unexpected DER tag");
    let (len, header) = match input[1] {
        short if short < 0x80 => (usize::from(short), 2),
        long => {
            let count = usize::from(long & 0x7f);
            let len = input[2..2 + count]
                .iter()
                .fold(0usize, |acc, byte| (acc << 8) | usize::from(*byte));
            (len, 2 + count)
        }
    };
    (&input[header..header + len], &input[header + len..])
}

/// Credentials a [`Vendor`] obtained, with the expiry as RFC 3339.
pub struct Vended {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub expiration: String,
}

/// The future a [`Vendor`] returns.
pub type VendFuture =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vended, String>> + Send>>;

/// A function the server calls for each credentials request, such as an
/// AssumeRole against moto.
#[derive(Clone)]
pub struct Vendor(pub Arc<dyn Fn() -> VendFuture + Send + Sync>);

impl std::fmt::Debug for Vendor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vendor")
    }
}

/// What the server does with the next requests.
#[derive(Clone, Debug)]
pub enum Behavior {
    /// Vends what the function returns, after the provider's checks.
    Delegate(Vendor),
    /// Vends credentials that live this long, or as long as the duration
    /// header requests when `None`.
    Credentials { lifetime: Option<Duration> },
    /// Responds with this status and the provider's error JSON.
    Error {
        status: u16,
        error_type: &'static str,
        message: &'static str,
    },
    /// Responds 200 with a body that is not JSON.
    MalformedJson,
    /// Responds 200 with an STS-shaped body.
    StsShaped,
    /// Accepts the request and never responds.
    Hang,
    /// Closes the connection without responding.
    Drop,
}

/// What the server saw of one request.
#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
}

struct State {
    behavior: Mutex<Behavior>,
    expected_thing_name: Mutex<Option<String>>,
    requests: Mutex<Vec<Recorded>>,
    handshakes: AtomicUsize,
    resumed_handshakes: AtomicUsize,
    failed_handshakes: Mutex<Vec<String>>,
    vended: AtomicUsize,
}

/// Options for [`IotServer::start`].
pub struct ServerOptions {
    /// PEM of the CA that client certificates must chain to.
    pub client_ca_pem: String,
    /// The server's own certificate and key.
    pub identity: Identity,
    /// Restricts the server to TLS 1.2.
    pub tls12_only: bool,
}

impl ServerOptions {
    pub fn new(authority: &Authority) -> ServerOptions {
        ServerOptions {
            client_ca_pem: authority.ca_pem.clone(),
            identity: authority.server(),
            tls12_only: false,
        }
    }
}

/// A running local provider. Dropping it stops accepting connections.
pub struct IotServer {
    pub addr: SocketAddr,
    state: Arc<State>,
    acceptor: Arc<Mutex<TlsAcceptor>>,
    accept_task: tokio::task::JoinHandle<()>,
}

impl Drop for IotServer {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

impl IotServer {
    pub async fn start(options: ServerOptions) -> IotServer {
        let acceptor = Arc::new(Mutex::new(build_acceptor(&options)));

        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(State {
            behavior: Mutex::new(Behavior::Credentials { lifetime: None }),
            expected_thing_name: Mutex::new(None),
            requests: Mutex::new(Vec::new()),
            handshakes: AtomicUsize::new(0),
            resumed_handshakes: AtomicUsize::new(0),
            failed_handshakes: Mutex::new(Vec::new()),
            vended: AtomicUsize::new(0),
        });

        let accept_state = Arc::clone(&state);
        let accept_acceptor = Arc::clone(&acceptor);
        let accept_task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let acceptor = accept_acceptor.lock().unwrap().clone();
                let state = Arc::clone(&accept_state);
                tokio::spawn(async move { serve_connection(acceptor, tcp, state).await });
            }
        });

        IotServer {
            addr,
            state,
            acceptor,
            accept_task,
        }
    }

    /// Replaces the TLS settings for new connections (a new server
    /// identity or client CA), keeping the address and the counters.
    pub fn reconfigure(&self, options: ServerOptions) {
        *self.acceptor.lock().unwrap() = build_acceptor(&options);
    }

    /// Returns `https://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    pub fn set_behavior(&self, behavior: Behavior) {
        *self.state.behavior.lock().unwrap() = behavior;
    }

    /// Makes the server respond 403 unless the thing-name header is `name`.
    pub fn expect_thing_name(&self, name: &str) {
        *self.state.expected_thing_name.lock().unwrap() = Some(name.to_owned());
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn request_count(&self) -> usize {
        self.state.requests.lock().unwrap().len()
    }

    pub fn handshakes(&self) -> usize {
        self.state.handshakes.load(Ordering::SeqCst)
    }

    pub fn resumed_handshakes(&self) -> usize {
        self.state.resumed_handshakes.load(Ordering::SeqCst)
    }

    pub fn failed_handshakes(&self) -> Vec<String> {
        self.state.failed_handshakes.lock().unwrap().clone()
    }
}

fn build_acceptor(options: &ServerOptions) -> TlsAcceptor {
    let provider = Arc::new(rustls::crypto::ring::default_provider());

    let mut client_roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(options.client_ca_pem.as_bytes()) {
        client_roots
            .add(cert.expect("client CA PEM"))
            .expect("client CA");
    }
    let verifier =
        WebPkiClientVerifier::builder_with_provider(Arc::new(client_roots), Arc::clone(&provider))
            .build()
            .expect("client verifier");

    let versions: &[&rustls::SupportedProtocolVersion] = if options.tls12_only {
        &[&rustls::version::TLS12]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    let chain = CertificateDer::pem_slice_iter(options.identity.cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .expect("server cert");
    let key =
        PrivateKeyDer::from_pem_slice(options.identity.key_pem.as_bytes()).expect("server key");
    let config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .expect("versions")
        .with_client_cert_verifier(verifier)
        .with_single_cert(chain, key)
        .expect("server config");
    TlsAcceptor::from(Arc::new(config))
}

async fn serve_connection(acceptor: TlsAcceptor, tcp: tokio::net::TcpStream, state: Arc<State>) {
    let tls = match acceptor.accept(tcp).await {
        Ok(tls) => tls,
        Err(error) => {
            state
                .failed_handshakes
                .lock()
                .unwrap()
                .push(error.to_string());
            return;
        }
    };
    state.handshakes.fetch_add(1, Ordering::SeqCst);
    if tls.get_ref().1.handshake_kind() == Some(HandshakeKind::Resumed) {
        state.resumed_handshakes.fetch_add(1, Ordering::SeqCst);
    }

    let service = service_fn(move |request| {
        let state = Arc::clone(&state);
        async move { handle(request, state).await }
    });
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(tls), service)
        .await;
}

#[derive(Debug)]
struct DropConnection;

impl std::fmt::Display for DropConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("test server drops the connection")
    }
}

impl std::error::Error for DropConnection {}

async fn handle(
    request: Request<Incoming>,
    state: Arc<State>,
) -> Result<Response<Full<Bytes>>, DropConnection> {
    state.requests.lock().unwrap().push(Recorded {
        method: request.method().to_string(),
        path: request.uri().path().to_owned(),
        headers: request.headers().clone(),
    });

    let behavior = state.behavior.lock().unwrap().clone();
    match behavior {
        Behavior::Hang => std::future::pending::<()>().await,
        Behavior::Drop => return Err(DropConnection),
        Behavior::MalformedJson => {
            return Ok(json(
                StatusCode::OK,
                "{\"credentials\": {\"accessKeyId\": ".to_owned(),
            ));
        }
        Behavior::StsShaped => {
            return Ok(json(
                StatusCode::OK,
                format!(
                    "{{\"Credentials\":{{\"AccessKeyId\":\"ASIASTS\",\"SecretAccessKey\":\"s\",\"SessionToken\":\"t\",\"Expiration\":\"{}\"}}}}",
                    format_rfc3339(SystemClock.now() + Duration::from_secs(3600))
                ),
            ));
        }
        Behavior::Error {
            status,
            error_type,
            message,
        } => {
            let mut response = json(
                StatusCode::from_u16(status).expect("status"),
                format!("{{\"message\":\"{message}\"}}"),
            );
            response.headers_mut().insert(
                "x-amzn-ErrorType",
                format!("{error_type}:").parse().unwrap(),
            );
            return Ok(response);
        }
        Behavior::Credentials { .. } | Behavior::Delegate(_) => {}
    }

    // The provider's own checks, in the order it applies them.
    let expected_path = format!("/role-aliases/{ROLE_ALIAS}/credentials");
    if request.method() != http::Method::GET || request.uri().path() != expected_path {
        return Ok(provider_error(
            404,
            "ResourceNotFoundException",
            "Role alias does not exist",
        ));
    }
    let expected_thing = state.expected_thing_name.lock().unwrap().clone();
    if let Some(expected) = expected_thing {
        let sent = request
            .headers()
            .get("x-amzn-iot-thingname")
            .and_then(|value| value.to_str().ok());
        if sent != Some(expected.as_str()) {
            return Ok(provider_error(403, "ForbiddenException", "Access Denied"));
        }
    }
    let requested = match request
        .headers()
        .get("x-amzn-iot-credential-duration-seconds")
    {
        None => None,
        Some(value) => match value
            .to_str()
            .ok()
            .and_then(|text| text.parse::<u64>().ok())
        {
            Some(seconds) if (900..=43_200).contains(&seconds) => {
                Some(Duration::from_secs(seconds))
            }
            _ => {
                return Ok(provider_error(
                    400,
                    "InvalidRequestException",
                    "Invalid credential duration",
                ));
            }
        },
    };

    let lifetime = match behavior {
        Behavior::Credentials { lifetime } => lifetime,
        Behavior::Delegate(vendor) => {
            return Ok(match (vendor.0)().await {
                Ok(vended) => json(
                    StatusCode::OK,
                    format!(
                        "{{\"credentials\":{{\"accessKeyId\":\"{}\",\"secretAccessKey\":\"{}\",\
                         \"sessionToken\":\"{}\",\"expiration\":\"{}\"}}}}",
                        vended.access_key_id,
                        vended.secret_access_key,
                        vended.session_token,
                        vended.expiration
                    ),
                ),
                Err(message) => {
                    eprintln!("test provider: the vendor failed: {message}");
                    provider_error(500, "InternalFailureException", "Internal failure")
                }
            });
        }
        _ => unreachable!("other behaviors returned above"),
    };
    let lifetime = lifetime.or(requested).unwrap_or(Duration::from_secs(3600));
    let number = state.vended.fetch_add(1, Ordering::SeqCst) + 1;
    let body = format!(
        "{{\"credentials\":{{\"accessKeyId\":\"ASIAIOT{number:09}\",\"secretAccessKey\":\"iotSecret{number}/+=\",\
         \"sessionToken\":\"iotToken{number}+/=\",\"expiration\":\"{}\"}},\"extra\":\"ignored\"}}",
        format_rfc3339(SystemClock.now() + lifetime)
    );
    Ok(json(StatusCode::OK, body))
}

fn provider_error(status: u16, error_type: &str, message: &str) -> Response<Full<Bytes>> {
    let mut response = json(
        StatusCode::from_u16(status).expect("status"),
        format!("{{\"message\":\"{message}\"}}"),
    );
    response.headers_mut().insert(
        "x-amzn-ErrorType",
        format!("{error_type}:").parse().unwrap(),
    );
    response
}

fn json(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .expect("response")
}
