//! The AssumeRole parameter set, validated when it is built.
//!
//! The limits are the ones the STS API reference documents for
//! `AssumeRole`, so a typo fails when the configuration is built rather
//! than on the first refresh.

use std::fmt;
use std::time::Duration;

use crate::error::Error;

/// The role session name used when none is set: `aws-refresh-session`.
pub const DEFAULT_ROLE_SESSION_NAME: &str = "aws-refresh-session";

/// The shortest session STS issues: 900 seconds (15 minutes).
pub const MIN_DURATION_SECONDS: u32 = 900;

/// The longest session STS issues for a role: 43,200 seconds (12 hours).
/// The role's own maximum session duration may be lower.
pub const MAX_DURATION_SECONDS: u32 = 43_200;

/// The maximum number of managed policy ARNs in one AssumeRole call: 10.
const MAX_POLICY_ARNS: usize = 10;
/// The maximum number of session tags in one AssumeRole call: 50.
const MAX_TAGS: usize = 50;
/// The maximum number of provided contexts in one AssumeRole call: 5.
const MAX_PROVIDED_CONTEXTS: usize = 5;
/// The maximum length of an inline session policy, before STS packs it: 2,048
/// characters.
const MAX_POLICY_CHARS: usize = 2048;

/// A session tag passed to AssumeRole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionTag {
    /// The tag key: 1 to 128 characters.
    pub key: String,
    /// The tag value: 0 to 256 characters.
    pub value: String,
}

/// A context assertion from a trusted context provider (the
/// `ProvidedContexts` parameter).
#[derive(Clone, PartialEq, Eq)]
pub struct ProvidedContext {
    /// The ARN of the context provider.
    pub provider_arn: String,
    /// The signed assertion the provider issued. `Debug` does not print it.
    pub context_assertion: String,
}

impl fmt::Debug for ProvidedContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ProvidedContext")
            .field("provider_arn", &self.provider_arn)
            .field("context_assertion", &crate::credentials::REDACTED)
            .finish()
    }
}

/// The parameters of STS `AssumeRole`, checked against the API's limits.
///
/// Build one with [`AssumeRoleConfig::builder`]; every value is checked by
/// [`AssumeRoleConfigBuilder::build`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use aws_refresh_session::strategy::sts::AssumeRoleConfig;
///
/// let config = AssumeRoleConfig::builder("arn:aws:iam::123456789012:role/app")
///     .role_session_name("billing-worker")
///     .duration(Duration::from_secs(3600))
///     .external_id("partner-42")
///     .tag("team", "billing")
///     .build()?;
/// assert_eq!(config.role_session_name(), "billing-worker");
/// assert_eq!(config.duration_seconds(), Some(3600));
/// # Ok::<(), aws_refresh_session::Error>(())
/// ```
#[derive(Clone)]
pub struct AssumeRoleConfig {
    pub(crate) role_arn: String,
    pub(crate) role_session_name: String,
    pub(crate) duration_seconds: Option<u32>,
    pub(crate) external_id: Option<String>,
    pub(crate) policy: Option<String>,
    pub(crate) policy_arns: Vec<String>,
    pub(crate) tags: Vec<SessionTag>,
    pub(crate) transitive_tag_keys: Vec<String>,
    pub(crate) source_identity: Option<String>,
    pub(crate) provided_contexts: Vec<ProvidedContext>,
    pub(crate) serial_number: Option<String>,
    pub(crate) token_code: Option<String>,
}

impl AssumeRoleConfig {
    /// Starts a builder for assuming `role_arn`.
    pub fn builder(role_arn: impl Into<String>) -> AssumeRoleConfigBuilder {
        AssumeRoleConfigBuilder {
            config: AssumeRoleConfig {
                role_arn: role_arn.into(),
                role_session_name: DEFAULT_ROLE_SESSION_NAME.to_owned(),
                duration_seconds: None,
                external_id: None,
                policy: None,
                policy_arns: Vec::new(),
                tags: Vec::new(),
                transitive_tag_keys: Vec::new(),
                source_identity: None,
                provided_contexts: Vec::new(),
                serial_number: None,
                token_code: None,
            },
        }
    }

    /// Returns the ARN of the role to assume.
    pub fn role_arn(&self) -> &str {
        &self.role_arn
    }

    /// Returns the role session name.
    pub fn role_session_name(&self) -> &str {
        &self.role_session_name
    }

    /// Returns the requested session duration in seconds; `None` leaves the
    /// choice to STS (one hour).
    pub fn duration_seconds(&self) -> Option<u32> {
        self.duration_seconds
    }

    /// Returns the external id.
    pub fn external_id(&self) -> Option<&str> {
        self.external_id.as_deref()
    }

    /// Returns the inline session policy.
    pub fn policy(&self) -> Option<&str> {
        self.policy.as_deref()
    }

    /// Returns the managed session policy ARNs.
    pub fn policy_arns(&self) -> &[String] {
        &self.policy_arns
    }

    /// Returns the session tags.
    pub fn tags(&self) -> &[SessionTag] {
        &self.tags
    }

    /// Returns the keys of the session tags that pass to chained roles.
    pub fn transitive_tag_keys(&self) -> &[String] {
        &self.transitive_tag_keys
    }

    /// Returns the source identity.
    pub fn source_identity(&self) -> Option<&str> {
        self.source_identity.as_deref()
    }

    /// Returns the provided contexts.
    pub fn provided_contexts(&self) -> &[ProvidedContext] {
        &self.provided_contexts
    }

    /// Returns the MFA device's serial number or ARN.
    pub fn serial_number(&self) -> Option<&str> {
        self.serial_number.as_deref()
    }

    /// Returns whether a static MFA token code is set. The code itself is a
    /// one-time secret and has no getter.
    pub fn has_token_code(&self) -> bool {
        self.token_code.is_some()
    }
}

impl fmt::Debug for AssumeRoleConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AssumeRoleConfig")
            .field("role_arn", &self.role_arn)
            .field("role_session_name", &self.role_session_name)
            .field("duration_seconds", &self.duration_seconds)
            .field("external_id", &self.external_id)
            .field("policy", &self.policy)
            .field("policy_arns", &self.policy_arns)
            .field("tags", &self.tags)
            .field("transitive_tag_keys", &self.transitive_tag_keys)
            .field("source_identity", &self.source_identity)
            .field("provided_contexts", &self.provided_contexts)
            .field("serial_number", &self.serial_number)
            .field(
                "token_code",
                &self
                    .token_code
                    .as_ref()
                    .map(|_| crate::credentials::REDACTED),
            )
            .finish()
    }
}

/// Builds an [`AssumeRoleConfig`]; [`build`](Self::build) checks every value.
#[derive(Debug, Clone)]
pub struct AssumeRoleConfigBuilder {
    config: AssumeRoleConfig,
}

impl AssumeRoleConfigBuilder {
    /// Sets the role session name: 2 to 64 characters of letters, digits
    /// and `_+=,.@-`. Defaults to [`DEFAULT_ROLE_SESSION_NAME`].
    pub fn role_session_name(mut self, name: impl Into<String>) -> Self {
        self.config.role_session_name = name.into();
        self
    }

    /// Sets the session duration in seconds: 900 to 43,200. Defaults to
    /// STS's own default, one hour.
    pub fn duration_seconds(mut self, seconds: u32) -> Self {
        self.config.duration_seconds = Some(seconds);
        self
    }

    /// Sets the session duration, in whole seconds (fractions are dropped).
    pub fn duration(self, duration: Duration) -> Self {
        let seconds = u32::try_from(duration.as_secs()).unwrap_or(u32::MAX);
        self.duration_seconds(seconds)
    }

    /// Sets the external id the role's trust policy expects: 2 to 1,224
    /// characters of letters, digits and `_+=,.@:/-`.
    pub fn external_id(mut self, external_id: impl Into<String>) -> Self {
        self.config.external_id = Some(external_id.into());
        self
    }

    /// Sets an inline session policy: a JSON document of at most 2,048
    /// characters.
    pub fn policy(mut self, policy: impl Into<String>) -> Self {
        self.config.policy = Some(policy.into());
        self
    }

    /// Adds a managed session policy ARN (at most 10).
    pub fn policy_arn(mut self, arn: impl Into<String>) -> Self {
        self.config.policy_arns.push(arn.into());
        self
    }

    /// Adds a session tag (at most 50): key 1 to 128 characters, value 0 to
    /// 256, both of letters, digits, spaces and `_.:/=+-@`.
    pub fn tag(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.config.tags.push(SessionTag {
            key: key.into(),
            value: value.into(),
        });
        self
    }

    /// Marks the session tag `key` as transitive; it must be one of the
    /// tags set with [`tag`](Self::tag).
    pub fn transitive_tag_key(mut self, key: impl Into<String>) -> Self {
        self.config.transitive_tag_keys.push(key.into());
        self
    }

    /// Sets the source identity: 2 to 64 characters of letters, digits and
    /// `_+=,.@-`.
    pub fn source_identity(mut self, identity: impl Into<String>) -> Self {
        self.config.source_identity = Some(identity.into());
        self
    }

    /// Adds a provided context (at most 5): the provider's ARN and the
    /// assertion it signed.
    pub fn provided_context(
        mut self,
        provider_arn: impl Into<String>,
        context_assertion: impl Into<String>,
    ) -> Self {
        self.config.provided_contexts.push(ProvidedContext {
            provider_arn: provider_arn.into(),
            context_assertion: context_assertion.into(),
        });
        self
    }

    /// Sets the serial number (or ARN) of the MFA device: 9 to 256
    /// characters. A serial number needs a token provider or a token code
    /// (see `StsConfigBuilder::mfa_token_provider`).
    pub fn serial_number(mut self, serial_number: impl Into<String>) -> Self {
        self.config.serial_number = Some(serial_number.into());
        self
    }

    /// Sets a static MFA token code: 6 digits. A code is valid once, so it
    /// serves only the first AssumeRole call; set a token provider to
    /// refresh past the first session.
    pub fn token_code(mut self, token_code: impl Into<String>) -> Self {
        self.config.token_code = Some(token_code.into());
        self
    }

    /// Checks every value against the AssumeRole limits.
    ///
    /// # Errors
    ///
    /// - A validation error naming the first invalid parameter and its value
    ///   (a token code's value is never included: it is a one-time secret).
    /// - A configuration error for a token code without a serial number.
    pub fn build(self) -> Result<AssumeRoleConfig, Error> {
        let config = self.config;

        check_role_arn(&config.role_arn)?;
        check_chars(
            "role_session_name",
            &config.role_session_name,
            2..=64,
            "_+=,.@-",
        )?;
        if let Some(seconds) = config.duration_seconds {
            check_duration(seconds)?;
        }
        if let Some(external_id) = &config.external_id {
            check_chars("external_id", external_id, 2..=1224, "_+=,.@:/-")?;
        }
        if let Some(policy) = &config.policy {
            check_policy(policy)?;
        }
        check_policy_arns(&config.policy_arns)?;
        check_tags(&config.tags, &config.transitive_tag_keys)?;
        if let Some(identity) = &config.source_identity {
            check_chars("source_identity", identity, 2..=64, "_+=,.@-")?;
        }
        check_provided_contexts(&config.provided_contexts)?;
        if let Some(serial_number) = &config.serial_number {
            check_chars("serial_number", serial_number, 9..=256, "_+=/:,.@-")?;
        }
        if let Some(token_code) = &config.token_code {
            check_token_code(token_code)?;
            if config.serial_number.is_none() {
                return Err(Error::configuration(
                    "a token code is set without a serial number; set serial_number to the MFA \
                     device's serial number or ARN, or remove the token code",
                ));
            }
        }

        Ok(config)
    }
}

/// Checks an MFA token code: exactly six ASCII digits. The value is a
/// one-time secret, so the error leaves it out.
pub(crate) fn check_token_code(token_code: &str) -> Result<(), Error> {
    if token_code.len() == 6 && token_code.bytes().all(|byte| byte.is_ascii_digit()) {
        return Ok(());
    }
    Err(Error::validation(
        "token_code",
        None,
        format!(
            "`token_code` must be exactly 6 digits (got {} characters); pass the current code \
             from the MFA device",
            token_code.chars().count()
        ),
    ))
}

fn check_role_arn(arn: &str) -> Result<(), Error> {
    let invalid = |why: &str| {
        Error::validation(
            "role_arn",
            Some(arn.to_owned()),
            format!(
                "`role_arn` {arn:?} is not a role ARN ({why}); pass \
                 arn:<partition>:iam::<12-digit account id>:role/<path/name>"
            ),
        )
    };

    let length = arn.chars().count();
    if !(20..=2048).contains(&length) {
        return Err(invalid("it must be 20 to 2048 characters long"));
    }
    let resource = parse_iam_arn(arn, is_account_id).ok_or_else(|| {
        invalid("it must start with arn:<partition>:iam:: and a 12-digit account id")
    })?;
    let Some(path_and_name) = resource.strip_prefix("role/") else {
        return Err(invalid("the resource must start with role/"));
    };
    check_path_and_name(path_and_name, 64).map_err(invalid)
}

fn check_policy_arns(arns: &[String]) -> Result<(), Error> {
    if arns.len() > MAX_POLICY_ARNS {
        return Err(Error::validation(
            "policy_arns",
            Some(arns.len().to_string()),
            format!(
                "`policy_arns` has {} ARNs but AssumeRole takes at most {MAX_POLICY_ARNS}; combine \
                 them into fewer managed policies",
                arns.len()
            ),
        ));
    }

    for arn in arns {
        // AWS managed policies use the account "aws" instead of an id.
        let resource = parse_iam_arn(arn, |account| account == "aws" || is_account_id(account));
        let valid = (20..=2048).contains(&arn.chars().count())
            && resource
                .and_then(|resource| resource.strip_prefix("policy/"))
                .is_some_and(|path_and_name| check_path_and_name(path_and_name, 128).is_ok());
        if !valid {
            return Err(Error::validation(
                "policy_arns",
                Some(arn.clone()),
                format!(
                    "`policy_arns` entry {arn:?} is not a managed policy ARN; pass \
                     arn:<partition>:iam::<account id or aws>:policy/<path/name>"
                ),
            ));
        }
    }
    Ok(())
}

fn check_tags(tags: &[SessionTag], transitive_keys: &[String]) -> Result<(), Error> {
    if tags.len() > MAX_TAGS {
        return Err(Error::validation(
            "tags",
            Some(tags.len().to_string()),
            format!(
                "`tags` has {} session tags but AssumeRole takes at most {MAX_TAGS}; drop some",
                tags.len()
            ),
        ));
    }

    for (index, tag) in tags.iter().enumerate() {
        if !(1..=128).contains(&tag.key.chars().count()) || !tag.key.chars().all(is_tag_char) {
            return Err(Error::validation(
                "tags",
                Some(tag.key.clone()),
                format!(
                    "`tags` key {:?} is invalid; use 1 to 128 letters, digits, spaces or _.:/=+-@",
                    tag.key
                ),
            ));
        }
        if tag.value.chars().count() > 256 || !tag.value.chars().all(is_tag_char) {
            return Err(Error::validation(
                "tags",
                Some(tag.value.clone()),
                format!(
                    "`tags` value for key {:?} is invalid; use at most 256 letters, digits, \
                     spaces or _.:/=+-@",
                    tag.key
                ),
            ));
        }
        // STS compares tag keys case-insensitively.
        let duplicate = tags[..index]
            .iter()
            .any(|earlier| earlier.key.to_lowercase() == tag.key.to_lowercase());
        if duplicate {
            return Err(Error::validation(
                "tags",
                Some(tag.key.clone()),
                format!(
                    "`tags` key {:?} is set twice (keys are case-insensitive); keep one",
                    tag.key
                ),
            ));
        }
    }

    for key in transitive_keys {
        if !tags.iter().any(|tag| &tag.key == key) {
            return Err(Error::validation(
                "transitive_tag_keys",
                Some(key.clone()),
                format!(
                    "`transitive_tag_keys` entry {key:?} is not among the session tags; add it with tag() \
                     or remove it"
                ),
            ));
        }
    }
    Ok(())
}

fn check_provided_contexts(contexts: &[ProvidedContext]) -> Result<(), Error> {
    if contexts.len() > MAX_PROVIDED_CONTEXTS {
        return Err(Error::validation(
            "provided_contexts",
            Some(contexts.len().to_string()),
            format!(
                "`provided_contexts` has {} entries but AssumeRole takes at most {MAX_PROVIDED_CONTEXTS}",
                contexts.len()
            ),
        ));
    }

    for context in contexts {
        let arn = &context.provider_arn;
        if !(20..=2048).contains(&arn.chars().count()) || !arn.starts_with("arn:") {
            return Err(Error::validation(
                "provided_contexts",
                Some(arn.clone()),
                format!(
                    "`provided_contexts` provider ARN {arn:?} is invalid; pass the provider's ARN (20 to 2048 \
                     characters, starting with arn:)"
                ),
            ));
        }
        // The assertion is a signed bearer token: its value stays out of the error.
        let length = context.context_assertion.chars().count();
        if !(4..=2048).contains(&length) {
            return Err(Error::validation(
                "provided_contexts",
                None,
                format!(
                    "`provided_contexts` assertion for provider {arn:?} has {length} characters; it must \
                     have 4 to 2048"
                ),
            ));
        }
    }
    Ok(())
}

fn check_duration(seconds: u32) -> Result<(), Error> {
    if (MIN_DURATION_SECONDS..=MAX_DURATION_SECONDS).contains(&seconds) {
        return Ok(());
    }
    Err(Error::validation(
        "duration_seconds",
        Some(seconds.to_string()),
        format!(
            "`duration_seconds` {seconds} is out of range; pass {MIN_DURATION_SECONDS} to \
             {MAX_DURATION_SECONDS} (and no more than the role's maximum session duration)"
        ),
    ))
}

fn check_policy(policy: &str) -> Result<(), Error> {
    let length = policy.chars().count();
    if length > MAX_POLICY_CHARS {
        return Err(Error::validation(
            "policy",
            Some(format!("{length} characters")),
            format!(
                "`policy` has {length} characters but AssumeRole takes at most \
                 {MAX_POLICY_CHARS}; use managed policy ARNs for the rest"
            ),
        ));
    }
    if let Err(error) = serde_json::from_str::<serde_json::Value>(policy) {
        return Err(Error::validation(
            "policy",
            Some(policy.to_owned()),
            format!("`policy` is not valid JSON ({error}); pass an IAM policy document"),
        ));
    }
    Ok(())
}

/// Checks `value` for a character count in `lengths` and only ASCII
/// letters, digits and the `extra` characters.
fn check_chars(
    parameter: &str,
    value: &str,
    lengths: std::ops::RangeInclusive<usize>,
    extra: &str,
) -> Result<(), Error> {
    let length = value.chars().count();
    let bad_char = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || extra.contains(*c)));
    let why = if !lengths.contains(&length) {
        format!(
            "it has {length} characters; use {} to {}",
            lengths.start(),
            lengths.end()
        )
    } else if let Some(bad_char) = bad_char {
        format!("{bad_char:?} is not allowed; use letters, digits and {extra}")
    } else {
        return Ok(());
    };
    Err(Error::validation(
        parameter,
        Some(value.to_owned()),
        format!("`{parameter}` {:?} is invalid: {why}", shorten(value)),
    ))
}

/// Cuts a value longer than 128 characters to its first 64, so an error
/// message about a megabyte-long value stays readable. `Error::value`
/// keeps the whole value.
fn shorten(value: &str) -> String {
    if value.chars().count() <= 128 {
        return value.to_owned();
    }
    let head: String = value.chars().take(64).collect();
    format!("{head}…")
}

/// Splits `arn:<partition>:iam::<account>:<resource>` and returns the
/// resource when the partition looks like an AWS partition and `account`
/// passes.
fn parse_iam_arn(arn: &str, account_ok: impl Fn(&str) -> bool) -> Option<&str> {
    let mut parts = arn.splitn(6, ':');
    let (prefix, partition, service, region, account, resource) = (
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
        parts.next()?,
    );
    let partition_ok = partition.starts_with("aws")
        && partition
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte == b'-');
    let fixed_ok = prefix == "arn" && service == "iam" && region.is_empty();
    (partition_ok && fixed_ok && account_ok(account)).then_some(resource)
}

fn is_account_id(account: &str) -> bool {
    account.len() == 12 && account.bytes().all(|byte| byte.is_ascii_digit())
}

/// Checks an IAM `path/name`: the name (after the last `/`) has 1 to
/// `max_name` characters of letters, digits and `_+=,.@-`.
fn check_path_and_name(path_and_name: &str, max_name: usize) -> Result<(), &'static str> {
    let name = path_and_name.rsplit('/').next().unwrap_or_default();
    if name.is_empty() {
        return Err("the name after the last / is empty");
    }
    if name.chars().count() > max_name {
        return Err("the name is too long");
    }
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_+=,.@-/".contains(c);
    if !path_and_name.chars().all(allowed) {
        return Err("names use only letters, digits and _+=,.@-");
    }
    Ok(())
}

fn is_tag_char(c: char) -> bool {
    c.is_alphanumeric() || c.is_whitespace() || "_.:/=+-@".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLE: &str = "arn:aws:iam::123456789012:role/app";

    #[test]
    fn role_arn_shapes() {
        for arn in [
            ROLE,
            "arn:aws-cn:iam::123456789012:role/path/to/app",
            "arn:aws-us-gov:iam::123456789012:role/a+b=c,d.e@f-g_h",
        ] {
            assert!(check_role_arn(arn).is_ok(), "{arn}");
        }
        for arn in [
            "arn:aws:iam::123456789012:user/alice",
            "arn:aws:iam::12345678901:role/app",
            "arn:aws:iam:us-east-1:123456789012:role/app",
            "arn:aws:sts::123456789012:role/app",
            "arn:aws:iam::123456789012:role/",
            "arn:aws:iam::123456789012:role/a b",
            "app",
        ] {
            assert!(check_role_arn(arn).is_err(), "{arn}");
        }
    }

    #[test]
    fn aws_managed_policy_arn_is_accepted() {
        let arns = vec!["arn:aws:iam::aws:policy/ReadOnlyAccess".to_owned()];

        assert!(check_policy_arns(&arns).is_ok());
    }

    #[test]
    fn token_code_error_leaves_value_out() {
        let error = check_token_code("12345x").unwrap_err();

        assert_eq!(error.parameter(), Some("token_code"));
        assert_eq!(error.value(), None);
        assert!(!error.to_string().contains("12345x"), "{error}");
    }
}
