//! Temporary credentials from STS `AssumeRole`.
//!
//! [`StsConfig`] combines the AssumeRole parameters ([`AssumeRoleConfig`]),
//! the STS client's settings ([`StsClientConfig`]) and an optional MFA
//! token provider ([`MfaTokenProvider`]). [`StsSource`] builds the SDK
//! client once and calls AssumeRole on every refresh.
//!
//! # Examples
//!
//! ```no_run
//! use aws_refresh_session::strategy::sts::{AssumeRoleConfig, StsClientConfig, StsConfig, StsSource};
//! use aws_refresh_session::{CredentialStore, Credentials};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), aws_refresh_session::Error> {
//! let config = StsConfig::builder(
//!     AssumeRoleConfig::builder("arn:aws:iam::123456789012:role/app").build()?,
//!     StsClientConfig::builder()
//!         .region("eu-west-1")
//!         .credentials(Credentials::new("AKIDEXAMPLE", "secret", None, None))
//!         .build()?,
//! )
//! .build()?;
//! let store = CredentialStore::builder(StsSource::new(config).await?).build().await?;
//! let credentials = store.credentials().await?;
//! # Ok(()) }
//! ```
//!
//! # MFA
//!
//! With a serial number, every AssumeRole call needs a fresh token code.
//! A [`MfaTokenProvider`] is asked for one before each call, and calls that
//! carry a code are never retried by the SDK, since a code is valid once. A
//! static token code alone serves the first call only; the next refresh
//! fails with a non-retryable validation error naming `token_code`
//! ("MFA token code required").

mod assume_role;
mod client;
mod errors;
mod mfa;
mod whoami;

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use aws_sdk_sts::config::retry::RetryConfig;
use aws_sdk_sts::types::{PolicyDescriptorType, ProvidedContext as SdkProvidedContext, Tag};

use crate::credentials::Credentials;
use crate::error::Error;
use crate::strategy::{BoxFuture, CredentialSource};

pub use assume_role::{
    AssumeRoleConfig, AssumeRoleConfigBuilder, DEFAULT_ROLE_SESSION_NAME, MAX_DURATION_SECONDS,
    MIN_DURATION_SECONDS, ProvidedContext, SessionTag,
};
pub use client::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_MAX_ATTEMPTS, DEFAULT_OPERATION_TIMEOUT,
    DEFAULT_SIGNING_REGION, StsClientConfig, StsClientConfigBuilder,
};
pub use mfa::{DEFAULT_MFA_TIMEOUT, MfaTokenProvider};
pub use whoami::CallerIdentity;
pub(crate) use whoami::get_caller_identity;

/// Everything the STS strategy needs: what to assume, how to reach STS,
/// and where MFA codes come from.
#[derive(Clone, Debug)]
pub struct StsConfig {
    // Boxed so that `Strategy` stays small.
    assume_role: Box<AssumeRoleConfig>,
    client: Box<StsClientConfig>,
    mfa: Option<MfaTokenProvider>,
}

impl StsConfig {
    /// Starts a builder from checked AssumeRole parameters and client
    /// settings.
    pub fn builder(assume_role: AssumeRoleConfig, client: StsClientConfig) -> StsConfigBuilder {
        StsConfigBuilder {
            assume_role,
            client,
            mfa: None,
        }
    }

    /// Returns the AssumeRole parameters.
    pub fn assume_role(&self) -> &AssumeRoleConfig {
        &self.assume_role
    }

    /// Returns the STS client settings.
    pub fn client(&self) -> &StsClientConfig {
        &self.client
    }

    /// Returns the MFA token provider, if one is set.
    pub fn mfa_token_provider(&self) -> Option<&MfaTokenProvider> {
        self.mfa.as_ref()
    }
}

/// Builds a [`StsConfig`] and checks that its parts fit together.
#[derive(Debug)]
pub struct StsConfigBuilder {
    assume_role: AssumeRoleConfig,
    client: StsClientConfig,
    mfa: Option<MfaTokenProvider>,
}

impl StsConfigBuilder {
    /// Sets the MFA token provider, asked for a fresh code before every
    /// AssumeRole call. Needs a serial number in the AssumeRole parameters.
    pub fn mfa_token_provider(mut self, provider: MfaTokenProvider) -> Self {
        self.mfa = Some(provider);
        self
    }

    /// Checks that the parts fit together.
    ///
    /// A static token code set together with a provider is dropped with a
    /// warning: the provider supplies every code.
    ///
    /// # Errors
    ///
    /// A configuration error when the client has no base credentials, a
    /// serial number has neither a token provider nor a token code, or a
    /// token provider is set without a serial number.
    pub fn build(self) -> Result<StsConfig, Error> {
        let mut assume_role = self.assume_role;

        if !self.client.has_base_credentials() {
            return Err(Error::configuration(
                "the STS client has no base credentials to call AssumeRole with; set credentials() \
                 or credentials_provider() on StsClientConfig",
            ));
        }
        match (
            &assume_role.serial_number,
            &self.mfa,
            assume_role.token_code.is_some(),
        ) {
            (None, Some(_), _) => {
                return Err(Error::configuration(
                    "an MFA token provider is set without a serial number; set serial_number on \
                     AssumeRoleConfig to the MFA device's serial number or ARN",
                ));
            }
            (Some(serial_number), None, false) => {
                return Err(Error::configuration(format!(
                    "serial number {serial_number:?} is set without a token provider or token code; \
                     set mfa_token_provider() so each refresh gets a fresh code"
                )));
            }
            (Some(_), Some(_), true) => {
                tracing::warn!(
                    role_arn = %assume_role.role_arn,
                    "both a static MFA token code and a token provider are set; ignoring the static code"
                );
                assume_role.token_code = None;
            }
            _ => {}
        }

        Ok(StsConfig {
            assume_role: Box::new(assume_role),
            client: Box::new(self.client),
            mfa: self.mfa,
        })
    }
}

/// A credential source that calls STS `AssumeRole` on every fetch.
///
/// The SDK client is built once, in [`StsSource::new`], and reused.
pub struct StsSource {
    config: Arc<StsConfig>,
    client: aws_sdk_sts::Client,
    /// Set once the static token code has been sent: it is never sent again.
    static_code_used: AtomicBool,
}

impl StsSource {
    /// Builds the STS client from `config`.
    ///
    /// # Errors
    ///
    /// A configuration error when the client cannot be built.
    pub async fn new(config: StsConfig) -> Result<Self, Error> {
        let client = config.client.build_sdk_client().await?;
        Ok(StsSource {
            config: Arc::new(config),
            client,
            static_code_used: AtomicBool::new(false),
        })
    }

    /// Returns the configuration.
    pub fn config(&self) -> &StsConfig {
        &self.config
    }

    /// Calls STS `GetCallerIdentity` with `credentials` (typically the
    /// session's current ones) through this source's client.
    ///
    /// # Errors
    ///
    /// The request, connection or timeout error of the call.
    pub async fn whoami(&self, credentials: &Credentials) -> Result<CallerIdentity, Error> {
        whoami::get_caller_identity(&self.client, credentials).await
    }

    /// Returns the token code for the next AssumeRole call, if MFA is on.
    async fn next_token_code(&self) -> Result<Option<String>, Error> {
        let assume_role = &self.config.assume_role;
        if let Some(provider) = &self.config.mfa {
            return provider.token_code().await.map(Some);
        }
        let Some(code) = &assume_role.token_code else {
            return Ok(None);
        };
        if self.static_code_used.swap(true, Ordering::AcqRel) {
            return Err(Error::validation(
                "token_code",
                None,
                format!(
                    "MFA token code required: the static token code for serial number {:?} was \
                     already used and a code is valid once; set mfa_token_provider() to refresh \
                     role {:?} past its first session",
                    assume_role.serial_number.as_deref().unwrap_or_default(),
                    assume_role.role_arn
                ),
            )
            .with_retryable(false));
        }
        Ok(Some(code.clone()))
    }

    async fn assume_role(&self) -> Result<Credentials, Error> {
        let token_code = self.next_token_code().await?;
        let config = &self.config.assume_role;

        let mut request = self
            .client
            .assume_role()
            .role_arn(&config.role_arn)
            .role_session_name(&config.role_session_name)
            .set_duration_seconds(config.duration_seconds.map(|seconds| seconds as i32))
            .set_external_id(config.external_id.clone())
            .set_policy(config.policy.clone())
            .set_source_identity(config.source_identity.clone())
            .set_serial_number(config.serial_number.clone());
        for arn in &config.policy_arns {
            request = request.policy_arns(PolicyDescriptorType::builder().arn(arn).build());
        }
        for tag in &config.tags {
            let tag = Tag::builder()
                .key(&tag.key)
                .value(&tag.value)
                .build()
                .map_err(|error| {
                    Error::validation("tags", Some(tag.key.clone()), "session tag is incomplete")
                        .with_source(error)
                })?;
            request = request.tags(tag);
        }
        for key in &config.transitive_tag_keys {
            request = request.transitive_tag_keys(key);
        }
        for context in &config.provided_contexts {
            request = request.provided_contexts(
                SdkProvidedContext::builder()
                    .provider_arn(&context.provider_arn)
                    .context_assertion(&context.context_assertion)
                    .build(),
            );
        }

        let output = match token_code {
            // A code is valid for one call, so the SDK must not retry it.
            Some(code) => {
                request
                    .token_code(code)
                    .customize()
                    .config_override(
                        aws_sdk_sts::Config::builder()
                            .retry_config(RetryConfig::standard().with_max_attempts(1)),
                    )
                    .send()
                    .await
            }
            None => request.send().await,
        }
        .map_err(|error| errors::map_sdk_error("AssumeRole", error))?;

        let Some(credentials) = output.credentials else {
            return Err(Error::credential(
                "Credentials",
                format!(
                    "STS AssumeRole for role {:?} returned no credentials; check the STS endpoint",
                    config.role_arn
                ),
            ));
        };
        let expiry = SystemTime::try_from(credentials.expiration).map_err(|error| {
            Error::credential(
                "Expiration",
                "STS AssumeRole returned an expiration outside the system clock's range",
            )
            .with_source(error)
        })?;
        Credentials::builder()
            .access_key_id(credentials.access_key_id)
            .secret_access_key(credentials.secret_access_key)
            .session_token(credentials.session_token)
            .expiry(expiry)
            .provider_name("sts")
            .build()
    }
}

impl fmt::Debug for StsSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StsSource")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl CredentialSource for StsSource {
    fn fetch(&self) -> BoxFuture<'_, Result<Credentials, Error>> {
        Box::pin(async move {
            let credentials = self.assume_role().await?;
            tracing::debug!(
                role_arn = %self.config.assume_role.role_arn,
                access_key_id = credentials.access_key_id(),
                expiry = credentials.expiry_rfc3339().as_deref().unwrap_or("never"),
                "role assumed"
            );
            Ok(credentials)
        })
    }

    fn kind(&self) -> &'static str {
        "sts"
    }
}
