//! Presigned URLs: the signature travels in the query string.

use std::fmt;
use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::SignatureLocation;
use aws_smithy_runtime_api::client::identity::Identity;
use http_body::Body;

use super::settings::SigningSettings;
use super::sign::{
    RequestParts, SigningKind, check_host, check_not_expired, describe_uri, payload_for,
    run_aws_sigv4, signable_headers,
};
use crate::credentials::{Credentials, format_rfc3339};
use crate::error::Error;
use crate::refresh::CredentialStore;

/// The shortest validity a presigned URL may have: 1 second.
pub const MIN_PRESIGN_EXPIRY: Duration = Duration::from_secs(1);

/// The longest validity SigV4 allows for a presigned URL: 604800 seconds
/// (7 days).
pub const MAX_PRESIGN_EXPIRY: Duration = Duration::from_secs(604_800);

const X_AMZ_SECURITY_TOKEN: &str = "X-Amz-Security-Token";

/// How to presign: the validity and where the session token goes.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use aws_refresh_session::signing::PresignOptions;
///
/// // AWS IoT MQTT over WebSocket: the token is appended after signing.
/// let options = PresignOptions::new(Duration::from_secs(86_400)).session_token_after_signing(true);
/// assert_eq!(options.expires_in(), Duration::from_secs(86_400));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PresignOptions {
    expires_in: Duration,
    token_after_signing: bool,
}

impl PresignOptions {
    /// Creates options for a URL valid for `expires_in`, floored to whole
    /// seconds when signing. It must come to between
    /// [`MIN_PRESIGN_EXPIRY`] and [`MAX_PRESIGN_EXPIRY`]; presigning checks
    /// it.
    pub fn new(expires_in: Duration) -> Self {
        PresignOptions {
            expires_in,
            token_after_signing: false,
        }
    }

    /// Sets whether the session token is left out of the signature and
    /// appended as `X-Amz-Security-Token` afterwards, as AWS IoT's MQTT over
    /// WebSocket endpoint requires. Defaults to `false`: the token is signed,
    /// as S3 and every other service require.
    pub fn session_token_after_signing(mut self, enabled: bool) -> Self {
        self.token_after_signing = enabled;
        self
    }

    /// Returns the requested validity, before flooring.
    pub fn expires_in(&self) -> Duration {
        self.expires_in
    }

    /// Returns whether the token is appended after signing.
    pub fn is_session_token_after_signing(&self) -> bool {
        self.token_after_signing
    }

    /// Returns the validity in whole seconds.
    ///
    /// # Errors
    ///
    /// A validation error naming `expires_in` when, floored to whole
    /// seconds, it is below 1 or above 604800.
    pub fn expires_in_seconds(&self) -> Result<u64, Error> {
        let seconds = self.expires_in.as_secs();
        if (MIN_PRESIGN_EXPIRY.as_secs()..=MAX_PRESIGN_EXPIRY.as_secs()).contains(&seconds) {
            return Ok(seconds);
        }
        Err(Error::validation(
            "expires_in",
            Some(format!("{:?}", self.expires_in)),
            format!(
                "expires_in {:?} is out of range for a presigned URL; pass 1 to 604800 whole seconds",
                self.expires_in
            ),
        ))
    }
}

/// A presigned URL. It is a bearer credential: anyone holding it can make
/// the request until it expires, so `Debug` hides the signature and the
/// session token.
#[derive(Clone, PartialEq, Eq)]
pub struct PresignedUrl {
    url: String,
    signed_at: SystemTime,
    expires_in: Duration,
}

impl PresignedUrl {
    /// Returns the URL.
    pub fn as_str(&self) -> &str {
        &self.url
    }

    /// Returns the URL, consuming `self`.
    pub fn into_string(self) -> String {
        self.url
    }

    /// Returns the URL as an `http::Uri`.
    ///
    /// # Errors
    ///
    /// A signing error if the URL does not parse as an `http::Uri`.
    pub fn to_uri(&self) -> Result<http::Uri, Error> {
        self.url.parse().map_err(|error| {
            Error::signing("the presigned URL does not parse as an http::Uri").with_source(error)
        })
    }

    /// Returns the signing time (`X-Amz-Date`).
    pub fn signed_at(&self) -> SystemTime {
        self.signed_at
    }

    /// Returns the validity (`X-Amz-Expires`), in whole seconds.
    pub fn expires_in(&self) -> Duration {
        self.expires_in
    }

    /// Returns when the URL stops working.
    pub fn expires_at(&self) -> SystemTime {
        self.signed_at + self.expires_in
    }
}

impl fmt::Debug for PresignedUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PresignedUrl")
            .field("url", &redact_query(&self.url))
            .field("signed_at", &format_rfc3339(self.signed_at))
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

fn redact_query(url: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _))
                if name.eq_ignore_ascii_case(X_AMZ_SECURITY_TOKEN)
                    || name.eq_ignore_ascii_case("X-Amz-Signature") =>
            {
                format!("{name}={}", crate::credentials::REDACTED)
            }
            _ => pair.to_owned(),
        })
        .collect();
    format!("{base}?{}", pairs.join("&"))
}

/// Presigns `request` with `credentials` at `time`: returns a URL that
/// carries the SigV4 signature in its query string.
///
/// With [`SigningSettings::s3`] the payload is `UNSIGNED-PAYLOAD`, as S3
/// expects of presigned URLs; otherwise the settings' payload mode applies
/// (an empty GET body hashes as empty). The request's headers are signed and
/// must be sent with the URL.
///
/// # Errors
///
/// - A validation error naming `expires_in` when it is out of range, or
///   when the credentials expire before the URL would.
/// - An expired error when the credentials expired at or before `time`.
/// - A signing error for a request that cannot be signed (see
///   [`sign_request`](super::sign_request)).
pub fn presign_url<B>(
    request: &http::Request<B>,
    credentials: &Credentials,
    settings: &SigningSettings,
    time: SystemTime,
    options: &PresignOptions,
) -> Result<PresignedUrl, Error>
where
    B: Body + 'static,
{
    settings.validate()?;
    let expires_in = Duration::from_secs(options.expires_in_seconds()?);
    check_not_expired(credentials, time)?;
    check_outlives(credentials, time, expires_in)?;
    let payload = payload_for(request, settings, true)?;
    check_host(request)?;
    let headers = signable_headers(request)?;

    let token = credentials
        .session_token()
        .filter(|_| options.token_after_signing);
    let unsigned_token_identity;
    let identity: &Identity = if token.is_some() {
        let without_token = aws_credential_types::Credentials::new(
            credentials.access_key_id(),
            credentials.secret_access_key(),
            None,
            credentials.expiry(),
            "aws-refresh-session",
        );
        unsigned_token_identity = Identity::new(without_token, credentials.expiry());
        &unsigned_token_identity
    } else {
        credentials.identity()
    };

    let mut sigv4_settings = settings.to_sigv4(SignatureLocation::QueryParams);
    sigv4_settings.expires_in = Some(expires_in);
    let uri = request.uri().to_string();
    let shown = describe_uri(request.uri());
    let request_parts = RequestParts {
        method: request.method().as_str(),
        uri: &uri,
        shown: &shown,
        headers,
        payload: &payload,
    };
    let output = run_aws_sigv4(
        request_parts,
        identity,
        settings,
        sigv4_settings,
        time,
        SigningKind::Presigned,
    )?;
    let (instructions, _signature) = output.into_parts();
    let (_, query_params) = instructions.into_parts();

    let mut url = uri;
    let mut separator = if url.contains('?') { '&' } else { '?' };
    for (name, value) in &query_params {
        append_param(&mut url, separator, name, value);
        separator = '&';
    }
    if let Some(token) = token {
        append_param(&mut url, separator, X_AMZ_SECURITY_TOKEN, token);
    }

    Ok(PresignedUrl {
        url,
        signed_at: time,
        expires_in,
    })
}

/// Presigns `request` with the current credentials of `store`, at the
/// store's clock.
///
/// When the credentials would expire before the URL, the store refreshes
/// them first ([`CredentialStore::refresh_now`]). If the new credentials
/// still expire too soon, presigning fails rather than return a URL that
/// stops working before its `X-Amz-Expires`.
///
/// # Errors
///
/// As [`presign_url`]; the validation error about the credentials' lifetime
/// carries the refresh error as its source when the refresh failed. Also
/// the store's error when no credentials are available.
pub async fn presign_with_store<B>(
    store: &CredentialStore,
    request: &http::Request<B>,
    settings: &SigningSettings,
    options: &PresignOptions,
) -> Result<PresignedUrl, Error>
where
    B: Body + 'static,
{
    presign_with_store_skewed(store, request, settings, options, 0).await
}

pub(crate) async fn presign_with_store_skewed<B>(
    store: &CredentialStore,
    request: &http::Request<B>,
    settings: &SigningSettings,
    options: &PresignOptions,
    skew_ms: i64,
) -> Result<PresignedUrl, Error>
where
    B: Body + 'static,
{
    let expires_in = Duration::from_secs(options.expires_in_seconds()?);
    let skew = super::skew::ClockSkew::default();
    skew.set_offset_ms(skew_ms);

    let mut credentials = store.credentials().await?;
    let mut time = skew.apply(store.clock().now());
    if let Err(too_short) = check_outlives(&credentials, time, expires_in) {
        tracing::debug!(
            access_key_id = credentials.access_key_id(),
            expires_in_s = expires_in.as_secs(),
            "credentials expire before the presigned URL would; refreshing first"
        );
        match store.refresh_now().await {
            Ok(fresh) => credentials = fresh,
            Err(error) => return Err(too_short.with_source(error)),
        }
        time = skew.apply(store.clock().now());
    }

    presign_url(request, &credentials, settings, time, options)
}

fn check_outlives(
    credentials: &Credentials,
    time: SystemTime,
    expires_in: Duration,
) -> Result<(), Error> {
    // The URL's end must be a representable time, or `expires_at` would
    // overflow.
    let Some(url_end) = time.checked_add(expires_in) else {
        return Err(Error::validation(
            "time",
            Some(format!("{time:?}")),
            "the signing time plus expires_in is beyond the range of the system clock; sign at the current time",
        ));
    };
    let Some(expiry) = credentials.expiry() else {
        return Ok(());
    };
    if expiry >= url_end {
        return Ok(());
    }
    let remaining = expiry.duration_since(time).unwrap_or_default().as_secs();
    Err(Error::validation(
        "expires_in",
        Some(format!("{}s", expires_in.as_secs())),
        format!(
            "the presigned URL would be valid for {} s but the credentials of access key {} expire in {remaining} s, at {}; pass an expires_in of at most {remaining} s or use longer-lived credentials",
            expires_in.as_secs(),
            credentials.access_key_id(),
            format_rfc3339(expiry),
        ),
    ))
}

/// Appends `name=value` to a URL, percent-encoding every byte outside
/// RFC 3986's unreserved set, as SigV4 encodes query values.
fn append_param(url: &mut String, separator: char, name: &str, value: &str) {
    url.push(separator);
    percent_encode_into(url, name);
    url.push('=');
    percent_encode_into(url, value);
}

fn percent_encode_into(out: &mut String, text: &str) {
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maximum_expiry_is_accepted() {
        let options = PresignOptions::new(Duration::from_secs(604_800));

        assert_eq!(options.expires_in_seconds().unwrap(), 604_800);
    }

    #[test]
    fn expiry_above_maximum_is_rejected() {
        let error = PresignOptions::new(Duration::from_secs(604_801))
            .expires_in_seconds()
            .unwrap_err();

        assert!(error.is_validation());
        assert_eq!(error.parameter(), Some("expires_in"));
    }

    #[test]
    fn zero_expiry_is_rejected() {
        let error = PresignOptions::new(Duration::ZERO)
            .expires_in_seconds()
            .unwrap_err();

        assert!(error.is_validation());
    }

    #[test]
    fn fractional_expiry_floors() {
        let options = PresignOptions::new(Duration::from_millis(899_456));

        assert_eq!(options.expires_in_seconds().unwrap(), 899);
    }

    #[test]
    fn debug_hides_signature_and_token() {
        let url = PresignedUrl {
            url: "https://h/p?X-Amz-Signature=abc&X-Amz-Security-Token=tok%2F&a=b".into(),
            signed_at: SystemTime::UNIX_EPOCH,
            expires_in: Duration::from_secs(1),
        };

        let debug = format!("{url:?}");

        assert!(!debug.contains("abc"));
        assert!(!debug.contains("tok"));
        assert!(debug.contains("a=b"));
    }

    #[test]
    fn percent_encoding_keeps_unreserved() {
        let mut out = String::new();

        percent_encode_into(&mut out, "a~b/c+d=");

        assert_eq!(out, "a~b%2Fc%2Bd%3D");
    }
}
