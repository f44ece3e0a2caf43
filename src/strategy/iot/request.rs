//! One credentials request: connect, mutual-TLS handshake, `GET`, read the
//! response.
//!
//! Each refresh opens a new connection with the source's shared TLS
//! configuration. Refreshes are minutes to hours apart, which is longer than
//! servers usually keep an idle connection, so a pooled connection would
//! rarely survive. The shared configuration still resumes the TLS session.

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use zeroize::Zeroizing;

use super::config::IotConfig;
use super::tls::{find_tls_error, tls_failure};
use crate::error::Error;

/// The header that names the thing the certificate is attached to.
pub(crate) const THING_NAME_HEADER: &str = "x-amzn-iot-thingname";

/// The header that requests a credential lifetime in seconds.
pub(crate) const DURATION_HEADER: &str = "x-amzn-iot-credential-duration-seconds";

/// The maximum response body read: 64 KiB. The provider's responses are
/// about 1 KiB.
const MAX_BODY_BYTES: usize = 64 * 1024;

/// A response as read from the provider. The body may hold secrets.
pub(crate) struct RawResponse {
    pub(crate) status: StatusCode,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Zeroizing<Vec<u8>>,
}

/// Sends the credentials request and reads the whole response.
pub(crate) async fn send(
    config: &IotConfig,
    tls: &Arc<ClientConfig>,
) -> Result<RawResponse, Error> {
    let endpoint = &config.endpoint;

    let tcp = TcpStream::connect((endpoint.host(), endpoint.port()))
        .await
        .map_err(|error| {
            Error::connection(format!(
                "connecting to the IoT credentials provider at {endpoint} failed; check the endpoint and the network"
            ))
            .with_source(error)
        })?;
    // The request is one small write; do not hold it back for coalescing.
    let _ = tcp.set_nodelay(true);

    let server_name = endpoint.server_name()?;
    let stream = TlsConnector::from(Arc::clone(tls))
        .connect(server_name, tcp)
        .await
        .map_err(|error| match find_tls_error(&error) {
            Some(tls_error) => tls_failure(tls_error, endpoint),
            None => Error::connection(format!("the TLS handshake with {endpoint} failed"))
                .with_source(error),
        })?;

    let (mut sender, connection) =
        hyper::client::conn::http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
            .await
            .map_err(|error| {
                Error::connection(format!("starting HTTP/1.1 with {endpoint} failed"))
                    .with_source(error)
            })?;
    let connection = tokio::spawn(connection);
    // Stops the connection task if this request is dropped (for example by
    // the timeout), so a provider that never responds leaks no task.
    let _abort = AbortOnDrop(connection.abort_handle());

    let request = build_request(config)?;
    let response = match sender.send_request(request).await {
        Ok(response) => response,
        Err(error) => {
            // With TLS 1.3 the server's verdict on the client certificate
            // arrives after the handshake, on the first read. So the
            // connection task, not the request, may have that error.
            let connection_error = match connection.await {
                Ok(Err(error)) => Some(error),
                _ => None,
            };
            return Err(transport_failure(error, connection_error, endpoint));
        }
    };

    let (parts, body) = response.into_parts();
    let body = Limited::new(body, MAX_BODY_BYTES)
        .collect()
        .await
        .map_err(|error| {
            Error::connection(format!(
                "reading the response from {endpoint} failed; the connection broke or the body exceeded {MAX_BODY_BYTES} bytes"
            ))
            .with_source(error)
        })?;

    Ok(RawResponse {
        status: parts.status,
        headers: parts.headers,
        body: Zeroizing::new(body.to_bytes().to_vec()),
    })
}

fn build_request(config: &IotConfig) -> Result<Request<Empty<Bytes>>, Error> {
    let mut builder = Request::get(config.request_path())
        .header(http::header::HOST, config.endpoint.authority())
        .header(
            http::header::USER_AGENT,
            concat!("aws-refresh-session/", env!("CARGO_PKG_VERSION")),
        )
        .header(http::header::ACCEPT, "application/json");
    if let Some(thing_name) = &config.thing_name {
        // Validated to letters, digits and `:_-`, so always a valid value.
        builder = builder.header(
            THING_NAME_HEADER,
            HeaderValue::from_str(thing_name).map_err(|error| {
                Error::validation(
                    "thing_name",
                    Some(thing_name.clone()),
                    "`thing_name` is not a valid header value",
                )
                .with_source(error)
            })?,
        );
    }
    if let Some(duration) = config.duration {
        builder = builder.header(DURATION_HEADER, duration.as_secs().to_string());
    }

    builder.body(Empty::new()).map_err(|error| {
        Error::configuration("the credentials request could not be built").with_source(error)
    })
}

fn transport_failure(
    request_error: hyper::Error,
    connection_error: Option<hyper::Error>,
    endpoint: &super::endpoint::Endpoint,
) -> Error {
    let tls_error = find_tls_error(&request_error).or_else(|| {
        connection_error
            .as_ref()
            .and_then(|error| find_tls_error(error))
    });
    if let Some(tls_error) = tls_error {
        return tls_failure(tls_error, endpoint);
    }

    let message = if request_error.is_incomplete_message()
        || request_error.is_canceled()
        || is_closed_by_peer(&request_error)
    {
        format!(
            "the IoT credentials provider at {endpoint} closed the connection before responding"
        )
    } else {
        format!("the credentials request to {endpoint} failed")
    };
    Error::connection(message).with_source(request_error)
}

/// Returns whether the peer closed or reset the connection, which a TLS
/// stream reports as an unexpected EOF (no `close_notify`).
fn is_closed_by_peer(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(error) = current {
        if let Some(io) = error.downcast_ref::<std::io::Error>() {
            return matches!(
                io.kind(),
                std::io::ErrorKind::UnexpectedEof
                    | std::io::ErrorKind::ConnectionReset
                    | std::io::ErrorKind::ConnectionAborted
                    | std::io::ErrorKind::BrokenPipe
            );
        }
        current = error.source();
    }
    false
}

struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
