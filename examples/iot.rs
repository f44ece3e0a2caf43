//! A device that gets temporary AWS credentials from the AWS IoT Core
//! credentials provider with its X.509 certificate, and prints the access
//! key id and expiry.
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
//!
//! Against a local provider (see `examples/iot_local_provider.rs`):
//!
//! ```text
//! cargo run --features iot --example iot_local_provider -- cargo run --features iot --example iot
//! ```

use std::collections::HashMap;
use std::process::ExitCode;

use aws_refresh_session::strategy::iot::{IotConfig, IotSource};
use aws_refresh_session::{CredentialStore, Error};

/// Flags and the environment variables they fall back to.
const SETTINGS: [(&str, &str); 6] = [
    ("--endpoint", "IOT_ENDPOINT"),
    ("--role-alias", "IOT_ROLE_ALIAS"),
    ("--cert", "IOT_CERT"),
    ("--key", "IOT_KEY"),
    ("--ca", "IOT_CA"),
    ("--thing-name", "IOT_THING_NAME"),
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

    let source = IotSource::new(builder.build()?)?;
    let store = CredentialStore::builder(source).build().await?;
    let credentials = store.credentials().await?;

    println!("access key id: {}", credentials.access_key_id());
    println!(
        "expires:       {}",
        credentials.expiry_rfc3339().as_deref().unwrap_or("never")
    );
    // TODO: make a signed call with the credentials once the crate's
    // signing layer exists.
    Ok(())
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
