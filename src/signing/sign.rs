//! Signing one request: the pure function that the layer and the presigner
//! build on.

use std::any::Any;
use std::time::SystemTime;

use aws_sigv4::http_request::{SignableBody, SignableRequest, SignatureLocation, sign};
use aws_sigv4::sign::v4::SigningParams;
use bytes::Bytes;
use http::header::{AUTHORIZATION, HOST, HeaderName, HeaderValue};
use http_body::Body;
use http_body_util::{Empty, Full};

use super::settings::{PayloadMode, SigningSettings};
use crate::credentials::{Credentials, format_rfc3339};
use crate::error::Error;

pub(crate) const X_AMZ_DATE: HeaderName = HeaderName::from_static("x-amz-date");
pub(crate) const X_AMZ_SECURITY_TOKEN: HeaderName = HeaderName::from_static("x-amz-security-token");
pub(crate) const X_AMZ_CONTENT_SHA256: HeaderName = HeaderName::from_static("x-amz-content-sha256");

/// The payload hash of a request whose body is not signed.
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// The body as it enters the signature.
pub(crate) enum Payload {
    Bytes(Bytes),
    Unsigned,
    Precomputed(String),
}

impl Payload {
    pub(crate) fn signable(&self) -> SignableBody<'_> {
        match self {
            Payload::Bytes(bytes) => SignableBody::Bytes(bytes),
            Payload::Unsigned => SignableBody::UnsignedPayload,
            Payload::Precomputed(hash) => SignableBody::Precomputed(hash.clone()),
        }
    }
}

/// Signs `request` with SigV4 in its headers, for `time`.
///
/// Any `authorization`, `x-amz-date`, `x-amz-security-token` and
/// `x-amz-content-sha256` headers from an earlier signature are replaced, so
/// a retried request is signed afresh and never carries two values. In
/// [`PayloadMode::Precomputed`] the caller's `x-amz-content-sha256` is the
/// payload hash and stays on the request, signed. `authorization` and
/// `x-amz-security-token` are marked sensitive.
///
/// # Errors
///
/// A signing, validation or expired error, and the request is left
/// untouched, when:
///
/// - the settings are invalid ([`SigningSettings::validate`]);
/// - the credentials expired at or before `time`;
/// - the URI has no host and there is no `Host` header;
/// - a header value is not UTF-8;
/// - the payload mode is [`PayloadMode::Signed`] and the body is not held
///   in memory, or [`PayloadMode::Precomputed`] and the request has no
///   valid `x-amz-content-sha256` header.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use aws_refresh_session::Credentials;
/// use aws_refresh_session::signing::{SigningSettings, sign_request};
/// use bytes::Bytes;
/// use http_body_util::Full;
///
/// let credentials = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None, None);
/// let settings = SigningSettings::new("service", "us-east-1");
/// let mut request = http::Request::get("https://example.amazonaws.com/")
///     .body(Full::new(Bytes::new()))
///     .unwrap();
///
/// let time = UNIX_EPOCH + Duration::from_secs(1_440_938_160);
/// sign_request(&mut request, &credentials, &settings, time)?;
///
/// assert_eq!(request.headers()["x-amz-date"], "20150830T123600Z");
/// assert!(request.headers()["authorization"].is_sensitive());
/// # Ok::<(), aws_refresh_session::Error>(())
/// ```
pub fn sign_request<B>(
    request: &mut http::Request<B>,
    credentials: &Credentials,
    settings: &SigningSettings,
    time: SystemTime,
) -> Result<(), Error>
where
    B: Body + 'static,
{
    settings.validate()?;
    check_not_expired(credentials, time)?;
    let payload = payload_for(request, settings, false)?;

    let mut sigv4_settings = settings.to_sigv4(SignatureLocation::Headers);
    if matches!(payload, Payload::Precomputed(_)) {
        // The caller's hash header is part of the request AWS receives, so
        // it is signed whatever the service.
        sigv4_settings.payload_checksum_kind =
            aws_sigv4::http_request::PayloadChecksumKind::XAmzSha256;
    }
    let uri = request.uri().to_string();
    let shown = describe_uri(request.uri());
    let headers = signable_headers(request)?;
    check_host(request)?;

    // The stale signing headers were left out of `headers` above; handing
    // them to aws-sigv4 would append a second value to the canonical request.
    let request_parts = RequestParts {
        method: request.method().as_str(),
        uri: &uri,
        shown: &shown,
        headers,
        payload: &payload,
    };
    let (instructions, _signature) = run_aws_sigv4(
        request_parts,
        credentials.identity(),
        settings,
        sigv4_settings,
        time,
        SigningKind::Headers,
    )?
    .into_parts();

    // Build every new value before touching the request, so a failure
    // leaves it as it was.
    let (new_headers, _) = instructions.into_parts();
    let mut values = Vec::with_capacity(new_headers.len());
    for header in &new_headers {
        let name = HeaderName::from_bytes(header.name().as_bytes()).map_err(|error| {
            Error::signing(format!(
                "aws-sigv4 produced an invalid header name {:?}",
                header.name()
            ))
            .with_source(error)
        })?;
        let mut value = HeaderValue::from_str(header.value()).map_err(|error| {
            Error::signing(format!(
                "aws-sigv4 produced an invalid value for the {name} header"
            ))
            .with_source(error)
        })?;
        value.set_sensitive(header.sensitive() || is_sensitive(&name));
        values.push((name, value));
    }

    let request_headers = request.headers_mut();
    for stale in [
        AUTHORIZATION,
        X_AMZ_DATE,
        X_AMZ_SECURITY_TOKEN,
        X_AMZ_CONTENT_SHA256,
    ] {
        request_headers.remove(stale);
    }
    for (name, value) in values {
        request_headers.insert(name, value);
    }
    Ok(())
}

/// The parts of a request that `run_aws_sigv4` signs.
pub(crate) struct RequestParts<'a> {
    pub(crate) method: &'a str,
    pub(crate) uri: &'a str,
    /// The URI as errors show it, without its query string.
    pub(crate) shown: &'a str,
    pub(crate) headers: Vec<(&'a str, &'a str)>,
    pub(crate) payload: &'a Payload,
}

/// Whether the signature goes into headers or into a presigned URL.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum SigningKind {
    Headers,
    Presigned,
}

/// Signs `parts` with `aws-sigv4` and returns its output, mapping every
/// failure to a signing error that names the URI.
pub(crate) fn run_aws_sigv4(
    parts: RequestParts<'_>,
    identity: &aws_smithy_runtime_api::client::identity::Identity,
    settings: &SigningSettings,
    sigv4_settings: aws_sigv4::http_request::SigningSettings,
    time: SystemTime,
    kind: SigningKind,
) -> Result<aws_sigv4::SigningOutput<aws_sigv4::http_request::SigningInstructions>, Error> {
    let shown = parts.shown;
    let verb = match kind {
        SigningKind::Headers => "signed",
        SigningKind::Presigned => "presigned",
    };
    let signable = SignableRequest::new(
        parts.method,
        parts.uri,
        parts.headers.into_iter(),
        parts.payload.signable(),
    )
    .map_err(|error| {
        Error::signing(format!(
            "the request URI {shown:?} cannot be {verb}; pass an absolute URI such as https://sts.us-east-1.amazonaws.com/"
        ))
        .with_source(error)
    })?;
    let params = SigningParams::builder()
        .identity(identity)
        .region(settings.region())
        .name(settings.service())
        .time(time)
        .settings(sigv4_settings)
        .build()
        .map_err(|error| {
            Error::signing("the signing parameters are incomplete").with_source(error)
        })?
        .into();

    let output = match kind {
        SigningKind::Headers => sign(signable, &params),
        // aws-sigv4 1.6.6 logs the canonical request at TRACE level and
        // redacts only header values. In query signing the session token
        // sits in the canonical query string, so its events are silenced.
        SigningKind::Presigned => {
            tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), || {
                sign(signable, &params)
            })
        }
    };
    output.map_err(|error| {
        Error::signing(format!(
            "signing the {} request to {shown:?} failed; check the URI and header values",
            parts.method
        ))
        .with_source(error)
    })
}

/// Describes a URI for errors and logs without its user information and
/// query, which may carry a password or a presigned URL's session token.
pub(crate) fn describe_uri(uri: &http::Uri) -> String {
    let mut shown = String::new();
    if let Some(scheme) = uri.scheme_str() {
        shown.push_str(scheme);
        shown.push_str("://");
    }
    if let Some(authority) = uri.authority() {
        shown.push_str(authority.host());
        if let Some(port) = authority.port() {
            shown.push(':');
            shown.push_str(port.as_str());
        }
    }
    shown.push_str(uri.path());
    if uri.query().is_some() {
        shown.push_str("?…");
    }
    shown
}

/// Returns whether a header carries a credential.
pub(crate) fn is_sensitive(name: &HeaderName) -> bool {
    *name == AUTHORIZATION || *name == X_AMZ_SECURITY_TOKEN
}

pub(crate) fn check_not_expired(credentials: &Credentials, time: SystemTime) -> Result<(), Error> {
    match credentials.expiry() {
        Some(expiry) if expiry <= time => Err(Error::expired(format!(
            "the credentials of access key {} expired at {}, before the signing time {}; refresh them and sign again",
            credentials.access_key_id(),
            format_rfc3339(expiry),
            format_rfc3339(time),
        ))),
        _ => Ok(()),
    }
}

pub(crate) fn check_host<B>(request: &http::Request<B>) -> Result<(), Error> {
    // aws-sigv4 panics when it finds neither (it derives the `host`
    // canonical header from them).
    if request.uri().host().is_some() || request.headers().contains_key(HOST) {
        return Ok(());
    }
    Err(Error::signing(format!(
        "the request URI {:?} has no host and the request has no Host header; pass an absolute URI such as https://sts.us-east-1.amazonaws.com/",
        describe_uri(request.uri())
    )))
}

/// Collects the headers aws-sigv4 should see: every header except the
/// signing headers it sets itself.
pub(crate) fn signable_headers<B>(request: &http::Request<B>) -> Result<Vec<(&str, &str)>, Error> {
    let mut headers = Vec::with_capacity(request.headers().len());
    for (name, value) in request.headers() {
        if *name == AUTHORIZATION
            || *name == X_AMZ_DATE
            || *name == X_AMZ_SECURITY_TOKEN
            || *name == X_AMZ_CONTENT_SHA256
        {
            continue;
        }
        let value = std::str::from_utf8(value.as_bytes()).map_err(|_| {
            Error::signing(format!(
                "the value of header {name} is not valid UTF-8, so it cannot be signed; send it as UTF-8 or leave it out with SigningSettings::exclude_header"
            ))
        })?;
        headers.push((name.as_str(), value));
    }
    Ok(headers)
}

/// Works out the payload hash input for `request` under `settings`.
///
/// `presign` selects the rules for presigned URLs, where S3 always uses
/// `UNSIGNED-PAYLOAD`.
pub(crate) fn payload_for<B>(
    request: &http::Request<B>,
    settings: &SigningSettings,
    presign: bool,
) -> Result<Payload, Error>
where
    B: Body + 'static,
{
    if presign && settings.uses_s3_rules() {
        return Ok(Payload::Unsigned);
    }
    match settings.payload_mode() {
        PayloadMode::Unsigned => Ok(Payload::Unsigned),
        PayloadMode::Precomputed => precomputed_hash(request).map(Payload::Precomputed),
        PayloadMode::Signed => in_memory_body(request.body())
            .map(Payload::Bytes)
            .ok_or_else(|| {
                Error::signing(format!(
                    "the request body of type {} is not held in memory, so its SHA-256 cannot be signed; use PayloadMode::Unsigned or PayloadMode::Precomputed, or buffer the body into http_body_util::Full<Bytes>",
                    std::any::type_name::<B>()
                ))
            }),
    }
}

fn precomputed_hash<B>(request: &http::Request<B>) -> Result<String, Error> {
    let Some(value) = request.headers().get(X_AMZ_CONTENT_SHA256) else {
        return Err(Error::signing(
            "PayloadMode::Precomputed needs the body's hex SHA-256 (or UNSIGNED-PAYLOAD) in the x-amz-content-sha256 header, and the request has none; set the header or use another payload mode",
        ));
    };
    let hash = value.to_str().unwrap_or_default();
    let is_hex_sha256 = hash.len() == 64 && hash.bytes().all(|byte| byte.is_ascii_hexdigit());
    if is_hex_sha256 || hash == UNSIGNED_PAYLOAD || hash.starts_with("STREAMING-") {
        return Ok(hash.to_owned());
    }
    Err(Error::signing(format!(
        "the x-amz-content-sha256 header {:?} is not a hex SHA-256, UNSIGNED-PAYLOAD or a STREAMING- value; set it to the body's hex SHA-256",
        String::from_utf8_lossy(value.as_bytes())
    )))
}

/// Returns the bytes of a body that is held in memory, without polling it.
fn in_memory_body<B>(body: &B) -> Option<Bytes>
where
    B: Body + 'static,
{
    if body.size_hint().exact() == Some(0) {
        return Some(Bytes::new());
    }

    let any = body as &dyn Any;
    if let Some(full) = any.downcast_ref::<Full<Bytes>>() {
        // `Full` is a cheap clone around one `Bytes` (a reference count).
        return Some(full.clone().into_inner().unwrap_or_default());
    }
    if let Some(full) = any.downcast_ref::<Full<&'static [u8]>>() {
        return Some(Bytes::from_static(full.into_inner().unwrap_or_default()));
    }
    if let Some(text) = any.downcast_ref::<String>() {
        return Some(Bytes::copy_from_slice(text.as_bytes()));
    }
    if any.is::<Empty<Bytes>>() || any.is::<Empty<&'static [u8]>>() {
        return Some(Bytes::new());
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    use http_body_util::StreamBody;

    fn credentials() -> Credentials {
        Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            Some("session-token".into()),
            None,
        )
    }

    fn time() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_440_938_160)
    }

    #[test]
    fn full_body_is_read_without_polling() {
        let body = Full::new(Bytes::from_static(b"hello"));

        assert_eq!(in_memory_body(&body), Some(Bytes::from_static(b"hello")));
    }

    #[test]
    fn string_body_is_read() {
        assert_eq!(
            in_memory_body(&String::from("hi")),
            Some(Bytes::from_static(b"hi"))
        );
    }

    #[test]
    fn empty_body_hashes_as_empty() {
        assert_eq!(in_memory_body(&Empty::<Bytes>::new()), Some(Bytes::new()));
    }

    #[test]
    fn streaming_body_in_signed_mode_is_rejected() {
        let stream = futures_util::stream::iter(Vec::<
            Result<http_body::Frame<Bytes>, std::convert::Infallible>,
        >::new());
        let mut request = http::Request::get("https://example.amazonaws.com/")
            .body(StreamBody::new(stream))
            .unwrap();

        let error = sign_request(
            &mut request,
            &credentials(),
            &SigningSettings::new("service", "us-east-1"),
            time(),
        )
        .unwrap_err();

        assert!(error.is_signing());
        assert!(error.message().contains("PayloadMode::Unsigned"));
        assert!(request.headers().is_empty());
    }

    #[test]
    fn non_utf8_header_leaves_request_untouched() {
        let mut request = http::Request::get("https://example.amazonaws.com/")
            .header("x-custom", HeaderValue::from_bytes(b"\xff\xfe").unwrap())
            .header("x-amz-date", "stale")
            .body(String::new())
            .unwrap();

        let error = sign_request(
            &mut request,
            &credentials(),
            &SigningSettings::new("service", "us-east-1"),
            time(),
        )
        .unwrap_err();

        assert!(error.message().contains("x-custom"));
        assert_eq!(request.headers()["x-amz-date"], "stale");
        assert!(!request.headers().contains_key("authorization"));
    }

    #[test]
    fn relative_uri_without_host_is_rejected() {
        let mut request = http::Request::get("/path").body(String::new()).unwrap();

        let error = sign_request(
            &mut request,
            &credentials(),
            &SigningSettings::new("service", "us-east-1"),
            time(),
        )
        .unwrap_err();

        assert!(error.is_signing());
        assert!(error.message().contains("no host"));
    }

    #[test]
    fn expired_credentials_are_rejected() {
        let expired = Credentials::new("AKIDEXAMPLE", "secret", None, Some(time()));
        let mut request = http::Request::get("https://example.amazonaws.com/")
            .body(String::new())
            .unwrap();

        let error = sign_request(
            &mut request,
            &expired,
            &SigningSettings::new("service", "us-east-1"),
            time(),
        )
        .unwrap_err();

        assert!(error.is_expired());
        assert!(request.headers().is_empty());
    }

    #[test]
    fn precomputed_mode_requires_hash_header() {
        let mut request = http::Request::put("https://example.amazonaws.com/")
            .body(String::from("x"))
            .unwrap();
        let settings =
            SigningSettings::new("service", "us-east-1").payload(PayloadMode::Precomputed);

        let error = sign_request(&mut request, &credentials(), &settings, time()).unwrap_err();

        assert!(error.message().contains("x-amz-content-sha256"));
    }

    #[test]
    fn precomputed_hash_header_is_kept_and_signed() {
        let hash = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";
        let mut request = http::Request::put("https://example.amazonaws.com/")
            .header("x-amz-content-sha256", hash)
            .body(String::from("hello"))
            .unwrap();
        let settings =
            SigningSettings::new("service", "us-east-1").payload(PayloadMode::Precomputed);

        sign_request(&mut request, &credentials(), &settings, time()).unwrap();

        let values: Vec<_> = request
            .headers()
            .get_all("x-amz-content-sha256")
            .iter()
            .collect();
        assert_eq!(values, [hash]);
        let authorization = request.headers()["authorization"].to_str().unwrap();
        assert!(authorization.contains("x-amz-content-sha256"));
    }
}
