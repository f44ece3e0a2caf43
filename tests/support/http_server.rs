//! A local HTTP/1.1 server on 127.0.0.1 whose responses come from a
//! synchronous handler, for tests that record what a client sent.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

/// A running server; dropping it stops accepting connections.
pub struct LocalServer {
    address: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl LocalServer {
    /// Binds a free port on 127.0.0.1 and answers every request with
    /// `handler(request)`.
    pub async fn start<F, B>(handler: F) -> LocalServer
    where
        F: Fn(Request<Incoming>) -> Response<B> + Send + Sync + 'static,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding a test server on 127.0.0.1 failed");
        let address = listener.local_addr().unwrap();
        let handler = Arc::new(handler);

        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let handler = Arc::clone(&handler);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let response = handler(request);
                        async move { Ok::<_, Infallible>(response) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });

        LocalServer { address, task }
    }

    /// Returns `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }
}

impl Drop for LocalServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}
