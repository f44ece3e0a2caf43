//! A device that gets temporary AWS credentials from the AWS IoT Core
//! credentials provider with its X.509 certificate and prints the access key
//! id and expiry. Given an STS endpoint, it then calls STS
//! `GetCallerIdentity` with a hyper client wrapped in the session's signing
//! layer.
//!
//! Settings come from flags or, when a flag is absent, from the environment:
//!
//! | flag | variable | meaning |
//! | --- | --- | --- |
//! | `--endpoint` | `IOT_ENDPOINT` | credentials endpoint, or `https://host:port` |
//! | `--role-alias` | `IOT_ROLE_ALIAS` | role alias |
//! | `--cert` | `IOT_CERT` | device certificate (PEM file) |
//! | `--key` | `IOT_KEY` | private key (PEM file) |
//! | `--ca` | `IOT_CA` | CA bundle the server must chain to (optional) |
//! | `--thing-name` | `IOT_THING_NAME` | thing name (optional) |
//! | `--sts-endpoint` | `AWS_ENDPOINT_URL_STS` | STS endpoint URL for the signed call (optional) |
//! | `--region` | `AWS_REGION` | region to sign the call for (required with `--sts-endpoint`) |
//!
//! Without an STS endpoint the signed call is skipped, with a note: the
//! example never picks an AWS endpoint by itself.
//!
//! Against a local provider (see `examples/iot_local_provider.rs`), which
//! vends made-up credentials, so the signed call is left out:
//!
//! ```text
//! cargo run --features iot --example iot_local_provider -- cargo run --features iot --example iot
//! ```

use std::collections::HashMap;
use std::process::ExitCode;

use aws_refresh_session::strategy::iot::IotConfig;
use aws_refresh_session::{Error, RefreshableSession, SigningSettings, Strategy};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::{ServiceBuilder, ServiceExt};

/// Flags and the environment variables they fall back to.
const SETTINGS: [(&str, &str); 8] = [
    ("--endpoint", "IOT_ENDPOINT"),
    ("--role-alias", "IOT_ROLE_ALIAS"),
    ("--cert", "IOT_CERT"),
    ("--key", "IOT_KEY"),
    ("--ca", "IOT_CA"),
    ("--thing-name", "IOT_THING_NAME"),
    ("--sts-endpoint", "AWS_ENDPOINT_URL_STS"),
    ("--region", "AWS_REGION"),
];

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match read_settings() {
        Ok(settings) => settings,
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::from(2);
        }
    };

    match run(&settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            let mut cause = std::error::Error::source(&error);
            while let Some(inner) = cause {
                eprintln!("  caused by: {inner}");
                cause = inner.source();
            }
            ExitCode::FAILURE
        }
    }
}

async fn run(settings: &HashMap<&'static str, String>) -> Result<(), Error> {
    // The signed call needs a region to sign for, so check it before the
    // credentials are fetched.
    let signed_call = match settings.get("--sts-endpoint") {
        Some(sts_endpoint) => Some((sts_endpoint, required(settings, "--region")?)),
        None => None,
    };

    let mut builder = IotConfig::builder()
        .endpoint(required(settings, "--endpoint")?)
        .role_alias(required(settings, "--role-alias")?)
        .certificate_file(required(settings, "--cert")?)
        .private_key_file(required(settings, "--key")?);
    if let Some(ca) = settings.get("--ca") {
        builder = builder.ca_file(ca);
    }
    if let Some(thing_name) = settings.get("--thing-name") {
        builder = builder.thing_name(thing_name);
    }

    let session = RefreshableSession::builder()
        .strategy(Strategy::Iot(builder.build()?))
        .build()
        .await?;
    let credentials = session.credentials().await?;

    println!("access key id: {}", credentials.access_key_id());
    println!(
        "expires:       {}",
        credentials.expiry_rfc3339().as_deref().unwrap_or("never")
    );

    let Some((sts_endpoint, region)) = signed_call else {
        println!(
            "no STS endpoint given (--sts-endpoint or AWS_ENDPOINT_URL_STS): skipping the signed GetCallerIdentity call"
        );
        return Ok(());
    };
    signed_get_caller_identity(&session, sts_endpoint, region).await
}

/// Calls STS `GetCallerIdentity` through a hyper client wrapped in the
/// session's signing layer, and prints the status and caller ARN.
async fn signed_get_caller_identity(
    session: &RefreshableSession,
    sts_endpoint: &str,
    region: &str,
) -> Result<(), Error> {
    let url = format!(
        "{}/?Action=GetCallerIdentity&Version=2011-06-15",
        sts_endpoint.trim_end_matches('/')
    );
    let request = http::Request::get(&url)
        .body(Full::new(Bytes::new()))
        .map_err(|error| {
            Error::validation(
                "sts-endpoint",
                Some(sts_endpoint.to_owned()),
                format!("STS endpoint {sts_endpoint:?} does not form a valid URL; pass one such as https://sts.us-east-1.amazonaws.com"),
            )
            .with_source(error)
        })?;

    // moto, like other botocore-based verifiers, rejects an empty-body GET
    // unless x-amz-content-sha256 is signed. AWS accepts the header too.
    let layer =
        session.layer_with(SigningSettings::new("sts", region).content_sha256_header(true))?;
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_webpki_roots()
        .https_or_http()
        .enable_http1()
        .build();
    let service = ServiceBuilder::new()
        .layer(layer)
        .service(Client::builder(TokioExecutor::new()).build(connector));

    let response = service
        .oneshot(request)
        .await
        .map_err(|error| match error.into_inner() {
            Ok(error) => Error::connection(format!("GetCallerIdentity on {sts_endpoint} failed"))
                .with_source(error),
            Err(signing) => signing,
        })?;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|error| {
            Error::connection(format!(
                "reading the GetCallerIdentity response from {sts_endpoint} failed"
            ))
            .with_source(error)
        })?
        .to_bytes();
    let body = String::from_utf8_lossy(&body);

    println!("signed GetCallerIdentity: {status}");
    if !status.is_success() {
        return Err(Error::request(
            status.as_u16(),
            xml_text(&body, "Code").map(str::to_owned),
            format!(
                "GetCallerIdentity returned {status}: {}",
                xml_text(&body, "Message").unwrap_or(&body)
            ),
        ));
    }
    println!(
        "caller:        {}",
        xml_text(&body, "Arn").unwrap_or("(no Arn in the response)")
    );
    Ok(())
}

fn xml_text<'a>(body: &'a str, tag: &str) -> Option<&'a str> {
    let start = body.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = start + body[start..].find(&format!("</{tag}>"))?;
    Some(&body[start..end])
}

fn required<'a>(settings: &'a HashMap<&'static str, String>, flag: &str) -> Result<&'a str, Error> {
    settings.get(flag).map(String::as_str).ok_or_else(|| {
        let variable = SETTINGS
            .iter()
            .find(|(name, _)| *name == flag)
            .map(|(_, variable)| *variable)
            .unwrap_or("");
        Error::validation(
            flag.trim_start_matches('-'),
            None,
            format!("{flag} is required; pass it or set {variable}"),
        )
    })
}

/// Reads `--flag value` pairs, falling back to the environment.
fn read_settings() -> Result<HashMap<&'static str, String>, String> {
    let mut settings = HashMap::new();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let Some((name, _)) = SETTINGS.iter().find(|(name, _)| *name == flag) else {
            return Err(format!(
                "unknown argument {flag:?}; the flags are {:?}",
                SETTINGS.map(|(name, _)| name)
            ));
        };
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        settings.insert(*name, value);
    }
    for (name, variable) in SETTINGS {
        if !settings.contains_key(name)
            && let Ok(value) = std::env::var(variable)
        {
            settings.insert(name, value);
        }
    }
    Ok(settings)
}
