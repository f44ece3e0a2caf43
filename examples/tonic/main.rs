//! A gRPC client whose tonic channel signs every call with SigV4, in
//! unsigned-payload mode, as Amazon VPC Lattice requires of gRPC services.
//!
//! One process runs both sides on 127.0.0.1: the standard gRPC health
//! service behind an interceptor that rejects calls without a well-formed
//! signature, and a client that calls `Check` through the signing layer.
//! The credentials are static test keys from a custom source, so no AWS
//! account is involved.
//!
//! ```text
//! cargo run --example tonic
//! ```

mod signature;

use std::sync::{Arc, Mutex};

use aws_refresh_session::signing::{PayloadMode, SigningSettings};
use aws_refresh_session::strategy::CustomSource;
use aws_refresh_session::{Credentials, RefreshableSession, Strategy};
use http::Uri;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tower::ServiceBuilder;

use signature::ExpectedSignature;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Test keys, valid only against this example's server.
const ACCESS_KEY_ID: &str = "AKIDTONICEXAMPLE";
const SECRET_ACCESS_KEY: &str = "tonic-example-secret-key";

/// VPC Lattice's signing name: it signs gRPC calls with SigV4 and
/// `x-amz-content-sha256: UNSIGNED-PAYLOAD`, because it does not hash
/// streamed bodies.
const SERVICE: &str = "vpc-lattice-svcs";
const REGION: &str = "us-west-2";

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();

    let expected = ExpectedSignature {
        access_key_id: ACCESS_KEY_ID.to_owned(),
        region: REGION.to_owned(),
        service: SERVICE.to_owned(),
        unsigned_payload: true,
    };
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (addr, server) = signature::spawn_health_server(expected, Arc::clone(&seen)).await?;

    let source = CustomSource::new("static-test-keys", || async {
        Ok(Credentials::new(
            ACCESS_KEY_ID,
            SECRET_ACCESS_KEY,
            None,
            None,
        ))
    });
    let session = RefreshableSession::builder()
        .strategy(Strategy::custom(source))
        .build()
        .await?;

    // gRPC bodies are streams, so the payload is not hashed; the header
    // carries UNSIGNED-PAYLOAD and is signed.
    let settings = SigningSettings::new(SERVICE, REGION)
        .payload(PayloadMode::Unsigned)
        .content_sha256_header(true);
    let origin: Uri = format!("http://{addr}").parse()?;
    let channel = Channel::builder(origin.clone()).connect().await?;
    let signed = ServiceBuilder::new()
        .layer(session.layer_with(settings)?)
        .service(channel);

    // tonic puts only the path in the request URI, and the channel adds
    // the origin below this layer. `with_origin` makes the URI absolute
    // before signing, so the signature covers the host.
    let mut client = HealthClient::with_origin(signed, origin);
    let response = client
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await?;

    println!(
        "serving status: {}",
        response.into_inner().status().as_str_name()
    );
    let accepted = seen
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .len();
    println!("signed calls accepted by the server: {accepted}");

    server.abort();
    Ok(())
}
