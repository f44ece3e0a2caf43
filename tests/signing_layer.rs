//! Behaviour of the signing layer around the signature itself: failures,
//! readiness, sensitive headers, excluded headers and logging.

mod signing_support;

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use aws_refresh_session::clock::ManualClock;
use aws_refresh_session::signing::{
    PayloadMode, PresignOptions, RefreshingCredentialsLayer, SigningSettings,
};
use aws_refresh_session::strategy::CustomSource;
use aws_refresh_session::{CredentialStore, Credentials, RefreshMode, RefreshPolicy};
use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use http_body_util::{Full, StreamBody};
use signing_support::{
    ACCESS_KEY_ID, RecordingService, SECRET_ACCESS_KEY, fixed_store, suite_time, values,
};
use tower::{Layer, Service, ServiceExt};

const SESSION_TOKEN: &str =
    "IQoJb3JpZ2luX2VjEXAMPLE//////////PLACEHOLDER+Session/Token+For+Tests==";

fn temporary_credentials() -> Credentials {
    Credentials::new(
        ACCESS_KEY_ID,
        SECRET_ACCESS_KEY,
        Some(SESSION_TOKEN.into()),
        None,
    )
}

async fn layer_with(
    credentials: Credentials,
    settings: SigningSettings,
) -> RefreshingCredentialsLayer {
    let store = fixed_store(credentials, ManualClock::new(suite_time())).await;
    RefreshingCredentialsLayer::new(store, settings)
}

fn sts() -> SigningSettings {
    SigningSettings::new("sts", "us-east-1")
}

async fn assert_rejected_before_inner<B>(
    layer: &RefreshingCredentialsLayer,
    request: Request<B>,
) -> aws_refresh_session::Error
where
    B: http_body::Body + Send + 'static,
{
    let inner = RecordingService::ok();
    let error = layer
        .layer(inner.clone())
        .oneshot(request)
        .await
        .unwrap_err();
    assert_eq!(inner.calls(), 0, "the inner service was called");
    assert!(error.is_signing());
    error.into_inner().unwrap_err()
}

#[tokio::test]
async fn relative_uri_is_rejected_uncalled() {
    let layer = layer_with(temporary_credentials(), sts()).await;

    let error = assert_rejected_before_inner(
        &layer,
        Request::get("/no-host").body(String::new()).unwrap(),
    )
    .await;

    assert!(error.is_signing());
    assert!(error.message().contains("no host"));
}

#[tokio::test]
async fn non_utf8_header_is_rejected_uncalled() {
    let layer = layer_with(temporary_credentials(), sts()).await;
    let request = Request::get("https://sts.us-east-1.amazonaws.com/")
        .header("x-binary", HeaderValue::from_bytes(b"\xc3\x28").unwrap())
        .body(String::new())
        .unwrap();

    let error = assert_rejected_before_inner(&layer, request).await;

    assert!(error.message().contains("x-binary"));
}

#[tokio::test]
async fn expired_credentials_are_rejected_uncalled() {
    // The clock moves to the expiry: the store's refresh returns the same,
    // now expired, credentials, so the request fails as expired.
    let expiring = Credentials::new(
        ACCESS_KEY_ID,
        SECRET_ACCESS_KEY,
        None,
        Some(suite_time() + Duration::from_secs(3600)),
    );
    let clock = ManualClock::new(suite_time());
    let store = fixed_store(expiring, clock.clone()).await;
    let layer = RefreshingCredentialsLayer::new(store, sts());
    clock.advance(Duration::from_secs(3600));

    let inner = RecordingService::ok();
    let error = layer
        .layer(inner.clone())
        .oneshot(
            Request::get("https://sts.us-east-1.amazonaws.com/")
                .body(String::new())
                .unwrap(),
        )
        .await
        .unwrap_err();

    assert_eq!(inner.calls(), 0);
    let error = error.into_inner().unwrap_err();
    assert!(error.is_expired(), "{error:?}");
}

#[tokio::test]
async fn streaming_body_signed_mode_rejected() {
    let layer = layer_with(temporary_credentials(), sts()).await;
    let stream = futures_util::stream::iter(vec![Ok::<_, Infallible>(http_body::Frame::data(
        Bytes::from_static(b"chunk"),
    ))]);
    let request = Request::put("https://sts.us-east-1.amazonaws.com/")
        .body(StreamBody::new(stream))
        .unwrap();

    let error = assert_rejected_before_inner(&layer, request).await;

    assert!(error.message().contains("not held in memory"));
    assert!(error.message().contains("PayloadMode::Unsigned"));
    assert!(error.message().contains("Full<Bytes>"));
}

#[tokio::test]
async fn streaming_body_unsigned_mode_accepted() {
    let layer = layer_with(
        temporary_credentials(),
        SigningSettings::s3("us-east-1").payload(PayloadMode::Unsigned),
    )
    .await;
    let stream = futures_util::stream::iter(vec![Ok::<_, Infallible>(http_body::Frame::data(
        Bytes::from_static(b"chunk"),
    ))]);
    let request = Request::put("https://bucket.s3.us-east-1.amazonaws.com/key")
        .body(StreamBody::new(stream))
        .unwrap();
    let inner = RecordingService::ok();

    layer.layer(inner.clone()).oneshot(request).await.unwrap();

    assert_eq!(
        values(&inner.last().headers, "x-amz-content-sha256"),
        ["UNSIGNED-PAYLOAD"]
    );
}

#[tokio::test]
async fn invalid_settings_fail_every_request() {
    assert!(
        RefreshingCredentialsLayer::try_new(
            fixed_store(temporary_credentials(), ManualClock::new(suite_time())).await,
            SigningSettings::new("sts", ""),
        )
        .unwrap_err()
        .is_validation()
    );
    let layer = layer_with(temporary_credentials(), SigningSettings::new("sts", "")).await;

    let error = assert_rejected_before_inner(
        &layer,
        Request::get("https://sts.us-east-1.amazonaws.com/")
            .body(String::new())
            .unwrap(),
    )
    .await;

    assert!(error.is_validation());
}

#[tokio::test]
async fn inner_error_is_service_error() {
    #[derive(Clone)]
    struct Failing;
    impl Service<Request<String>> for Failing {
        type Response = Response<String>;
        type Error = std::io::Error;
        type Future = Ready<Result<Response<String>, std::io::Error>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), std::io::Error>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, _: Request<String>) -> Self::Future {
            ready(Err(std::io::Error::other("connection reset")))
        }
    }
    let layer = layer_with(temporary_credentials(), sts()).await;

    let error = layer
        .layer(Failing)
        .oneshot(
            Request::get("https://sts.us-east-1.amazonaws.com/")
                .body(String::new())
                .unwrap(),
        )
        .await
        .unwrap_err();

    assert!(error.is_service());
    assert_eq!(error.to_string(), "connection reset");
    assert_eq!(
        error.into_inner().unwrap().kind(),
        std::io::ErrorKind::Other
    );
}

#[tokio::test]
async fn credential_headers_are_sensitive() {
    let layer = layer_with(temporary_credentials(), sts()).await;
    let inner = RecordingService::ok();

    layer
        .layer(inner.clone())
        .oneshot(
            Request::get("https://sts.us-east-1.amazonaws.com/")
                .body(String::new())
                .unwrap(),
        )
        .await
        .unwrap();

    let sent = inner.last();
    assert!(sent.headers["authorization"].is_sensitive());
    assert!(sent.headers["x-amz-security-token"].is_sensitive());
    assert!(!sent.headers["x-amz-date"].is_sensitive());
    assert!(!format!("{:?}", sent.headers).contains(SESSION_TOKEN));
}

#[tokio::test]
async fn proxy_headers_are_not_signed() {
    let layer = layer_with(
        temporary_credentials(),
        sts().exclude_header("X-Forwarded-For"),
    )
    .await;
    let inner = RecordingService::ok();
    let request = Request::post("https://sts.us-east-1.amazonaws.com/")
        .header("user-agent", "test/1.0")
        .header("expect", "100-continue")
        .header(
            "x-amzn-trace-id",
            "Root=1-5759e988-bd862e3fe1be46a994272793",
        )
        .header(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        .header("tracestate", "vendor=value")
        .header("connection", "keep-alive")
        .header("keep-alive", "timeout=5")
        .header("te", "trailers")
        .header("upgrade", "h2c")
        .header("x-forwarded-for", "127.0.0.1")
        .header("content-type", "application/x-www-form-urlencoded")
        .header("content-length", "43")
        .body(String::from("Action=GetCallerIdentity&Version=2011-06-15"))
        .unwrap();

    layer.layer(inner.clone()).oneshot(request).await.unwrap();

    let authorization = values(&inner.last().headers, "authorization")[0].clone();
    assert!(
        authorization.contains(
            "SignedHeaders=content-length;content-type;host;x-amz-date;x-amz-security-token,"
        ),
        "{authorization}"
    );
}

#[tokio::test]
async fn non_s3_adds_no_hash_header() {
    let plain = layer_with(temporary_credentials(), sts()).await;
    let with_header = layer_with(temporary_credentials(), sts().content_sha256_header(true)).await;
    let request = || {
        Request::get("https://sts.us-east-1.amazonaws.com/")
            .body(String::new())
            .unwrap()
    };
    let inner = RecordingService::ok();

    plain.layer(inner.clone()).oneshot(request()).await.unwrap();
    assert!(values(&inner.last().headers, "x-amz-content-sha256").is_empty());

    with_header
        .layer(inner.clone())
        .oneshot(request())
        .await
        .unwrap();
    assert_eq!(
        values(&inner.last().headers, "x-amz-content-sha256"),
        ["e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"]
    );
}

/// An inner service whose clones start unready; `call` fails unless this
/// instance's `poll_ready` returned ready.
struct ReadinessService {
    ready: bool,
    calls: Arc<AtomicUsize>,
}

impl Clone for ReadinessService {
    fn clone(&self) -> Self {
        ReadinessService {
            ready: false,
            calls: self.calls.clone(),
        }
    }
}

impl Service<Request<String>> for ReadinessService {
    type Response = Response<String>;
    type Error = &'static str;
    type Future = Ready<Result<Response<String>, &'static str>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), &'static str>> {
        self.ready = true;
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<String>) -> Self::Future {
        if !self.ready {
            return ready(Err("called without poll_ready"));
        }
        self.ready = false;
        self.calls.fetch_add(1, Ordering::SeqCst);
        ready(Ok(Response::new(String::new())))
    }
}

#[tokio::test]
async fn waiting_request_uses_readied_service() {
    // Deferred mode: the store starts empty, so the first request waits
    // for the fetch in its response future.
    let fetches = Arc::new(AtomicUsize::new(0));
    let counter = fetches.clone();
    let source = CustomSource::new("deferred", move || {
        counter.fetch_add(1, Ordering::SeqCst);
        async { Ok(temporary_credentials()) }
    });
    let store = CredentialStore::builder(source)
        .clock(Arc::new(ManualClock::new(suite_time())))
        .policy(RefreshPolicy::default().mode(RefreshMode::Deferred))
        .build()
        .await
        .unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let inner = ReadinessService {
        ready: false,
        calls: calls.clone(),
    };
    let mut service = RefreshingCredentialsLayer::new(store, sts()).layer(inner);

    service.ready().await.unwrap();
    let response = service
        .call(
            Request::get("https://sts.us-east-1.amazonaws.com/")
                .body(String::new())
                .unwrap(),
        )
        .await;

    assert!(
        response.is_ok(),
        "{:?}",
        response.err().map(|error| error.to_string())
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(fetches.load(Ordering::SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_cold_requests_fetch_once() {
    let fetches = Arc::new(AtomicUsize::new(0));
    let counter = fetches.clone();
    let source = CustomSource::new("deferred", move || {
        counter.fetch_add(1, Ordering::SeqCst);
        async {
            tokio::task::yield_now().await;
            Ok(temporary_credentials())
        }
    });
    let store = CredentialStore::builder(source)
        .clock(Arc::new(ManualClock::new(suite_time())))
        .policy(RefreshPolicy::default().mode(RefreshMode::Deferred))
        .build()
        .await
        .unwrap();
    let inner = RecordingService::ok();
    let service = RefreshingCredentialsLayer::new(store, sts()).layer(inner.clone());

    let mut tasks = Vec::new();
    for _ in 0..100 {
        let service = service.clone();
        tasks.push(tokio::spawn(async move {
            let request = Request::get("https://sts.us-east-1.amazonaws.com/")
                .body(String::new())
                .unwrap();
            service.oneshot(request).await.map(|_| ())
        }));
    }
    for task in tasks {
        assert!(task.await.unwrap().is_ok());
    }

    assert_eq!(fetches.load(Ordering::SeqCst), 1);
    assert_eq!(inner.calls(), 100);
    let signed = inner
        .requests
        .lock()
        .unwrap()
        .iter()
        .filter(|request| values(&request.headers, "x-amz-security-token") == [SESSION_TOKEN])
        .count();
    assert_eq!(signed, 100);
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Buffer(Arc<Mutex<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn trace_logs_hold_no_secret() {
    let buffer = Buffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let layer = layer_with(temporary_credentials(), sts()).await;
    let inner = RecordingService::ok();
    let service = layer.layer(inner.clone());
    let first = Request::post("https://sts.us-east-1.amazonaws.com/")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from_static(
            b"Action=GetCallerIdentity&Version=2011-06-15",
        )))
        .unwrap();
    service.clone().oneshot(first).await.unwrap();
    // Re-signing a signed request hands aws-sigv4 a request that already
    // carries the token and an authorization.
    let sent = inner.last();
    let mut again = Request::post(sent.uri.clone())
        .body(Full::new(Bytes::from_static(
            b"Action=GetCallerIdentity&Version=2011-06-15",
        )))
        .unwrap();
    *again.headers_mut() = sent.headers.clone();
    service.oneshot(again).await.unwrap();
    for after_signing in [false, true] {
        let options = PresignOptions::new(Duration::from_secs(900))
            .session_token_after_signing(after_signing);
        let download = Request::get("https://bucket.s3.us-east-1.amazonaws.com/key")
            .body(String::new())
            .unwrap();
        let url = layer.presign(&download, &options).await.unwrap();
        tracing::info!(url = ?url, "presigned");
    }

    let logs = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("canonical_request"),
        "aws-sigv4's TRACE events were not captured"
    );
    assert!(!logs.contains(SECRET_ACCESS_KEY));
    assert!(!logs.contains(SESSION_TOKEN));
    assert!(!logs.contains("IQoJb3JpZ2luX2VjEXAMPLE"));
    assert!(!logs.contains("PLACEHOLDER"));
}
