//! Cases distilled from public bug reports against SigV4 signers, with
//! the signatures botocore 1.44.8 produced (`tests/data/sigv4-vectors.json`).

mod signing_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use aws_refresh_session::clock::ManualClock;
use aws_refresh_session::signing::{
    PayloadMode, PresignOptions, RefreshingCredentialsLayer, SigningSettings, presign_url,
    presign_with_store,
};
use aws_refresh_session::strategy::CustomSource;
use aws_refresh_session::{CredentialStore, Credentials};
use aws_sigv4::sign::v4::{calculate_signature, generate_signing_key};
use bytes::Bytes;
use http::Response;
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use sha2::{Digest, Sha256};
use signing_support::{
    ACCESS_KEY_ID, Captured, RecordingService, SECRET_ACCESS_KEY, fixed_store, query_set,
    suite_time, values,
};
use tower::{Layer, ServiceExt};

fn cases() -> Vec<Value> {
    let text = include_str!("data/sigv4-vectors.json");
    serde_json::from_str(text).unwrap()
}

fn case(id: &str) -> Value {
    cases()
        .into_iter()
        .find(|case| case["id"].as_str().unwrap().starts_with(id))
        .unwrap()
}

fn credentials_of(case: &Value) -> Credentials {
    let token = case["session_token_used"]
        .as_bool()
        .unwrap()
        .then(|| case["session_token"].as_str().unwrap().to_owned());
    Credentials::new(ACCESS_KEY_ID, SECRET_ACCESS_KEY, token, None)
}

fn settings_of(case: &Value) -> SigningSettings {
    let service = case["service"].as_str().unwrap();
    let region = case["region"].as_str().unwrap();
    let settings = match case["signer"].as_str().unwrap() {
        "s3" | "s3-query" => SigningSettings::s3(region),
        _ => SigningSettings::new(service, region),
    };
    assert_eq!(
        settings.uses_s3_rules(),
        case["settings"]["s3_mode"] == true
    );
    if case["settings"]["payload"] == "UNSIGNED-PAYLOAD" {
        settings.payload(PayloadMode::Unsigned)
    } else {
        settings
    }
}

fn request_of<B>(case: &Value, body: B) -> http::Request<B> {
    let mut url = case["url"].as_str().unwrap().to_owned();
    if let Some(pairs) = case["settings"]["query_params"].as_array() {
        for (index, pair) in pairs.iter().enumerate() {
            url.push(if index == 0 { '?' } else { '&' });
            url.push_str(&format!(
                "{}={}",
                pair[0].as_str().unwrap(),
                pair[1].as_str().unwrap()
            ));
        }
    }
    let mut builder = http::Request::builder()
        .method(case["method"].as_str().unwrap())
        .uri(url);
    for line in case["headers_in"].as_array().unwrap() {
        builder = builder.header(line[0].as_str().unwrap(), line[1].as_str().unwrap());
    }
    builder.body(body).unwrap()
}

fn body_of(case: &Value) -> Full<Bytes> {
    Full::new(Bytes::from(case["body_text"].as_str().unwrap().to_owned()))
}

/// Signs `canonical` by hand: the signature a signer that built this
/// canonical request would send.
fn signature_of_canonical(case: &Value, canonical: &str) -> String {
    let scope = format!(
        "20150830/{}/{}/aws4_request",
        case["region"].as_str().unwrap(),
        case["service"].as_str().unwrap()
    );
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n20150830T123600Z\n{scope}\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let key = generate_signing_key(
        SECRET_ACCESS_KEY,
        suite_time(),
        case["region"].as_str().unwrap(),
        case["service"].as_str().unwrap(),
    );
    calculate_signature(key, string_to_sign.as_bytes())
}

/// Computes the signatures that the `known_wrong` canonical forms give.
fn known_wrong_signatures(case: &Value) -> Vec<String> {
    let Some(wrong) = case["known_wrong"].as_object() else {
        return Vec::new();
    };
    let canonical = case["expected"]["canonical_request"].as_str().unwrap();
    let mut lines: Vec<String> = canonical.lines().map(str::to_owned).collect();
    if let Some(uri) = wrong.get("canonical_uri") {
        lines[1] = uri.as_str().unwrap().to_owned();
    }
    if let Some(query) = wrong.get("canonical_query") {
        lines[2] = query.as_str().unwrap().to_owned();
    }
    vec![signature_of_canonical(case, &lines.join("\n"))]
}

async fn sign_through_layer<B>(case: &Value, body: B) -> Captured
where
    B: http_body::Body + Send + 'static,
{
    let store = fixed_store(credentials_of(case), ManualClock::new(suite_time())).await;
    let inner = RecordingService::ok();
    let service = RefreshingCredentialsLayer::new(store, settings_of(case)).layer(inner.clone());
    service.oneshot(request_of(case, body)).await.unwrap();
    assert_eq!(inner.calls(), 1);
    inner.last()
}

#[tokio::test]
async fn header_vectors_match_botocore() {
    let mut checked = 0;
    for case in cases().iter().filter(|case| case["kind"] == "signing") {
        let id = case["id"].as_str().unwrap();
        let expected = &case["expected"];
        let sent = if case["settings"]["payload"] == "UNSIGNED-PAYLOAD" {
            // A boxed body cannot be hashed, so this also shows unsigned
            // mode accepts any body type.
            sign_through_layer(case, body_of(case).boxed_unsync()).await
        } else {
            sign_through_layer(case, body_of(case)).await
        };
        checked += 1;

        let canonical = expected["canonical_request"].as_str().unwrap();
        assert_eq!(
            signature_of_canonical(case, canonical),
            expected["signature"].as_str().unwrap(),
            "{id}: the vector's canonical request and signature disagree"
        );
        assert_eq!(
            values(&sent.headers, "authorization"),
            [expected["authorization"].as_str().unwrap()],
            "{id}: authorization"
        );
        assert_eq!(
            values(&sent.headers, "x-amz-date"),
            [expected["x_amz_date"].as_str().unwrap()],
            "{id}: x-amz-date"
        );
        let content_sha256: Vec<String> = expected["x_amz_content_sha256"]
            .as_str()
            .map(|value| vec![value.to_owned()])
            .unwrap_or_default();
        assert_eq!(
            values(&sent.headers, "x-amz-content-sha256"),
            content_sha256,
            "{id}: x-amz-content-sha256"
        );
        let token: Vec<String> = expected["x_amz_security_token"]
            .as_str()
            .map(|value| vec![value.to_owned()])
            .unwrap_or_default();
        assert_eq!(
            values(&sent.headers, "x-amz-security-token"),
            token,
            "{id}: x-amz-security-token"
        );
        for line in expected["headers_out"].as_array().unwrap() {
            let name = line[0].as_str().unwrap();
            assert!(
                values(&sent.headers, name).contains(&line[1].as_str().unwrap().to_owned()),
                "{id}: {name} missing"
            );
        }
        let signature = expected["signature"].as_str().unwrap();
        for wrong in known_wrong_signatures(case) {
            assert_ne!(wrong, signature, "{id}: the known-wrong form must differ");
            assert!(
                !values(&sent.headers, "authorization")[0].contains(&wrong),
                "{id}: produced the known-wrong signature"
            );
        }
    }
    assert_eq!(checked, 14);
}

#[tokio::test]
async fn stale_token_header_is_replaced() {
    let case = case("sig-02");

    let sent = sign_through_layer(&case, body_of(&case)).await;

    let tokens = values(&sent.headers, "x-amz-security-token");
    assert_eq!(tokens.len(), 1);
    assert!(!tokens[0].contains("stale"));
    assert!(!values(&sent.headers, "authorization")[0].contains("stale"));
}

#[test]
fn presign_vectors_match_botocore() {
    let mut checked = 0;
    for case in cases().iter().filter(|case| case["kind"] == "presign") {
        let id = case["id"].as_str().unwrap();
        let expected = &case["expected"];
        let settings = &case["settings"];
        let token_after_signing =
            case["session_token_used"] == true && settings["session_token_in_canonical"] == false;
        let options = PresignOptions::new(Duration::from_secs(
            settings["expires_in"].as_u64().unwrap(),
        ))
        .session_token_after_signing(token_after_signing);

        let url = presign_url(
            &request_of(case, body_of(case)),
            &credentials_of(case),
            &settings_of(case),
            suite_time(),
            &options,
        )
        .unwrap();
        checked += 1;

        let expected_url = expected["presigned_url"].as_str().unwrap();
        assert_eq!(
            url.as_str().split('?').next(),
            expected_url.split('?').next(),
            "{id}: base URL"
        );
        assert_eq!(
            query_set(url.as_str()),
            query_set(expected_url),
            "{id}: query"
        );
        let signature = query_set(url.as_str())
            .into_iter()
            .find(|(name, _)| name == "X-Amz-Signature")
            .unwrap()
            .1;
        assert_eq!(
            signature,
            expected["signature"].as_str().unwrap(),
            "{id}: signature"
        );
        assert_eq!(
            signature_of_canonical(case, expected["canonical_request"].as_str().unwrap()),
            signature,
            "{id}: canonical request"
        );
        assert_eq!(
            url.expires_in(),
            Duration::from_secs(settings["expires_in"].as_u64().unwrap())
        );
    }
    assert_eq!(checked, 3);
}

#[test]
fn iot_token_is_not_signed() {
    let case = case("pre-04");
    let options = PresignOptions::new(Duration::from_secs(86_400));

    // The trap: the token inside the canonical query.
    let signed_token = presign_url(
        &request_of(&case, body_of(&case)),
        &credentials_of(&case),
        &settings_of(&case),
        suite_time(),
        &options,
    )
    .unwrap();

    let signature = query_set(signed_token.as_str())
        .into_iter()
        .find(|(name, _)| name == "X-Amz-Signature")
        .unwrap()
        .1;
    assert_ne!(signature, case["expected"]["signature"].as_str().unwrap());
}

fn presign_expiry(expires_in: Duration) -> Result<String, aws_refresh_session::Error> {
    let case = case("pre-01");
    presign_url(
        &request_of(&case, body_of(&case)),
        &credentials_of(&case),
        &settings_of(&case),
        suite_time(),
        &PresignOptions::new(expires_in),
    )
    .map(|url| url.into_string())
}

#[test]
fn presign_expiry_limits() {
    // val-01.
    let maximum = presign_expiry(Duration::from_secs(604_800)).unwrap();
    assert!(maximum.contains("X-Amz-Expires=604800"));

    let above = presign_expiry(Duration::from_secs(604_801)).unwrap_err();
    assert!(above.is_validation());
    assert_eq!(above.parameter(), Some("expires_in"));

    let zero = presign_expiry(Duration::ZERO).unwrap_err();
    assert!(zero.is_validation());

    let below_one = presign_expiry(Duration::from_millis(999)).unwrap_err();
    assert!(below_one.is_validation());

    let fractional = presign_expiry(Duration::from_millis(899_456)).unwrap();
    assert!(fractional.contains("X-Amz-Expires=899&") || fractional.ends_with("X-Amz-Expires=899"));
    assert!(!fractional.contains("899.456"));
}

/// A source whose n-th fetch returns `AKIDGEN{n}` valid for `lifetime`
/// from the clock's time.
fn counting_source(
    clock: ManualClock,
    lifetime: Duration,
    fetches: Arc<AtomicUsize>,
) -> CustomSource {
    use aws_refresh_session::clock::Clock;
    CustomSource::new("counting", move || {
        let generation = fetches.fetch_add(1, Ordering::SeqCst) + 1;
        let expiry = clock.now() + lifetime;
        async move {
            Ok(Credentials::new(
                format!("AKIDGEN{generation}"),
                SECRET_ACCESS_KEY,
                Some(format!("token-gen{generation}")),
                Some(expiry),
            ))
        }
    })
}

#[tokio::test]
async fn presign_refreshes_short_credentials() {
    // ref-09: cached credentials expire in 600 s, the URL should last 3600 s.
    let clock = ManualClock::new(suite_time());
    let fetches = Arc::new(AtomicUsize::new(0));
    let lifetime = Arc::new(std::sync::Mutex::new(Duration::from_secs(600)));
    let source = {
        let clock = clock.clone();
        let fetches = fetches.clone();
        let lifetime = lifetime.clone();
        CustomSource::new("growing", move || {
            use aws_refresh_session::clock::Clock;
            let generation = fetches.fetch_add(1, Ordering::SeqCst) + 1;
            let expiry = clock.now() + *lifetime.lock().unwrap();
            async move {
                Ok(Credentials::new(
                    format!("AKIDGEN{generation}"),
                    SECRET_ACCESS_KEY,
                    Some(format!("token-gen{generation}")),
                    Some(expiry),
                ))
            }
        })
    };
    let store = CredentialStore::builder(source)
        .clock(Arc::new(clock.clone()))
        .build()
        .await
        .unwrap();
    *lifetime.lock().unwrap() = Duration::from_secs(7200);
    let case = case("pre-01");

    let url = presign_with_store(
        &store,
        &request_of(&case, body_of(&case)),
        &SigningSettings::s3("us-east-1"),
        &PresignOptions::new(Duration::from_secs(3600)),
    )
    .await
    .unwrap();

    assert_eq!(fetches.load(Ordering::SeqCst), 2);
    assert!(url.as_str().contains("AKIDGEN2"));
    assert!(url.as_str().contains("X-Amz-Expires=3600"));
}

#[tokio::test]
async fn presign_rejects_outliving_credentials() {
    // ref-09, when the source cannot do better than 600 s.
    let clock = ManualClock::new(suite_time());
    let fetches = Arc::new(AtomicUsize::new(0));
    let source = counting_source(clock.clone(), Duration::from_secs(600), fetches.clone());
    let store = CredentialStore::builder(source)
        .clock(Arc::new(clock))
        .build()
        .await
        .unwrap();
    let case = case("pre-01");

    let error = presign_with_store(
        &store,
        &request_of(&case, body_of(&case)),
        &SigningSettings::s3("us-east-1"),
        &PresignOptions::new(Duration::from_secs(3600)),
    )
    .await
    .unwrap_err();

    assert!(error.is_validation());
    assert_eq!(error.parameter(), Some("expires_in"));
    assert!(error.message().contains("expire in 600 s"));
    assert_eq!(fetches.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn retry_is_signed_afresh() {
    // ref-08: attempt 1 is signed with gen1 and rejected; the credentials
    // are invalidated; the re-sent request carries gen2 headers only.
    let clock = ManualClock::new(suite_time());
    let fetches = Arc::new(AtomicUsize::new(0));
    let source = counting_source(clock.clone(), Duration::from_secs(3600), fetches.clone());
    let store = CredentialStore::builder(source)
        .clock(Arc::new(clock.clone()))
        .build()
        .await
        .unwrap();
    let inner = RecordingService::with(|request, _| {
        let token = values(&request.headers, "x-amz-security-token");
        let status = if token == ["token-gen1"] { 400 } else { 200 };
        Response::builder()
            .status(status)
            .body(String::new())
            .unwrap()
    });
    let layer =
        RefreshingCredentialsLayer::new(store.clone(), SigningSettings::new("sts", "us-east-1"));
    let service = layer.layer(inner.clone());

    let first = service
        .clone()
        .oneshot(
            http::Request::get("https://sts.us-east-1.amazonaws.com/")
                .body(String::new())
                .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(first.status(), 400);
    assert!(store.invalidate("AKIDGEN1"));
    clock.advance(Duration::from_secs(2));

    // A retry inside the stack re-sends the request as it was signed.
    let attempt = inner.last();
    let mut retry = http::Request::get(attempt.uri.clone())
        .body(String::new())
        .unwrap();
    *retry.headers_mut() = attempt.headers.clone();
    let second = service.oneshot(retry).await.unwrap();

    assert_eq!(second.status(), 200);
    let sent = inner.last();
    assert_eq!(
        values(&sent.headers, "x-amz-security-token"),
        ["token-gen2"]
    );
    assert_eq!(values(&sent.headers, "x-amz-date"), ["20150830T123602Z"]);
    let authorization = values(&sent.headers, "authorization");
    assert_eq!(authorization.len(), 1);
    assert!(authorization[0].contains("Credential=AKIDGEN2/"));
}

#[tokio::test]
async fn skew_is_learned_from_date() {
    // clk-01: the local clock is 20 minutes behind AWS.
    let local = ManualClock::new(suite_time());
    let server_time = suite_time() + Duration::from_secs(1200);
    let store = fixed_store(
        Credentials::new(ACCESS_KEY_ID, SECRET_ACCESS_KEY, None, None),
        local.clone(),
    )
    .await;
    let inner = RecordingService::with(move |request, _| {
        let date = values(&request.headers, "x-amz-date")[0].clone();
        let format = time::format_description::parse_borrowed::<2>(
            "[year][month][day]T[hour][minute][second]Z",
        )
        .unwrap();
        let signed: SystemTime = time::PrimitiveDateTime::parse(&date, &format)
            .unwrap()
            .assume_utc()
            .into();
        let apart = server_time
            .duration_since(signed)
            .or_else(|_| signed.duration_since(server_time))
            .unwrap();
        let status = if apart > Duration::from_secs(300) {
            403
        } else {
            200
        };
        Response::builder()
            .status(status)
            .header("date", httpdate::fmt_http_date(server_time))
            .body(String::new())
            .unwrap()
    });
    let layer = RefreshingCredentialsLayer::new(store, SigningSettings::s3("us-east-1"));
    let service = layer.layer(inner.clone());
    let request = || {
        http::Request::get("https://example-bucket.s3.us-east-1.amazonaws.com/key")
            .body(String::new())
            .unwrap()
    };

    let attempt = service.clone().oneshot(request()).await.unwrap();
    assert_eq!(attempt.status(), 403);
    assert_eq!(
        values(&inner.last().headers, "x-amz-date"),
        ["20150830T123600Z"]
    );
    assert_eq!(layer.clock_skew_millis(), 1_200_000);

    let retry = service.clone().oneshot(request()).await.unwrap();
    assert_eq!(retry.status(), 200);
    assert_eq!(
        values(&inner.last().headers, "x-amz-date"),
        ["20150830T125600Z"]
    );

    local.advance(Duration::from_secs(30));
    let next = service.oneshot(request()).await.unwrap();
    assert_eq!(next.status(), 200);
    assert_eq!(
        values(&inner.last().headers, "x-amz-date"),
        ["20150830T125630Z"]
    );
    assert_eq!(inner.calls(), 3);
}
