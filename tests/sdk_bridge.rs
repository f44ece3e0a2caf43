//! An `aws-sdk-s3` client built from `CredentialStore::sdk_config` signs
//! each request with the store's current credentials.
//!
//! A fake S3 endpoint on 127.0.0.1 records the `Authorization` header of
//! every request and responds to `ListBuckets` with an empty list. The store's
//! source is a counting `CustomSource` whose generation `n` uses the access
//! key `AKIDGEN<n>`, so the recorded headers show which generation signed.
//! Nothing leaves 127.0.0.1, and no default credential chain runs: the SDK
//! config is built by hand with explicit credentials and endpoint.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

mod support;

use aws_refresh_session::clock::{self, ManualClock, SharedClock};
use aws_refresh_session::strategy::CustomSource;
use aws_refresh_session::{CredentialStore, Credentials, Error, RefreshMode, RefreshPolicy};
use aws_smithy_http_client::Builder as HttpClientBuilder;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use support::http_server::LocalServer;

const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";

const LIST_BUCKETS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListAllMyBucketsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>owner</ID><DisplayName>owner</DisplayName></Owner><Buckets></Buckets></ListAllMyBucketsResult>"#;

/// What the fake endpoint saw of one request.
#[derive(Clone, Debug)]
struct Seen {
    access_key_id: String,
    security_token: Option<String>,
    amz_date: Option<String>,
}

/// A fake S3 endpoint on 127.0.0.1 that records every request.
struct FakeS3 {
    server: LocalServer,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeS3 {
    async fn start() -> FakeS3 {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&seen);
        let server = LocalServer::start(move |request| record(&recorded, request)).await;
        FakeS3 { server, seen }
    }

    fn url(&self) -> String {
        self.server.url()
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

fn record(seen: &Mutex<Vec<Seen>>, request: Request<Incoming>) -> Response<Full<Bytes>> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned)
    };
    let authorization = header("authorization").unwrap_or_default();
    // `AWS4-HMAC-SHA256 Credential=<key id>/<date>/<region>/s3/aws4_request, ...`
    let access_key_id = authorization
        .split("Credential=")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or("<unsigned>")
        .to_owned();
    seen.lock().unwrap().push(Seen {
        access_key_id,
        security_token: header("x-amz-security-token"),
        amz_date: header("x-amz-date"),
    });

    Response::builder()
        .header("content-type", "application/xml")
        .body(Full::new(Bytes::from_static(LIST_BUCKETS.as_bytes())))
        .unwrap()
}

/// A source whose call `n` returns `AKIDGEN<n>` credentials that expire 15
/// minutes after `clock`'s time.
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

async fn store_with_clock(clock: SharedClock, calls: &Arc<AtomicU32>) -> CredentialStore {
    CredentialStore::builder(counting_source(clock.clone(), Arc::clone(calls)))
        .clock(clock)
        .build()
        .await
        .expect("building the store from the counting source failed")
}

/// Builds an S3 client on the store's credentials that sends to `endpoint`
/// over plain HTTP, with path-style addressing and no retries.
fn s3_client(store: &CredentialStore, endpoint: &str) -> aws_sdk_s3::Client {
    let sdk_config = store
        .sdk_config("us-east-1")
        .unwrap()
        .endpoint_url(endpoint)
        .http_client(HttpClientBuilder::new().build_http())
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
        .build();
    let s3_config = aws_sdk_s3::config::Builder::from(&sdk_config)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(s3_config)
}

async fn list_buckets(client: &aws_sdk_s3::Client) {
    let result = client.list_buckets().send().await;
    if let Err(error) = result {
        panic!(
            "ListBuckets against the fake endpoint failed: {}",
            aws_sdk_s3::error::DisplayErrorContext(&error)
        );
    }
}

fn key_ids(seen: &[Seen]) -> Vec<&str> {
    seen.iter()
        .map(|seen| seen.access_key_id.as_str())
        .collect()
}

#[tokio::test]
async fn sdk_client_signs_with_refreshed_key() {
    let server = FakeS3::start().await;
    let calls = Arc::new(AtomicU32::new(0));
    let store = store_with_clock(clock::system(), &calls).await;
    let client = s3_client(&store, &server.url());

    list_buckets(&client).await;
    store.refresh_now().await.unwrap();
    list_buckets(&client).await;

    let seen = server.seen();
    assert_eq!(key_ids(&seen), ["AKIDGEN1", "AKIDGEN2"]);
    assert_eq!(seen[0].security_token.as_deref(), Some("token-gen1"));
    assert_eq!(seen[1].security_token.as_deref(), Some("token-gen2"));
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn sdk_client_follows_invalidation() {
    let server = FakeS3::start().await;
    let calls = Arc::new(AtomicU32::new(0));
    let store = store_with_clock(clock::system(), &calls).await;
    let client = s3_client(&store, &server.url());

    list_buckets(&client).await;
    assert!(store.invalidate("AKIDGEN1"));
    list_buckets(&client).await;

    assert_eq!(key_ids(&server.seen()), ["AKIDGEN1", "AKIDGEN2"]);
}

#[tokio::test]
async fn sdk_client_reuses_key_until_refresh() {
    let server = FakeS3::start().await;
    let calls = Arc::new(AtomicU32::new(0));
    let store = store_with_clock(clock::system(), &calls).await;
    let client = s3_client(&store, &server.url());

    for _ in 0..3 {
        list_buckets(&client).await;
    }

    assert_eq!(key_ids(&server.seen()), ["AKIDGEN1"; 3]);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn sdk_client_refreshes_near_expiry() {
    // 2026-12-04T16:00:00Z
    let start = UNIX_EPOCH + Duration::from_secs(1_796_400_000);
    let manual = ManualClock::new(start);
    let server = FakeS3::start().await;
    let calls = Arc::new(AtomicU32::new(0));
    let store = store_with_clock(Arc::new(manual.clone()), &calls).await;
    let client = s3_client(&store, &server.url());

    list_buckets(&client).await;
    // 30 s before the first credentials expire: inside the 60 s mandatory
    // window, so the request waits for a refresh.
    manual.advance(Duration::from_secs(14 * 60 + 30));
    list_buckets(&client).await;

    let seen = server.seen();
    assert_eq!(key_ids(&seen), ["AKIDGEN1", "AKIDGEN2"]);
    // The SDK signs with the store's clock. Only the first request shows
    // it unchanged: later ones add the skew the SDK measured from the fake
    // endpoint's `Date` header, which is real time.
    assert_eq!(seen[0].amz_date.as_deref(), Some("20261204T160000Z"));
}

#[tokio::test]
async fn sdk_client_reports_source_error() {
    let server = FakeS3::start().await;
    let source = CustomSource::new("failing", || async {
        Err::<Credentials, _>(Error::connection(
            "connecting to the broker at 127.0.0.1:9 failed; check that it runs",
        ))
    });
    let store = CredentialStore::builder(source)
        .policy(RefreshPolicy::default().mode(RefreshMode::Deferred))
        .build()
        .await
        .unwrap();
    let client = s3_client(&store, &server.url());

    let error = client.list_buckets().send().await.unwrap_err();

    let report = format!("{}", aws_sdk_s3::error::DisplayErrorContext(&error));
    assert!(
        report.contains("connecting to the broker at 127.0.0.1:9 failed"),
        "{report}"
    );
    assert!(server.seen().is_empty());
}

#[tokio::test]
async fn sdk_debug_output_hides_secrets() {
    let server = FakeS3::start().await;
    let calls = Arc::new(AtomicU32::new(0));
    let store = store_with_clock(clock::system(), &calls).await;
    let client = s3_client(&store, &server.url());
    list_buckets(&client).await;

    let config = store.sdk_config("us-east-1").unwrap().build();
    let printed = [
        format!("{:?}", store.sdk_provider()),
        format!("{config:?}"),
        format!("{client:?}"),
    ];

    for text in printed {
        assert!(!text.contains(SECRET), "{text}");
        assert!(!text.contains("token-gen1"), "{text}");
    }
}

/// The reason `sdk_config` turns off the SDK's identity cache: with the
/// SDK's default lazy cache, a client keeps signing with credentials the
/// store has already replaced. If this test starts failing, the SDK changed
/// how it caches identities; revisit the choice in `integrations::sdk`.
#[tokio::test]
async fn lazy_identity_cache_keeps_replaced_key() {
    let server = FakeS3::start().await;
    let calls = Arc::new(AtomicU32::new(0));
    let store = store_with_clock(clock::system(), &calls).await;
    let sdk_config = store
        .sdk_config("us-east-1")
        .unwrap()
        .identity_cache(aws_sdk_s3::config::IdentityCache::lazy().build())
        .endpoint_url(server.url())
        .http_client(HttpClientBuilder::new().build_http())
        .build();
    let s3_config = aws_sdk_s3::config::Builder::from(&sdk_config)
        .force_path_style(true)
        .build();
    let client = aws_sdk_s3::Client::from_conf(s3_config);

    list_buckets(&client).await;
    store.refresh_now().await.unwrap();
    list_buckets(&client).await;

    assert_eq!(key_ids(&server.seen()), ["AKIDGEN1", "AKIDGEN1"]);
    assert_eq!(store.generation(), 2);
}
