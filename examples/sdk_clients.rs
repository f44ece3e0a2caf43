//! Official `aws-sdk-sts` and `aws-sdk-s3` clients sharing one session: both
//! sign with the session's current credentials, before and after a refresh.
//!
//! Settings come from flags or the environment (see
//! `examples/support/settings.rs`): `--endpoint` (`MOTO_ENDPOINT`,
//! `AWS_ENDPOINT_URL`), `--role-arn` (`MOTO_ROLE_ARN`, `AWS_ROLE_ARN`),
//! `--access-key-id` and `--secret-access-key` (`MOTO_*` or `AWS_*`),
//! `--region` (`AWS_REGION`, default `us-east-1`), `--bucket`
//! (`EXAMPLE_BUCKET`). The endpoint is required: nothing defaults to AWS.
//!
//! Against a local moto (in one shell `scripts/moto.sh serve > /tmp/moto.env`,
//! in another):
//!
//! ```text
//! . /tmp/moto.env && AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null \
//!   AWS_SHARED_CREDENTIALS_FILE=/dev/null cargo run --example sdk_clients
//! ```

#[path = "support/settings.rs"]
mod settings;

use std::process::ExitCode;

use aws_smithy_http_client::Builder as HttpClientBuilder;
use aws_smithy_http_client::tls;

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
            eprintln!("error: {}", aws_sdk_s3::error::DisplayErrorContext(&*error));
            ExitCode::FAILURE
        }
    }
}

async fn run(settings: &Settings) -> Result<(), BoxError> {
    let session = settings.sts_session().await?;

    // One SDK config for both clients. Its credentials come from the
    // session; its endpoint is the one given, never a default.
    let http_client = HttpClientBuilder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let sdk_config = session
        .sdk_config(&settings.region)?
        .endpoint_url(&settings.endpoint)
        .http_client(http_client)
        .build();
    let sts = aws_sdk_sts::Client::new(&sdk_config);
    // Path-style addressing keeps the bucket out of the host name, which a
    // local endpoint needs.
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&sdk_config)
            .force_path_style(true)
            .build(),
    );

    let identity = sts.get_caller_identity().send().await?;
    println!(
        "STS GetCallerIdentity: {}",
        identity.arn().unwrap_or("<no ARN>")
    );
    s3.create_bucket().bucket(&settings.bucket).send().await?;
    println!("S3 CreateBucket: {}", settings.bucket);
    let before = session.credentials().await?;

    // Both clients follow the session to its new credentials.
    let after = session.refresh_now().await?;
    println!(
        "refreshed: access key {} replaced by {}",
        before.access_key_id(),
        after.access_key_id()
    );
    let identity = sts.get_caller_identity().send().await?;
    println!(
        "STS GetCallerIdentity: {}",
        identity.arn().unwrap_or("<no ARN>")
    );
    let buckets = s3.list_buckets().send().await?;
    let names: Vec<_> = buckets
        .buckets()
        .iter()
        .filter_map(|bucket| bucket.name())
        .collect();
    println!("S3 ListBuckets: {names:?}");
    Ok(())
}
