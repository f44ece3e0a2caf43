//! The SigV4 proxy example, served in-process: unsigned requests from a
//! plain hyper client go through the proxy to moto, which checks every
//! signature, or to a local recorder that keeps what the proxy sent.
#![cfg(all(feature = "sts", feature = "client"))]

mod support;

#[path = "../examples/sigv4_proxy/proxy.rs"]
#[allow(dead_code)]
mod sigv4_proxy;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use aws_refresh_session::strategy::CustomSource;
use aws_refresh_session::strategy::sts::{AssumeRoleConfig, StsClientConfig, StsConfig};
use aws_refresh_session::{Credentials, RefreshableSession, Strategy};
use bytes::Bytes;
use http::HeaderName;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use sigv4_proxy::ProxyConfig;
use support::moto::{ACCOUNT_ID, Moto};

const RECORDER_KEY_ID: &str = "AKIDPROXYRECORDER";
const RECORDER_SECRET: &str = "proxy-recorder-secret-do-not-leak";

/// Returns a plain hyper client that signs nothing, like an application
/// behind the proxy.
fn plain_client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

async fn send(request: http::Request<Full<Bytes>>) -> (u16, Bytes) {
    let response = plain_client().request(request).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, body)
}

fn text(body: &Bytes) -> String {
    String::from_utf8_lossy(body).into_owned()
}

/// Returns a form-encoded STS `GetCallerIdentity` request to `base`.
fn get_caller_identity(base: &str) -> http::Request<Full<Bytes>> {
    http::Request::post(format!("{base}/"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Full::new(Bytes::from_static(
            b"Action=GetCallerIdentity&Version=2011-06-15",
        )))
        .unwrap()
}

/// Builds a session that assumes moto's role with the moto user's keys.
async fn role_session(moto: &Moto, session_name: &str) -> RefreshableSession {
    let assume_role = AssumeRoleConfig::builder(&moto.role_arn)
        .role_session_name(session_name)
        .duration_seconds(900)
        .build()
        .unwrap();
    let client = StsClientConfig::builder()
        .region("us-east-1")
        .endpoint_url(&moto.endpoint)
        .credentials(moto.user_credentials())
        .build()
        .unwrap();
    let config = StsConfig::builder(assume_role, client).build().unwrap();
    RefreshableSession::builder()
        .strategy(Strategy::sts(config))
        .build()
        .await
        .unwrap()
}

/// Builds a session with fixed keys, for proxies in front of the recorder.
async fn static_session() -> RefreshableSession {
    let source = CustomSource::new("static-test-keys", || async {
        Ok(Credentials::new(
            RECORDER_KEY_ID,
            RECORDER_SECRET,
            None,
            None,
        ))
    });
    RefreshableSession::builder()
        .strategy(Strategy::custom(source))
        .build()
        .await
        .unwrap()
}

/// Serves the proxy on a free 127.0.0.1 port and returns its base URL.
async fn start_proxy(session: &RefreshableSession, config: ProxyConfig) -> String {
    let router = sigv4_proxy::router(session, config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });
    format!("http://{addr}")
}

/// One request as the recorder received it.
#[derive(Clone, Debug)]
struct Recorded {
    uri: String,
    headers: http::HeaderMap,
    body: Bytes,
}

/// An HTTP server on 127.0.0.1 that returns 200 and keeps each request.
struct Recorder {
    endpoint: String,
    requests: Arc<Mutex<Vec<Recorded>>>,
}

impl Recorder {
    async fn start() -> Recorder {
        let requests = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&requests);
        let router = axum::Router::new().fallback(move |request: axum::extract::Request| {
            let sink = Arc::clone(&sink);
            async move {
                let (parts, body) = request.into_parts();
                let body = body.collect().await.unwrap().to_bytes();
                sink.lock().unwrap().push(Recorded {
                    uri: parts.uri.to_string(),
                    headers: parts.headers,
                    body,
                });
                (http::StatusCode::OK, "recorded")
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await });
        Recorder {
            endpoint: format!("http://{addr}"),
            requests,
        }
    }

    fn requests(&self) -> Vec<Recorded> {
        self.requests.lock().unwrap().clone()
    }
}

/// Returns an address nothing listens on: a port the kernel handed out and
/// that was closed again.
fn closed_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

/// (key, its percent-encoded path form)
const AWKWARD_KEYS: [(&str, &str); 3] = [
    ("dir/my file.txt", "dir/my%20file.txt"),
    (
        "ünïcode/ключ.txt",
        "%C3%BCn%C3%AFcode/%D0%BA%D0%BB%D1%8E%D1%87.txt",
    ),
    ("a+b=c.txt", "a%2Bb%3Dc.txt"),
];

/// Returns every byte value twice, then the key: a body that text
/// handling would damage.
fn object_body(key: &str) -> Bytes {
    let mut body: Vec<u8> = (0..=255u8).chain(0..=255u8).collect();
    body.extend_from_slice(key.as_bytes());
    Bytes::from(body)
}

/// Creates a bucket, puts and gets the awkward keys, and lists them, all
/// through the proxy at `proxy`.
async fn s3_round_trip(proxy: &str, bucket: &str) {
    let bucket_url = format!("{proxy}/{bucket}");

    let create = http::Request::put(&bucket_url)
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (status, body) = send(create).await;
    assert_eq!(status, 200, "create bucket: {}", text(&body));

    for (key, path) in AWKWARD_KEYS {
        let put = http::Request::put(format!("{bucket_url}/{path}"))
            .body(Full::new(object_body(key)))
            .unwrap();
        let (status, body) = send(put).await;
        assert_eq!(status, 200, "put {key}: {}", text(&body));
    }

    for (key, path) in AWKWARD_KEYS {
        let get = http::Request::get(format!("{bucket_url}/{path}"))
            .body(Full::new(Bytes::new()))
            .unwrap();
        let (status, body) = send(get).await;
        assert_eq!(status, 200, "get {key}: {}", text(&body));
        assert_eq!(body, object_body(key), "contents of {key}");
    }

    let list = http::Request::get(format!("{bucket_url}?list-type=2"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (status, body) = send(list).await;
    let listing = text(&body);
    assert_eq!(status, 200, "list: {listing}");
    for (key, _) in AWKWARD_KEYS {
        assert!(
            listing.contains(&format!("<Key>{key}</Key>")),
            "{key} missing from {listing}"
        );
    }
}

#[tokio::test]
async fn s3_round_trip_signed_payload() {
    let moto = Moto::start().await;
    let session = role_session(&moto, "proxy-s3").await;
    let config = ProxyConfig::new(&moto.endpoint, "s3", "us-east-1").unwrap();
    let proxy = start_proxy(&session, config).await;

    s3_round_trip(&proxy, "proxied-signed").await;

    // A second proxy instance, for STS, signs with the same session.
    let sts_config = ProxyConfig::new(&moto.endpoint, "sts", "us-east-1").unwrap();
    let sts_proxy = start_proxy(&session, sts_config).await;
    let (status, body) = send(get_caller_identity(&sts_proxy)).await;
    let body = text(&body);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("assumed-role/app-role/proxy-s3"), "{body}");

    let assumed = moto.assumed_roles().await;
    assert_eq!(assumed.len(), 1, "{assumed:?}");
    assert_eq!(assumed[0].session_name, "proxy-s3");
}

#[tokio::test]
async fn s3_round_trip_unsigned_payload() {
    let moto = Moto::start().await;
    let session = role_session(&moto, "proxy-s3-streaming").await;
    let mut config = ProxyConfig::new(&moto.endpoint, "s3", "us-east-1").unwrap();
    config.unsigned_payload = true;
    let proxy = start_proxy(&session, config).await;

    s3_round_trip(&proxy, "proxied-unsigned").await;
}

#[tokio::test]
async fn sts_caller_identity_through_proxy() {
    let moto = Moto::start().await;
    let session = role_session(&moto, "proxy-sts").await;
    let config = ProxyConfig::new(&moto.endpoint, "sts", "us-east-1").unwrap();
    let proxy = start_proxy(&session, config).await;

    let (status, body) = send(get_caller_identity(&proxy)).await;

    let body = text(&body);
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains(&format!(
            "arn:aws:sts::{ACCOUNT_ID}:assumed-role/app-role/proxy-sts"
        )),
        "{body}"
    );
}

#[tokio::test]
async fn wrong_secret_is_rejected_by_moto() {
    // Negative control for the moto tests: the same request signed with
    // the user's key id but a wrong secret gets a 403, so their 200s come
    // from valid signatures.
    let moto = Moto::start().await;
    let access_key_id = moto.access_key_id.clone();
    let source = CustomSource::new("wrong-secret", move || {
        let access_key_id = access_key_id.clone();
        async move {
            Ok(Credentials::new(
                access_key_id,
                "not-the-secret",
                None,
                None,
            ))
        }
    });
    let wrong_session = RefreshableSession::builder()
        .strategy(Strategy::custom(source))
        .build()
        .await
        .unwrap();
    let session = role_session(&moto, "proxy-control").await;
    let config = ProxyConfig::new(&moto.endpoint, "sts", "us-east-1").unwrap();
    let proxy = start_proxy(&session, config.clone()).await;
    let wrong_proxy = start_proxy(&wrong_session, config).await;

    let (control, control_body) = send(get_caller_identity(&proxy)).await;
    let (status, body) = send(get_caller_identity(&wrong_proxy)).await;

    assert_eq!(control, 200, "{}", text(&control_body));
    assert_eq!(status, 403, "{}", text(&body));
    assert!(
        text(&body).contains("SignatureDoesNotMatch"),
        "{}",
        text(&body)
    );
}

#[tokio::test]
async fn health_returns_200_without_upstream() {
    let session = static_session().await;
    let endpoint = format!("http://{}", closed_port());
    let config = ProxyConfig::new(&endpoint, "s3", "us-east-1").unwrap();
    let proxy = start_proxy(&session, config).await;

    let health = http::Request::get(format!("{proxy}/health"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (status, body) = send(health).await;

    assert_eq!(status, 200, "{}", text(&body));
    assert_eq!(text(&body), "ok\n");
}

#[tokio::test]
async fn stripped_header_not_forwarded() {
    let recorder = Recorder::start().await;
    let session = static_session().await;
    let mut config = ProxyConfig::new(&recorder.endpoint, "execute-api", "eu-west-1").unwrap();
    config.strip_headers = vec![HeaderName::from_static("x-strip-me")];
    let proxy = start_proxy(&session, config).await;
    let path = "/stage/a%20b/c+d%2Be?x=1&y=%2B%20&z=%C3%BC";

    let request = http::Request::post(format!("{proxy}{path}"))
        .header("x-strip-me", "secret-ish")
        .header("x-keep-me", "kept")
        .header("connection", "x-hop-named")
        .header("x-hop-named", "dropped")
        .body(Full::new(Bytes::from_static(b"payload")))
        .unwrap();
    let (status, body) = send(request).await;
    assert_eq!(status, 200, "{}", text(&body));

    let recorded = recorder.requests();
    assert_eq!(recorded.len(), 1);
    let forwarded = &recorded[0];
    assert_eq!(forwarded.uri, path);
    assert_eq!(forwarded.body, Bytes::from_static(b"payload"));
    assert!(!forwarded.headers.contains_key("x-strip-me"));
    assert!(!forwarded.headers.contains_key("x-hop-named"));
    assert_eq!(forwarded.headers["x-keep-me"], "kept");
    let host = recorder.endpoint.trim_start_matches("http://");
    assert_eq!(forwarded.headers["host"], host);
    let authorization = forwarded.headers["authorization"].to_str().unwrap();
    assert!(
        authorization.starts_with(&format!("AWS4-HMAC-SHA256 Credential={RECORDER_KEY_ID}/")),
        "{authorization}"
    );
    assert!(
        authorization.contains("/eu-west-1/execute-api/aws4_request"),
        "{authorization}"
    );
    assert!(
        !authorization.contains("x-strip-me"),
        "stripped header signed: {authorization}"
    );
}

#[tokio::test]
async fn oversize_body_gets_413() {
    let recorder = Recorder::start().await;
    let session = static_session().await;
    let mut config = ProxyConfig::new(&recorder.endpoint, "execute-api", "eu-west-1").unwrap();
    config.max_body_size = 1024;
    let proxy = start_proxy(&session, config).await;

    let at_limit = http::Request::put(format!("{proxy}/fits"))
        .body(Full::new(Bytes::from(vec![b'a'; 1024])))
        .unwrap();
    let (status, body) = send(at_limit).await;
    assert_eq!(status, 200, "{}", text(&body));

    let declared = http::Request::put(format!("{proxy}/declared"))
        .body(Full::new(Bytes::from(vec![b'a'; 1025])))
        .unwrap();
    let (status, body) = send(declared).await;
    assert_eq!(status, 413, "{}", text(&body));
    assert!(text(&body).contains("1024 bytes"), "{}", text(&body));

    // A chunked body has no Content-Length, so only the read limit can
    // catch it.
    let chunks = futures_util::stream::iter(
        (0..4).map(|_| Ok::<_, Infallible>(Frame::data(Bytes::from(vec![b'b'; 512])))),
    );
    let chunked = http::Request::put(format!("{proxy}/chunked"))
        .body(StreamBody::new(chunks))
        .unwrap();
    let response = Client::builder(TokioExecutor::new())
        .build_http()
        .request(chunked)
        .await
        .unwrap();
    assert_eq!(response.status(), 413);

    let recorded = recorder.requests();
    let paths: Vec<&str> = recorded
        .iter()
        .map(|request| request.uri.as_str())
        .collect();
    assert_eq!(paths, ["/fits"]);
}

#[tokio::test]
async fn unsigned_mode_streams_past_limit() {
    let recorder = Recorder::start().await;
    let session = static_session().await;
    let mut config = ProxyConfig::new(&recorder.endpoint, "s3", "us-east-1").unwrap();
    config.unsigned_payload = true;
    config.max_body_size = 16;
    let proxy = start_proxy(&session, config).await;
    let body = Bytes::from(vec![b'c'; 4096]);

    let put = http::Request::put(format!("{proxy}/bucket/large"))
        .body(Full::new(body.clone()))
        .unwrap();
    let (status, response) = send(put).await;

    assert_eq!(status, 200, "{}", text(&response));
    let recorded = recorder.requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0].body, body);
    assert_eq!(
        recorded[0].headers["x-amz-content-sha256"],
        "UNSIGNED-PAYLOAD"
    );
}

#[tokio::test]
async fn upstream_down_gets_502() {
    let session = static_session().await;
    let endpoint = format!("http://{}", closed_port());
    let config = ProxyConfig::new(&endpoint, "s3", "us-east-1").unwrap();
    let proxy = start_proxy(&session, config).await;

    let request = http::Request::get(format!("{proxy}/bucket/key"))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let (status, body) = send(request).await;

    let body = text(&body);
    assert_eq!(status, 502, "{body}");
    assert!(body.starts_with("upstream request failed"), "{body}");
    assert!(!body.contains(RECORDER_SECRET), "{body}");
}

#[tokio::test]
async fn signing_failure_gets_502_without_secret() {
    let recorder = Recorder::start().await;
    let session = static_session().await;
    let config = ProxyConfig::new(&recorder.endpoint, "execute-api", "eu-west-1").unwrap();
    let proxy = start_proxy(&session, config).await;

    // A header value that is not UTF-8 cannot be signed.
    let request = http::Request::post(format!("{proxy}/"))
        .header(
            "x-binary",
            http::HeaderValue::from_bytes(b"caf\xe9").unwrap(),
        )
        .body(Full::new(Bytes::from_static(b"payload")))
        .unwrap();
    let (status, body) = send(request).await;

    let body = text(&body);
    assert_eq!(status, 502, "{body}");
    assert!(body.starts_with("request not signed"), "{body}");
    assert!(body.contains("x-binary"), "{body}");
    assert!(!body.contains(RECORDER_SECRET), "{body}");
    assert!(recorder.requests().is_empty());
}

#[test]
fn endpoint_with_path_is_rejected() {
    for bad in [
        "127.0.0.1:5000",
        "ftp://127.0.0.1",
        "http://127.0.0.1:5000/prefix",
        "http://127.0.0.1:5000/?a=b",
    ] {
        let error = sigv4_proxy::parse_endpoint(bad).unwrap_err();
        assert_eq!(error.parameter(), Some("endpoint"), "{bad}");
    }
    assert!(sigv4_proxy::parse_endpoint("http://127.0.0.1:5000").is_ok());
    assert!(sigv4_proxy::parse_endpoint("https://s3.us-east-1.amazonaws.com/").is_ok());
}
