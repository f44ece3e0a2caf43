//! Turning `aws-sdk-sts` failures into the crate's [`Error`].

use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use crate::error::Error;

/// Maps an SDK failure of `operation` to a typed error: a request error
/// with the HTTP status and AWS error code, a connection error, or a
/// timeout.
pub(crate) fn map_sdk_error<E>(operation: &str, error: SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match &error {
        SdkError::TimeoutError(_) => Error::timeout(format!(
            "STS {operation} timed out; check that the endpoint is reachable, or raise the STS \
             client's operation timeout"
        ))
        .with_source(error),
        SdkError::DispatchFailure(failure) if failure.is_timeout() => Error::timeout(format!(
            "connecting to STS for {operation} timed out; check the endpoint URL and the network, \
             or raise the STS client's connect timeout"
        ))
        .with_source(error),
        SdkError::DispatchFailure(_) => Error::connection(format!(
            "sending STS {operation} failed before a response arrived; check the endpoint URL \
             and the network"
        ))
        .with_source(error),
        SdkError::ResponseError(response) => {
            let status = response.raw().status().as_u16();
            Error::request(
                status,
                None,
                format!(
                    "STS {operation} returned HTTP {status} with a response that could not be read"
                ),
            )
            .with_source(error)
        }
        SdkError::ServiceError(service) => {
            let raw = service.raw();
            let status = raw.status().as_u16();
            let body = raw
                .body()
                .bytes()
                .map(String::from_utf8_lossy)
                .unwrap_or_default();

            // moto wraps errors as <ErrorResponse><Errors><Error>, a shape
            // the generated parser does not read; fall back to the body.
            let code = service
                .err()
                .code()
                .map(str::to_owned)
                .or_else(|| xml_element(&body, "Code"));
            let aws_message = service
                .err()
                .message()
                .map(str::to_owned)
                .or_else(|| xml_element(&body, "Message"))
                .unwrap_or_else(|| "no message".to_owned());
            let message = format!(
                "STS {operation} failed with HTTP {status} {}: {aws_message}; {}",
                code.as_deref().unwrap_or("(no error code)"),
                hint(code.as_deref(), status),
            );
            Error::request(status, code, message).with_source(error)
        }
        // A failure before dispatch: the base credentials could not be
        // resolved, or the request could not be built. A credentials
        // provider may recover, so the store retries with backoff.
        _ => Error::configuration(format!(
            "STS {operation} could not be sent; check the STS client's base credentials and \
             settings"
        ))
        .with_retryable(true)
        .with_source(error),
    }
}

fn hint(code: Option<&str>, status: u16) -> &'static str {
    match code {
        Some("AccessDenied") => {
            "check that the role's trust policy names the caller and that the caller may call \
             sts:AssumeRole on it"
        }
        Some("ExpiredToken") => "the base credentials expired; renew them",
        Some("InvalidClientTokenId" | "SignatureDoesNotMatch") => {
            "the base credentials are not valid for this endpoint; check the access key"
        }
        Some("RegionDisabledException") => {
            "STS is not activated in this region; activate it in IAM account settings or use \
             another region"
        }
        Some("MalformedPolicyDocument" | "PackedPolicyTooLarge") => {
            "shorten or fix the session policy or tags"
        }
        Some(code) if crate::error::is_throttling_code(code) => {
            "STS is throttling; retrying with backoff"
        }
        _ if status >= 500 => "STS had a server error; retrying with backoff",
        _ => "see the AWS error code",
    }
}

/// Returns the text of the first `<name>` element in `body`, with the five
/// predefined XML entities decoded.
fn xml_element(body: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = body.find(&open)? + open.len();
    let end = start + body[start..].find(&close)?;
    let text = body[start..end].trim();
    if text.is_empty() {
        return None;
    }
    Some(
        text.replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&quot;", "\"")
            .replace("&apos;", "'")
            .replace("&amp;", "&"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOTO_BODY: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<ErrorResponse><Errors><Error>\
        <Code>AccessDenied</Code><Message>User: arn:aws:iam::123456789012:user/alice is not \
        authorized to perform: sts:AssumeRole</Message><Type>Sender</Type></Error></Errors></ErrorResponse>";

    #[test]
    fn moto_error_body_yields_code_and_message() {
        assert_eq!(
            xml_element(MOTO_BODY, "Code").as_deref(),
            Some("AccessDenied")
        );
        assert!(
            xml_element(MOTO_BODY, "Message")
                .unwrap()
                .ends_with("sts:AssumeRole")
        );
    }

    #[test]
    fn entities_are_decoded() {
        let body = "<Message>a &lt;b&gt; &amp; c</Message>";

        assert_eq!(xml_element(body, "Message").as_deref(), Some("a <b> & c"));
    }

    #[test]
    fn missing_or_empty_element_is_none() {
        assert_eq!(xml_element("<Error></Error>", "Code"), None);
        assert_eq!(xml_element("<Code> </Code>", "Code"), None);
    }
}
