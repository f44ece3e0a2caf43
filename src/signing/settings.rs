//! Signing settings: service, region, payload mode and per-service rules.

use std::borrow::Cow;

use aws_sigv4::http_request::{
    PayloadChecksumKind, PercentEncodingMode, SessionTokenMode, SignatureLocation,
    UriPathNormalizationMode,
};

use crate::error::Error;

/// Headers left out of the signature because proxies, HTTP clients or
/// tracing systems add, drop or rewrite them on the way to AWS.
///
/// Value: `authorization`, `user-agent`, `expect`, `x-amzn-trace-id`,
/// `traceparent`, `tracestate`, and the hop-by-hop headers of RFC 9110
/// section 7.6.1 (`connection`, `keep-alive`, `proxy-authenticate`,
/// `proxy-authorization`, `te`, `trailer`, `transfer-encoding`, `upgrade`).
/// botocore leaves `user-agent`, `expect`, `x-amzn-trace-id` and
/// `transfer-encoding` unsigned too, so verifiers built on it (moto) accept
/// these signatures. `content-length` stays signed, as the official SigV4
/// test suite expects.
pub const DEFAULT_EXCLUDED_HEADERS: &[&str] = &[
    "authorization",
    "user-agent",
    "expect",
    "x-amzn-trace-id",
    "traceparent",
    "tracestate",
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The payload mode of [`SigningSettings::new`] and [`SigningSettings::s3`]:
/// [`PayloadMode::Signed`].
pub const DEFAULT_PAYLOAD_MODE: PayloadMode = PayloadMode::Signed;

/// The way the request body enters the signature.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PayloadMode {
    /// The SHA-256 of the body is signed. The body must be held in memory:
    /// `http_body_util::Full<Bytes>`, `String`, or any body whose
    /// `size_hint().exact()` is `Some(0)` (such as
    /// `http_body_util::Empty<Bytes>`). Other bodies are rejected with a
    /// signing error, because hashing a stream would mean buffering it.
    #[default]
    Signed,
    /// The payload hash is the literal `UNSIGNED-PAYLOAD`, for streams such as
    /// gRPC or large S3 uploads. Any body type works.
    Unsigned,
    /// The caller supplies the hex SHA-256 of the body in the
    /// `x-amz-content-sha256` header; that header is kept and signed. Any
    /// body type works. A request without the header is rejected.
    Precomputed,
}

/// Settings for SigV4 signing: what service and region to sign for, and
/// which of AWS's per-service rules apply.
///
/// Build one with [`SigningSettings::new`] (rules for every service except
/// S3) or [`SigningSettings::s3`], then adjust it with the consuming setters.
///
/// # Examples
///
/// ```
/// use aws_refresh_session::signing::{PayloadMode, SigningSettings};
///
/// let sts = SigningSettings::new("sts", "us-east-1");
/// assert_eq!(sts.payload_mode(), PayloadMode::Signed);
///
/// let uploads = SigningSettings::s3("eu-west-1").payload(PayloadMode::Unsigned);
/// assert!(uploads.sets_content_sha256_header());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SigningSettings {
    service: String,
    region: String,
    payload: PayloadMode,
    s3_rules: bool,
    content_sha256_header: bool,
    excluded_headers: Vec<Cow<'static, str>>,
    learn_clock_skew: bool,
    double_encode_path: bool,
    normalize_path: bool,
    sign_session_token: bool,
    invalidate_on_expired_token: bool,
}

impl SigningSettings {
    /// Creates settings for `service` (the signing name in the credential
    /// scope, such as `sts` or `execute-api`) in `region`, with the rules of
    /// every service except S3. The URI path is percent-encoded a second time
    /// and normalised (RFC 3986 dot segments and repeated slashes), and no
    /// `x-amz-content-sha256` header is added.
    pub fn new(service: impl Into<String>, region: impl Into<String>) -> Self {
        SigningSettings {
            service: service.into(),
            region: region.into(),
            payload: DEFAULT_PAYLOAD_MODE,
            s3_rules: false,
            content_sha256_header: false,
            excluded_headers: DEFAULT_EXCLUDED_HEADERS
                .iter()
                .map(|name| Cow::Borrowed(*name))
                .collect(),
            learn_clock_skew: true,
            double_encode_path: true,
            normalize_path: true,
            sign_session_token: true,
            invalidate_on_expired_token: true,
        }
    }

    /// Creates settings for S3 in `region`: the URI path is signed as sent
    /// (single encoding, no normalisation, because object keys may contain
    /// `//`, `.` and `..`), `x-amz-content-sha256` is always set and signed,
    /// and presigned URLs use `UNSIGNED-PAYLOAD`.
    pub fn s3(region: impl Into<String>) -> Self {
        let mut settings = SigningSettings::new("s3", region);
        settings.s3_rules = true;
        settings.content_sha256_header = true;
        settings.double_encode_path = false;
        settings.normalize_path = false;
        settings
    }

    /// Sets how the body enters the signature. Defaults to
    /// [`DEFAULT_PAYLOAD_MODE`] ([`PayloadMode::Signed`]).
    pub fn payload(mut self, mode: PayloadMode) -> Self {
        self.payload = mode;
        self
    }

    /// Sets whether the payload hash is also sent and signed as the
    /// `x-amz-content-sha256` header. Defaults to `false` for
    /// [`SigningSettings::new`] and `true` for [`SigningSettings::s3`].
    ///
    /// Non-S3 services reject a signature that includes the header with
    /// `UNSIGNED-PAYLOAD`; moto needs it on GET-style calls.
    pub fn content_sha256_header(mut self, enabled: bool) -> Self {
        self.content_sha256_header = enabled;
        self
    }

    /// Leaves the header `name` (case-insensitive) out of the signature, in
    /// addition to [`DEFAULT_EXCLUDED_HEADERS`].
    pub fn exclude_header(mut self, name: impl Into<String>) -> Self {
        let name = name.into().to_ascii_lowercase();
        if !self.excluded_headers.iter().any(|known| *known == name) {
            self.excluded_headers.push(Cow::Owned(name));
        }
        self
    }

    /// Sets whether the signing layer learns the clock skew from the `Date`
    /// header of AWS error responses and signs with the corrected time.
    /// Defaults to `true`.
    pub fn learn_clock_skew(mut self, enabled: bool) -> Self {
        self.learn_clock_skew = enabled;
        self
    }

    /// Sets whether the URI path, already percent-encoded on the request,
    /// is percent-encoded a second time in the canonical request. Defaults
    /// to `true` for [`SigningSettings::new`] and `false` for
    /// [`SigningSettings::s3`], as AWS's services expect.
    pub fn double_encode_path(mut self, enabled: bool) -> Self {
        self.double_encode_path = enabled;
        self
    }

    /// Sets whether the URI path is normalised (RFC 3986 dot segments and
    /// repeated slashes removed) in the canonical request. Defaults to
    /// `true` for [`SigningSettings::new`] and `false` for
    /// [`SigningSettings::s3`].
    pub fn normalize_path(mut self, enabled: bool) -> Self {
        self.normalize_path = enabled;
        self
    }

    /// Sets whether the `x-amz-security-token` header is part of the
    /// signature. Defaults to `true`, which every AWS service accepts; with
    /// `false` the header is still sent, unsigned, which only a few
    /// endpoints expect. Presigned URLs use
    /// [`PresignOptions::session_token_after_signing`](super::PresignOptions::session_token_after_signing)
    /// instead.
    pub fn sign_session_token(mut self, enabled: bool) -> Self {
        self.sign_session_token = enabled;
        self
    }

    /// Sets whether the signing service invalidates the credentials that
    /// signed a request when AWS rejects it with `ExpiredToken`,
    /// `ExpiredTokenException` or `InvalidToken`, so the next request waits
    /// for fresh ones. Defaults to `true`.
    ///
    /// The code is read from the `x-amzn-ErrorType` header (JSON protocols)
    /// or from the first [`MAX_SCANNED_BODY_BYTES`](super::MAX_SCANNED_BODY_BYTES)
    /// of a 400 or 403 response body as it streams by (XML protocols such as
    /// STS and S3). With `false`, responses pass through untouched.
    pub fn invalidate_on_expired_token(mut self, enabled: bool) -> Self {
        self.invalidate_on_expired_token = enabled;
        self
    }

    /// Returns the service's signing name.
    pub fn service(&self) -> &str {
        &self.service
    }

    /// Returns the region.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Returns the payload mode.
    pub fn payload_mode(&self) -> PayloadMode {
        self.payload
    }

    /// Returns whether S3's rules apply.
    pub fn uses_s3_rules(&self) -> bool {
        self.s3_rules
    }

    /// Returns whether `x-amz-content-sha256` is set and signed.
    pub fn sets_content_sha256_header(&self) -> bool {
        self.content_sha256_header
    }

    /// Returns the lowercase names of the headers left out of the signature.
    pub fn excluded_headers(&self) -> impl Iterator<Item = &str> {
        self.excluded_headers.iter().map(|name| name.as_ref())
    }

    /// Returns whether the layer learns clock skew from responses.
    pub fn learns_clock_skew(&self) -> bool {
        self.learn_clock_skew
    }

    /// Returns whether rejected credentials are invalidated; see
    /// [`invalidate_on_expired_token`](Self::invalidate_on_expired_token).
    pub fn invalidates_on_expired_token(&self) -> bool {
        self.invalidate_on_expired_token
    }

    /// Checks the service, the region and the excluded header names.
    ///
    /// # Errors
    ///
    /// A validation error naming `service` or `region` when it is empty or
    /// contains a character outside ASCII letters, digits, `-`, `_` and `.`,
    /// or naming `excluded_headers` for a name that is not a valid HTTP
    /// header name.
    pub fn validate(&self) -> Result<(), Error> {
        validate_scope_part("service", &self.service, "sts")?;
        validate_scope_part("region", &self.region, "us-east-1")?;

        // A name that no header can have would never match, so the header
        // the caller meant to leave out would still be signed.
        for name in &self.excluded_headers {
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                return Err(Error::validation(
                    "excluded_headers",
                    Some(name.to_string()),
                    format!(
                        "the excluded header name {name:?} is not a valid HTTP header name; pass a name such as \"x-amzn-trace-id\""
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Builds `aws-sigv4`'s settings for signing in headers or in the query.
    pub(crate) fn to_sigv4(
        &self,
        location: SignatureLocation,
    ) -> aws_sigv4::http_request::SigningSettings {
        let mut settings = aws_sigv4::http_request::SigningSettings::default();
        settings.signature_location = location;
        settings.excluded_headers = Some(self.excluded_headers.clone());
        settings.percent_encoding_mode = if self.double_encode_path {
            PercentEncodingMode::Double
        } else {
            PercentEncodingMode::Single
        };
        settings.uri_path_normalization_mode = if self.normalize_path {
            UriPathNormalizationMode::Enabled
        } else {
            UriPathNormalizationMode::Disabled
        };
        settings.payload_checksum_kind = if self.content_sha256_header {
            PayloadChecksumKind::XAmzSha256
        } else {
            PayloadChecksumKind::NoHeader
        };
        settings.session_token_mode = if self.sign_session_token {
            SessionTokenMode::Include
        } else {
            SessionTokenMode::Exclude
        };
        settings
    }
}

/// Checks one part of a credential scope (a service or region name).
pub(crate) fn validate_scope_part(
    parameter: &str,
    value: &str,
    example: &str,
) -> Result<(), Error> {
    let valid = !value.is_empty()
        && value
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.'));
    if valid {
        return Ok(());
    }
    Err(Error::validation(
        parameter,
        Some(value.to_owned()),
        format!(
            "the signing {parameter} {value:?} is invalid; pass a non-empty name of ASCII letters, digits, '-', '_' or '.', such as {example:?}"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_s3_rules_double_encode_and_normalise() {
        let settings =
            SigningSettings::new("sts", "us-east-1").to_sigv4(SignatureLocation::Headers);

        assert_eq!(settings.percent_encoding_mode, PercentEncodingMode::Double);
        assert_eq!(
            settings.uri_path_normalization_mode,
            UriPathNormalizationMode::Enabled
        );
        assert_eq!(
            settings.payload_checksum_kind,
            PayloadChecksumKind::NoHeader
        );
    }

    #[test]
    fn s3_rules_single_encode_with_hash_header() {
        let settings = SigningSettings::s3("us-east-1").to_sigv4(SignatureLocation::Headers);

        assert_eq!(settings.percent_encoding_mode, PercentEncodingMode::Single);
        assert_eq!(
            settings.uri_path_normalization_mode,
            UriPathNormalizationMode::Disabled
        );
        assert_eq!(
            settings.payload_checksum_kind,
            PayloadChecksumKind::XAmzSha256
        );
    }

    #[test]
    fn exclude_header_lowercases_once() {
        let settings = SigningSettings::new("sts", "us-east-1")
            .exclude_header("X-Forwarded-For")
            .exclude_header("x-forwarded-for");

        let count = settings
            .excluded_headers()
            .filter(|name| *name == "x-forwarded-for")
            .count();
        assert_eq!(count, 1);
    }

    #[test]
    fn empty_region_is_rejected() {
        let error = SigningSettings::new("sts", "").validate().unwrap_err();

        assert!(error.is_validation());
        assert_eq!(error.parameter(), Some("region"));
    }

    #[test]
    fn region_with_space_is_rejected() {
        let error = SigningSettings::new("sts", "us east 1")
            .validate()
            .unwrap_err();

        assert_eq!(error.value(), Some("us east 1"));
    }
}
