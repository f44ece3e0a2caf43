//! Finding the account's credentials endpoint with `DescribeEndpoint`.
//!
//! An operator tool: it needs IAM credentials with `iot:DescribeEndpoint`,
//! which devices rarely hold. The endpoint it returns is what
//! [`IotConfigBuilder::endpoint`](super::IotConfigBuilder::endpoint) takes.
//! Region, endpoint URL and credentials are always explicit; no default
//! credential chain or configuration file is consulted.

use std::fmt;

use aws_sdk_iot::config::{BehaviorVersion, Region, SharedCredentialsProvider};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};

use crate::credentials::Credentials;
use crate::error::Error;

/// The `endpointType` that names the credentials provider.
const CREDENTIAL_PROVIDER_ENDPOINT_TYPE: &str = "iot:CredentialProvider";

/// The region, endpoint and credentials of a `DescribeEndpoint` call.
///
/// `Debug` shows the access key id, never the secret.
#[derive(Clone)]
pub struct DiscoveryConfig {
    region: String,
    endpoint_url: Option<String>,
    credentials: Credentials,
}

impl DiscoveryConfig {
    /// Describes a call in `region` signed with `credentials`, to the
    /// region's public IoT control-plane endpoint.
    pub fn new(region: impl Into<String>, credentials: Credentials) -> Self {
        DiscoveryConfig {
            region: region.into(),
            endpoint_url: None,
            credentials,
        }
    }

    /// Sends the call to `url` instead, such as a VPC endpoint or a local
    /// emulator.
    pub fn endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.endpoint_url = Some(url.into());
        self
    }
}

impl fmt::Debug for DiscoveryConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DiscoveryConfig")
            .field("region", &self.region)
            .field("endpoint_url", &self.endpoint_url)
            .field("credentials", &self.credentials)
            .finish()
    }
}

/// Returns the account's credentials provider endpoint, such as
/// `c1b2c3example.credentials.iot.us-east-1.amazonaws.com`, from
/// `DescribeEndpoint` with `endpointType=iot:CredentialProvider`.
///
/// # Errors
///
/// - A validation error for an empty region.
/// - A request error with the status and code when the service returns an
///   error.
/// - A connection or timeout error when the endpoint cannot be reached.
/// - A credential error when the response has no address.
///
/// # Examples
///
/// ```no_run
/// use aws_refresh_session::Credentials;
/// use aws_refresh_session::strategy::iot::{DiscoveryConfig, discover_credentials_endpoint};
///
/// # async fn run() -> Result<(), aws_refresh_session::Error> {
/// let operator = Credentials::new("AKIDEXAMPLE", "secret", None, None);
/// let endpoint = discover_credentials_endpoint(&DiscoveryConfig::new("us-east-1", operator)).await?;
/// println!("{endpoint}");
/// # Ok(()) }
/// ```
pub async fn discover_credentials_endpoint(config: &DiscoveryConfig) -> Result<String, Error> {
    if config.region.trim().is_empty() {
        return Err(Error::validation(
            "region",
            Some(config.region.clone()),
            "`region` is empty; pass the region of the IoT account, such as `us-east-1`",
        ));
    }

    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let mut builder = aws_sdk_iot::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(config.region.clone()))
        .credentials_provider(SharedCredentialsProvider::new(
            config.credentials.as_sdk().clone(),
        ))
        .http_client(http_client);
    if let Some(url) = &config.endpoint_url {
        builder = builder.endpoint_url(url);
    }
    let client = aws_sdk_iot::Client::from_conf(builder.build());

    let output = client
        .describe_endpoint()
        .endpoint_type(CREDENTIAL_PROVIDER_ENDPOINT_TYPE)
        .send()
        .await
        .map_err(|error| sdk_error(error, &config.region))?;

    output
        .endpoint_address()
        .filter(|address| !address.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| {
            Error::credential(
                "endpointAddress",
                "DescribeEndpoint returned no `endpointAddress`; check the endpoint URL",
            )
        })
}

fn sdk_error<E>(
    error: aws_sdk_iot::error::SdkError<E, aws_smithy_runtime_api::http::Response>,
    region: &str,
) -> Error
where
    E: aws_sdk_iot::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    use aws_sdk_iot::error::SdkError;

    match &error {
        SdkError::ServiceError(service) => {
            let status = service.raw().status().as_u16();
            let code = service.err().code().map(str::to_owned);
            let message = service.err().message().unwrap_or("no message").to_owned();
            Error::request(
                status,
                code.clone(),
                format!(
                    "DescribeEndpoint in {region} failed with {status} {}: {message}; check the credentials and \
                     their iot:DescribeEndpoint permission",
                    code.as_deref().unwrap_or("without an error code")
                ),
            )
            .with_source(error)
        }
        SdkError::TimeoutError(_) => {
            Error::timeout(format!("DescribeEndpoint in {region} timed out")).with_source(error)
        }
        SdkError::DispatchFailure(_) => Error::connection(format!(
            "DescribeEndpoint in {region} could not reach the endpoint; check the endpoint URL and the network"
        ))
        .with_source(error),
        _ => Error::connection(format!("DescribeEndpoint in {region} failed")).with_source(error),
    }
}
