//! The crate's one error type.
//!
//! [`Error`] is an opaque struct: match on [`Error::kind`] or call the `is_*`
//! checks. `Display` is one lowercase sentence that names what failed, on
//! which value, and what to do; it never repeats the cause, which
//! [`source`](std::error::Error::source) returns. No secret ever enters an error: the
//! constructors take parameter names and non-secret values only.

use std::fmt;
use std::sync::Arc;

/// A boxed error, as stored in [`source`](std::error::Error::source).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The class of failure behind an [`Error`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A value given to the library is invalid; [`Error::parameter`] and
    /// [`Error::value`] name it.
    Validation,
    /// Settings that are valid one by one do not work together.
    Configuration,
    /// A credential source returned malformed, incomplete or expired
    /// credentials.
    Credential,
    /// The transport failed: connect, TLS handshake, or a dropped connection.
    Connection,
    /// An endpoint returned an error; [`Error::status`] and [`Error::code`]
    /// contain its status and code.
    Request,
    /// An operation did not finish in time.
    Timeout,
    /// The credentials expired and no refresh replaced them.
    Expired,
    /// A request could not be signed.
    Signing,
    /// A client-cache operation failed (key exists, key not found).
    Cache,
}

impl ErrorKind {
    fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Validation => "validation",
            ErrorKind::Configuration => "configuration",
            ErrorKind::Credential => "credential",
            ErrorKind::Connection => "connection",
            ErrorKind::Request => "request",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Expired => "expired",
            ErrorKind::Signing => "signing",
            ErrorKind::Cache => "cache",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a failed credential fetch is worth retrying soon.
///
/// The refresher backs off exponentially after retryable failures and waits
/// the maximum backoff after the others, so a source that keeps returning
/// "access denied" is not hammered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Retry {
    /// Decided by the kind: transport failures and timeouts are retryable,
    /// validation and configuration errors are not.
    ByKind,
    Retryable,
    NotRetryable,
}

/// The error returned by every fallible operation of this crate.
///
/// Cloning is cheap: the refresher hands one failed fetch to every request
/// that waited for it.
#[derive(Clone)]
pub struct Error {
    inner: Box<Inner>,
}

#[derive(Clone)]
struct Inner {
    kind: ErrorKind,
    message: String,
    parameter: Option<String>,
    value: Option<String>,
    status: Option<u16>,
    code: Option<String>,
    retry: Retry,
    source: Option<Arc<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                parameter: None,
                value: None,
                status: None,
                code: None,
                retry: Retry::ByKind,
                source: None,
            }),
        }
    }

    /// Creates a validation error for `parameter`, whose `value` is invalid.
    ///
    /// `message` states what is wrong and what to do; it must not contain the
    /// value when the value is a secret (pass `None` as `value` then).
    pub fn validation(
        parameter: impl Into<String>,
        value: Option<String>,
        message: impl Into<String>,
    ) -> Self {
        let mut error = Error::new(ErrorKind::Validation, message);
        error.inner.parameter = Some(parameter.into());
        error.inner.value = value;
        error
    }

    /// Creates a configuration error: settings that do not work together.
    pub fn configuration(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Configuration, message)
    }

    /// Creates a credential error about `field` of the credentials a source
    /// returned (for example `expiration`).
    pub fn credential(field: impl Into<String>, message: impl Into<String>) -> Self {
        let mut error = Error::new(ErrorKind::Credential, message);
        error.inner.parameter = Some(field.into());
        error
    }

    /// Creates a connection error.
    pub fn connection(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Connection, message)
    }

    /// Creates a request error: the endpoint returned `status`, with an AWS
    /// error `code` when it sent one.
    ///
    /// Throttling codes, HTTP 429 and 5xx are retryable; other statuses are
    /// not.
    pub fn request(status: u16, code: Option<String>, message: impl Into<String>) -> Self {
        let mut error = Error::new(ErrorKind::Request, message);
        let retryable =
            status == 429 || status >= 500 || code.as_deref().is_some_and(is_throttling_code);
        error.inner.status = Some(status);
        error.inner.code = code;
        error.inner.retry = if retryable {
            Retry::Retryable
        } else {
            Retry::NotRetryable
        };
        error
    }

    /// Creates a timeout error.
    pub fn timeout(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Timeout, message)
    }

    /// Creates an error saying the credentials expired.
    pub fn expired(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Expired, message)
    }

    /// Creates a signing error.
    pub fn signing(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Signing, message)
    }

    /// Creates a client-cache error.
    pub fn cache(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Cache, message)
    }

    /// Attaches the underlying cause, returned by `source()`.
    pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.inner.source = Some(Arc::from(source.into()));
        self
    }

    /// Marks this error as worth retrying soon (`true`) or not (`false`),
    /// overriding the default for its kind.
    pub fn with_retryable(mut self, retryable: bool) -> Self {
        self.inner.retry = if retryable {
            Retry::Retryable
        } else {
            Retry::NotRetryable
        };
        self
    }

    /// Returns the class of this failure.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// Returns the message, without the kind prefix or the cause.
    pub fn message(&self) -> &str {
        &self.inner.message
    }

    /// Returns the parameter or field at fault, if one is.
    pub fn parameter(&self) -> Option<&str> {
        self.inner.parameter.as_deref()
    }

    /// Returns the offending value, if it is not a secret.
    pub fn value(&self) -> Option<&str> {
        self.inner.value.as_deref()
    }

    /// Returns the HTTP status an endpoint returned.
    pub fn status(&self) -> Option<u16> {
        self.inner.status
    }

    /// Returns the AWS error code an endpoint returned, such as
    /// `AccessDenied` or `ExpiredToken`.
    pub fn code(&self) -> Option<&str> {
        self.inner.code.as_deref()
    }

    /// Returns whether retrying soon may succeed.
    pub fn is_retryable(&self) -> bool {
        match self.inner.retry {
            Retry::Retryable => true,
            Retry::NotRetryable => false,
            Retry::ByKind => matches!(
                self.inner.kind,
                ErrorKind::Connection | ErrorKind::Timeout | ErrorKind::Credential
            ),
        }
    }

    /// Returns true for [`ErrorKind::Validation`].
    pub fn is_validation(&self) -> bool {
        self.inner.kind == ErrorKind::Validation
    }

    /// Returns true for [`ErrorKind::Configuration`].
    pub fn is_configuration(&self) -> bool {
        self.inner.kind == ErrorKind::Configuration
    }

    /// Returns true for [`ErrorKind::Credential`].
    pub fn is_credential(&self) -> bool {
        self.inner.kind == ErrorKind::Credential
    }

    /// Returns true for [`ErrorKind::Connection`].
    pub fn is_connection(&self) -> bool {
        self.inner.kind == ErrorKind::Connection
    }

    /// Returns true for [`ErrorKind::Request`].
    pub fn is_request(&self) -> bool {
        self.inner.kind == ErrorKind::Request
    }

    /// Returns true for [`ErrorKind::Timeout`].
    pub fn is_timeout(&self) -> bool {
        self.inner.kind == ErrorKind::Timeout
    }

    /// Returns true for [`ErrorKind::Expired`].
    pub fn is_expired(&self) -> bool {
        self.inner.kind == ErrorKind::Expired
    }

    /// Returns true for [`ErrorKind::Signing`].
    pub fn is_signing(&self) -> bool {
        self.inner.kind == ErrorKind::Signing
    }

    /// Returns true for [`ErrorKind::Cache`].
    pub fn is_cache(&self) -> bool {
        self.inner.kind == ErrorKind::Cache
    }
}

/// Returns whether an AWS error code means "slow down".
pub(crate) fn is_throttling_code(code: &str) -> bool {
    matches!(
        code,
        "Throttling"
            | "ThrottlingException"
            | "ThrottledException"
            | "RequestThrottledException"
            | "TooManyRequestsException"
            | "ProvisionedThroughputExceededException"
            | "TransactionInProgressException"
            | "RequestLimitExceeded"
            | "BandwidthLimitExceeded"
            | "LimitExceededException"
            | "RequestThrottled"
            | "SlowDown"
            | "PriorRequestNotComplete"
            | "EC2ThrottledException"
            | "IDPCommunicationError"
    )
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} error: {}", self.inner.kind, self.inner.message)
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("Error");
        debug.field("kind", &self.inner.kind);
        debug.field("message", &self.inner.message);
        if let Some(parameter) = &self.inner.parameter {
            debug.field("parameter", parameter);
        }
        if let Some(value) = &self.inner.value {
            debug.field("value", value);
        }
        if let Some(status) = &self.inner.status {
            debug.field("status", status);
        }
        if let Some(code) = &self.inner.code {
            debug.field("code", code);
        }
        if let Some(source) = &self.inner.source {
            debug.field("source", source);
        }
        debug.finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_ref()
            .map(|source| &**source as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn display_has_kind_and_message_without_cause() {
        let cause = std::io::Error::other("socket closed");
        let error = Error::connection("connecting to 127.0.0.1:1 failed; check the endpoint")
            .with_source(cause);

        assert_eq!(
            error.to_string(),
            "connection error: connecting to 127.0.0.1:1 failed; check the endpoint"
        );
        assert_eq!(error.source().unwrap().to_string(), "socket closed");
    }

    #[test]
    fn validation_names_parameter_and_value() {
        let error = Error::validation(
            "duration_seconds",
            Some("10".into()),
            "`duration_seconds` 10 is out of range; pass 900 to 43200",
        );

        assert!(error.is_validation());
        assert_eq!(error.parameter(), Some("duration_seconds"));
        assert_eq!(error.value(), Some("10"));
        assert!(!error.is_retryable());
    }

    #[test]
    fn request_retryability_follows_status_and_code() {
        assert!(Error::request(503, None, "unavailable").is_retryable());
        assert!(Error::request(429, None, "slow down").is_retryable());
        assert!(Error::request(400, Some("Throttling".into()), "rate exceeded").is_retryable());
        assert!(!Error::request(403, Some("AccessDenied".into()), "denied").is_retryable());
    }

    #[test]
    fn kind_decides_default_retryability() {
        assert!(Error::connection("reset").is_retryable());
        assert!(Error::timeout("slow").is_retryable());
        assert!(!Error::configuration("bad").is_retryable());
        assert!(
            !Error::configuration("bad")
                .with_retryable(true)
                .kind()
                .eq(&ErrorKind::Timeout)
        );
        assert!(
            Error::configuration("bad")
                .with_retryable(true)
                .is_retryable()
        );
    }
}
