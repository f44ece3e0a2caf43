//! Credentials from the user's own code or command.
//!
//! - [`CustomSource`] wraps an async function that returns [`Credentials`],
//!   or one that returns a JSON object in the Python original's shape
//!   (`access_key`, `secret_key`, `token`, `expiry_time`).
//! - [`ProcessSource`] runs an external command that prints the AWS CLI's
//!   `credential_process` JSON.

mod process;

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use crate::credentials::{Credentials, parse_json_expiry};
use crate::error::Error;
use crate::strategy::{BoxFuture, CredentialSource};

pub use process::{DEFAULT_PROCESS_TIMEOUT, ProcessSource};

type FetchFn = dyn Fn() -> BoxFuture<'static, Result<Credentials, Error>> + Send + Sync;

/// A credential source backed by a user's async function.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use aws_refresh_session::strategy::CustomSource;
/// use aws_refresh_session::Credentials;
///
/// let source = CustomSource::new("vault", || async {
///     // Call your broker here.
///     Credentials::builder()
///         .access_key_id("ASIAEXAMPLE")
///         .secret_access_key("secret")
///         .session_token("token")
///         .expiry(SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_412_000))
///         .build()
/// });
/// ```
#[derive(Clone)]
pub struct CustomSource {
    name: &'static str,
    fetch: Arc<FetchFn>,
}

impl CustomSource {
    /// Wraps `fetch`; `name` appears in logs and events.
    pub fn new<F, Fut>(name: &'static str, fetch: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<Credentials, Error>> + Send + 'static,
    {
        CustomSource {
            name,
            fetch: Arc::new(move || Box::pin(fetch())),
        }
    }

    /// Wraps a function that returns a JSON object with the keys
    /// `access_key`, `secret_key`, `token` (optional) and `expiry_time`
    /// (optional; an RFC 3339 string or epoch seconds), as the Python
    /// original's custom strategy does.
    ///
    /// Missing or empty keys and an expiry of the wrong type are credential
    /// errors naming the key.
    pub fn from_json_fn<F, Fut>(name: &'static str, fetch: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<serde_json::Value, Error>> + Send + 'static,
    {
        let fetch = Arc::new(fetch);
        CustomSource::new(name, move || {
            let fetch = Arc::clone(&fetch);
            async move {
                let value = fetch().await?;
                credentials_from_json(name, &value)
            }
        })
    }
}

impl fmt::Debug for CustomSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustomSource")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl CredentialSource for CustomSource {
    fn fetch(&self) -> BoxFuture<'_, Result<Credentials, Error>> {
        (self.fetch)()
    }

    fn kind(&self) -> &'static str {
        self.name
    }
}

/// Reads the Python original's custom-credentials object.
fn credentials_from_json(
    name: &'static str,
    value: &serde_json::Value,
) -> Result<Credentials, Error> {
    let Some(object) = value.as_object() else {
        return Err(Error::credential(
            "credentials",
            format!(
                "the {name} source returned a JSON value that is not an object; return \
                 {{\"access_key\", \"secret_key\", \"token\", \"expiry_time\"}}"
            ),
        ));
    };

    let mut missing = Vec::new();
    let mut text = |key: &'static str, required: bool| -> Result<Option<String>, Error> {
        match object.get(key) {
            None | Some(serde_json::Value::Null) => {
                if required {
                    missing.push(key);
                }
                Ok(None)
            }
            Some(serde_json::Value::String(text)) if text.trim().is_empty() => {
                missing.push(key);
                Ok(None)
            }
            Some(serde_json::Value::String(text)) => Ok(Some(text.clone())),
            Some(_) => Err(Error::credential(
                key,
                format!("the {name} source returned `{key}` that is not a string"),
            )),
        }
    };
    let access_key = text("access_key", true)?;
    let secret_key = text("secret_key", true)?;
    let token = text("token", false)?;
    if !missing.is_empty() {
        return Err(Error::credential(
            missing.join(", "),
            format!(
                "the {name} source returned credentials without {}; return a non-empty string for each",
                missing.join(", ")
            ),
        ));
    }

    let mut builder = Credentials::builder()
        .access_key_id(access_key.unwrap_or_default())
        .secret_access_key(secret_key.unwrap_or_default())
        .provider_name(name);
    if let Some(token) = token {
        builder = builder.session_token(token);
    }
    match object.get("expiry_time") {
        None | Some(serde_json::Value::Null) => {}
        Some(expiry) => builder = builder.expiry(parse_json_expiry("expiry_time", expiry)?),
    }
    builder.build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_object_parses() {
        let value = json!({
            "access_key": "ASIAEXAMPLE",
            "secret_key": "secret",
            "token": "token",
            "expiry_time": "2026-12-04T19:20:00Z",
        });

        let credentials = credentials_from_json("test", &value).unwrap();

        assert_eq!(credentials.access_key_id(), "ASIAEXAMPLE");
        assert_eq!(credentials.session_token(), Some("token"));
        assert_eq!(
            credentials.expiry_rfc3339().as_deref(),
            Some("2026-12-04T19:20:00Z")
        );
    }

    #[test]
    fn json_missing_keys_are_named() {
        let error = credentials_from_json("test", &json!({"token": "t"})).unwrap_err();

        assert!(error.is_credential());
        assert_eq!(error.parameter(), Some("access_key, secret_key"));
    }

    #[test]
    fn json_expiry_of_wrong_type_is_named() {
        let value = json!({"access_key": "A", "secret_key": "S", "expiry_time": [1]});

        let error = credentials_from_json("test", &value).unwrap_err();

        assert_eq!(error.parameter(), Some("expiry_time"));
        assert!(error.to_string().contains("array"), "{error}");
    }

    #[test]
    fn json_non_string_key_is_named() {
        let error = credentials_from_json("test", &json!({"access_key": 5, "secret_key": "S"}))
            .unwrap_err();

        assert_eq!(error.parameter(), Some("access_key"));
    }
}
