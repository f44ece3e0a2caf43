//! Client keys in a SoftHSM2 token: the key is generated inside the token
//! and never leaves it; the TLS handshake signs through `C_Sign`.
//!
//! SoftHSM2 reads its configuration from `SOFTHSM2_CONF` when the module
//! initialises, and this crate forbids the `unsafe` needed to set an
//! environment variable in a running test. So each test prepares a token in
//! a temporary directory, then runs its `token_*` half in a child process of
//! this test binary with `SOFTHSM2_CONF` set. The halves are `#[ignore]`d so
//! that a plain run does not report them as passing on their own.
#![cfg(feature = "pkcs11")]

#[path = "support/iot_server.rs"]
mod iot_server;

use std::path::{Path, PathBuf};
use std::process::Command;

use aws_refresh_session::CredentialSource;
use aws_refresh_session::strategy::iot::{IotConfig, IotSource, Pkcs11Key};
use iot_server::{Authority, Identity, IotServer, ROLE_ALIAS, ServerOptions};

const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const TOKEN_LABEL: &str = "device-token";
const USER_PIN: &str = "482913";
const SO_PIN: &str = "5678";
const KEY_LABEL: &str = "device-key";
const INSTALL_HINT: &str = "install SoftHSM2 and OpenSC: apt-get install -y softhsm2 opensc";

/// The environment variable that hands the prepared directory to the child.
const DIR_VARIABLE: &str = "IOT_PKCS11_TEST_DIR";

/// Prepares a token with one key pair of `key_type` (a `pkcs11-tool`
/// `--key-type`, such as `EC:prime256v1` or `rsa:2048`), a client
/// certificate for it, and a server identity, then runs `child` in a child
/// process with `SOFTHSM2_CONF` pointing at the token.
fn run_with_token(key_type: &str, child: &str) {
    assert!(
        Path::new(MODULE).exists(),
        "the PKCS#11 module {MODULE} is missing; {INSTALL_HINT}"
    );

    let dir = tempfile::tempdir().expect("temp dir");
    let tokens = dir.path().join("tokens");
    std::fs::create_dir(&tokens).unwrap();
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();

    run_tool(
        &conf,
        "softhsm2-util",
        &[
            "--init-token",
            "--free",
            "--label",
            TOKEN_LABEL,
            "--so-pin",
            SO_PIN,
            "--pin",
            USER_PIN,
        ],
    );
    let token = [
        "--module",
        MODULE,
        "--token-label",
        TOKEN_LABEL,
        "--login",
        "--pin",
        USER_PIN,
    ];
    run_tool(
        &conf,
        "pkcs11-tool",
        &[
            &token[..],
            &[
                "--keypairgen",
                "--key-type",
                key_type,
                "--label",
                KEY_LABEL,
                "--id",
                "01",
                "--usage-sign",
            ],
        ]
        .concat(),
    );
    let public_key = dir.path().join("public.der");
    run_tool(
        &conf,
        "pkcs11-tool",
        &[
            &token[..],
            &[
                "--read-object",
                "--type",
                "pubkey",
                "--label",
                KEY_LABEL,
                "--output-file",
            ],
            &[public_key.to_str().unwrap()],
        ]
        .concat(),
    );

    let authority = Authority::new("Test IoT CA");
    let spki = std::fs::read(&public_key).unwrap();
    let server = authority.server();
    std::fs::write(
        dir.path().join("client.pem"),
        authority.client_for_spki("token-thing", &spki),
    )
    .unwrap();
    std::fs::write(dir.path().join("ca.pem"), &authority.ca_pem).unwrap();
    std::fs::write(dir.path().join("server.pem"), &server.cert_pem).unwrap();
    std::fs::write(dir.path().join("server.key"), &server.key_pem).unwrap();
    // A certificate for a different key, to test the key-match check.
    std::fs::write(
        dir.path().join("other.pem"),
        authority.client("other").cert_pem,
    )
    .unwrap();

    let output = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            child,
            "--ignored",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env("SOFTHSM2_CONF", &conf)
        .env(DIR_VARIABLE, dir.path())
        .output()
        .expect("run the child test");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);

    assert!(
        output.status.success(),
        "child {child} failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("1 passed"),
        "child {child} did not run:\n{stdout}\n{stderr}"
    );
}

fn run_tool(conf: &Path, tool: &str, args: &[&str]) {
    let output = Command::new(tool)
        .args(args)
        .env("SOFTHSM2_CONF", conf)
        .output()
        .unwrap_or_else(|error| panic!("cannot run {tool} ({error}); {INSTALL_HINT}"));
    assert!(
        output.status.success(),
        "{tool} {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// What the parent prepared, read in the child.
struct Prepared {
    dir: PathBuf,
}

impl Prepared {
    fn load() -> Prepared {
        let dir = std::env::var_os(DIR_VARIABLE)
            .expect("run by the parent test, which sets the directory");
        Prepared {
            dir: PathBuf::from(dir),
        }
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(name)).unwrap()
    }

    async fn server(&self, tls12_only: bool) -> IotServer {
        IotServer::start(ServerOptions {
            client_ca_pem: self.read("ca.pem"),
            identity: Identity {
                cert_pem: self.read("server.pem"),
                key_pem: self.read("server.key"),
            },
            tls12_only,
        })
        .await
    }

    fn key(&self) -> Pkcs11Key {
        Pkcs11Key::new(MODULE)
            .token_label(TOKEN_LABEL)
            .user_pin(USER_PIN)
            .key_label(KEY_LABEL)
    }

    fn config(&self, server: &IotServer, key: Pkcs11Key) -> IotConfig {
        IotConfig::builder()
            .endpoint(server.url())
            .role_alias(ROLE_ALIAS)
            .certificate_pem(self.read("client.pem"))
            .pkcs11_key(key)
            .ca_pem(self.read("ca.pem"))
            .build()
            .unwrap()
    }
}

/// Fetches over TLS 1.3 and TLS 1.2 with the token key, then checks that
/// a wrong PIN, a missing key, a wrong token and a certificate for another
/// key are configuration errors.
async fn fetch_and_reject_misconfiguration() {
    let prepared = Prepared::load();

    for tls12_only in [false, true] {
        let server = prepared.server(tls12_only).await;
        let source = IotSource::new(prepared.config(&server, prepared.key())).unwrap();

        let first = source.fetch().await.unwrap();
        let second = source.fetch().await.unwrap();

        assert_eq!(
            first.access_key_id(),
            "ASIAIOT000000001",
            "tls12_only={tls12_only}"
        );
        assert_eq!(
            second.access_key_id(),
            "ASIAIOT000000002",
            "tls12_only={tls12_only}"
        );
        assert!(!format!("{source:?}").contains(USER_PIN));
    }

    let server = prepared.server(false).await;
    let wrong_pin = Pkcs11Key::new(MODULE)
        .token_label(TOKEN_LABEL)
        .user_pin("000000")
        .key_label(KEY_LABEL);
    let missing_key = Pkcs11Key::new(MODULE)
        .token_label(TOKEN_LABEL)
        .user_pin(USER_PIN)
        .key_label("no-such-key");
    let missing_token = Pkcs11Key::new(MODULE)
        .token_label("no-such-token")
        .user_pin(USER_PIN)
        .key_label(KEY_LABEL);

    // The wrong PIN goes first: once a session logs in, the token stays
    // logged in for this process and the PIN is not checked again.
    let error = IotSource::new(prepared.config(&server, wrong_pin)).unwrap_err();
    assert!(error.is_configuration(), "{error}");
    assert!(error.message().contains("PIN was rejected"), "{error}");
    assert!(!format!("{error:?}").contains("000000"), "{error:?}");

    let error = IotSource::new(prepared.config(&server, missing_key)).unwrap_err();
    assert!(error.is_configuration(), "{error}");
    assert!(
        error
            .message()
            .contains("no private key with label \"no-such-key\""),
        "{error}"
    );

    let error = IotSource::new(prepared.config(&server, missing_token)).unwrap_err();
    assert!(error.is_configuration(), "{error}");
    assert!(error.message().contains("no-such-token"), "{error}");

    let mismatched = IotConfig::builder()
        .endpoint(server.url())
        .role_alias(ROLE_ALIAS)
        .certificate_pem(prepared.read("other.pem"))
        .pkcs11_key(prepared.key())
        .build()
        .unwrap();
    let error = IotSource::new(mismatched).unwrap_err();
    assert!(error.is_configuration(), "{error}");
    assert!(error.message().contains("do not match"), "{error}");
}

#[test]
fn ec_p256_token_key_fetches_credentials() {
    run_with_token("EC:prime256v1", "token_ec_p256");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "half of ec_p256_token_key_fetches_credentials, run in a child process with SOFTHSM2_CONF"]
async fn token_ec_p256() {
    fetch_and_reject_misconfiguration().await;
}

#[test]
fn rsa_2048_token_key_fetches_credentials() {
    run_with_token("rsa:2048", "token_rsa_2048");
}

#[tokio::test(flavor = "current_thread")]
#[ignore = "half of rsa_2048_token_key_fetches_credentials, run in a child process with SOFTHSM2_CONF"]
async fn token_rsa_2048() {
    fetch_and_reject_misconfiguration().await;
}

#[test]
fn missing_module_is_configuration_error() {
    let config = IotConfig::builder()
        .endpoint("https://127.0.0.1:1")
        .role_alias(ROLE_ALIAS)
        .certificate_pem(Authority::new("Test IoT CA").client("t").cert_pem)
        .pkcs11_key(
            Pkcs11Key::new("/nonexistent/libpkcs11.so")
                .token_label("t")
                .user_pin(USER_PIN)
                .key_label("k"),
        )
        .build()
        .unwrap();

    let error = IotSource::new(config).unwrap_err();

    assert!(error.is_configuration(), "{error}");
    assert!(
        error.message().contains("/nonexistent/libpkcs11.so"),
        "{error}"
    );
    assert!(error.message().contains("failed to load"), "{error}");
    assert!(!format!("{error:?}").contains(USER_PIN));
}
