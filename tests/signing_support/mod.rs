//! Shared pieces of the signing tests: a store over fixed credentials with
//! a manual clock, and an inner service that records what it was sent.
#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_refresh_session::clock::ManualClock;
use aws_refresh_session::strategy::CustomSource;
use aws_refresh_session::{CredentialStore, Credentials};
use http::{HeaderMap, Method, Request, Response, Uri};

pub const ACCESS_KEY_ID: &str = "AKIDEXAMPLE";
pub const SECRET_ACCESS_KEY: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// 2015-08-30T12:36:00Z, the signing time of the AWS suite and the vectors.
pub fn suite_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_440_938_160)
}

/// Builds a store that always returns `credentials`, on `clock`.
pub async fn fixed_store(credentials: Credentials, clock: ManualClock) -> CredentialStore {
    let source = CustomSource::new("fixed", move || {
        let credentials = credentials.clone();
        async move { Ok(credentials) }
    });
    CredentialStore::builder(source)
        .clock(Arc::new(clock))
        .build()
        .await
        .expect("a fixed source builds a store")
}

/// What the inner service received.
#[derive(Clone, Debug)]
pub struct Captured {
    pub method: Method,
    pub uri: Uri,
    pub headers: HeaderMap,
}

type Responder = Arc<dyn Fn(&Captured, usize) -> Response<String> + Send + Sync>;

/// An inner service that records each request and returns a
/// configurable response.
#[derive(Clone)]
pub struct RecordingService {
    pub requests: Arc<Mutex<Vec<Captured>>>,
    respond: Responder,
}

impl RecordingService {
    /// Returns 200 with an empty body.
    pub fn ok() -> Self {
        RecordingService::with(|_, _| Response::new(String::new()))
    }

    /// Returns `respond(request, call_index)`.
    pub fn with(
        respond: impl Fn(&Captured, usize) -> Response<String> + Send + Sync + 'static,
    ) -> Self {
        RecordingService {
            requests: Arc::new(Mutex::new(Vec::new())),
            respond: Arc::new(respond),
        }
    }

    pub fn calls(&self) -> usize {
        self.requests.lock().unwrap().len()
    }

    pub fn last(&self) -> Captured {
        self.requests
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("the inner service was called")
    }
}

impl<B> tower::Service<Request<B>> for RecordingService {
    type Response = Response<String>;
    type Error = Infallible;
    type Future = Ready<Result<Response<String>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        let captured = Captured {
            method: request.method().clone(),
            uri: request.uri().clone(),
            headers: request.headers().clone(),
        };
        let mut requests = self.requests.lock().unwrap();
        let response = (self.respond)(&captured, requests.len());
        requests.push(captured);
        ready(Ok(response))
    }
}

/// Returns every value of header `name` as strings.
pub fn values(headers: &HeaderMap, name: &str) -> Vec<String> {
    headers
        .get_all(name)
        .iter()
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .collect()
}

/// Splits a URL's query into decoded (name, value) pairs, sorted.
pub fn query_set(url: &str) -> Vec<(String, String)> {
    let query = url.split_once('?').map(|(_, query)| query).unwrap_or("");
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(name), percent_decode(value))
        })
        .collect();
    pairs.sort();
    pairs
}

/// Decodes %XX escapes (and nothing else: '+' stays '+').
pub fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%'
            && index + 2 < bytes.len()
            && bytes[index + 1].is_ascii_hexdigit()
            && bytes[index + 2].is_ascii_hexdigit()
            && let Ok(byte) = u8::from_str_radix(&text[index + 1..index + 3], 16)
        {
            out.push(byte);
            index += 3;
            continue;
        }
        out.push(bytes[index]);
        index += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}
