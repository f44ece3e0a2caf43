//! A real moto server on 127.0.0.1, bootstrapped for the STS tests.
//!
//! [`Moto::start`] installs moto through `scripts/moto.sh install` (once per
//! machine) and starts `moto_server` on a free port with a clean environment.
//! It then creates an IAM user with an access key, a role the user may assume
//! and a role it may not, and switches request authentication on. From then
//! on moto checks every SigV4 signature ([`Moto::start_without_auth`] leaves
//! it off). Dropping the handle kills and reaps the server.
//!
//! Every failure panics with moto's stderr: a test that needs moto fails
//! loudly rather than skipping.

use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use aws_refresh_session::Credentials;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

/// The account moto puts every resource in.
pub const ACCOUNT_ID: &str = "123456789012";

/// How long moto may take to respond to its first request.
const STARTUP_TIMEOUT: Duration = Duration::from_secs(30);

/// A policy that allows everything, attached to the user and the role so
/// moto's IAM checks pass once authentication is on.
const ALLOW_ALL: &str =
    r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;

/// A running, bootstrapped moto server.
pub struct Moto {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    /// The server's address.
    pub addr: SocketAddr,
    /// The IAM user's ARN.
    pub user_arn: String,
    /// The IAM user's access key id.
    pub access_key_id: String,
    /// The IAM user's secret access key.
    pub secret_access_key: String,
    /// A role whose trust policy names the user.
    pub role_arn: String,
    /// A role whose trust policy names another principal: AssumeRole on it
    /// is denied.
    pub forbidden_role_arn: String,
    child: Child,
    stderr_path: PathBuf,
    _dir: tempfile::TempDir,
    http: Client<HttpConnector, Full<Bytes>>,
}

/// One AssumeRole call, as moto recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumedRole {
    /// The temporary access key id moto issued.
    pub access_key_id: String,
    /// The role that was assumed.
    pub role_arn: String,
    /// The role session name.
    pub session_name: String,
    /// The external id sent, if any.
    pub external_id: Option<String>,
}

impl Moto {
    /// Installs (if needed), starts and bootstraps moto.
    ///
    /// # Panics
    ///
    /// When moto cannot be installed, does not come up, or a bootstrap call
    /// fails. The message carries moto's stderr.
    pub async fn start() -> Moto {
        Moto::start_with_auth(true).await
    }

    /// Installs, starts and bootstraps moto like [`Moto::start`], but leaves
    /// authentication off, for calls moto cannot verify: it hashes the wrong
    /// bytes for an empty-body request without a signed
    /// `x-amz-content-sha256`, which is how the AWS SDK signs a GET such as
    /// IoT `DescribeEndpoint`.
    ///
    /// # Panics
    ///
    /// As [`Moto::start`].
    pub async fn start_without_auth() -> Moto {
        Moto::start_with_auth(false).await
    }

    async fn start_with_auth(auth: bool) -> Moto {
        let moto_server = install();
        let http = Client::builder(TokioExecutor::new()).build_http();

        // A port picked by the kernel can be taken again before moto binds
        // it; try a few times.
        let mut last_error = String::new();
        for _ in 0..3 {
            match Moto::spawn(&moto_server, http.clone()).await {
                Ok(mut moto) => {
                    moto.bootstrap(auth).await;
                    return moto;
                }
                Err(error) => last_error = error,
            }
        }
        panic!("moto did not start: {last_error}");
    }

    /// Returns the user's long-term credentials.
    pub fn user_credentials(&self) -> Credentials {
        Credentials::new(&self.access_key_id, &self.secret_access_key, None, None)
    }

    /// Returns every AssumeRole call moto has recorded, oldest first.
    pub async fn assumed_roles(&self) -> Vec<AssumedRole> {
        let (status, body) = self.get("/moto-api/data.json").await;
        assert_eq!(status, 200, "moto data.json: {body}");
        let data: serde_json::Value = serde_json::from_str(&body).expect("moto data.json is JSON");
        let records = data["sts"]["AssumedRole"]
            .as_array()
            .unwrap_or_else(|| panic!("moto data.json has no sts.AssumedRole list: {body}"));
        records
            .iter()
            .map(|record| AssumedRole {
                access_key_id: record["access_key_id"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                role_arn: record["role_arn"].as_str().unwrap_or_default().to_owned(),
                session_name: record["session_name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
                external_id: record["external_id"].as_str().map(str::to_owned),
            })
            .collect()
    }

    /// Returns moto's stderr so far, for assertion messages.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    async fn spawn(
        moto_server: &Path,
        http: Client<HttpConnector, Full<Bytes>>,
    ) -> Result<Moto, String> {
        let port = free_port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let dir = tempfile::tempdir().expect("temporary directory");
        let stderr_path = dir.path().join("moto.stderr");
        let stderr = std::fs::File::create(&stderr_path).expect("moto stderr file");

        let child = Command::new(moto_server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.path())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|error| format!("running {}: {error}", moto_server.display()))?;

        let mut moto = Moto {
            endpoint: format!("http://{addr}"),
            addr,
            user_arn: String::new(),
            access_key_id: String::new(),
            secret_access_key: String::new(),
            role_arn: String::new(),
            forbidden_role_arn: String::new(),
            child,
            stderr_path,
            _dir: dir,
            http,
        };
        moto.wait_ready().await?;
        Ok(moto)
    }

    async fn wait_ready(&mut self) -> Result<(), String> {
        let poll = async {
            loop {
                if let Ok(Some(status)) = self.child.try_wait() {
                    return Err(format!(
                        "moto_server exited with {status} before answering; stderr:\n{}",
                        self.stderr()
                    ));
                }
                if let Some((200, _)) = self.try_get("/moto-api/").await {
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        };
        match tokio::time::timeout(STARTUP_TIMEOUT, poll).await {
            Ok(result) => result,
            Err(_) => Err(format!(
                "moto_server did not answer GET /moto-api/ within {STARTUP_TIMEOUT:?}; stderr:\n{}",
                self.stderr()
            )),
        }
    }

    /// Creates the user, its key, both roles and their policies, then turns
    /// authentication on when `auth` is true.
    async fn bootstrap(&mut self, auth: bool) {
        let user = self
            .iam(&[("Action", "CreateUser"), ("UserName", "app-user")])
            .await;
        self.user_arn = xml_value(&user, "Arn");

        let key = self
            .iam(&[("Action", "CreateAccessKey"), ("UserName", "app-user")])
            .await;
        self.access_key_id = xml_value(&key, "AccessKeyId");
        self.secret_access_key = xml_value(&key, "SecretAccessKey");

        self.iam(&[
            ("Action", "PutUserPolicy"),
            ("UserName", "app-user"),
            ("PolicyName", "allow-all"),
            ("PolicyDocument", ALLOW_ALL),
        ])
        .await;

        // moto denies `:root` and bare account principals, so the trust
        // policy names the user's exact ARN.
        let trust_user = trust_policy(&self.user_arn);
        let role = self
            .iam(&[
                ("Action", "CreateRole"),
                ("RoleName", "app-role"),
                ("AssumeRolePolicyDocument", &trust_user),
            ])
            .await;
        self.role_arn = xml_value(&role, "Arn");
        self.iam(&[
            ("Action", "PutRolePolicy"),
            ("RoleName", "app-role"),
            ("PolicyName", "allow-all"),
            ("PolicyDocument", ALLOW_ALL),
        ])
        .await;

        let trust_other = trust_policy(&format!("arn:aws:iam::{ACCOUNT_ID}:user/someone-else"));
        let forbidden = self
            .iam(&[
                ("Action", "CreateRole"),
                ("RoleName", "forbidden-role"),
                ("AssumeRolePolicyDocument", &trust_other),
            ])
            .await;
        self.forbidden_role_arn = xml_value(&forbidden, "Arn");
        if !auth {
            return;
        }

        // A form-encoded body makes moto return 500: it must be text/plain.
        let request = http::Request::post(format!("{}/moto-api/reset-auth", self.endpoint))
            .header("content-type", "text/plain")
            .body(Full::new(Bytes::from_static(b"0")))
            .expect("reset-auth request");
        let (status, body) = self.send(request).await;
        assert_eq!(
            status,
            200,
            "moto reset-auth failed: {body}\nstderr:\n{}",
            self.stderr()
        );
    }

    /// Sends one IAM query-protocol call while authentication is off. moto
    /// routes on the credential scope of the placeholder `Authorization`
    /// header and does not check the signature yet.
    async fn iam(&self, params: &[(&str, &str)]) -> String {
        let mut form = String::from("Version=2010-05-08");
        for (name, value) in params {
            form.push('&');
            form.push_str(name);
            form.push('=');
            form.push_str(&form_encode(value));
        }
        let request = http::Request::post(format!("{}/", self.endpoint))
            .header(
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            )
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=AKIDBOOTSTRAP/20260101/us-east-1/iam/aws4_request, \
                 SignedHeaders=host, Signature=00",
            )
            .body(Full::new(Bytes::from(form)))
            .expect("IAM request");
        let (status, body) = self.send(request).await;
        assert_eq!(
            status,
            200,
            "moto bootstrap call {params:?} failed: {body}\nstderr:\n{}",
            self.stderr()
        );
        body
    }

    async fn get(&self, path: &str) -> (u16, String) {
        self.try_get(path)
            .await
            .unwrap_or_else(|| panic!("GET {path} on moto failed; stderr:\n{}", self.stderr()))
    }

    async fn try_get(&self, path: &str) -> Option<(u16, String)> {
        let request = http::Request::get(format!("{}{path}", self.endpoint))
            .body(Full::new(Bytes::new()))
            .expect("GET request");
        self.try_send(request).await
    }

    async fn send(&self, request: http::Request<Full<Bytes>>) -> (u16, String) {
        let uri = request.uri().clone();
        self.try_send(request)
            .await
            .unwrap_or_else(|| panic!("request to {uri} failed; stderr:\n{}", self.stderr()))
    }

    async fn try_send(&self, request: http::Request<Full<Bytes>>) -> Option<(u16, String)> {
        let response = self.http.request(request).await.ok()?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.ok()?.to_bytes();
        Some((status, String::from_utf8_lossy(&body).into_owned()))
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `scripts/moto.sh install` and returns the path of `moto_server`.
fn install() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let output = Command::new(root.join("scripts/moto.sh"))
        .arg("install")
        .current_dir(root)
        .stdin(Stdio::null())
        .output()
        .expect("running scripts/moto.sh install");
    assert!(
        output.status.success(),
        "scripts/moto.sh install failed with {}:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    let path = String::from_utf8(output.stdout).expect("moto_server path is UTF-8");
    PathBuf::from(path.trim())
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("binding a free port");
    listener.local_addr().expect("local address").port()
}

fn trust_policy(principal_arn: &str) -> String {
    format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"{principal_arn}"}},"Action":"sts:AssumeRole"}}]}}"#
    )
}

/// Returns the text of the first `<name>` element; panics when missing.
pub fn xml_value(body: &str, name: &str) -> String {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = body
        .find(&open)
        .unwrap_or_else(|| panic!("no <{name}> in moto's answer: {body}"))
        + open.len();
    let end = start + body[start..].find(&close).expect("closing tag");
    body[start..end].to_owned()
}

/// Percent-encodes a form value (`application/x-www-form-urlencoded`).
fn form_encode(value: &str) -> String {
    let mut encoded = String::new();
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                encoded.push(byte as char);
            }
            _ => encoded.push_str(&format!("%{byte:02X}")),
        }
    }
    encoded
}
