//! STS `GetCallerIdentity`: who a set of credentials belongs to.

use aws_sdk_sts::config::SharedCredentialsProvider;

use crate::credentials::Credentials;
use crate::error::Error;

use super::client::StsClientConfig;
use super::errors::map_sdk_error;

/// The identity behind a set of credentials, as STS `GetCallerIdentity`
/// returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallerIdentity {
    /// The 12-digit account id.
    pub account: String,
    /// The caller's ARN, such as
    /// `arn:aws:sts::123456789012:assumed-role/app/session` for an assumed
    /// role.
    pub arn: String,
    /// The unique id of the caller (for a role session, `<role id>:<session
    /// name>`).
    pub user_id: String,
}

impl CallerIdentity {
    /// Calls `GetCallerIdentity` with `credentials` through a client built
    /// from `config`; the config's own base credentials are not used.
    ///
    /// # Errors
    ///
    /// The request, connection or timeout error of the call.
    pub async fn fetch(config: &StsClientConfig, credentials: &Credentials) -> Result<Self, Error> {
        let client = config.build_sdk_client().await?;
        get_caller_identity(&client, credentials).await
    }
}

/// Calls `GetCallerIdentity` on `client`, signing with `credentials` rather
/// than the client's base credentials.
pub(crate) async fn get_caller_identity(
    client: &aws_sdk_sts::Client,
    credentials: &Credentials,
) -> Result<CallerIdentity, Error> {
    let override_credentials = aws_sdk_sts::Config::builder()
        .credentials_provider(SharedCredentialsProvider::new(credentials.as_sdk().clone()));
    let output = client
        .get_caller_identity()
        .customize()
        .config_override(override_credentials)
        .send()
        .await
        .map_err(|error| map_sdk_error("GetCallerIdentity", error))?;

    let missing = |field: &str| {
        Error::credential(
            field,
            format!("STS GetCallerIdentity returned no {field}; check the STS endpoint"),
        )
    };
    Ok(CallerIdentity {
        account: output.account.ok_or_else(|| missing("Account"))?,
        arn: output.arn.ok_or_else(|| missing("Arn"))?,
        user_id: output.user_id.ok_or_else(|| missing("UserId"))?,
    })
}
