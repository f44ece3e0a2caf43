//! Settings shared by the examples: flags, with environment fallbacks.
//!
//! No setting defaults to an AWS endpoint. Without `--endpoint` (or one of
//! its variables) an example stops with an error, so a forgotten flag never
//! sends requests, or credentials, to real AWS.

// Each example uses a part of this module.
#![allow(dead_code)]

use std::collections::HashMap;

use aws_refresh_session::strategy::sts::{AssumeRoleConfig, StsClientConfig, StsConfig};
use aws_refresh_session::{Credentials, RefreshableSession, Strategy};

/// Each flag and the environment variables it falls back to, first match
/// wins: `scripts/moto.sh serve` prints the `MOTO_*` ones.
const FLAGS: [(&str, &[&str]); 7] = [
    ("--endpoint", &["MOTO_ENDPOINT", "AWS_ENDPOINT_URL"]),
    ("--region", &["AWS_REGION"]),
    ("--role-arn", &["MOTO_ROLE_ARN", "AWS_ROLE_ARN"]),
    (
        "--access-key-id",
        &["MOTO_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"],
    ),
    (
        "--secret-access-key",
        &["MOTO_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"],
    ),
    ("--session-token", &["AWS_SESSION_TOKEN"]),
    ("--bucket", &["EXAMPLE_BUCKET"]),
];

/// The region used when neither `--region` nor `AWS_REGION` is set. It only
/// names the signing scope: requests go to `--endpoint`.
const DEFAULT_REGION: &str = "us-east-1";

/// The bucket the S3 examples create when `--bucket` is not set.
const DEFAULT_BUCKET: &str = "aws-refresh-session-example";

/// The endpoint, region, role and base credentials an example uses.
pub(crate) struct Settings {
    /// The endpoint every request goes to, such as `http://127.0.0.1:5000`.
    pub(crate) endpoint: String,
    /// The signing region.
    pub(crate) region: String,
    /// The role to assume.
    pub(crate) role_arn: String,
    /// The long-term (or base) credentials that call `AssumeRole`.
    pub(crate) base: Credentials,
    /// The S3 bucket to create and list.
    pub(crate) bucket: String,
}

impl Settings {
    /// Reads `--flag value` pairs from the command line, then fills missing
    /// ones from the environment.
    ///
    /// # Errors
    ///
    /// A message naming the flag and its variables when a required setting
    /// is missing, or an unknown flag.
    pub(crate) fn from_args() -> Result<Settings, String> {
        let mut values = HashMap::new();
        let mut args = std::env::args().skip(1);
        while let Some(flag) = args.next() {
            let Some((name, _)) = FLAGS.iter().find(|(name, _)| *name == flag) else {
                return Err(format!(
                    "unknown argument {flag:?}; the flags are {:?}",
                    FLAGS.map(|(name, _)| name)
                ));
            };
            let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
            values.insert(*name, value);
        }
        for (name, variables) in FLAGS {
            if values.contains_key(name) {
                continue;
            }
            if let Some(value) = variables
                .iter()
                .filter_map(|variable| std::env::var(variable).ok())
                .find(|value| !value.is_empty())
            {
                values.insert(name, value);
            }
        }

        let mut required = |name: &str| {
            values.remove(name).ok_or_else(|| {
                let variables = FLAGS
                    .iter()
                    .find(|(flag, _)| *flag == name)
                    .map(|(_, variables)| variables.join(" or "))
                    .unwrap_or_default();
                format!(
                    "{name} is required; pass it or set {variables} \
                     (for a local moto, run `scripts/moto.sh serve > moto.env` in another \
                     shell, then `. moto.env`)"
                )
            })
        };
        let endpoint = required("--endpoint")?;
        let role_arn = required("--role-arn")?;
        let access_key_id = required("--access-key-id")?;
        let secret_access_key = required("--secret-access-key")?;
        let session_token = values.remove("--session-token");
        Ok(Settings {
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            region: values
                .remove("--region")
                .unwrap_or_else(|| DEFAULT_REGION.to_owned()),
            role_arn,
            base: Credentials::new(access_key_id, secret_access_key, session_token, None),
            bucket: values
                .remove("--bucket")
                .unwrap_or_else(|| DEFAULT_BUCKET.to_owned()),
        })
    }

    /// Builds a session that assumes `role_arn` through the STS endpoint at
    /// `endpoint` with the base credentials.
    ///
    /// # Errors
    ///
    /// The session's build error, such as an `AccessDenied` from STS.
    pub(crate) async fn sts_session(
        &self,
    ) -> Result<RefreshableSession, aws_refresh_session::Error> {
        let assume_role = AssumeRoleConfig::builder(&self.role_arn)
            .role_session_name("aws-refresh-session-example")
            .build()?;
        let client = StsClientConfig::builder()
            .region(&self.region)
            .endpoint_url(&self.endpoint)
            .credentials(self.base.clone())
            .build()?;
        let config = StsConfig::builder(assume_role, client).build()?;
        RefreshableSession::builder()
            .strategy(Strategy::sts(config))
            .build()
            .await
    }
}
