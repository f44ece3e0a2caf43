//! The proxy itself: an axum router that signs every request with a
//! session's layer and forwards it to one upstream endpoint.
//!
//! `main.rs` parses the command line and serves this router;
//! `tests/proxy_moto.rs` includes this file with `#[path]` and serves it
//! against moto.

use std::sync::Arc;

use aws_refresh_session::signing::{PayloadMode, SigningService, SigningServiceError};
use aws_refresh_session::{Error, RefreshableSession, SigningSettings};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http::header::{CONNECTION, CONTENT_LENGTH, EXPECT, HOST};
use http::uri::{Authority, Scheme};
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, Version};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower::{Layer, ServiceExt};

/// The default listen address: `127.0.0.1:8080`.
/// Loopback only, because anyone who reaches the proxy can call AWS with its
/// credentials.
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// The largest request body buffered for signing: 10 MiB. Larger bodies
/// get a 413; send them with `--unsigned-payload`, which streams.
pub(crate) const DEFAULT_MAX_BODY_SIZE: usize = 10 * 1024 * 1024;

/// The default health-check path, which returns 200 to `GET` without
/// forwarding: `/health`, the path awslabs' aws-sigv4-proxy uses.
pub(crate) const DEFAULT_HEALTH_PATH: &str = "/health";

/// Headers that describe one connection, not the request (RFC 9110 section
/// 7.6.1), so a proxy drops them in both directions. `proxy-connection` is
/// the non-standard form some clients still send.
const HOP_BY_HOP_HEADERS: &[&str] = &[
    "connection",
    "proxy-connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The proxy's upstream endpoint and signing options.
#[derive(Clone, Debug)]
pub(crate) struct ProxyConfig {
    /// The upstream's scheme and authority; the request's path and query
    /// are appended unchanged.
    pub(crate) endpoint: Uri,
    /// The signing name, such as `s3`, `sts` or `execute-api`.
    pub(crate) service: String,
    /// The region to sign for.
    pub(crate) region: String,
    /// Streams bodies and signs them as `UNSIGNED-PAYLOAD` instead of
    /// buffering and hashing them.
    pub(crate) unsigned_payload: bool,
    /// Headers removed from the incoming request before signing.
    pub(crate) strip_headers: Vec<HeaderName>,
    /// The largest body buffered in signed-payload mode, in bytes.
    pub(crate) max_body_size: usize,
    /// The path that returns 200 to `GET` without forwarding.
    pub(crate) health_path: String,
}

impl ProxyConfig {
    /// Creates a configuration with the defaults for everything but the
    /// upstream and the signing scope.
    ///
    /// # Errors
    ///
    /// A validation error when `endpoint` is not `http(s)://host[:port]`.
    pub(crate) fn new(endpoint: &str, service: &str, region: &str) -> Result<Self, Error> {
        Ok(ProxyConfig {
            endpoint: parse_endpoint(endpoint)?,
            service: service.to_owned(),
            region: region.to_owned(),
            unsigned_payload: false,
            strip_headers: Vec::new(),
            max_body_size: DEFAULT_MAX_BODY_SIZE,
            health_path: DEFAULT_HEALTH_PATH.to_owned(),
        })
    }

    /// Returns the signing settings: S3's rules for `s3`, the general rules
    /// otherwise.
    pub(crate) fn signing_settings(&self) -> SigningSettings {
        let settings = if self.service == "s3" {
            SigningSettings::s3(&self.region)
        } else {
            SigningSettings::new(&self.service, &self.region)
        };
        if self.unsigned_payload {
            settings.payload(PayloadMode::Unsigned)
        } else {
            settings
        }
    }
}

/// Parses `http(s)://host[:port]`, rejecting a path or query because the
/// proxy appends the incoming request's own.
pub(crate) fn parse_endpoint(endpoint: &str) -> Result<Uri, Error> {
    let invalid = |reason: &str| {
        Error::validation(
            "endpoint",
            Some(endpoint.to_owned()),
            format!(
                "the upstream endpoint {endpoint:?} {reason}; pass a scheme and host such as https://s3.us-east-1.amazonaws.com or http://127.0.0.1:5000"
            ),
        )
    };

    let uri: Uri = endpoint.parse().map_err(|_| invalid("is not a URI"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(invalid("has no http or https scheme")),
    }
    if uri.authority().is_none() {
        return Err(invalid("has no host"));
    }
    let path = uri.path_and_query().map_or("/", |path| path.as_str());
    if path != "/" {
        return Err(invalid("has a path or query"));
    }
    Ok(uri)
}

/// The signing hyper client, by payload mode: a signed payload must be a
/// `Full<Bytes>` in memory, an unsigned one streams the incoming body.
#[derive(Clone)]
enum Upstream {
    Signed(SigningService<Client<HttpsConnector, Full<Bytes>>>),
    Streaming(SigningService<Client<HttpsConnector, Body>>),
}

type HttpsConnector = hyper_rustls::HttpsConnector<HttpConnector>;

type UpstreamResult = Result<
    http::Response<aws_refresh_session::signing::ResponseBody<hyper::body::Incoming>>,
    SigningServiceError<hyper_util::client::legacy::Error>,
>;

/// A response the proxy makes itself: a status and a one-line plain-text
/// message.
type Rejection = (StatusCode, String);

struct Proxy {
    upstream: Upstream,
    scheme: Scheme,
    authority: Authority,
    host: HeaderValue,
    strip_headers: Vec<HeaderName>,
    max_body_size: usize,
    health_path: String,
}

/// Builds the proxy's router, signing with `session`'s credentials.
///
/// # Errors
///
/// A validation error for an invalid service or region.
pub(crate) fn router(session: &RefreshableSession, config: ProxyConfig) -> Result<Router, Error> {
    let layer = session.layer_with(config.signing_settings())?;
    let upstream = if config.unsigned_payload {
        Upstream::Streaming(layer.layer(Client::builder(TokioExecutor::new()).build(connector())))
    } else {
        Upstream::Signed(layer.layer(Client::builder(TokioExecutor::new()).build(connector())))
    };

    // `parse_endpoint` checked that both parts are present.
    let parts = config.endpoint.into_parts();
    let scheme = parts.scheme.unwrap_or(Scheme::HTTPS);
    let authority = parts
        .authority
        .ok_or_else(|| Error::configuration("the upstream endpoint has no host"))?;
    let host = HeaderValue::from_str(authority.as_str())
        .map_err(|_| Error::configuration("the upstream host is not a valid Host header"))?;

    let proxy = Proxy {
        upstream,
        scheme,
        authority,
        host,
        strip_headers: config.strip_headers,
        max_body_size: config.max_body_size,
        health_path: config.health_path,
    };
    Ok(Router::new().fallback(handle).with_state(Arc::new(proxy)))
}

/// HTTP/1.1 over rustls (ring, webpki roots), or plain HTTP for local
/// endpoints.
fn connector() -> HttpsConnector {
    hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
        // The ring provider supports the default protocol versions.
        .unwrap_or_else(|_| hyper_rustls::HttpsConnectorBuilder::new().with_webpki_roots())
        .https_or_http()
        .enable_http1()
        .build()
}

async fn handle(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    if request.method() == Method::GET && request.uri().path() == proxy.health_path {
        return (StatusCode::OK, "ok\n").into_response();
    }

    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    match proxy.forward(request).await {
        Ok(response) => response,
        Err((status, message)) => {
            tracing::warn!(%method, %path, status = status.as_u16(), error = %message, "request not forwarded");
            (status, format!("{message}\n")).into_response()
        }
    }
}

impl Proxy {
    async fn forward(&self, request: Request) -> Result<Response, Rejection> {
        let (mut parts, body) = request.into_parts();
        parts.uri = self.upstream_uri(&parts.uri)?;
        parts.headers = self.forwarded_headers(&parts.headers);
        // The upstream connection is HTTP/1.1 whatever the client spoke,
        // and axum's extensions mean nothing to hyper.
        parts.version = Version::HTTP_11;
        parts.extensions = http::Extensions::new();

        let result: UpstreamResult = match &self.upstream {
            Upstream::Signed(client) => {
                let body = self.buffer(&parts.headers, body).await?;
                parts.headers.remove(CONTENT_LENGTH);
                if !body.is_empty() {
                    parts.headers.insert(CONTENT_LENGTH, body.len().into());
                }
                let request = http::Request::from_parts(parts, Full::new(body));
                client.clone().oneshot(request).await
            }
            Upstream::Streaming(client) => {
                let request = http::Request::from_parts(parts, body);
                client.clone().oneshot(request).await
            }
        };

        match result {
            Ok(response) => {
                let (mut parts, body) = response.into_parts();
                remove_hop_by_hop(&mut parts.headers);
                Ok(Response::from_parts(parts, Body::new(body)))
            }
            // The crate's errors never carry a secret, so the cause can go
            // to the client.
            Err(SigningServiceError::Signing(error)) => Err((
                StatusCode::BAD_GATEWAY,
                format!("request not signed: {error}"),
            )),
            Err(SigningServiceError::Service(error)) => Err((
                StatusCode::BAD_GATEWAY,
                format!("upstream request failed: {}", error_chain(&error)),
            )),
        }
    }

    /// Puts the upstream's scheme and authority in front of the request's
    /// path and query, byte for byte: a percent-encoded S3 key must reach
    /// S3 (and the signature) exactly as the client encoded it.
    fn upstream_uri(&self, incoming: &Uri) -> Result<Uri, Rejection> {
        let path_and_query = incoming
            .path_and_query()
            .map_or("/", |path_and_query| path_and_query.as_str());
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(path_and_query)
            .build()
            .map_err(|error| {
                (
                    StatusCode::BAD_REQUEST,
                    format!("invalid request target: {error}"),
                )
            })
    }

    /// Copies the request headers minus hop-by-hop headers, the headers the
    /// client's `Connection` header names, `Expect` (the body is read here,
    /// not by the upstream) and the configured ones, with `Host` set to the
    /// upstream.
    fn forwarded_headers(&self, incoming: &HeaderMap) -> HeaderMap {
        let mut headers = incoming.clone();
        remove_hop_by_hop(&mut headers);
        for name in &self.strip_headers {
            headers.remove(name);
        }
        headers.remove(EXPECT);
        headers.insert(HOST, self.host.clone());
        headers
    }

    /// Reads the whole body, up to `max_body_size` bytes, for the payload
    /// hash.
    async fn buffer(&self, headers: &HeaderMap, body: Body) -> Result<Bytes, Rejection> {
        let too_large = || {
            (
                StatusCode::PAYLOAD_TOO_LARGE,
                format!(
                    "request body larger than the maximum of {} bytes; raise --max-body-size or use --unsigned-payload",
                    self.max_body_size
                ),
            )
        };

        let declared = headers
            .get(CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.parse::<u64>().ok());
        if declared.is_some_and(|length| length > self.max_body_size as u64) {
            return Err(too_large());
        }

        match Limited::new(body, self.max_body_size).collect().await {
            Ok(collected) => Ok(collected.to_bytes()),
            Err(error) if error.is::<LengthLimitError>() => Err(too_large()),
            Err(error) => Err((
                StatusCode::BAD_REQUEST,
                format!("failed to read the request body: {error}"),
            )),
        }
    }
}

/// Removes the hop-by-hop headers and those that `Connection` names.
fn remove_hop_by_hop(headers: &mut HeaderMap) {
    let named: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for name in named {
        headers.remove(name);
    }
    for name in HOP_BY_HOP_HEADERS {
        headers.remove(*name);
    }
}

/// Joins an error's `Display` with its sources': hyper's own message is
/// only "client error (Connect)".
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
