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

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
