//! The signing layer invalidates credentials that AWS rejects with an
//! expired-token error, and its response body still composes with hyper,
//! axum and tonic.
//!
//! A fake service on 127.0.0.1 reads the access key id from each request's
//! `Authorization` header. It rejects `AKIDGEN1` the way AWS rejects expired
//! session credentials (an XML body, a JSON error type header, or a body
//! whose frames split the code) and accepts every other key with 200. The
//! store's source is a counting `CustomSource` whose call `n` returns
//! `AKIDGEN<n>`.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod support;

use aws_refresh_session::clock::{self, SharedClock};
use aws_refresh_session::signing::{
    PayloadMode, RefreshingCredentialsLayer, ResponseBody, SigningSettings,
};
use aws_refresh_session::strategy::CustomSource;
use aws_refresh_session::{CredentialStore, Credentials};
use bytes::Bytes;
use futures_util::stream;
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use support::http_server::LocalServer;
use tokio::net::TcpListener;
use tower::{Layer, ServiceBuilder, ServiceExt};

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

/// STS's response to a request signed with an expired session token.
const EXPIRED_TOKEN_XML: &str = "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\
<Error><Type>Sender</Type><Code>ExpiredToken</Code>\
<Message>The security token included in the request is expired</Message></Error>\
<RequestId>4c3a7b2e-0000-0000-0000-000000000000</RequestId></ErrorResponse>";

const REQUEST_EXPIRED_XML: &str = "<ErrorResponse><Error><Type>Sender</Type>\
<Code>RequestExpired</Code><Message>Request has expired.</Message></Error></ErrorResponse>";

const OK_XML: &str = "<GetCallerIdentityResponse><GetCallerIdentityResult>\
<Arn>arn:aws:sts::123456789012:assumed-role/app-role/test</Arn>\
</GetCallerIdentityResult></GetCallerIdentityResponse>";

/// How the fake service rejects `AKIDGEN1`.
#[derive(Clone, Copy, Debug)]
enum Rejection {
    /// 403 with STS's XML `ExpiredToken` document in one frame.
    XmlBody,
    /// 400 with the XML document in frames that split `<Code>…</Code>`.
    SplitXmlBody,
    /// 400 with `x-amzn-ErrorType: ExpiredTokenException:...` and JSON.
    JsonHeader,
    /// 400 with `RequestExpired`, which new credentials do not fix.
    RequestExpired,
}

type ServerBody = BoxBody<Bytes, Infallible>;

struct FakeService {
    server: LocalServer,
    seen: Arc<Mutex<Vec<String>>>,
}

impl FakeService {
    async fn start(rejection: Rejection) -> FakeService {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&seen);
        let server =
            LocalServer::start(move |request| respond(&recorded, rejection, request)).await;
        FakeService { server, seen }
    }

    fn url(&self) -> String {
        format!("{}/", self.server.url())
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().unwrap().clone()
    }
}

fn respond(
    seen: &Mutex<Vec<String>>,
    rejection: Rejection,
    request: http::Request<Incoming>,
) -> http::Response<ServerBody> {
    let authorization = request
        .headers()
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    let access_key_id = authorization
        .split("Credential=")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("<unsigned>")
        .to_owned();
    seen.lock().unwrap().push(access_key_id.clone());

    if access_key_id != "AKIDGEN1" {
        return http::Response::new(full(OK_XML));
    }
    let response = http::Response::builder();
    match rejection {
        Rejection::XmlBody => response.status(403).body(full(EXPIRED_TOKEN_XML)),
        Rejection::SplitXmlBody => {
            let split = EXPIRED_TOKEN_XML.find("ExpiredToken</Code>").unwrap() + 7;
            let frames = vec![
                Ok::<_, Infallible>(Frame::data(Bytes::from_static(
                    &EXPIRED_TOKEN_XML.as_bytes()[..split],
                ))),
                Ok(Frame::data(Bytes::from_static(
                    &EXPIRED_TOKEN_XML.as_bytes()[split..],
                ))),
            ];
            response
                .status(400)
                .body(StreamBody::new(stream::iter(frames)).boxed())
        }
        Rejection::JsonHeader => response
            .status(400)
            .header(
                "x-amzn-ErrorType",
                "ExpiredTokenException:http://internal.amazon.com/coral/com.amazon.coral.service/",
            )
            .header("content-type", "application/x-amz-json-1.1")
            .body(full(
                r#"{"__type":"ExpiredTokenException","message":"The security token included in the request is expired"}"#,
            )),
        Rejection::RequestExpired => response.status(400).body(full(REQUEST_EXPIRED_XML)),
    }
    .unwrap()
}

fn full(text: &'static str) -> ServerBody {
    Full::new(Bytes::from_static(text.as_bytes())).boxed()
}

/// A source whose call `n` returns `AKIDGEN<n>`, valid for 15 minutes.
fn counting_source(clock: SharedClock, calls: Arc<AtomicU32>) -> CustomSource {
    CustomSource::new("counting", move || {
        let generation = calls.fetch_add(1, Ordering::SeqCst) + 1;
        let expiry = clock.now() + Duration::from_secs(15 * 60);
        async move {
            Ok(Credentials::new(
                format!("AKIDGEN{generation}"),
                SECRET,
                Some(format!("token-gen{generation}")),
                Some(expiry),
            ))
        }
    })
}

async fn counting_store(calls: &Arc<AtomicU32>) -> CredentialStore {
    CredentialStore::builder(counting_source(clock::system(), Arc::clone(calls)))
        .build()
        .await
        .expect("building the store from the counting source failed")
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;
type Signed = aws_refresh_session::signing::SigningService<HttpClient>;

fn signed_client(store: &CredentialStore, settings: SigningSettings) -> Signed {
    let http = Client::builder(TokioExecutor::new()).build_http();
    RefreshingCredentialsLayer::try_new(store.clone(), settings)
        .unwrap()
        .layer(http)
}

fn sts() -> SigningSettings {
    SigningSettings::new("sts", "us-east-1")
}

fn call_request(url: &str) -> http::Request<Full<Bytes>> {
    http::Request::post(url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from_static(
            b"Action=GetCallerIdentity&Version=2011-06-15",
        )))
        .unwrap()
}

async fn send(service: &Signed, url: &str) -> http::Response<ResponseBody<Incoming>> {
    service
        .clone()
        .oneshot(call_request(url))
        .await
        .unwrap_or_else(|error| panic!("the signed call to {url} failed: {error}"))
}

async fn read(response: http::Response<ResponseBody<Incoming>>) -> (u16, String) {
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn expired_token_body_refreshes_once() {
    let server = FakeService::start(Rejection::XmlBody).await;
    let calls = Arc::new(AtomicU32::new(0));
    let store = counting_store(&calls).await;
    let service = signed_client(&store, sts());

    let (first_status, first_body) = read(send(&service, &server.url()).await).await;
    let (second_status, second_body) = read(send(&service, &server.url()).await).await;

    assert_eq!(first_status, 403, "{first_body}");
    assert!(first_body.contains("<Code>ExpiredToken</Code>"));
    assert_eq!(second_status, 200, "{second_body}");
    assert_eq!(server.seen(), ["AKIDGEN1", "AKIDGEN2"]);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn code_split_across_frames_is_found() {
    let server = FakeService::start(Rejection::SplitXmlBody).await;
    let calls = Arc::new(AtomicU32::new(0));
    let store = counting_store(&calls).await;
    let service = signed_client(&store, sts());

    let (first_status, first_body) = read(send(&service, &server.url()).await).await;
    let (second_status, _) = read(send(&service, &server.url()).await).await;

    assert_eq!(first_status, 400);
    // The frames reach the caller unchanged.
    assert_eq!(first_body, EXPIRED_TOKEN_XML);
    assert_eq!(second_status, 200);
    assert_eq!(server.seen(), ["AKIDGEN1", "AKIDGEN2"]);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn stale_expired_report_is_ignored() {
    let server = FakeService::start(Rejection::XmlBody).await;
    let calls = Arc::new(AtomicU32::new(0));
    let store = counting_store(&calls).await;
    let service = signed_client(&store, sts());

    // Both requests are signed with AKIDGEN1 before either body is read.
    let first = send(&service, &server.url()).await;
    let late = send(&service, &server.url()).await;
    read(first).await;
    assert_eq!(
        store.credentials().await.unwrap().access_key_id(),
        "AKIDGEN2"
    );
    let (late_status, _) = read(late).await;

    assert_eq!(late_status, 403);
    assert_eq!(
        store.credentials().await.unwrap().access_key_id(),
        "AKIDGEN2"
    );
    assert_eq!(store.generation(), 2);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn error_type_header_invalidates_before_body() {
    let server = FakeService::start(Rejection::JsonHeader).await;
    let calls = Arc::new(AtomicU32::new(0));
    let store = counting_store(&calls).await;
    let service = signed_client(&store, sts());

    let rejected = send(&service, &server.url()).await;
    assert_eq!(rejected.status(), 400);
    // The body is never read: the header alone is enough.
    assert!(!rejected.body().is_scanning());
    drop(rejected);
    let (second_status, _) = read(send(&service, &server.url()).await).await;

    assert_eq!(second_status, 200);
    assert_eq!(server.seen(), ["AKIDGEN1", "AKIDGEN2"]);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn request_expired_keeps_credentials() {
    let server = FakeService::start(Rejection::RequestExpired).await;
    let calls = Arc::new(AtomicU32::new(0));
    let store = counting_store(&calls).await;
    let service = signed_client(&store, sts());

    let (first_status, _) = read(send(&service, &server.url()).await).await;
    let (second_status, _) = read(send(&service, &server.url()).await).await;

    assert_eq!(first_status, 400);
    assert_eq!(second_status, 400);
    assert_eq!(server.seen(), ["AKIDGEN1", "AKIDGEN1"]);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn disabled_invalidation_keeps_credentials() {
    let server = FakeService::start(Rejection::XmlBody).await;
    let calls = Arc::new(AtomicU32::new(0));
    let store = counting_store(&calls).await;
    let service = signed_client(&store, sts().invalidate_on_expired_token(false));

    let first = send(&service, &server.url()).await;
    assert!(!first.body().is_scanning());
    let (first_status, _) = read(first).await;
    let (second_status, _) = read(send(&service, &server.url()).await).await;

    assert_eq!(first_status, 403);
    assert_eq!(second_status, 403);
    assert_eq!(server.seen(), ["AKIDGEN1", "AKIDGEN1"]);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn successful_response_is_not_scanned() {
    let server = FakeService::start(Rejection::XmlBody).await;
    let calls = Arc::new(AtomicU32::new(0));
    let store = counting_store(&calls).await;
    store.refresh_now().await.unwrap();
    let service = signed_client(&store, sts());

    let response = send(&service, &server.url()).await;

    assert_eq!(response.status(), 200);
    assert!(!response.body().is_scanning());
}

#[tokio::test]
async fn rejected_body_is_scanned() {
    let server = FakeService::start(Rejection::XmlBody).await;
    let calls = Arc::new(AtomicU32::new(0));
    let store = counting_store(&calls).await;
    let service = signed_client(&store, sts());

    let response = send(&service, &server.url()).await;

    assert_eq!(response.status(), 403);
    assert!(response.body().is_scanning());
    // Until the body is read, nothing is invalidated.
    assert_eq!(store.generation(), 1);
}

#[tokio::test]
async fn axum_router_behind_layer() {
    use axum::routing::post;

    let calls = Arc::new(AtomicU32::new(0));
    let store = counting_store(&calls).await;
    let router = axum::Router::new().route(
        "/",
        post(|headers: http::HeaderMap| async move {
            let authorization = headers
                .get("authorization")
                .map(|value| value.to_str().unwrap_or_default().to_owned())
                .unwrap_or_default();
            if authorization.contains("Credential=AKIDGEN1/") {
                (http::StatusCode::FORBIDDEN, EXPIRED_TOKEN_XML)
            } else {
                (http::StatusCode::OK, OK_XML)
            }
        }),
    );
    let service = ServiceBuilder::new()
        .layer(RefreshingCredentialsLayer::try_new(store.clone(), sts()).unwrap())
        .service(router);

    let response = service
        .clone()
        .oneshot(call_request("http://127.0.0.1/"))
        .await
        .unwrap();
    let status = response.status();
    let body: ResponseBody<axum::body::Body> = response.into_body();
    body.collect().await.unwrap();

    assert_eq!(status, 403);
    assert_eq!(
        store.credentials().await.unwrap().access_key_id(),
        "AKIDGEN2"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn tonic_health_check_through_layer() {
    use tonic_health::pb::HealthCheckRequest;
    use tonic_health::pb::health_client::HealthClient;

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("", tonic_health::ServingStatus::Serving)
        .await;
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(health)
            .serve_with_incoming(tokio_stream_from(listener)),
    );

    let calls = Arc::new(AtomicU32::new(0));
    let store = counting_store(&calls).await;
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap();
    // gRPC bodies are streams, so their payload is not signed.
    let settings = SigningSettings::new("execute-api", "us-east-1").payload(PayloadMode::Unsigned);
    let signed = ServiceBuilder::new()
        .layer(RefreshingCredentialsLayer::try_new(store, settings).unwrap())
        .service(channel);
    // tonic's generated client sends only the path unless it is given the
    // origin, and a request without a host cannot be signed.
    let origin: http::Uri = format!("http://{address}").parse().unwrap();
    let mut client = HealthClient::with_origin(signed, origin);

    let response = client
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap();

    assert_eq!(
        response.into_inner().status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    server.abort();
}

/// Turns a bound listener into the stream of connections tonic's server
/// takes.
fn tokio_stream_from(
    listener: TcpListener,
) -> impl futures_util::Stream<Item = Result<tokio::net::TcpStream, std::io::Error>> {
    futures_util::stream::unfold(listener, |listener| async move {
        let accepted = listener.accept().await.map(|(stream, _)| stream);
        Some((accepted, listener))
    })
}
