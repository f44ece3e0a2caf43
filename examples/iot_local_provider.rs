//! A local AWS IoT Core credentials provider for trying `examples/iot.rs`:
//! mutual TLS on 127.0.0.1 with a CA, server and device certificate made at
//! start-up. It vends made-up credentials that AWS does not accept.
//!
//! It writes `ca.pem`, `device.pem.crt` and `device.pem.key` to a temporary
//! directory. Given a command as arguments, it runs that command with
//! `IOT_ENDPOINT`, `IOT_ROLE_ALIAS`, `IOT_CERT`, `IOT_KEY` and `IOT_CA` set
//! and exits with its status. With no arguments, it prints those settings
//! and serves until interrupted.
//!
//! ```text
//! cargo run --features iot --example iot_local_provider -- cargo run --features iot --example iot
//! ```

#[path = "../tests/support/iot_server.rs"]
mod iot_server;

use std::process::ExitCode;

use iot_server::{Authority, IotServer, ROLE_ALIAS, ServerOptions};

#[tokio::main]
async fn main() -> ExitCode {
    let authority = Authority::new("Local IoT CA");
    let device = authority.client("local-device");
    let server = IotServer::start(ServerOptions::new(&authority)).await;

    let dir = match tempfile::tempdir() {
        Ok(dir) => dir,
        Err(error) => {
            eprintln!("error: creating a temporary directory failed: {error}");
            return ExitCode::FAILURE;
        }
    };
    let files = [
        ("IOT_CA", "ca.pem", authority.ca_pem.as_str()),
        ("IOT_CERT", "device.pem.crt", device.cert_pem.as_str()),
        ("IOT_KEY", "device.pem.key", device.key_pem.as_str()),
    ];
    let mut environment = vec![
        ("IOT_ENDPOINT", server.url()),
        ("IOT_ROLE_ALIAS", ROLE_ALIAS.to_owned()),
    ];
    for (variable, name, content) in files {
        let path = dir.path().join(name);
        if let Err(error) = std::fs::write(&path, content) {
            eprintln!("error: writing {} failed: {error}", path.display());
            return ExitCode::FAILURE;
        }
        environment.push((variable, path.display().to_string()));
    }

    let command: Vec<String> = std::env::args().skip(1).collect();
    let Some((program, args)) = command.split_first() else {
        println!("local IoT credentials provider on {}", server.url());
        for (variable, value) in &environment {
            println!("export {variable}={value}");
        }
        let _ = tokio::signal::ctrl_c().await;
        return ExitCode::SUCCESS;
    };

    let status = tokio::process::Command::new(program)
        .args(args)
        .envs(environment)
        // The device example talks only to this provider; keep any AWS
        // tooling it starts away from real endpoints and credential files.
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .status()
        .await;
    match status {
        Ok(status) if status.success() => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("{program} exited with {status}");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("error: running {program} failed: {error}");
            ExitCode::FAILURE
        }
    }
}
