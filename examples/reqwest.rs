//! Signed calls through a `reqwest-middleware` client with
//! `SigningMiddleware`: STS `GetCallerIdentity`, then an S3 bucket, an
//! object upload and its download.
//!
//! Settings come from flags or the environment (see
//! `examples/support/settings.rs`): `--endpoint` (`MOTO_ENDPOINT`,
//! `AWS_ENDPOINT_URL`), `--role-arn` (`MOTO_ROLE_ARN`, `AWS_ROLE_ARN`),
//! `--access-key-id` and `--secret-access-key` (`MOTO_*` or `AWS_*`),
//! `--region` (`AWS_REGION`, default `us-east-1`), `--bucket`
//! (`EXAMPLE_BUCKET`). The endpoint is required: nothing defaults to AWS.
//! This example's reqwest is built without TLS, so it speaks plain HTTP
//! only.
//!
//! Against a local moto (in one shell `scripts/moto.sh serve > /tmp/moto.env`,
//! in another):
//!
//! ```text
//! . /tmp/moto.env && AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null \
//!   AWS_SHARED_CREDENTIALS_FILE=/dev/null cargo run --features reqwest --example reqwest
//! ```

#[path = "support/settings.rs"]
mod settings;

use std::process::ExitCode;

use aws_refresh_session::integrations::reqwest::SigningMiddleware;
use aws_refresh_session::signing::SigningSettings;
use reqwest_middleware::ClientBuilder;

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
    // No proxy from the environment: requests go straight to the endpoint.
    let http = reqwest::Client::builder().no_proxy().build()?;

    // GET-style STS calls sign the payload hash header, which moto needs and
    // AWS accepts.
    let sts_settings = SigningSettings::new("sts", &settings.region).content_sha256_header(true);
    let sts = ClientBuilder::new(http.clone())
        .with(SigningMiddleware::from_session(&session, sts_settings)?)
        .build();
    let response = sts
        .get(format!(
            "{}/?Action=GetCallerIdentity&Version=2011-06-15",
            settings.endpoint
        ))
        .send()
        .await?;
    report("STS GetCallerIdentity", response).await?;

    let s3 = ClientBuilder::new(http)
        .with(SigningMiddleware::from_session(
            &session,
            SigningSettings::s3(&settings.region),
        )?)
        .build();
    let bucket = format!("{}/{}", settings.endpoint, settings.bucket);
    report("S3 CreateBucket", s3.put(&bucket).send().await?).await?;
    let object = format!("{bucket}/hello.txt");
    let upload = s3.put(&object).body("hello from reqwest").send().await?;
    report("S3 PutObject", upload).await?;
    report("S3 GetObject", s3.get(&object).send().await?).await
}

/// Prints a call's status and body; a status other than 2xx is an error.
async fn report(call: &str, response: reqwest::Response) -> Result<(), BoxError> {
    let status = response.status();
    let body = response.text().await?;
    println!("{call}: {status}");
    println!("{body}");
    if !status.is_success() {
        return Err(format!("{call} returned {status}").into());
    }
    Ok(())
}
