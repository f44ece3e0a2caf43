//! Cached signing hyper clients.

use std::fmt;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response, Uri};
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower::Service;

use super::{RefreshableSession, default_settings};
use crate::cache::{CacheKey, RedactedEndpoint};
use crate::error::Error;
use crate::signing::{ResponseBody, SigningService, SigningServiceError, SigningSettings};

/// The hyper client inside a [`SessionClient`]: HTTP/1.1 and HTTP/2 over
/// rustls (ring, webpki roots), plain HTTP allowed for local endpoints.
pub type HttpsClient = Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>;

/// The response body of a [`SessionClient`]: hyper's body, watched for
/// expired-token errors (see [`ResponseBody`]).
pub type ClientBody = ResponseBody<hyper::body::Incoming>;

/// A hyper client wrapped in the signing service, bound to an endpoint.
///
/// Requests whose URI has no scheme and host (`/path?query`) go to the
/// client's endpoint; absolute URIs are sent unchanged. Cloning is cheap.
#[derive(Clone)]
pub struct SessionClient {
    service: SigningService<HttpsClient>,
    endpoint: Uri,
    key: CacheKey,
}

impl SessionClient {
    /// Signs and sends `request`.
    ///
    /// # Errors
    ///
    /// [`SigningServiceError::Signing`] when the request could not be signed
    /// (it was not sent), or [`SigningServiceError::Service`] with hyper's
    /// error.
    pub async fn send(
        &self,
        request: Request<Full<Bytes>>,
    ) -> Result<Response<ClientBody>, SigningServiceError<hyper_util::client::legacy::Error>> {
        let mut service = self.service.clone();
        std::future::poll_fn(|cx| service.poll_ready(cx)).await?;
        service.call(self.resolve(request)?).await
    }

    /// Returns the endpoint relative URIs are sent to.
    pub fn endpoint(&self) -> &Uri {
        &self.endpoint
    }

    /// Returns the key this client is cached under.
    pub fn cache_key(&self) -> &CacheKey {
        &self.key
    }

    /// Returns the signing service.
    pub fn signing_service(&self) -> &SigningService<HttpsClient> {
        &self.service
    }

    fn resolve(&self, request: Request<Full<Bytes>>) -> Result<Request<Full<Bytes>>, Error> {
        if request.uri().authority().is_some() {
            return Ok(request);
        }
        let (mut parts, body) = request.into_parts();
        let path_and_query = parts
            .uri
            .path_and_query()
            .map(|path| path.as_str())
            .unwrap_or("/");
        let base = self.endpoint.to_string();
        let joined = format!("{}{}", base.trim_end_matches('/'), path_and_query);
        parts.uri = joined.parse().map_err(|error| {
            Error::validation(
                "uri",
                Some(path_and_query.to_owned()),
                format!(
                    "request path {path_and_query:?} does not form a valid URI with endpoint {base}"
                ),
            )
            .with_source(error)
        })?;
        Ok(Request::from_parts(parts, body))
    }
}

impl Service<Request<Full<Bytes>>> for SessionClient {
    type Response = Response<ClientBody>;
    type Error = SigningServiceError<hyper_util::client::legacy::Error>;
    type Future = crate::signing::ResponseFuture<HttpsClient, Full<Bytes>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.service.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Full<Bytes>>) -> Self::Future {
        match self.resolve(request) {
            Ok(request) => self.service.call(request),
            // hyper is never called, and the caller sees why.
            Err(error) => crate::signing::ResponseFuture::failed(error),
        }
    }
}

impl fmt::Debug for SessionClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionClient")
            .field("key", &self.key.to_string())
            .field("endpoint", &self.endpoint.to_string())
            .finish_non_exhaustive()
    }
}

impl RefreshableSession {
    /// Returns a signing hyper client for `service` in `region`, sending
    /// relative URIs to `https://<service>.<region>.amazonaws.com`.
    ///
    /// Clients are cached by service, region, endpoint and settings: a
    /// second call with the same arguments returns the cached client.
    ///
    /// NOTE: the endpoint follows the regional `<service>.<region>` host
    /// pattern only. Global services (IAM, for example) and endpoints whose
    /// host differs from the signing name need
    /// [`client_with`](Self::client_with).
    ///
    /// # Errors
    ///
    /// A validation error for an invalid service or region.
    pub fn client(&self, service: &str, region: &str) -> Result<SessionClient, Error> {
        // Checked first so the error names `service` or `region`, not the
        // endpoint URL built from them.
        let settings = default_settings(service, region);
        settings.validate()?;
        let endpoint = format!("https://{service}.{region}.amazonaws.com");
        self.client_with(settings, &endpoint)
    }

    /// Returns a signing hyper client with explicit settings, sending
    /// relative URIs to `endpoint`.
    ///
    /// # Errors
    ///
    /// A validation error for invalid settings or an endpoint that is not an
    /// absolute `http` or `https` URL.
    pub fn client_with(
        &self,
        settings: SigningSettings,
        endpoint: &str,
    ) -> Result<SessionClient, Error> {
        let endpoint = parse_endpoint(endpoint)?;
        let key = CacheKey::new(settings.service(), settings.region())
            .with_endpoint(endpoint.to_string())
            .with_fingerprint(CacheKey::fingerprint_of(&format!("{settings:?}")));

        self.inner.clients.get_or_try_insert_with(key.clone(), || {
            let layer = self.layer_with(settings)?;
            Ok::<_, Error>(SessionClient {
                service: tower::Layer::layer(&layer, https_client()),
                endpoint,
                key,
            })
        })
    }

    /// Returns the client cache.
    pub fn client_cache(&self) -> &crate::cache::ClientCache<CacheKey, SessionClient> {
        &self.inner.clients
    }
}

fn parse_endpoint(endpoint: &str) -> Result<Uri, Error> {
    // A password in `user:password@` must not reach the error's value or
    // message, which callers log.
    let redacted = RedactedEndpoint(endpoint);
    let shown = redacted.to_string();
    let invalid = |reason: &str| {
        Error::validation(
            "endpoint",
            Some(shown.clone()),
            format!(
                "endpoint {shown:?} {reason}; pass an absolute URL such as https://s3.us-east-1.amazonaws.com"
            ),
        )
    };

    if redacted.has_userinfo() {
        return Err(invalid(
            "contains user information, which SigV4 requests do not use; remove the `user:password@` part",
        ));
    }

    let uri: Uri = endpoint
        .parse()
        .map_err(|_| invalid("is not a valid URL"))?;

    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(invalid("has no http or https scheme")),
    }
    if uri.authority().is_none() {
        return Err(invalid("has no host"));
    }
    if uri.query().is_some() {
        return Err(invalid("has a query string"));
    }
    if !crate::cache::has_valid_port(&uri) {
        return Err(invalid("has a port outside 1 to 65535"));
    }
    Ok(uri)
}

fn https_client() -> HttpsClient {
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
        // The ring provider supports the default protocol versions.
        .unwrap_or_else(|_| hyper_rustls::HttpsConnectorBuilder::new().with_webpki_roots())
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .build();
    Client::builder(TokioExecutor::new()).build(connector)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_must_be_absolute_http() {
        for bad in [
            "127.0.0.1:5000",
            "ftp://example.test",
            "/path",
            "http://host/?a=b",
            "not a url",
        ] {
            let error = parse_endpoint(bad).unwrap_err();
            assert_eq!(error.parameter(), Some("endpoint"), "{bad}");
            assert_eq!(error.value(), Some(bad));
        }
        assert!(parse_endpoint("http://127.0.0.1:5000").is_ok());
    }
}
