//! End to end: the local IoT provider vends credentials from a real
//! AssumeRole against moto, and moto, with request authentication on,
//! accepts a GetCallerIdentity call signed with what the device received.
#![cfg(all(feature = "iot", feature = "sts"))]

#[path = "support/iot_moto.rs"]
mod iot_moto;
#[path = "support/iot_server.rs"]
mod iot_server;

use std::sync::Arc;
use std::time::SystemTime;

use aws_refresh_session::credentials::format_rfc3339;
use aws_refresh_session::strategy::iot::{IotConfig, IotSource};
use aws_refresh_session::{CredentialStore, Credentials};
use aws_sdk_sts::config::{BehaviorVersion, Region, SharedCredentialsProvider};
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use iot_moto::{Moto, xml_text};
use iot_server::{Authority, Behavior, IotServer, ROLE_ALIAS, ServerOptions, Vended, Vendor};

const ROLE_NAME: &str = "iot-device-role";
const SESSION_NAME: &str = "iot-device";

fn sts_client(url: &str, credentials: &Credentials) -> aws_sdk_sts::Client {
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let config = aws_sdk_sts::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(url)
        .credentials_provider(SharedCredentialsProvider::new(credentials.as_sdk().clone()))
        .http_client(http_client)
        .build();
    aws_sdk_sts::Client::from_conf(config)
}

fn form_encode(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (byte as char).to_string()
            }
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Creates an IAM user with an access key and a role that trusts it, while
/// authentication is still off. Returns the user's keys and the role ARN.
fn bootstrap_iam(moto: &Moto) -> (Credentials, String) {
    let iam = |body: String| {
        let (status, response) =
            moto.post_unsigned("iam", "/", "application/x-www-form-urlencoded", &body);
        assert_eq!(status, 200, "IAM call {body} failed: {response}");
        response
    };

    let user = iam("Action=CreateUser&UserName=iot-broker&Version=2010-05-08".to_owned());
    let user_arn = xml_text(&user, "Arn");
    let key = iam("Action=CreateAccessKey&UserName=iot-broker&Version=2010-05-08".to_owned());
    let broker = Credentials::new(
        xml_text(&key, "AccessKeyId"),
        xml_text(&key, "SecretAccessKey"),
        None,
        None,
    );

    // moto rejects account-id principals, so the trust policy names the
    // user's exact ARN.
    let trust = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{user_arn}"}},"Action":"sts:AssumeRole"}}]}}"#
    );
    let role = iam(format!(
        "Action=CreateRole&RoleName={ROLE_NAME}&AssumeRolePolicyDocument={}&Version=2010-05-08",
        form_encode(&trust)
    ));

    // With authentication on, moto also evaluates IAM policies: the user
    // needs sts:AssumeRole and the role needs sts:GetCallerIdentity.
    let allow = |action: &str| {
        form_encode(&format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":"{action}","Resource":"*"}}]}}"#
        ))
    };
    iam(format!(
        "Action=PutUserPolicy&UserName=iot-broker&PolicyName=assume&PolicyDocument={}&Version=2010-05-08",
        allow("sts:AssumeRole")
    ));
    iam(format!(
        "Action=PutRolePolicy&RoleName={ROLE_NAME}&PolicyName=identity&PolicyDocument={}&Version=2010-05-08",
        allow("sts:GetCallerIdentity")
    ));

    (broker, xml_text(&role, "Arn"))
}

/// Vends credentials the way the real provider does: AssumeRole on the
/// role behind the alias.
fn assume_role_vendor(moto_url: String, broker: Credentials, role_arn: String) -> Vendor {
    Vendor(Arc::new(move || {
        let client = sts_client(&moto_url, &broker);
        let role_arn = role_arn.clone();
        Box::pin(async move {
            let output = client
                .assume_role()
                .role_arn(role_arn)
                .role_session_name(SESSION_NAME)
                .duration_seconds(900)
                .send()
                .await
                .map_err(|error| format!("{error:?}"))?;
            let credentials = output
                .credentials()
                .ok_or("no credentials in AssumeRole output")?;
            let expiration = SystemTime::try_from(*credentials.expiration())
                .map_err(|error| error.to_string())?;
            Ok(Vended {
                access_key_id: credentials.access_key_id().to_owned(),
                secret_access_key: credentials.secret_access_key().to_owned(),
                session_token: credentials.session_token().to_owned(),
                expiration: format_rfc3339(expiration),
            })
        })
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vended_credentials_pass_moto_auth() {
    let moto = Moto::start();
    let (broker, role_arn) = bootstrap_iam(&moto);
    moto.enable_auth();

    let authority = Authority::new("Test IoT CA");
    let server = IotServer::start(ServerOptions::new(&authority)).await;
    server.set_behavior(Behavior::Delegate(assume_role_vendor(
        moto.url(),
        broker,
        role_arn,
    )));
    let device = authority.client("device-thing");
    let config = IotConfig::builder()
        .endpoint(server.url())
        .role_alias(ROLE_ALIAS)
        .certificate_pem(device.cert_pem)
        .private_key_pem(device.key_pem)
        .ca_pem(authority.ca_pem.clone())
        .thing_name("device-thing")
        .build()
        .unwrap();
    let store = CredentialStore::builder(IotSource::new(config).unwrap())
        .build()
        .await
        .unwrap();
    let credentials = store.credentials().await.unwrap();

    let identity = sts_client(&moto.url(), &credentials)
        .get_caller_identity()
        .send()
        .await
        .unwrap();

    let arn = identity.arn().unwrap_or_default();
    assert!(
        arn.contains(&format!("assumed-role/{ROLE_NAME}/{SESSION_NAME}")),
        "{arn}"
    );
    assert!(
        credentials.access_key_id().starts_with("ASIA"),
        "{}",
        credentials.access_key_id()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_rejects_tampered_vended_secret() {
    let moto = Moto::start();
    let (broker, role_arn) = bootstrap_iam(&moto);
    moto.enable_auth();

    let authority = Authority::new("Test IoT CA");
    let server = IotServer::start(ServerOptions::new(&authority)).await;
    server.set_behavior(Behavior::Delegate(assume_role_vendor(
        moto.url(),
        broker,
        role_arn,
    )));
    let device = authority.client("device-thing");
    let config = IotConfig::builder()
        .endpoint(server.url())
        .role_alias(ROLE_ALIAS)
        .certificate_pem(device.cert_pem)
        .private_key_pem(device.key_pem)
        .ca_pem(authority.ca_pem.clone())
        .build()
        .unwrap();
    let credentials =
        aws_refresh_session::CredentialSource::fetch(&IotSource::new(config).unwrap())
            .await
            .unwrap();
    let tampered = Credentials::new(
        credentials.access_key_id(),
        "tamperedSecretKeyThatMotoMustReject0000",
        credentials.session_token().map(str::to_owned),
        credentials.expiry(),
    );

    let error = sts_client(&moto.url(), &tampered)
        .get_caller_identity()
        .send()
        .await
        .expect_err("moto accepted a wrong secret, so authentication is off");

    let response = error.raw_response().expect("moto responded");
    let body = String::from_utf8_lossy(response.body().bytes().unwrap_or_default()).into_owned();
    assert_eq!(response.status().as_u16(), 403);
    assert!(body.contains("SignatureDoesNotMatch"), "{body}");
}
