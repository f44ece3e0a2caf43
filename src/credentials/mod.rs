//! AWS credentials with secrets that never print.
//!
//! [`Credentials`] contains an access key id, a secret access key, an optional
//! session token and an optional expiry. The secret and the token are
//! zeroized when the last copy is dropped, and `Debug` shows a fixed
//! placeholder in their place.

mod expiry;

use std::fmt;
use std::time::SystemTime;

use aws_smithy_runtime_api::client::identity::Identity;

use crate::error::Error;

pub use expiry::{format_rfc3339, parse_json_expiry, parse_rfc3339};

/// The text `Debug` prints in place of a secret access key or session token.
pub const REDACTED: &str = "** redacted **";

/// A set of AWS credentials.
///
/// Cloning is cheap: clones share one zeroizing allocation.
///
/// # Examples
///
/// ```
/// use aws_refresh_session::Credentials;
///
/// let credentials = Credentials::new("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None, None);
/// assert_eq!(
///     format!("{credentials:?}"),
///     "Credentials { access_key_id: \"AKIDEXAMPLE\", secret_access_key: \"** redacted **\", session_token: None, expiry: None }"
/// );
/// ```
#[derive(Clone)]
pub struct Credentials {
    // `aws_credential_types::Credentials` zeroizes on drop; the `Identity`
    // is built once here so signing does not rebuild it per request.
    inner: aws_credential_types::Credentials,
    identity: Identity,
}

impl Credentials {
    /// Creates credentials without checking them.
    ///
    /// Use [`Credentials::builder`] for values from outside the program: it
    /// rejects empty fields with an error naming them.
    pub fn new(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
        expiry: Option<SystemTime>,
    ) -> Self {
        Credentials::with_provider_name(
            access_key_id,
            secret_access_key,
            session_token,
            expiry,
            "aws-refresh-session",
        )
    }

    pub(crate) fn with_provider_name(
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
        session_token: Option<String>,
        expiry: Option<SystemTime>,
        provider_name: &'static str,
    ) -> Self {
        let inner = aws_credential_types::Credentials::new(
            access_key_id,
            secret_access_key,
            session_token,
            expiry,
            provider_name,
        );
        Credentials::from_sdk(inner)
    }

    /// Wraps credentials from the AWS SDK.
    pub fn from_sdk(inner: aws_credential_types::Credentials) -> Self {
        let identity = Identity::new(inner.clone(), inner.expiry());
        Credentials { inner, identity }
    }

    /// Starts a builder that validates each field.
    pub fn builder() -> CredentialsBuilder {
        CredentialsBuilder::default()
    }

    /// Returns the access key id. It is not a secret.
    pub fn access_key_id(&self) -> &str {
        self.inner.access_key_id()
    }

    /// Returns the secret access key. Never log it.
    pub fn secret_access_key(&self) -> &str {
        self.inner.secret_access_key()
    }

    /// Returns the session token of temporary credentials. Never log it.
    pub fn session_token(&self) -> Option<&str> {
        self.inner.session_token()
    }

    /// Returns when the credentials expire; `None` for static credentials.
    pub fn expiry(&self) -> Option<SystemTime> {
        self.inner.expiry()
    }

    /// Returns the expiry as an RFC 3339 (ISO 8601) string in UTC.
    pub fn expiry_rfc3339(&self) -> Option<String> {
        self.expiry().map(format_rfc3339)
    }

    /// Returns the credentials as the AWS SDK's type (a cheap clone).
    pub fn as_sdk(&self) -> &aws_credential_types::Credentials {
        &self.inner
    }

    /// Returns the identity `aws-sigv4` signs with.
    pub fn identity(&self) -> &Identity {
        &self.identity
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id())
            .field("secret_access_key", &REDACTED)
            .field("session_token", &self.session_token().map(|_| REDACTED))
            .field("expiry", &self.expiry_rfc3339())
            .finish()
    }
}

impl From<aws_credential_types::Credentials> for Credentials {
    fn from(inner: aws_credential_types::Credentials) -> Self {
        Credentials::from_sdk(inner)
    }
}

/// Builds [`Credentials`] from values that may be missing or malformed,
/// such as the output of a user's credential function.
#[derive(Default)]
pub struct CredentialsBuilder {
    access_key_id: Option<String>,
    secret_access_key: Option<String>,
    session_token: Option<String>,
    expiry: Option<SystemTime>,
    provider_name: Option<&'static str>,
}

impl CredentialsBuilder {
    /// Sets the access key id.
    pub fn access_key_id(mut self, value: impl Into<String>) -> Self {
        self.access_key_id = Some(value.into());
        self
    }

    /// Sets the secret access key.
    pub fn secret_access_key(mut self, value: impl Into<String>) -> Self {
        self.secret_access_key = Some(value.into());
        self
    }

    /// Sets the session token of temporary credentials.
    pub fn session_token(mut self, value: impl Into<String>) -> Self {
        self.session_token = Some(value.into());
        self
    }

    /// Sets the expiry. Credentials without one are static.
    pub fn expiry(mut self, value: SystemTime) -> Self {
        self.expiry = Some(value);
        self
    }

    /// Sets the expiry from an RFC 3339 string with a zone.
    ///
    /// # Errors
    ///
    /// A credential error naming `expiry` when the string does not parse.
    pub fn expiry_rfc3339(mut self, value: &str) -> Result<Self, Error> {
        self.expiry = Some(parse_rfc3339("expiry", value)?);
        Ok(self)
    }

    /// Sets the name logged as the credentials' provider.
    pub fn provider_name(mut self, value: &'static str) -> Self {
        self.provider_name = Some(value);
        self
    }

    /// Checks the fields and builds the credentials.
    ///
    /// # Errors
    ///
    /// A credential error naming every missing, empty or blank field among
    /// `access_key_id` and `secret_access_key`, or an empty or blank
    /// `session_token`.
    pub fn build(self) -> Result<Credentials, Error> {
        let mut missing = Vec::new();
        // A blank value would only fail later, as a 403 from AWS.
        let access_key_id = self.access_key_id.filter(|value| !value.trim().is_empty());
        let secret_access_key = self
            .secret_access_key
            .filter(|value| !value.trim().is_empty());
        if access_key_id.is_none() {
            missing.push("access_key_id");
        }
        if secret_access_key.is_none() {
            missing.push("secret_access_key");
        }
        if self
            .session_token
            .as_deref()
            .is_some_and(|token| token.trim().is_empty())
        {
            missing.push("session_token");
        }
        if !missing.is_empty() {
            return Err(Error::credential(
                missing.join(", "),
                format!(
                    "the credentials are missing {}; the source must return a non-blank value for each",
                    missing.join(", ")
                ),
            ));
        }

        Ok(Credentials::with_provider_name(
            access_key_id.unwrap_or_default(),
            secret_access_key.unwrap_or_default(),
            self.session_token,
            self.expiry,
            self.provider_name.unwrap_or("aws-refresh-session"),
        ))
    }
}

impl fmt::Debug for CredentialsBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialsBuilder")
            .field("access_key_id", &self.access_key_id)
            .field(
                "secret_access_key",
                &self.secret_access_key.as_ref().map(|_| REDACTED),
            )
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| REDACTED),
            )
            .field("expiry", &self.expiry.map(format_rfc3339))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const TOKEN: &str = "IQoJb3JpZ2luX2VjEXAMPLETOKEN+/=";

    #[test]
    fn debug_is_exact_and_hides_secrets() {
        let credentials = Credentials::new(
            "ASIAEXAMPLE",
            SECRET,
            Some(TOKEN.into()),
            Some(UNIX_EPOCH + Duration::from_secs(1_796_412_000)),
        );

        assert_eq!(
            format!("{credentials:?}"),
            "Credentials { access_key_id: \"ASIAEXAMPLE\", secret_access_key: \"** redacted **\", \
             session_token: Some(\"** redacted **\"), expiry: Some(\"2026-12-04T19:20:00Z\") }"
        );
        assert!(!format!("{credentials:#?}").contains(SECRET));
        assert!(!format!("{credentials:#?}").contains(TOKEN));
    }

    #[test]
    fn builder_debug_hides_secrets() {
        let builder = Credentials::builder()
            .access_key_id("AKID")
            .secret_access_key(SECRET)
            .session_token(TOKEN);

        let printed = format!("{builder:?}");

        assert!(!printed.contains(SECRET), "{printed}");
        assert!(!printed.contains(TOKEN), "{printed}");
    }

    #[test]
    fn builder_names_missing_fields() {
        let error = Credentials::builder()
            .access_key_id("")
            .build()
            .unwrap_err();

        assert!(error.is_credential());
        assert_eq!(error.parameter(), Some("access_key_id, secret_access_key"));
    }

    #[test]
    fn builder_rejects_empty_token() {
        let error = Credentials::builder()
            .access_key_id("AKID")
            .secret_access_key(SECRET)
            .session_token("")
            .build()
            .unwrap_err();

        assert_eq!(error.parameter(), Some("session_token"));
    }

    #[test]
    fn identity_carries_the_expiry() {
        let expiry = UNIX_EPOCH + Duration::from_secs(1_796_412_000);
        let credentials = Credentials::new("AKID", SECRET, None, Some(expiry));

        assert_eq!(credentials.identity().expiration(), Some(expiry));
    }
}
