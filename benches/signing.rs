//! Signing a small GET with a session token: through the layer (its
//! synchronous fast path, driven without an executor) against calling
//! `aws_sigv4::http_request::sign` directly with the same inputs.

use std::convert::Infallible;
use std::future::{Ready, ready};
use std::hint::black_box;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_refresh_session::clock::ManualClock;
use aws_refresh_session::signing::{RefreshingCredentialsLayer, SigningSettings};
use aws_refresh_session::strategy::CustomSource;
use aws_refresh_session::{CredentialStore, Credentials};
use aws_sigv4::http_request::{SignableBody, SignableRequest, sign};
use aws_sigv4::sign::v4::SigningParams;
use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::FutureExt;
use http::Request;
use tower::{Layer, Service};

const SESSION_TOKEN: &str =
    "IQoJb3JpZ2luX2VjEXAMPLE//////////PLACEHOLDER+Session/Token+For+Tests==";

fn time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_440_938_160)
}

fn credentials() -> Credentials {
    Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        Some(SESSION_TOKEN.into()),
        None,
    )
}

fn request() -> Request<String> {
    Request::get("https://abc123defg.execute-api.us-east-1.amazonaws.com/prod/items?limit=10")
        .header("accept", "application/json")
        .body(String::new())
        .unwrap()
}

/// An inner service that returns a response at once.
#[derive(Clone)]
struct Noop;

impl Service<Request<String>> for Noop {
    type Response = http::Response<()>;
    type Error = Infallible;
    type Future = Ready<Result<http::Response<()>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<String>) -> Self::Future {
        ready(Ok(http::Response::new(())))
    }
}

fn signing(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let store = runtime.block_on(async {
        let source = CustomSource::new("fixed", || async { Ok(credentials()) });
        CredentialStore::builder(source)
            .clock(Arc::new(ManualClock::new(time())))
            .build()
            .await
            .unwrap()
    });
    let settings = SigningSettings::new("execute-api", "us-east-1");
    let mut service = RefreshingCredentialsLayer::new(store, settings.clone()).layer(Noop);

    let mut group = c.benchmark_group("sign small GET with session token");
    group.bench_function("through the layer", |b| {
        b.iter(|| {
            let _guard = runtime.enter();
            let future = service.call(black_box(request()));
            black_box(future.now_or_never().unwrap().unwrap());
        })
    });

    let credentials = credentials();
    let sigv4_settings = {
        let mut value = aws_sigv4::http_request::SigningSettings::default();
        value.excluded_headers = Some(
            aws_refresh_session::signing::DEFAULT_EXCLUDED_HEADERS
                .iter()
                .map(|name| std::borrow::Cow::Borrowed(*name))
                .collect(),
        );
        value
    };
    group.bench_function("aws_sigv4::http_request::sign directly", |b| {
        b.iter(|| {
            let mut request = black_box(request());
            let uri = request.uri().to_string();
            let headers: Vec<(&str, &str)> = request
                .headers()
                .iter()
                .map(|(name, value)| (name.as_str(), value.to_str().unwrap()))
                .collect();
            let signable = SignableRequest::new(
                request.method().as_str(),
                uri.as_str(),
                headers.into_iter(),
                SignableBody::Bytes(request.body().as_bytes()),
            )
            .unwrap();
            let params = SigningParams::builder()
                .identity(credentials.identity())
                .region("us-east-1")
                .name("execute-api")
                .time(time())
                .settings(sigv4_settings.clone())
                .build()
                .unwrap()
                .into();
            let (instructions, _) = sign(signable, &params).unwrap().into_parts();
            instructions.apply_to_request_http1x(&mut request);
            black_box(request);
        })
    });
    group.finish();
}

criterion_group!(benches, signing);
criterion_main!(benches);
