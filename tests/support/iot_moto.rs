//! Starts moto (`<repo>/.build/moto-venv`) on a free 127.0.0.1 port for the
//! IoT tests, and stops it by its process id when dropped.
#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The maximum time moto may take to respond to its first request.
const START_TIMEOUT: Duration = Duration::from_secs(30);

pub struct Moto {
    pub port: u16,
    child: Child,
}

impl Moto {
    /// Starts moto with request authentication off.
    pub fn start() -> Moto {
        let binary =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".build/moto-venv/bin/moto_server");
        assert!(
            binary.exists(),
            "moto is missing at {}; install it with: python3 -m venv .build/moto-venv && \
             .build/moto-venv/bin/pip install 'moto[server]==5.2.5'",
            binary.display()
        );

        let port = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            listener.local_addr().unwrap().port()
        };
        let child = Command::new(&binary)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {}: {error}", binary.display()));
        let mut moto = Moto { port, child };

        let mut waited = Duration::ZERO;
        while !moto.is_ready() {
            if let Ok(Some(status)) = moto.child.try_wait() {
                panic!("moto exited during start-up with {status}");
            }
            assert!(
                waited < START_TIMEOUT,
                "moto did not answer on port {port} within {START_TIMEOUT:?}"
            );
            std::thread::sleep(Duration::from_millis(100));
            waited += Duration::from_millis(100);
        }
        moto
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn is_ready(&self) -> bool {
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let request = format!(
            "GET /moto-api/ HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nConnection: close\r\n\r\n",
            self.port
        );
        if stream.write_all(request.as_bytes()).is_err() {
            return false;
        }
        let mut response = String::new();
        let _ = stream.read_to_string(&mut response);
        response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200")
    }
}

impl Moto {
    /// Sends a form-encoded POST and returns the status and body.
    ///
    /// The `Authorization` header only names `service` in its credential
    /// scope, which is how moto routes requests to 127.0.0.1. It carries no
    /// valid signature, so this works only while authentication is off.
    pub fn post_unsigned(
        &self,
        service: &str,
        path: &str,
        content_type: &str,
        body: &str,
    ) -> (u16, String) {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to moto");
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\
             Content-Type: {content_type}\r\nContent-Length: {length}\r\n\
             Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/{service}/aws4_request, \
             SignedHeaders=host, Signature=0\r\n\r\n{body}",
            port = self.port,
            length = body.len(),
        );
        stream.write_all(request.as_bytes()).expect("write to moto");
        let mut response = String::new();
        stream
            .read_to_string(&mut response)
            .expect("read from moto");

        let status = response
            .split_whitespace()
            .nth(1)
            .and_then(|code| code.parse().ok())
            .expect("moto status line");
        let body = response
            .split_once("\r\n\r\n")
            .map(|(_, body)| body.to_owned())
            .unwrap_or_default();
        (status, body)
    }

    /// Turns request authentication on: from now on moto checks every
    /// signature and session token.
    pub fn enable_auth(&self) {
        let (status, body) = self.post_unsigned("sts", "/moto-api/reset-auth", "text/plain", "0");
        assert_eq!(status, 200, "moto reset-auth failed: {body}");
    }
}

/// Returns the text of the first `<tag>` element in `xml`.
pub fn xml_text(xml: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml
        .find(&open)
        .unwrap_or_else(|| panic!("no <{tag}> in {xml}"))
        + open.len();
    let end = xml[start..].find(&close).expect("closing tag") + start;
    xml[start..end].to_owned()
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
