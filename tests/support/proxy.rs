//! A TCP proxy on 127.0.0.1 that records what clients send.
//!
//! The STS tests point the SDK at the proxy, which forwards every byte to
//! moto unchanged (so signatures still verify) and keeps a copy of the
//! client-to-server bytes. moto ignores MFA parameters, so this copy is how
//! a test observes which `TokenCode` was sent.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A running recording proxy. Dropping it stops accepting connections.
pub struct RecordingProxy {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    recorded: Arc<Mutex<Vec<u8>>>,
    accept_task: tokio::task::JoinHandle<()>,
}

impl RecordingProxy {
    /// Starts a proxy that forwards to `target`.
    pub async fn start(target: SocketAddr) -> RecordingProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the proxy");
        let addr = listener.local_addr().expect("proxy address");
        let recorded = Arc::new(Mutex::new(Vec::new()));

        let sink = Arc::clone(&recorded);
        let accept_task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let sink = Arc::clone(&sink);
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(target).await {
                        relay(client, server, sink).await;
                    }
                });
            }
        });

        RecordingProxy {
            endpoint: format!("http://{addr}"),
            recorded,
            accept_task,
        }
    }

    /// Returns everything clients sent so far, as text.
    pub fn sent(&self) -> String {
        String::from_utf8_lossy(&self.recorded.lock().unwrap()).into_owned()
    }
}

impl Drop for RecordingProxy {
    fn drop(&mut self) {
        self.accept_task.abort();
    }
}

async fn relay(client: TcpStream, server: TcpStream, sink: Arc<Mutex<Vec<u8>>>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();

    let upstream = async move {
        let mut buffer = vec![0; 16 * 1024];
        loop {
            let read = match client_read.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(read) => read,
            };
            sink.lock().unwrap().extend_from_slice(&buffer[..read]);
            if server_write.write_all(&buffer[..read]).await.is_err() {
                break;
            }
        }
        let _ = server_write.shutdown().await;
    };
    let downstream = async move {
        let _ = tokio::io::copy(&mut server_read, &mut client_write).await;
        let _ = client_write.shutdown().await;
    };
    tokio::join!(upstream, downstream);
}
