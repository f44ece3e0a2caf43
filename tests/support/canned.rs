//! A one-response HTTP server on 127.0.0.1, for STS error paths moto cannot
//! produce (throttling, server errors, region disabled, a server that never
//! responds).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the server does with each request.
#[derive(Clone, Debug)]
pub enum Reply {
    /// Responds with this status and XML body.
    Status(u16, String),
    /// Reads the request and never responds.
    Hang,
}

/// A running canned server. Dropping it stops it.
pub struct CannedServer {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    hits: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl CannedServer {
    /// Starts a server that responds to every request with `reply`.
    pub async fn start(reply: Reply) -> CannedServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let hits = Arc::new(AtomicUsize::new(0));

        let counter = Arc::clone(&hits);
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let reply = reply.clone();
                let counter = Arc::clone(&counter);
                tokio::spawn(async move {
                    // One request per connection: read until the body has
                    // arrived, then respond and close.
                    let mut request = Vec::new();
                    let mut buffer = [0; 4096];
                    while !request_complete(&request) {
                        match stream.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(read) => request.extend_from_slice(&buffer[..read]),
                        }
                    }
                    counter.fetch_add(1, Ordering::SeqCst);
                    match reply {
                        Reply::Status(status, body) => {
                            let response = format!(
                                "HTTP/1.1 {status} Canned\r\ncontent-type: text/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                                body.len()
                            );
                            let _ = stream.write_all(response.as_bytes()).await;
                            let _ = stream.shutdown().await;
                        }
                        Reply::Hang => {
                            std::future::pending::<()>().await;
                        }
                    }
                });
            }
        });

        CannedServer {
            endpoint,
            hits,
            task,
        }
    }

    /// Returns how many requests arrived.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for CannedServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Returns an STS query-protocol error body.
pub fn sts_error(code: &str, message: &str) -> String {
    format!(
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type>\
         <Code>{code}</Code><Message>{message}</Message></Error><RequestId>canned</RequestId></ErrorResponse>"
    )
}

fn request_complete(request: &[u8]) -> bool {
    let Some(head_end) = request.windows(4).position(|window| window == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&request[..head_end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length:"))
        .and_then(|value| value.trim().parse::<usize>().ok())
        .unwrap_or(0);
    request.len() >= head_end + 4 + length
}
