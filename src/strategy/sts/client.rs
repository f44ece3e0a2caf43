//! Settings of the STS client itself, and building it once.
//!
//! The client is configured only from what is set here: no environment
//! variable, profile file or instance metadata is read, and the default
//! credential chain runs only when [`StsClientConfigBuilder::default_chain`]
//! requests it (feature `default-chain`).

use std::fmt;
use std::time::Duration;

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_sts::config::retry::RetryConfig;
use aws_sdk_sts::config::timeout::TimeoutConfig;
use aws_sdk_sts::config::{BehaviorVersion, Region};
use aws_smithy_http_client::tls;

use crate::credentials::Credentials;
use crate::error::Error;

/// The signing region used when an endpoint URL is set without a region:
/// `us-east-1`.
pub const DEFAULT_SIGNING_REGION: &str = "us-east-1";

/// How long connecting to STS may take: 5 seconds.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one STS operation may take, retries included: 20 seconds. It
/// is shorter than the store's refresh timeout, so a slow STS surfaces as
/// this client's timeout error.
pub const DEFAULT_OPERATION_TIMEOUT: Duration = Duration::from_secs(20);

/// How many times the client tries one STS call: 3 (the SDK's standard
/// retry mode). Calls that carry an MFA token code are tried once, since a
/// code is valid for one call.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// The credentials the STS client calls AssumeRole with.
#[derive(Clone)]
pub(crate) enum BaseCredentials {
    Static(Credentials),
    Provider(SharedCredentialsProvider),
    #[cfg(feature = "default-chain")]
    DefaultChain,
}

impl fmt::Debug for BaseCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BaseCredentials::Static(credentials) => f
                .debug_tuple("Static")
                .field(&credentials.access_key_id())
                .finish(),
            BaseCredentials::Provider(_) => f.write_str("Provider"),
            #[cfg(feature = "default-chain")]
            BaseCredentials::DefaultChain => f.write_str("DefaultChain"),
        }
    }
}

/// Settings of the STS client: region, endpoint, base credentials,
/// timeouts and retries.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use aws_refresh_session::strategy::sts::StsClientConfig;
/// use aws_refresh_session::Credentials;
///
/// let client = StsClientConfig::builder()
///     .region("eu-west-1")
///     .credentials(Credentials::new("AKIDEXAMPLE", "secret", None, None))
///     .operation_timeout(Duration::from_secs(10))
///     .build()?;
/// assert_eq!(client.region(), "eu-west-1");
/// # Ok::<(), aws_refresh_session::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct StsClientConfig {
    region: String,
    endpoint_url: Option<String>,
    pub(crate) base: Option<BaseCredentials>,
    connect_timeout: Duration,
    operation_timeout: Duration,
    max_attempts: u32,
}

impl StsClientConfig {
    /// Starts a builder.
    pub fn builder() -> StsClientConfigBuilder {
        StsClientConfigBuilder::default()
    }

    /// Returns the region STS calls are signed for.
    pub fn region(&self) -> &str {
        &self.region
    }

    /// Returns the explicit endpoint URL, if one is set.
    pub fn endpoint_url(&self) -> Option<&str> {
        self.endpoint_url.as_deref()
    }

    /// Returns whether base credentials (static, a provider, or the default
    /// chain) are set.
    pub fn has_base_credentials(&self) -> bool {
        self.base.is_some()
    }

    /// Builds the SDK client. Called once per source; the client is reused
    /// for every refresh.
    pub(crate) async fn build_sdk_client(&self) -> Result<aws_sdk_sts::Client, Error> {
        let http_client = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(self.connect_timeout)
            .operation_timeout(self.operation_timeout)
            .build();

        let mut config = aws_sdk_sts::Config::builder()
            .behavior_version(BehaviorVersion::v2026_11_17())
            .region(Region::new(self.region.clone()))
            .http_client(http_client.clone())
            .timeout_config(timeouts)
            .retry_config(RetryConfig::standard().with_max_attempts(self.max_attempts));
        if let Some(url) = &self.endpoint_url {
            config = config.endpoint_url(url);
        }
        match &self.base {
            Some(BaseCredentials::Static(credentials)) => {
                config = config.credentials_provider(credentials.as_sdk().clone());
            }
            Some(BaseCredentials::Provider(provider)) => {
                config = config.credentials_provider(provider.clone());
            }
            #[cfg(feature = "default-chain")]
            Some(BaseCredentials::DefaultChain) => {
                // aws-config is built without its own HTTP client, so the
                // chain's network providers (ECS, IMDS, SSO) get this one.
                let provider_config = aws_config::provider_config::ProviderConfig::without_region()
                    .with_region(Some(Region::new(self.region.clone())))
                    .with_behavior_version(Some(BehaviorVersion::v2026_11_17()))
                    .with_http_client(http_client.clone());
                let chain =
                    aws_config::default_provider::credentials::DefaultCredentialsChain::builder()
                        .configure(provider_config)
                        .build()
                        .await;
                config = config.credentials_provider(chain);
            }
            None => {}
        }

        Ok(aws_sdk_sts::Client::from_conf(config.build()))
    }
}

/// Builds a [`StsClientConfig`].
#[derive(Clone, Debug)]
pub struct StsClientConfigBuilder {
    region: Option<String>,
    endpoint_url: Option<String>,
    base: Option<BaseCredentials>,
    connect_timeout: Duration,
    operation_timeout: Duration,
    max_attempts: u32,
}

impl Default for StsClientConfigBuilder {
    fn default() -> Self {
        StsClientConfigBuilder {
            region: None,
            endpoint_url: None,
            base: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            operation_timeout: DEFAULT_OPERATION_TIMEOUT,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }
}

impl StsClientConfigBuilder {
    /// Sets the region, such as `eu-west-1`. Required unless an endpoint URL
    /// is set, in which case it defaults to [`DEFAULT_SIGNING_REGION`].
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.region = Some(region.into());
        self
    }

    /// Sets the STS endpoint URL, such as `http://127.0.0.1:5000` for a
    /// local emulator. Defaults to the region's regional STS endpoint.
    pub fn endpoint_url(mut self, url: impl Into<String>) -> Self {
        self.endpoint_url = Some(url.into());
        self
    }

    /// Calls STS with these static credentials.
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.base = Some(BaseCredentials::Static(credentials));
        self
    }

    /// Calls STS with credentials from any AWS SDK credentials provider.
    pub fn credentials_provider(mut self, provider: impl ProvideCredentials + 'static) -> Self {
        self.base = Some(BaseCredentials::Provider(SharedCredentialsProvider::new(
            provider,
        )));
        self
    }

    /// Calls STS with credentials from the AWS SDK's default chain
    /// (environment, profile files, web identity, ECS, instance metadata).
    /// Only with this call does the library ever read those places.
    #[cfg(feature = "default-chain")]
    pub fn default_chain(mut self) -> Self {
        self.base = Some(BaseCredentials::DefaultChain);
        self
    }

    /// Sets the connect timeout. Defaults to [`DEFAULT_CONNECT_TIMEOUT`]
    /// (5 seconds).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets the timeout of one operation, retries included. Defaults to
    /// [`DEFAULT_OPERATION_TIMEOUT`] (20 seconds).
    pub fn operation_timeout(mut self, timeout: Duration) -> Self {
        self.operation_timeout = timeout;
        self
    }

    /// Sets how many times one call is tried, at least 1. Defaults to
    /// [`DEFAULT_MAX_ATTEMPTS`] (3).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.max_attempts = attempts;
        self
    }

    /// Checks the settings.
    ///
    /// # Errors
    ///
    /// - A validation error naming `endpoint_url`, `region`,
    ///   `max_attempts`, `connect_timeout` or `operation_timeout` for an
    ///   invalid value.
    /// - A configuration error when neither a region nor an endpoint URL is
    ///   set.
    pub fn build(self) -> Result<StsClientConfig, Error> {
        if let Some(url) = &self.endpoint_url {
            check_endpoint_url(url)?;
        }
        let region = match (self.region, &self.endpoint_url) {
            (Some(region), _) => {
                check_region(&region)?;
                region
            }
            (None, Some(_)) => DEFAULT_SIGNING_REGION.to_owned(),
            (None, None) => {
                return Err(Error::configuration(
                    "the STS client has no region; set region (such as \"us-east-1\") or an \
                     explicit endpoint_url",
                ));
            }
        };
        if self.max_attempts == 0 {
            return Err(Error::validation(
                "max_attempts",
                Some("0".to_owned()),
                "`max_attempts` 0 would never call STS; pass 1 or more",
            ));
        }
        for (parameter, timeout) in [
            ("connect_timeout", self.connect_timeout),
            ("operation_timeout", self.operation_timeout),
        ] {
            if timeout.is_zero() {
                return Err(Error::validation(
                    parameter,
                    Some("0s".to_owned()),
                    format!(
                        "`{parameter}` is zero, so every call would time out; pass a positive duration"
                    ),
                ));
            }
        }

        Ok(StsClientConfig {
            region,
            endpoint_url: self.endpoint_url,
            base: self.base,
            connect_timeout: self.connect_timeout,
            operation_timeout: self.operation_timeout,
            max_attempts: self.max_attempts,
        })
    }
}

fn check_endpoint_url(url: &str) -> Result<(), Error> {
    // A password in `user:password@` must not reach the error's value or
    // message, which callers log.
    let redacted = crate::cache::RedactedEndpoint(url);
    let shown = redacted.to_string();
    let invalid = |why: &str| {
        Error::validation(
            "endpoint_url",
            Some(shown.clone()),
            format!(
                "`endpoint_url` {shown:?} is invalid ({why}); pass a URL such as https://sts.us-east-1.amazonaws.com"
            ),
        )
    };
    if redacted.has_userinfo() {
        return Err(invalid(
            "it contains user information, which STS does not use; remove the `user:password@` part",
        ));
    }
    let uri: http::Uri = url
        .parse()
        .map_err(|_| invalid("it does not parse as a URL"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err(invalid("the scheme must be http or https")),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(invalid("it has no host"));
    }
    if uri.query().is_some() {
        return Err(invalid("it must not have a query"));
    }
    if !crate::cache::has_valid_port(&uri) {
        return Err(invalid("the port must be from 1 to 65535"));
    }
    Ok(())
}

fn check_region(region: &str) -> Result<(), Error> {
    let valid = !region.is_empty()
        && region.len() <= 64
        && region
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-');
    if valid {
        return Ok(());
    }
    Err(Error::validation(
        "region",
        Some(region.to_owned()),
        format!("`region` {region:?} is not a region name; pass one such as \"us-east-1\""),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_urls() {
        assert!(check_endpoint_url("http://127.0.0.1:5000").is_ok());
        assert!(check_endpoint_url("https://sts.eu-west-1.amazonaws.com/").is_ok());
        assert!(check_endpoint_url("127.0.0.1:5000").is_err());
        assert!(check_endpoint_url("ftp://127.0.0.1").is_err());
        assert!(check_endpoint_url("http://").is_err());
        assert!(check_endpoint_url("not a url").is_err());
    }

    #[test]
    fn endpoint_without_region_signs_for_default_region() {
        let config = StsClientConfig::builder()
            .endpoint_url("http://127.0.0.1:1")
            .build()
            .unwrap();

        assert_eq!(config.region(), DEFAULT_SIGNING_REGION);
    }

    #[test]
    fn debug_shows_access_key_only() {
        let config = StsClientConfig::builder()
            .region("us-east-1")
            .credentials(Credentials::new(
                "AKIDEXAMPLE",
                "wJalrXUtnFEMIEXAMPLEKEY",
                None,
                None,
            ))
            .build()
            .unwrap();

        let printed = format!("{config:?}");

        assert!(printed.contains("AKIDEXAMPLE"), "{printed}");
        assert!(!printed.contains("wJalrXUtnFEMIEXAMPLEKEY"), "{printed}");
    }
}
