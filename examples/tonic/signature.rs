//! The server side of the tonic example: an interceptor that accepts only
//! requests carrying a well-formed SigV4 signature for the expected key id,
//! region and service.
//!
//! It checks the shape of the signature, not its value: verifying it would
//! need the secret key, which a real AWS service has and this example
//! server does not. `tests/tonic_signing.rs` includes this file with
//! `#[path]`.

use std::sync::{Arc, Mutex};

use tonic::metadata::MetadataMap;
use tonic::{Request, Status};

/// The key id, scope and payload mode a signature must carry.
#[derive(Clone, Debug)]
pub(crate) struct ExpectedSignature {
    pub(crate) access_key_id: String,
    pub(crate) region: String,
    pub(crate) service: String,
    /// Requires `x-amz-content-sha256: UNSIGNED-PAYLOAD`, signed.
    pub(crate) unsigned_payload: bool,
}

/// The parts of an accepted `authorization` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct SeenSignature {
    pub(crate) access_key_id: String,
    /// `YYYYMMDD`, from the credential scope.
    pub(crate) date: String,
    pub(crate) region: String,
    pub(crate) service: String,
    pub(crate) signed_headers: Vec<String>,
}

/// Returns an interceptor that checks every request against `expected`,
/// records the accepted signatures in `seen`, and rejects the rest with
/// `Unauthenticated`.
pub(crate) fn interceptor(
    expected: ExpectedSignature,
    seen: Arc<Mutex<Vec<SeenSignature>>>,
) -> impl FnMut(Request<()>) -> Result<Request<()>, Status> + Clone {
    move |request: Request<()>| {
        let signature = check_signature(request.metadata(), &expected).map_err(|reason| {
            tracing::warn!(%reason, "request rejected");
            Status::unauthenticated(reason)
        })?;
        seen.lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(signature);
        Ok(request)
    }
}

/// Checks the SigV4 headers in `metadata` against `expected`.
///
/// # Errors
///
/// A message naming the first missing or malformed part.
pub(crate) fn check_signature(
    metadata: &MetadataMap,
    expected: &ExpectedSignature,
) -> Result<SeenSignature, String> {
    let header = |name: &str| {
        metadata
            .get(name)
            .ok_or_else(|| format!("missing {name} header"))?
            .to_str()
            .map_err(|_| format!("the {name} header is not ASCII"))
    };

    let authorization = header("authorization")?;
    let seen = parse_authorization(authorization)?;
    let amz_date = header("x-amz-date")?;

    if !is_amz_date(amz_date) {
        return Err(format!(
            "x-amz-date {amz_date:?} is not in the form YYYYMMDDTHHMMSSZ"
        ));
    }
    if !amz_date.starts_with(&seen.date) {
        return Err(format!(
            "credential scope date {} differs from x-amz-date {amz_date}",
            seen.date
        ));
    }
    if seen.access_key_id != expected.access_key_id {
        return Err(format!("unexpected access key id {}", seen.access_key_id));
    }
    if seen.region != expected.region {
        return Err(format!("unexpected region {}", seen.region));
    }
    if seen.service != expected.service {
        return Err(format!("unexpected service {}", seen.service));
    }
    for required in ["host", "x-amz-date"] {
        if !seen.signed_headers.iter().any(|name| name == required) {
            return Err(format!("{required} is not among the signed headers"));
        }
    }

    if expected.unsigned_payload {
        let payload = header("x-amz-content-sha256")?;
        if payload != "UNSIGNED-PAYLOAD" {
            return Err(format!(
                "x-amz-content-sha256 is {payload:?}, expected UNSIGNED-PAYLOAD"
            ));
        }
        if !seen
            .signed_headers
            .iter()
            .any(|name| name == "x-amz-content-sha256")
        {
            return Err("x-amz-content-sha256 is not among the signed headers".to_owned());
        }
    }
    Ok(seen)
}

/// Parses `AWS4-HMAC-SHA256 Credential=<key>/<date>/<region>/<service>/aws4_request,
/// SignedHeaders=<a;b;c>, Signature=<64 hex digits>`.
fn parse_authorization(value: &str) -> Result<SeenSignature, String> {
    let malformed = |reason: &str| format!("malformed authorization header: {reason}");

    let parameters = value
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or_else(|| malformed("the algorithm is not AWS4-HMAC-SHA256"))?;
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for parameter in parameters.split(',') {
        let (name, value) = parameter
            .trim()
            .split_once('=')
            .ok_or_else(|| malformed("a parameter has no '='"))?;
        match name {
            "Credential" => credential = Some(value),
            "SignedHeaders" => signed_headers = Some(value),
            "Signature" => signature = Some(value),
            _ => return Err(malformed("unknown parameter")),
        }
    }

    let credential = credential.ok_or_else(|| malformed("no Credential"))?;
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key_id, date, region, service, terminator] = scope[..] else {
        return Err(malformed("the credential scope does not have five parts"));
    };
    if terminator != "aws4_request" || access_key_id.is_empty() {
        return Err(malformed("the credential scope is invalid"));
    }
    if date.len() != 8 || !date.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(malformed("the credential date is not YYYYMMDD"));
    }

    let signed_headers: Vec<String> = signed_headers
        .ok_or_else(|| malformed("no SignedHeaders"))?
        .split(';')
        .map(str::to_owned)
        .collect();
    if signed_headers.iter().any(|name| name.is_empty()) {
        return Err(malformed("SignedHeaders has an empty name"));
    }

    let signature = signature.ok_or_else(|| malformed("no Signature"))?;
    let is_hex = signature
        .bytes()
        .all(|byte| byte.is_ascii_digit() || (b'a'..=b'f').contains(&byte));
    if signature.len() != 64 || !is_hex {
        return Err(malformed("the signature is not 64 lowercase hex digits"));
    }

    Ok(SeenSignature {
        access_key_id: access_key_id.to_owned(),
        date: date.to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
        signed_headers,
    })
}

/// Checks `YYYYMMDDTHHMMSSZ`.
fn is_amz_date(value: &str) -> bool {
    let bytes = value.as_bytes();
    bytes.len() == 16
        && bytes[8] == b'T'
        && bytes[15] == b'Z'
        && bytes[..8].iter().all(u8::is_ascii_digit)
        && bytes[9..15].iter().all(u8::is_ascii_digit)
}

/// Starts the gRPC health service on a free 127.0.0.1 port behind
/// [`interceptor`], reporting `SERVING` for the whole server. Returns its
/// address and the server task.
pub(crate) async fn spawn_health_server(
    expected: ExpectedSignature,
    seen: Arc<Mutex<Vec<SeenSignature>>>,
) -> std::io::Result<(
    std::net::SocketAddr,
    tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;

    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let checked =
        tonic::service::interceptor::InterceptedService::new(health, interceptor(expected, seen));

    let incoming = tonic::transport::server::TcpIncoming::from(listener);
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(checked)
            .serve_with_incoming(incoming),
    );
    Ok((addr, server))
}
