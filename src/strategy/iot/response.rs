//! The provider's response: credentials on 200, its error JSON otherwise.
//!
//! A 200 body is `{"credentials": {"accessKeyId", "secretAccessKey",
//! "sessionToken", "expiration"}}`: camelCase keys nested under
//! `credentials`, unlike STS's PascalCase. Unknown fields are ignored.

use http::StatusCode;
use serde_json::Value;

use super::request::RawResponse;
use crate::credentials::{Credentials, parse_rfc3339};
use crate::error::Error;

/// The maximum length, in characters, of the body excerpt copied into an
/// error message.
const MAX_BODY_EXCERPT: usize = 512;

/// Turns the provider's response into credentials or a typed error.
pub(crate) fn parse(response: &RawResponse, role_alias: &str) -> Result<Credentials, Error> {
    if response.status != StatusCode::OK {
        return Err(provider_error(response, role_alias));
    }

    // serde_json's syntax errors give a position, never the input, so they
    // may be kept as the source.
    // NOTE: the parsed `Value` stores the secret in a plain `String`, which is
    // freed without zeroizing; the raw body is zeroized.
    let document: Value = serde_json::from_slice(&response.body).map_err(|error| {
        Error::credential(
            "credentials",
            "the IoT credentials provider returned 200 with a body that is not JSON",
        )
        .with_source(error)
    })?;

    let Some(credentials) = document.get("credentials").and_then(Value::as_object) else {
        let hint = if document.get("Credentials").is_some() || document.get("AccessKeyId").is_some()
        {
            "; the body has STS-style PascalCase keys, which is not the IoT provider's format"
        } else {
            ""
        };
        return Err(Error::credential(
            "credentials",
            format!("the IoT credentials provider's response has no `credentials` object{hint}"),
        ));
    };

    let field = |name: &str| -> Result<&str, Error> {
        match credentials.get(name) {
            Some(Value::String(text)) if !text.is_empty() => Ok(text),
            Some(Value::String(_)) => Err(Error::credential(
                format!("credentials.{name}"),
                format!("`credentials.{name}` in the IoT provider's response is empty"),
            )),
            Some(_) => Err(Error::credential(
                format!("credentials.{name}"),
                format!("`credentials.{name}` in the IoT provider's response is not a string"),
            )),
            None => Err(Error::credential(
                format!("credentials.{name}"),
                format!("`credentials.{name}` is missing from the IoT provider's response"),
            )),
        }
    };

    let access_key_id = field("accessKeyId")?;
    let secret_access_key = field("secretAccessKey")?;
    let session_token = field("sessionToken")?;
    let expiration = parse_rfc3339("credentials.expiration", field("expiration")?)?;

    Credentials::builder()
        .access_key_id(access_key_id)
        .secret_access_key(secret_access_key)
        .session_token(session_token)
        .expiry(expiration)
        .provider_name("iot")
        .build()
}

/// Builds the request error for a non-200 response, with the provider's
/// `message` and an excerpt of the body.
fn provider_error(response: &RawResponse, role_alias: &str) -> Error {
    let status = response.status;
    let body = String::from_utf8_lossy(&response.body);
    let provider_message = serde_json::from_str::<Value>(&body).ok().and_then(|value| {
        value
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_owned)
    });
    // The provider names its error type in this header, as other AWS JSON
    // services do, for example `ForbiddenException:`; take the part before
    // any colon.
    let code = response
        .headers
        .get("x-amzn-errortype")
        .and_then(|value| value.to_str().ok())
        .map(|value| value.split(':').next().unwrap_or(value).to_owned())
        .filter(|value| !value.is_empty());

    let hint = match status.as_u16() {
        400 => "check the thing name and the requested duration",
        401 | 403 => {
            "check that the certificate is active and attached to a policy that allows \
                      iot:AssumeRoleWithCertificate on this role alias, and that the thing name matches the certificate"
        }
        404 => "check that the role alias exists in this account and region",
        429 => "the provider is throttling; the refresh will back off",
        _ => "the provider may recover; the refresh will retry",
    };
    let message = provider_message.as_deref().unwrap_or("no message");

    Error::request(
        status.as_u16(),
        code,
        format!(
            "the IoT credentials provider returned {status} for role alias {role_alias:?}: {message}; {hint} (body: {})",
            excerpt(&body)
        ),
    )
}

fn excerpt(body: &str) -> String {
    let trimmed = body.trim();
    match trimmed.char_indices().nth(MAX_BODY_EXCERPT) {
        Some((cut, _)) => format!("{}…", &trimmed[..cut]),
        None => trimmed.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use http::HeaderMap;
    use zeroize::Zeroizing;

    use super::*;

    fn response(status: u16, body: &str) -> RawResponse {
        RawResponse {
            status: StatusCode::from_u16(status).unwrap(),
            headers: HeaderMap::new(),
            body: Zeroizing::new(body.as_bytes().to_vec()),
        }
    }

    #[test]
    fn camel_case_nested_body_parses() {
        let body = r#"{"credentials":{"accessKeyId":"ASIAIOTEXAMPLE","secretAccessKey":"iotSecretPlaceholder/+=","sessionToken":"iotTokenPlaceholder+/=","expiration":"2026-12-04T19:20:00Z","extra":1},"other":true}"#;

        let credentials = parse(&response(200, body), "alias").unwrap();

        assert_eq!(credentials.access_key_id(), "ASIAIOTEXAMPLE");
        assert_eq!(credentials.secret_access_key(), "iotSecretPlaceholder/+=");
        assert_eq!(credentials.session_token(), Some("iotTokenPlaceholder+/="));
        assert_eq!(
            credentials.expiry(),
            Some(UNIX_EPOCH + Duration::from_secs(1_796_412_000))
        );
    }

    #[test]
    fn sts_pascal_case_body_is_rejected() {
        let body = r#"{"Credentials":{"AccessKeyId":"ASIA","SecretAccessKey":"s","SessionToken":"t","Expiration":"2026-12-04T19:20:00Z"}}"#;

        let error = parse(&response(200, body), "alias").unwrap_err();

        assert!(error.is_credential());
        assert_eq!(error.parameter(), Some("credentials"));
        assert!(error.message().contains("PascalCase"), "{error}");
    }

    #[test]
    fn missing_field_is_named() {
        let body = r#"{"credentials":{"accessKeyId":"ASIA","secretAccessKey":"s","expiration":"2026-12-04T19:20:00Z"}}"#;

        let error = parse(&response(200, body), "alias").unwrap_err();

        assert_eq!(error.parameter(), Some("credentials.sessionToken"));
    }

    #[test]
    fn wrong_type_error_hides_value() {
        let body = r#"{"credentials":{"accessKeyId":"ASIA","secretAccessKey":12345678,"sessionToken":"t","expiration":"2026-12-04T19:20:00Z"}}"#;

        let error = parse(&response(200, body), "alias").unwrap_err();

        assert_eq!(error.parameter(), Some("credentials.secretAccessKey"));
        assert!(!format!("{error:?}").contains("12345678"));
    }

    #[test]
    fn bad_expiration_is_credential_error() {
        let body = r#"{"credentials":{"accessKeyId":"ASIA","secretAccessKey":"s","sessionToken":"t","expiration":"tomorrow"}}"#;

        let error = parse(&response(200, body), "alias").unwrap_err();

        assert!(error.is_credential());
        assert_eq!(error.parameter(), Some("credentials.expiration"));
    }

    #[test]
    fn malformed_json_is_credential_error() {
        let error = parse(&response(200, "{\"credentials\": {"), "alias").unwrap_err();

        assert!(error.is_credential());
    }

    #[test]
    fn error_status_carries_provider_message() {
        let mut raw = response(403, r#"{"message":"Access Denied"}"#);
        raw.headers
            .insert("x-amzn-errortype", "ForbiddenException:".parse().unwrap());

        let error = parse(&raw, "alias").unwrap_err();

        assert!(error.is_request());
        assert_eq!(error.status(), Some(403));
        assert_eq!(error.code(), Some("ForbiddenException"));
        assert!(error.message().contains("Access Denied"), "{error}");
        assert!(!error.is_retryable());
    }

    #[test]
    fn long_error_body_is_cut() {
        let body = "x".repeat(2000);

        let error = parse(&response(500, &body), "alias").unwrap_err();

        assert!(error.message().len() < 1000, "{}", error.message().len());
        assert!(error.is_retryable());
    }
}
