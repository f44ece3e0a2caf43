//! Validation of the STS strategy's configuration: every AssumeRole
//! parameter, the client settings, and the MFA combinations.
#![cfg(feature = "sts")]

use std::time::Duration;

use aws_refresh_session::Credentials;
use aws_refresh_session::strategy::sts::{
    AssumeRoleConfig, AssumeRoleConfigBuilder, MfaTokenProvider, StsClientConfig, StsConfig,
};

const ROLE: &str = "arn:aws:iam::123456789012:role/app";
const SERIAL: &str = "arn:aws:iam::123456789012:mfa/alice";

fn base() -> AssumeRoleConfigBuilder {
    AssumeRoleConfig::builder(ROLE)
}

fn client() -> StsClientConfig {
    StsClientConfig::builder()
        .endpoint_url("http://127.0.0.1:1")
        .credentials(Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMIEXAMPLEKEY",
            None,
            None,
        ))
        .build()
        .unwrap()
}

fn long(c: char, count: usize) -> String {
    std::iter::repeat_n(c, count).collect()
}

#[test]
fn valid_full_parameter_set_builds() {
    let config = base()
        .role_session_name("worker@example.com")
        .duration_seconds(900)
        .external_id("partner:42/x")
        .policy(r#"{"Version":"2012-10-17","Statement":[]}"#)
        .policy_arn("arn:aws:iam::aws:policy/ReadOnlyAccess")
        .policy_arn("arn:aws:iam::123456789012:policy/team/billing")
        .tag("team", "billing")
        .tag("cost center", "")
        .transitive_tag_key("team")
        .source_identity("alice")
        .provided_context(
            "arn:aws:iam::aws:contextProvider/IdentityCenter",
            "signed-assertion",
        )
        .serial_number(SERIAL)
        .token_code("123456")
        .build()
        .unwrap();

    assert_eq!(config.role_session_name(), "worker@example.com");
    assert_eq!(config.duration_seconds(), Some(900));
    assert_eq!(config.policy_arns().len(), 2);
    assert_eq!(config.tags().len(), 2);
    assert!(config.has_token_code());
}

#[test]
fn session_name_defaults() {
    let config = base().build().unwrap();

    assert_eq!(config.role_session_name(), "aws-refresh-session");
    assert_eq!(config.duration_seconds(), None);
}

/// Each case: a builder with one invalid value, the parameter the error
/// must name, and the value it must carry.
#[test]
fn invalid_values_name_their_parameter() {
    let too_many_arns = (0..11).fold(base(), |builder, index| {
        builder.policy_arn(format!("arn:aws:iam::aws:policy/P{index}"))
    });
    let too_many_tags = (0..51).fold(base(), |builder, index| {
        builder.tag(format!("k{index}"), "v")
    });
    let too_many_contexts = (0..6).fold(base(), |builder, _| {
        builder.provided_context(
            "arn:aws:iam::aws:contextProvider/IdentityCenter",
            "assertion",
        )
    });
    let long_policy = format!(r#"{{"Sid":"{}"}}"#, long('a', 2100));

    let cases: Vec<(&str, AssumeRoleConfigBuilder, &str, Option<String>)> = vec![
        (
            "user ARN",
            AssumeRoleConfig::builder("arn:aws:iam::123456789012:user/alice"),
            "role_arn",
            Some("arn:aws:iam::123456789012:user/alice".into()),
        ),
        (
            "short account",
            AssumeRoleConfig::builder("arn:aws:iam::1234:role/app"),
            "role_arn",
            Some("arn:aws:iam::1234:role/app".into()),
        ),
        (
            "not an ARN",
            AssumeRoleConfig::builder("app-role"),
            "role_arn",
            Some("app-role".into()),
        ),
        (
            "empty role name",
            AssumeRoleConfig::builder("arn:aws:iam::123456789012:role/"),
            "role_arn",
            Some("arn:aws:iam::123456789012:role/".into()),
        ),
        (
            "session name too short",
            base().role_session_name("a"),
            "role_session_name",
            Some("a".into()),
        ),
        (
            "session name too long",
            base().role_session_name(long('a', 65)),
            "role_session_name",
            Some(long('a', 65)),
        ),
        (
            "session name with space",
            base().role_session_name("my session"),
            "role_session_name",
            Some("my session".into()),
        ),
        (
            "duration too short",
            base().duration_seconds(899),
            "duration_seconds",
            Some("899".into()),
        ),
        (
            "duration too long",
            base().duration_seconds(43_201),
            "duration_seconds",
            Some("43201".into()),
        ),
        (
            "duration zero",
            base().duration(Duration::ZERO),
            "duration_seconds",
            Some("0".into()),
        ),
        (
            "external id too short",
            base().external_id("x"),
            "external_id",
            Some("x".into()),
        ),
        (
            "external id too long",
            base().external_id(long('x', 1225)),
            "external_id",
            Some(long('x', 1225)),
        ),
        (
            "external id bad char",
            base().external_id("a b"),
            "external_id",
            Some("a b".into()),
        ),
        (
            "policy not JSON",
            base().policy("{not json"),
            "policy",
            Some("{not json".into()),
        ),
        (
            "policy too long",
            base().policy(long_policy.clone()),
            "policy",
            Some(format!("{} characters", long_policy.chars().count())),
        ),
        (
            "policy ARN shape",
            base().policy_arn("arn:aws:iam::123456789012:role/app"),
            "policy_arns",
            Some("arn:aws:iam::123456789012:role/app".into()),
        ),
        (
            "eleven policy ARNs",
            too_many_arns,
            "policy_arns",
            Some("11".into()),
        ),
        ("fifty-one tags", too_many_tags, "tags", Some("51".into())),
        (
            "empty tag key",
            base().tag("", "v"),
            "tags",
            Some(String::new()),
        ),
        (
            "tag key too long",
            base().tag(long('k', 129), "v"),
            "tags",
            Some(long('k', 129)),
        ),
        (
            "tag value too long",
            base().tag("k", long('v', 257)),
            "tags",
            Some(long('v', 257)),
        ),
        (
            "tag key bad char",
            base().tag("a*b", "v"),
            "tags",
            Some("a*b".into()),
        ),
        (
            "duplicate tag keys",
            base().tag("Team", "a").tag("team", "b"),
            "tags",
            Some("team".into()),
        ),
        (
            "transitive key not a tag",
            base().tag("team", "a").transitive_tag_key("project"),
            "transitive_tag_keys",
            Some("project".into()),
        ),
        (
            "source identity too short",
            base().source_identity("a"),
            "source_identity",
            Some("a".into()),
        ),
        (
            "source identity bad char",
            base().source_identity("alice smith"),
            "source_identity",
            Some("alice smith".into()),
        ),
        (
            "six provided contexts",
            too_many_contexts,
            "provided_contexts",
            Some("6".into()),
        ),
        (
            "context provider not an ARN",
            base().provided_context("IdentityCenter", "assertion"),
            "provided_contexts",
            Some("IdentityCenter".into()),
        ),
        (
            "serial number too short",
            base().serial_number("GAHT1234"),
            "serial_number",
            Some("GAHT1234".into()),
        ),
        (
            "serial number too long",
            base().serial_number(long('s', 257)),
            "serial_number",
            Some(long('s', 257)),
        ),
        (
            "serial number bad char",
            base().serial_number("GAHT 12345678"),
            "serial_number",
            Some("GAHT 12345678".into()),
        ),
    ];

    for (case, builder, parameter, value) in cases {
        let error = builder.build().expect_err(case);

        assert!(error.is_validation(), "{case}: {error:?}");
        assert_eq!(error.parameter(), Some(parameter), "{case}");
        assert_eq!(error.value().map(str::to_owned), value, "{case}");
        assert!(error.to_string().contains(parameter), "{case}: {error}");
    }
}

#[test]
fn context_assertion_stays_out_of_errors() {
    let error = base()
        .provided_context("arn:aws:iam::aws:contextProvider/IdentityCenter", "abc")
        .build()
        .unwrap_err();

    assert_eq!(error.parameter(), Some("provided_contexts"));
    assert_eq!(error.value(), None);
    assert!(!error.to_string().contains("abc"), "{error}");
}

#[test]
fn token_code_value_stays_out_of_errors() {
    for code in ["12345", "1234567", "12a456", "９９９９９９"] {
        let error = base()
            .serial_number(SERIAL)
            .token_code(code)
            .build()
            .unwrap_err();

        assert!(error.is_validation(), "{code}");
        assert_eq!(error.parameter(), Some("token_code"), "{code}");
        assert_eq!(error.value(), None, "{code}");
        assert!(!error.to_string().contains(code), "{error}");
        assert!(!format!("{error:?}").contains(code), "{error:?}");
    }
}

#[test]
fn token_code_without_serial_is_configuration_error() {
    let error = base().token_code("123456").build().unwrap_err();

    assert!(error.is_configuration(), "{error:?}");
    assert!(error.to_string().contains("serial"), "{error}");
}

#[test]
fn serial_without_code_or_provider_is_rejected() {
    let assume_role = base().serial_number(SERIAL).build().unwrap();

    let error = StsConfig::builder(assume_role, client())
        .build()
        .unwrap_err();

    assert!(error.is_configuration(), "{error:?}");
    assert!(error.to_string().contains(SERIAL), "{error}");
}

#[test]
fn provider_without_serial_is_rejected() {
    let provider = MfaTokenProvider::function(|| async { Ok("123456".to_owned()) });

    let error = StsConfig::builder(base().build().unwrap(), client())
        .mfa_token_provider(provider)
        .build()
        .unwrap_err();

    assert!(error.is_configuration(), "{error:?}");
    assert!(error.to_string().contains("serial number"), "{error}");
}

#[test]
fn provider_replaces_static_token_code() {
    let assume_role = base()
        .serial_number(SERIAL)
        .token_code("123456")
        .build()
        .unwrap();
    let provider = MfaTokenProvider::function(|| async { Ok("654321".to_owned()) });

    let config = StsConfig::builder(assume_role, client())
        .mfa_token_provider(provider)
        .build()
        .unwrap();

    assert!(!config.assume_role().has_token_code());
    assert!(config.mfa_token_provider().is_some());
}

#[test]
fn ignored_static_code_is_warned() {
    let logs = LogBuffer::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    let assume_role = base()
        .serial_number(SERIAL)
        .token_code("864213")
        .build()
        .unwrap();
    let provider = MfaTokenProvider::function(|| async { Ok("654321".to_owned()) });

    tracing::subscriber::with_default(subscriber, || {
        StsConfig::builder(assume_role, client())
            .mfa_token_provider(provider)
            .build()
            .unwrap();
    });

    let text = logs.text();
    assert!(text.contains("WARN"), "{text}");
    assert!(text.contains("ignoring the static code"), "{text}");
    assert!(!text.contains("864213"), "{text}");
}

/// A `MakeWriter` that appends every log line to a shared buffer.
#[derive(Clone, Default)]
struct LogBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl LogBuffer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl std::io::Write for LogBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogBuffer {
    type Writer = LogBuffer;

    fn make_writer(&'a self) -> LogBuffer {
        self.clone()
    }
}

#[test]
fn missing_base_credentials_is_rejected() {
    let client = StsClientConfig::builder()
        .region("us-east-1")
        .build()
        .unwrap();

    let error = StsConfig::builder(base().build().unwrap(), client)
        .build()
        .unwrap_err();

    assert!(error.is_configuration(), "{error:?}");
    assert!(error.to_string().contains("base credentials"), "{error}");
}

#[test]
fn client_settings_are_validated() {
    let cases = [
        (
            "endpoint without scheme",
            StsClientConfig::builder().endpoint_url("127.0.0.1:5000"),
            "endpoint_url",
        ),
        (
            "endpoint with ftp",
            StsClientConfig::builder().endpoint_url("ftp://127.0.0.1"),
            "endpoint_url",
        ),
        (
            "endpoint unparseable",
            StsClientConfig::builder().endpoint_url("http://a b"),
            "endpoint_url",
        ),
        (
            "region with caps",
            StsClientConfig::builder().region("US-EAST-1"),
            "region",
        ),
        (
            "region empty",
            StsClientConfig::builder().region(""),
            "region",
        ),
        (
            "zero attempts",
            StsClientConfig::builder()
                .region("us-east-1")
                .max_attempts(0),
            "max_attempts",
        ),
        (
            "zero connect timeout",
            StsClientConfig::builder()
                .region("us-east-1")
                .connect_timeout(Duration::ZERO),
            "connect_timeout",
        ),
        (
            "zero operation timeout",
            StsClientConfig::builder()
                .region("us-east-1")
                .operation_timeout(Duration::ZERO),
            "operation_timeout",
        ),
    ];

    for (case, builder, parameter) in cases {
        let error = builder.build().expect_err(case);

        assert!(error.is_validation(), "{case}: {error:?}");
        assert_eq!(error.parameter(), Some(parameter), "{case}");
    }
}

#[test]
fn client_without_region_or_endpoint_is_rejected() {
    let error = StsClientConfig::builder().build().unwrap_err();

    assert!(error.is_configuration(), "{error:?}");
    assert!(error.to_string().contains("region"), "{error}");
}

#[test]
fn debug_output_hides_secrets() {
    let secret = "wJalrXUtnFEMIEXAMPLEKEY";
    let assume_role = base()
        .serial_number(SERIAL)
        .token_code("424242")
        .provided_context(
            "arn:aws:iam::aws:contextProvider/IdentityCenter",
            "secret-assertion",
        )
        .build()
        .unwrap();
    let client = StsClientConfig::builder()
        .endpoint_url("http://127.0.0.1:1")
        .credentials(Credentials::new(
            "AKIDEXAMPLE",
            secret,
            Some("session-token-value".into()),
            None,
        ))
        .build()
        .unwrap();
    let provider = MfaTokenProvider::command(["totp-tool", "--seed", "JBSWY3DPEHPK3PXP"]).unwrap();
    let config = StsConfig::builder(assume_role.clone(), client)
        .build()
        .unwrap();

    let printed = format!("{config:#?} {assume_role:?} {provider:?}");

    for hidden in [
        secret,
        "session-token-value",
        "424242",
        "secret-assertion",
        "JBSWY3DPEHPK3PXP",
    ] {
        assert!(!printed.contains(hidden), "{hidden} printed in {printed}");
    }
    assert!(printed.contains("AKIDEXAMPLE"), "{printed}");
    assert!(printed.contains("totp-tool"), "{printed}");
}
