//! Signed calls through a hyper client wrapped in the session's signing
//! layer: STS `GetCallerIdentity` and S3 `ListBuckets`.
//!
//! The session assumes a role through STS with the base keys, and the layer
//! signs every request with the role's temporary credentials, refreshed in
//! the background.
//!
//! Settings come from flags or the environment (see
//! `examples/support/settings.rs`): `--endpoint` (`MOTO_ENDPOINT`,
//! `AWS_ENDPOINT_URL`), `--role-arn` (`MOTO_ROLE_ARN`, `AWS_ROLE_ARN`),
//! `--access-key-id` and `--secret-access-key` (`MOTO_*` or `AWS_*`),
//! `--region` (`AWS_REGION`, default `us-east-1`). The endpoint is
//! required: nothing defaults to AWS.
//!
//! Against a local moto (in one shell `scripts/moto.sh serve > /tmp/moto.env`,
//! in another):
//!
//! ```text
//! . /tmp/moto.env && AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null \
//!   AWS_SHARED_CREDENTIALS_FILE=/dev/null cargo run --example hyper_client
//! ```

#[path = "support/settings.rs"]
mod settings;

use std::process::ExitCode;

use aws_refresh_session::signing::SigningSettings;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{Service, ServiceBuilder, ServiceExt};

use settings::Settings;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match Settings::from_args() {
        Ok(settings) => settings,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::FAILURE;
        }
    };
    match run(&settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(settings: &Settings) -> Result<(), BoxError> {
    let session = settings.sts_session().await?;

    // HTTPS for real endpoints, plain HTTP for a local emulator.
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())?
        .https_or_http()
        .enable_http1()
        .build();
    let http: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);

    // GET-style STS calls sign the payload hash header, which moto needs and
    // AWS accepts.
    let sts_settings = SigningSettings::new("sts", &settings.region).content_sha256_header(true);
    let mut sts = ServiceBuilder::new()
        .layer(session.layer_with(sts_settings)?)
        .service(http.clone());
    let request = http::Request::get(format!(
        "{}/?Action=GetCallerIdentity&Version=2011-06-15",
        settings.endpoint
    ))
    .body(Full::new(Bytes::new()))?;
    let response = sts.ready().await?.call(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    report("STS GetCallerIdentity", status, &body)?;

    let mut s3 = ServiceBuilder::new()
        .layer(session.layer("s3", &settings.region)?)
        .service(http);
    let request =
        http::Request::get(format!("{}/", settings.endpoint)).body(Full::new(Bytes::new()))?;
    let response = s3.ready().await?.call(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    report("S3 ListBuckets", status, &body)
}

/// Prints a call's status and body; a status other than 2xx is an error.
fn report(call: &str, status: http::StatusCode, body: &[u8]) -> Result<(), BoxError> {
    println!("{call}: {status}");
    println!("{}", String::from_utf8_lossy(body));
    if !status.is_success() {
        return Err(format!("{call} returned {status}").into());
    }
    Ok(())
}
