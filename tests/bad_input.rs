//! Bad input against the public API: every row must end in a clear error or
//! a working value, never a panic, and no planted secret may appear in an
//! error's `Display`, `Debug` or source chain.

use std::error::Error as _;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_refresh_session::clock::{Clock, SharedClock, TokioClock};
use aws_refresh_session::strategy::CustomSource;
use aws_refresh_session::{CredentialStore, Credentials, Error, RefreshMode, RefreshPolicy};
use futures_util::FutureExt;

const SECRET: &str = "PLANTEDsecretKEYwJalrXUtnFEMI";
const TOKEN: &str = "PLANTEDsessionTOKENFwoGZXIvYXdz";

/// Every rendering of `error` a caller or a log line may see.
fn renderings(error: &Error) -> String {
    let mut text = format!("{error}\n{error:?}\n");
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!("{cause}\n{cause:?}\n"));
        source = cause.source();
    }
    text
}

fn assert_no_secret(error: &Error, planted: &[&str], row: &str) {
    let text = renderings(error);
    for secret in planted {
        assert!(
            !text.contains(secret),
            "row {row}: error leaks a planted secret: {text}"
        );
    }
}

fn start() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

fn credentials(expiry: Option<SystemTime>) -> Credentials {
    let builder = Credentials::builder()
        .access_key_id("ASIABADINPUT")
        .secret_access_key(SECRET)
        .session_token(TOKEN);
    match expiry {
        Some(expiry) => builder.expiry(expiry),
        None => builder,
    }
    .build()
    .unwrap()
}

async fn store_with(
    policy: RefreshPolicy,
    clock: &TokioClock,
    expiry: Option<SystemTime>,
) -> Result<CredentialStore, Error> {
    let source = CustomSource::new("bad-input", move || async move { Ok(credentials(expiry)) });
    CredentialStore::builder(source)
        .policy(policy)
        .clock(Arc::new(clock.clone()) as SharedClock)
        .build()
        .await
}

/// Builds a store whose source returns credentials valid for `lifetime`
/// from the clock's current time.
async fn store_with_lifetime(
    policy: RefreshPolicy,
    clock: &TokioClock,
    lifetime: Duration,
) -> Result<CredentialStore, Error> {
    let source_clock = clock.clone();
    let source = CustomSource::new("bad-input", move || {
        let expiry = source_clock.now() + lifetime;
        async move { Ok(credentials(Some(expiry))) }
    });
    CredentialStore::builder(source)
        .policy(policy)
        .clock(Arc::new(clock.clone()) as SharedClock)
        .build()
        .await
}

/// Runs `future` and turns a panic into a test failure naming `row`.
async fn no_panic<T>(row: &str, future: impl std::future::Future<Output = T>) -> T {
    match AssertUnwindSafe(future).catch_unwind().await {
        Ok(value) => value,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            panic!("row {row} panicked: {message}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn refresh_policy_extreme_durations() {
    let rows: Vec<(&str, RefreshPolicy)> = vec![
        (
            "advisory MAX",
            RefreshPolicy::default().advisory_window(Duration::MAX),
        ),
        (
            "advisory zero",
            RefreshPolicy::default()
                .advisory_window(Duration::ZERO)
                .mandatory_window(Duration::ZERO),
        ),
        (
            "mandatory MAX",
            RefreshPolicy::default().mandatory_window(Duration::MAX),
        ),
        (
            "mandatory zero",
            RefreshPolicy::default().mandatory_window(Duration::ZERO),
        ),
        (
            "timeout MAX",
            RefreshPolicy::default().refresh_timeout(Duration::MAX),
        ),
        (
            "jitter MAX",
            RefreshPolicy::default().max_jitter(Duration::MAX),
        ),
        (
            "backoff MAX",
            RefreshPolicy::default().backoff(Duration::MAX, Duration::MAX),
        ),
        (
            "min interval MAX",
            RefreshPolicy::default().min_refresh_interval(Duration::MAX),
        ),
        (
            "min interval zero",
            RefreshPolicy::default().min_refresh_interval(Duration::ZERO),
        ),
    ];

    for (row, policy) in rows {
        let clock = TokioClock::new(start());
        let built = no_panic(
            row,
            store_with_lifetime(policy, &clock, Duration::from_secs(3600)),
        )
        .await;
        let store = match built {
            Ok(store) => store,
            Err(error) => {
                assert!(error.is_validation(), "row {row}: {error:?}");
                assert!(error.parameter().is_some(), "row {row}: {error:?}");
                assert_no_secret(&error, &[SECRET, TOKEN], row);
                continue;
            }
        };
        let fetched = no_panic(row, store.credentials()).await;
        assert_eq!(
            fetched.expect(row).access_key_id(),
            "ASIABADINPUT",
            "row {row}"
        );

        // Run past the first expiry: the background refresher's windows
        // must work out, and a panic in its fetch task would show up as
        // the store's last error.
        no_panic(row, tokio::time::sleep(Duration::from_secs(7200))).await;
        let last_error = store.last_error();
        assert!(last_error.is_none(), "row {row}: {last_error:?}");
        let refetched = no_panic(row, store.credentials()).await;
        assert!(refetched.is_ok(), "row {row}: {refetched:?}");
    }
}

#[tokio::test(start_paused = true)]
async fn refresh_policy_backoff_max_after_failure() {
    let clock = TokioClock::new(start());
    let policy = RefreshPolicy::default()
        .mode(RefreshMode::Deferred)
        .backoff(Duration::MAX, Duration::MAX);
    let source = CustomSource::new("failing", || async {
        Err::<Credentials, _>(Error::connection("connection refused by 127.0.0.1:9"))
    });
    let store = CredentialStore::builder(source)
        .policy(policy)
        .clock(Arc::new(clock.clone()) as SharedClock)
        .build()
        .await
        .unwrap();

    let first = no_panic("first fetch", store.credentials()).await;
    assert!(first.unwrap_err().is_connection());

    let second = no_panic("second fetch", store.credentials()).await;
    assert!(second.is_err());
}

#[tokio::test(start_paused = true)]
async fn source_expiry_at_extremes() {
    let max_time = (0..64)
        .rev()
        .filter_map(|bit| UNIX_EPOCH.checked_add(Duration::from_secs(1u64 << bit)))
        .next()
        .unwrap();
    let near_max = {
        let mut time = UNIX_EPOCH;
        let mut step = 1u64 << 62;
        while step > 0 {
            if let Some(next) = time.checked_add(Duration::from_secs(step)) {
                time = next;
            } else {
                step /= 2;
            }
        }
        time
    };
    let year_9999 = UNIX_EPOCH + Duration::from_secs(253_402_300_799);
    let rows = [
        ("UNIX_EPOCH", UNIX_EPOCH, false),
        ("one second ago", start() - Duration::from_secs(1), false),
        ("year 9999", year_9999, true),
        ("2^62 seconds", max_time, true),
        ("SystemTime max", near_max, true),
    ];

    for (row, expiry, usable) in rows {
        let clock = TokioClock::new(start());
        let built = no_panic(
            row,
            store_with(RefreshPolicy::default(), &clock, Some(expiry)),
        )
        .await;
        match built {
            Ok(store) => {
                assert!(usable, "row {row}: expired credentials were accepted");
                let fetched = no_panic(row, store.credentials()).await;
                assert!(fetched.is_ok(), "row {row}: {fetched:?}");
                no_panic(row, tokio::time::sleep(Duration::from_secs(86_400))).await;
            }
            Err(error) => {
                assert!(!usable, "row {row}: {error:?}");
                assert!(error.is_credential(), "row {row}: {error:?}");
                assert_eq!(error.parameter(), Some("expiration"), "row {row}");
                assert_no_secret(&error, &[SECRET, TOKEN], row);
            }
        }
    }
}

async fn session() -> aws_refresh_session::RefreshableSession {
    let source = CustomSource::new("bad-input", || async { Ok(credentials(None)) });
    aws_refresh_session::RefreshableSession::builder()
        .strategy(aws_refresh_session::Strategy::custom(source))
        .build()
        .await
        .unwrap()
}

const PASSWORD: &str = "PLANTEDendpointPASSWORD";

#[tokio::test]
async fn session_layer_and_client_inputs() {
    let session = session().await;

    let layer_rows = [
        ("", "", "service"),
        ("s3", "", "region"),
        ("s 3", "us-east-1", "service"),
        ("s3", "us east 1", "region"),
        ("s3", "us-east-1\0", "region"),
        ("sts", "ëu-west-1", "region"),
    ];
    for (service, region, parameter) in layer_rows {
        let row = format!("layer({service:?}, {region:?})");
        let error = session.layer(service, region).unwrap_err();
        assert!(error.is_validation(), "{row}: {error:?}");
        assert_eq!(error.parameter(), Some(parameter), "{row}");

        let row = format!("client({service:?}, {region:?})");
        let error = session.client(service, region).unwrap_err();
        assert!(error.is_validation(), "{row}: {error:?}");
        assert_eq!(error.parameter(), Some(parameter), "{row}: {error}");
    }

    let with_password = format!("https://admin:{PASSWORD}@127.0.0.1:9");
    let endpoint_rows = [
        "not a url".to_owned(),
        "127.0.0.1:9".to_owned(),
        "ftp://127.0.0.1:9".to_owned(),
        "http://127.0.0.1:9/?x=1".to_owned(),
        "http://127.0.0.1:0".to_owned(),
        "http://127.0.0.1:65536".to_owned(),
        "".to_owned(),
        "http://127.0.0.1:9/\u{0}".to_owned(),
        format!("https://admin:{PASSWORD}@127.0.0.1:9/?x=1"),
        format!("ftp://admin:{PASSWORD}@127.0.0.1:9"),
        with_password.clone(),
    ];
    for endpoint in endpoint_rows {
        let settings = aws_refresh_session::SigningSettings::new("execute-api", "us-east-1");
        let row = format!("client_with({endpoint:?})");
        let error = session.client_with(settings, &endpoint).unwrap_err();
        assert!(error.is_validation(), "{row}: {error:?}");
        assert_eq!(error.parameter(), Some("endpoint"), "{row}");
        assert_no_secret(&error, &[PASSWORD, SECRET, TOKEN], &row);
        assert!(
            error.value().is_none_or(|value| !value.contains(PASSWORD)),
            "{row}: value() leaks the password"
        );
    }
}

#[cfg(feature = "sts")]
#[test]
fn sts_client_config_inputs() {
    use aws_refresh_session::strategy::sts::StsClientConfig;

    let rows: Vec<(String, Option<&str>, &str)> = vec![
        ("127.0.0.1:5000".into(), None, "endpoint_url"),
        ("ftp://127.0.0.1".into(), None, "endpoint_url"),
        ("http://127.0.0.1:0".into(), None, "endpoint_url"),
        ("http://127.0.0.1:65536".into(), None, "endpoint_url"),
        ("http://127.0.0.1 :5000".into(), None, "endpoint_url"),
        ("".into(), None, "endpoint_url"),
        (" ".into(), None, "endpoint_url"),
        (
            format!("http://admin:{PASSWORD}@127.0.0.1:5000"),
            None,
            "endpoint_url",
        ),
        (
            format!("http://admin:{PASSWORD}@127.0.0.1:5000/?q=1"),
            None,
            "endpoint_url",
        ),
        (
            format!("ftp://admin:{PASSWORD}@127.0.0.1"),
            None,
            "endpoint_url",
        ),
        ("http://127.0.0.1:5000".into(), Some(""), "region"),
        ("http://127.0.0.1:5000".into(), Some("us east 1"), "region"),
        (
            "http://127.0.0.1:5000".into(),
            Some("us-east-1\0"),
            "region",
        ),
        ("http://127.0.0.1:5000".into(), Some("ÜS-east-1"), "region"),
    ];
    for (endpoint, region, parameter) in rows {
        let row = format!("endpoint {endpoint:?} region {region:?}");
        let mut builder = StsClientConfig::builder().endpoint_url(endpoint.clone());
        if let Some(region) = region {
            builder = builder.region(region);
        }
        let error = builder.build().unwrap_err();
        assert!(error.is_validation(), "{row}: {error:?}");
        assert_eq!(error.parameter(), Some(parameter), "{row}");
        assert_no_secret(&error, &[PASSWORD], &row);
        assert!(
            error.value().is_none_or(|value| !value.contains(PASSWORD)),
            "{row}: value() leaks the password"
        );
    }

    let huge = "a".repeat(1 << 20);
    let error = StsClientConfig::builder().region(huge).build().unwrap_err();
    assert_eq!(error.parameter(), Some("region"));
}

#[cfg(feature = "sts")]
#[test]
fn assume_role_config_inputs() {
    use aws_refresh_session::strategy::sts::AssumeRoleConfig;

    const ROLE: &str = "arn:aws:iam::123456789012:role/app";
    let huge = "a".repeat(1 << 20);
    type Edit = Box<
        dyn Fn(
            aws_refresh_session::strategy::sts::AssumeRoleConfigBuilder,
        ) -> aws_refresh_session::strategy::sts::AssumeRoleConfigBuilder,
    >;
    let rows: Vec<(&str, &str, Option<&str>, Edit)> = vec![
        (
            "arn 11 digits",
            "arn:aws:iam::12345678901:role/x",
            Some("role_arn"),
            Box::new(|b| b),
        ),
        (
            "arn user",
            "arn:aws:iam::123456789012:user/x",
            Some("role_arn"),
            Box::new(|b| b),
        ),
        (
            "arn trailing space",
            "arn:aws:iam::123456789012:role/x ",
            Some("role_arn"),
            Box::new(|b| b),
        ),
        ("arn empty", "", Some("role_arn"), Box::new(|b| b)),
        (
            "arn NUL",
            "arn:aws:iam::123456789012:role/x\0",
            Some("role_arn"),
            Box::new(|b| b),
        ),
        (
            "arn unicode",
            "arn:aws:iam::123456789012:role/ünï",
            Some("role_arn"),
            Box::new(|b| b),
        ),
        (
            "duration 899",
            ROLE,
            Some("duration_seconds"),
            Box::new(|b| b.duration_seconds(899)),
        ),
        (
            "duration 900",
            ROLE,
            None,
            Box::new(|b| b.duration_seconds(900)),
        ),
        (
            "duration 43200",
            ROLE,
            None,
            Box::new(|b| b.duration_seconds(43_200)),
        ),
        (
            "duration 43201",
            ROLE,
            Some("duration_seconds"),
            Box::new(|b| b.duration_seconds(43_201)),
        ),
        (
            "duration MAX",
            ROLE,
            Some("duration_seconds"),
            Box::new(|b| b.duration(Duration::MAX)),
        ),
        (
            "duration 899.9s",
            ROLE,
            Some("duration_seconds"),
            Box::new(|b| b.duration(Duration::from_millis(899_900))),
        ),
        (
            "name 1",
            ROLE,
            Some("role_session_name"),
            Box::new(|b| b.role_session_name("a")),
        ),
        (
            "name 2",
            ROLE,
            None,
            Box::new(|b| b.role_session_name("ab")),
        ),
        (
            "name 64",
            ROLE,
            None,
            Box::new(|b| b.role_session_name("a".repeat(64))),
        ),
        (
            "name 65",
            ROLE,
            Some("role_session_name"),
            Box::new(|b| b.role_session_name("a".repeat(65))),
        ),
        (
            "name whitespace",
            ROLE,
            Some("role_session_name"),
            Box::new(|b| b.role_session_name("   ")),
        ),
        (
            "name control",
            ROLE,
            Some("role_session_name"),
            Box::new(|b| b.role_session_name("ab\x07")),
        ),
        ("name huge", ROLE, Some("role_session_name"), {
            let h = huge.clone();
            Box::new(move |b| b.role_session_name(h.clone()))
        }),
        (
            "external id empty",
            ROLE,
            Some("external_id"),
            Box::new(|b| b.external_id("")),
        ),
        (
            "policy not json",
            ROLE,
            Some("policy"),
            Box::new(|b| b.policy("{")),
        ),
        ("policy huge", ROLE, Some("policy"), {
            let h = huge.clone();
            Box::new(move |b| b.policy(h.clone()))
        }),
        (
            "policy arn bad",
            ROLE,
            Some("policy_arns"),
            Box::new(|b| b.policy_arn("arn:aws:iam::aws:role/x")),
        ),
        (
            "tag key empty",
            ROLE,
            Some("tags"),
            Box::new(|b| b.tag("", "v")),
        ),
        (
            "serial short",
            ROLE,
            Some("serial_number"),
            Box::new(|b| b.serial_number("12345678")),
        ),
        (
            "token 7 digits",
            ROLE,
            Some("token_code"),
            Box::new(|b| b.serial_number("GAHT12345678").token_code("1234567")),
        ),
        (
            "token letters",
            ROLE,
            Some("token_code"),
            Box::new(|b| b.serial_number("GAHT12345678").token_code("12345a")),
        ),
    ];

    for (row, arn, parameter, edit) in rows {
        let built = edit(AssumeRoleConfig::builder(arn)).build();
        match (parameter, built) {
            (None, Ok(_)) => {}
            (None, Err(error)) => panic!("row {row}: rejected: {error:?}"),
            (Some(_), Ok(config)) => panic!("row {row}: accepted: {config:?}"),
            (Some(parameter), Err(error)) => {
                assert!(error.is_validation(), "row {row}: {error:?}");
                assert!(
                    error.parameter().is_some_and(|p| p.starts_with(parameter)),
                    "row {row}: parameter {:?}",
                    error.parameter()
                );
                assert!(
                    error.to_string().len() < 4096,
                    "row {row}: message of {} bytes",
                    error.to_string().len()
                );
            }
        }
    }

    let error = AssumeRoleConfig::builder(ROLE)
        .serial_number("GAHT12345678")
        .token_code("9876543")
        .build()
        .unwrap_err();
    assert_no_secret(&error, &["9876543"], "token code");
}

#[test]
fn cache_sizes_and_key_display() {
    use aws_refresh_session::{CacheKey, ClientCache};

    let error = ClientCache::<u32, u32>::new(0).unwrap_err();
    assert!(error.is_validation());
    assert_eq!(error.parameter(), Some("max_size"));

    let cache = ClientCache::<u32, u32>::new(usize::MAX).unwrap();
    let error = cache.resize(0).unwrap_err();
    assert_eq!(error.parameter(), Some("max_size"));
    assert!(cache.resize(usize::MAX).is_ok());

    for endpoint in [
        format!("https://admin:{PASSWORD}@127.0.0.1:9"),
        format!("admin:{PASSWORD}@127.0.0.1:9"),
        format!("https://{PASSWORD}@127.0.0.1:9/path@x"),
        format!("https://admin:{PASSWORD}@[::1]:9?x=@"),
    ] {
        let key = CacheKey::new("s3", "us-east-1").with_endpoint(endpoint.clone());
        assert!(!key.to_string().contains(PASSWORD), "{endpoint}: {key}");
        assert!(
            !format!("{key:?}").contains(PASSWORD),
            "{endpoint}: {key:?}"
        );
    }
}

fn signing_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_440_938_160)
}

fn request(uri: &str) -> http::Request<http_body_util::Full<bytes::Bytes>> {
    http::Request::get(uri)
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap()
}

#[test]
fn signing_settings_inputs() {
    use aws_refresh_session::SigningSettings;

    let rows = [
        ("", "us-east-1", "service"),
        (" ", "us-east-1", "service"),
        ("s3 ", "us-east-1", "service"),
        ("dÿnamodb", "us-east-1", "service"),
        ("s3\0", "us-east-1", "service"),
        ("s3", "", "region"),
        ("s3", "us east 1", "region"),
        ("s3", "\n", "region"),
    ];
    for (service, region, parameter) in rows {
        let row = format!("{service:?}/{region:?}");
        let settings = SigningSettings::new(service, region);
        let error = settings.validate().unwrap_err();
        assert!(error.is_validation(), "{row}: {error:?}");
        assert_eq!(error.parameter(), Some(parameter), "{row}");

        let signed = sign(&mut request("https://127.0.0.1/"), &settings);
        assert!(signed.unwrap_err().is_validation(), "{row}");
    }

    for name in ["bad name", "x-foo\n", "", "é-header", "x-a:b"] {
        let settings = SigningSettings::new("execute-api", "us-east-1").exclude_header(name);
        let error = settings.validate().unwrap_err();
        assert!(error.is_validation(), "exclude_header({name:?}): {error:?}");
        assert_eq!(
            error.parameter(),
            Some("excluded_headers"),
            "exclude_header({name:?})"
        );
    }
    let settings = SigningSettings::new("execute-api", "us-east-1").exclude_header("X-Trace-Id");
    assert!(settings.validate().is_ok());
}

fn sign(
    request: &mut http::Request<http_body_util::Full<bytes::Bytes>>,
    settings: &aws_refresh_session::SigningSettings,
) -> Result<(), Error> {
    let credentials = credentials(None);
    std::panic::catch_unwind(AssertUnwindSafe(|| {
        aws_refresh_session::signing::sign_request(request, &credentials, settings, signing_time())
    }))
    .unwrap_or_else(|_| panic!("sign_request panicked on {:?}", request.uri()))
}

#[test]
fn sign_request_odd_requests() {
    use aws_refresh_session::SigningSettings;
    use http::header::{AUTHORIZATION, HeaderValue};

    let settings = SigningSettings::new("execute-api", "us-east-1");

    let error = sign(&mut request("/relative/path"), &settings).unwrap_err();
    assert!(error.is_signing(), "{error:?}");
    assert_no_secret(&error, &[SECRET, TOKEN], "relative uri");

    let mut with_host = request("/relative/path");
    with_host
        .headers_mut()
        .insert("host", HeaderValue::from_static("127.0.0.1"));
    assert!(sign(&mut with_host, &settings).is_ok());

    let mut userinfo = request(&format!("https://admin:{PASSWORD}@127.0.0.1/"));
    userinfo
        .headers_mut()
        .insert("x-bin", HeaderValue::from_bytes(b"\xff\xfe").unwrap());
    let error = sign(&mut userinfo, &settings).unwrap_err();
    assert!(error.is_signing(), "{error:?}");
    assert!(error.to_string().contains("x-bin"), "{error}");
    assert_no_secret(&error, &[PASSWORD, SECRET, TOKEN], "non-utf8 header");

    let mut huge = request("https://127.0.0.1/");
    let value = "v".repeat(1 << 20);
    huge.headers_mut()
        .insert("x-huge", HeaderValue::from_str(&value).unwrap());
    assert!(sign(&mut huge, &settings).is_ok());

    let mut duplicated = request("https://127.0.0.1/");
    for stale in ["AWS4-HMAC-SHA256 stale-one", "stale-two"] {
        duplicated
            .headers_mut()
            .append(AUTHORIZATION, HeaderValue::from_static(stale));
        duplicated
            .headers_mut()
            .append("x-amz-security-token", HeaderValue::from_static(stale));
    }
    sign(&mut duplicated, &settings).unwrap();
    let authorizations: Vec<_> = duplicated.headers().get_all(AUTHORIZATION).iter().collect();
    assert_eq!(authorizations.len(), 1);
    assert!(
        authorizations[0]
            .to_str()
            .unwrap()
            .contains("Credential=ASIABADINPUT/")
    );
    let tokens: Vec<_> = duplicated
        .headers()
        .get_all("x-amz-security-token")
        .iter()
        .collect();
    assert_eq!(tokens, [TOKEN]);
}

#[test]
fn sign_request_streaming_body_signed_mode() {
    use aws_refresh_session::{PayloadMode, SigningSettings};

    let settings = SigningSettings::new("execute-api", "us-east-1").payload(PayloadMode::Signed);
    let stream = futures_util::stream::iter([Ok::<_, std::io::Error>(http_body::Frame::data(
        bytes::Bytes::from_static(b"chunk"),
    ))]);
    let mut request = http::Request::put("https://127.0.0.1/")
        .body(http_body_util::StreamBody::new(stream))
        .unwrap();
    let credentials = credentials(None);
    let error = aws_refresh_session::signing::sign_request(
        &mut request,
        &credentials,
        &settings,
        signing_time(),
    )
    .unwrap_err();
    assert!(error.is_signing(), "{error:?}");
    assert!(
        error.to_string().contains("PayloadMode::Unsigned"),
        "{error}"
    );
}

#[test]
fn presign_expiry_extremes() {
    use aws_refresh_session::SigningSettings;
    use aws_refresh_session::signing::{PresignOptions, presign_url};

    let settings = SigningSettings::new("execute-api", "us-east-1");
    let credentials = credentials(None);
    let rows = [
        (Duration::ZERO, false),
        (Duration::from_millis(999), false),
        (Duration::from_secs(1), true),
        (Duration::from_secs_f64(1.5), true),
        (Duration::from_secs(604_800), true),
        (Duration::from_millis(604_800_999), true),
        (Duration::from_secs(604_801), false),
        (Duration::MAX, false),
    ];
    for (expires_in, ok) in rows {
        let row = format!("{expires_in:?}");
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
            presign_url(
                &request("https://127.0.0.1/"),
                &credentials,
                &settings,
                signing_time(),
                &PresignOptions::new(expires_in),
            )
        }))
        .unwrap_or_else(|_| panic!("row {row} panicked"));
        match result {
            Ok(url) => {
                assert!(ok, "row {row}: accepted");
                assert!(!format!("{url:?}").contains(TOKEN), "row {row}");
            }
            Err(error) => {
                assert!(!ok, "row {row}: {error:?}");
                assert_eq!(error.parameter(), Some("expires_in"), "row {row}");
            }
        }
    }

    // A signing time at the end of SystemTime's range: the URL's end does
    // not fit, which must be an error and not an overflow panic.
    let mut end = UNIX_EPOCH;
    let mut step = 1u64 << 62;
    while step > 0 {
        match end.checked_add(Duration::from_secs(step)) {
            Some(next) => end = next,
            None => step /= 2,
        }
    }
    let expiring = Credentials::builder()
        .access_key_id("ASIABADINPUT")
        .secret_access_key(SECRET)
        .session_token(TOKEN)
        .expiry(end)
        .build()
        .unwrap();
    let time = end - Duration::from_secs(10);
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
        presign_url(
            &request("https://127.0.0.1/"),
            &expiring,
            &settings,
            time,
            &PresignOptions::new(Duration::from_secs(3600)),
        )
    }));
    let result = result.unwrap_or_else(|_| panic!("presign near the end of time panicked"));
    assert!(result.is_err());
}

#[cfg(feature = "sts")]
#[tokio::test]
async fn mfa_command_outputs() {
    use aws_refresh_session::strategy::sts::MfaTokenProvider;

    let error = MfaTokenProvider::command(Vec::<String>::new()).unwrap_err();
    assert_eq!(error.parameter(), Some("mfa_command"));
    let error = MfaTokenProvider::command([""]).unwrap_err();
    assert_eq!(error.parameter(), Some("mfa_command"));

    let missing = MfaTokenProvider::command(["/nonexistent/mfa-program"]).unwrap();
    let error = missing.token_code().await.unwrap_err();
    assert!(error.is_credential(), "{error:?}");
    assert!(
        error.to_string().contains("/nonexistent/mfa-program"),
        "{error}"
    );

    // (script, planted secrets that must not appear in the error)
    let rows: [(&str, &[&str]); 5] = [
        ("head -c 1048576 /dev/zero | tr '\\0' 'x'", &[]),
        ("echo 1234567", &["1234567"]),
        ("true", &[]),
        ("printf '\\377\\376'", &[]),
        (
            "echo 'code 314159 rejected; seed JBSWY3DPEHPK3PXP' >&2; exit 3",
            &["314159"],
        ),
    ];
    for (script, planted) in rows {
        let provider = MfaTokenProvider::command(["sh", "-c", script])
            .unwrap()
            .timeout(Duration::from_secs(30));
        let error = provider.token_code().await.unwrap_err();
        assert!(error.is_credential(), "{script}: {error:?}");
        assert_eq!(error.parameter(), Some("mfa_command"), "{script}");
        assert!(error.to_string().len() < 4096, "{script}: message too long");
        assert_no_secret(&error, planted, script);
    }

    let provider = MfaTokenProvider::command(["sh", "-c", "echo ' 271828 '"]).unwrap();
    assert_eq!(provider.token_code().await.unwrap(), "271828");
    let debug = format!("{provider:?}");
    assert!(!debug.contains("271828"), "{debug}");

    let function = MfaTokenProvider::function(|| async { Ok("99999x".to_owned()) });
    let error = function.token_code().await.unwrap_err();
    assert_eq!(error.parameter(), Some("token_code"));
    assert_no_secret(&error, &["99999x"], "function code");
}

#[tokio::test]
async fn custom_json_every_type() {
    use aws_refresh_session::CredentialSource;
    use serde_json::json;

    let values = [
        json!(null),
        json!(true),
        json!(7),
        json!(1.5),
        json!(""),
        json!("   "),
        json!([SECRET]),
        json!({"k": SECRET}),
    ];
    for field in ["access_key", "secret_key", "token", "expiry_time"] {
        for value in &values {
            let mut object = json!({
                "access_key": "ASIABADINPUT",
                "secret_key": SECRET,
                "token": TOKEN,
                "expiry_time": "2030-01-01T00:00:00Z",
            });
            object[field] = value.clone();
            let row = format!("{field} = {value}");
            let source = CustomSource::from_json_fn("json", move || {
                let object = object.clone();
                async move { Ok(object) }
            });
            let result = no_panic(&row, source.fetch()).await;
            let Err(error) = result else {
                continue;
            };
            assert!(error.is_credential(), "row {row}: {error:?}");
            assert!(
                error.parameter().is_some_and(|p| p.contains(field)),
                "row {row}: parameter {:?}",
                error.parameter()
            );
            assert_no_secret(&error, &[SECRET, TOKEN], &row);
        }
    }

    for whole in [json!(null), json!([1]), json!(SECRET), json!(3)] {
        let row = format!("whole {whole}");
        let source = CustomSource::from_json_fn("json", move || {
            let whole = whole.clone();
            async move { Ok(whole) }
        });
        let error = no_panic(&row, source.fetch()).await.unwrap_err();
        assert_eq!(error.parameter(), Some("credentials"), "row {row}");
        assert_no_secret(&error, &[SECRET], &row);
    }

    for expiry in [
        json!(-1),
        json!(1e300),
        json!(u64::MAX),
        json!("2030-01-01T00:00:00"),
        json!("99999-01-01T00:00:00Z"),
    ] {
        let row = format!("expiry {expiry}");
        let object =
            json!({"access_key": "ASIABADINPUT", "secret_key": SECRET, "expiry_time": expiry});
        let source = CustomSource::from_json_fn("json", move || {
            let object = object.clone();
            async move { Ok(object) }
        });
        let result = no_panic(&row, source.fetch()).await;
        if let Err(error) = result {
            assert_eq!(error.parameter(), Some("expiry_time"), "row {row}: {error}");
            assert_no_secret(&error, &[SECRET], &row);
        }
    }
}

#[tokio::test]
async fn process_source_outputs() {
    use aws_refresh_session::CredentialSource;
    use aws_refresh_session::strategy::ProcessSource;

    // The secrets come from the environment, so the command line itself
    // contains none and only the output could leak them.
    let rows = [
        "head -c 2097152 /dev/zero | tr '\\0' 'x'",
        "printf '\\377\\376{'",
        r#"echo "{\"Version\": 2, \"AccessKeyId\": \"A\", \"SecretAccessKey\": \"$PLANTED_SECRET\"}""#,
        r#"echo "{\"Version\": \"1\", \"AccessKeyId\": \"A\", \"SecretAccessKey\": \"$PLANTED_SECRET\"}""#,
        r#"echo "{\"Version\": 1, \"SecretAccessKey\": \"$PLANTED_SECRET\"}""#,
        r#"echo "{\"Version\": 1, \"AccessKeyId\": \"A\", \"SecretAccessKey\": \"$PLANTED_SECRET\", \"SessionToken\": \"$PLANTED_TOKEN\", \"Expiration\": \"2000-01-01T00:00:00Z\"}""#,
        r#"echo "{\"Version\": 1, \"AccessKeyId\": \"A\", \"SecretAccessKey\": \"$PLANTED_SECRET\", \"SessionToken\": \"$PLANTED_TOKEN\", \"Expiration\": \"2030-01-01T00:00:00\"}""#,
        r#"echo "{\"Version\": 1, \"AccessKeyId\": \"A\", \"SecretAccessKey\": \"$PLANTED_SECRET\"""#,
        // Stderr is shown (bounded) to explain the failure; what a failing
        // helper prints there is its own responsibility.
        "head -c 1048576 /dev/zero | tr '\\0' 'e' >&2; exit 1",
    ];
    for script in rows {
        let source = ProcessSource::new(["sh", "-c", script])
            .unwrap()
            .env("PLANTED_SECRET", SECRET)
            .env("PLANTED_TOKEN", TOKEN)
            .timeout(Duration::from_secs(30));
        let result = no_panic(script, source.fetch()).await;
        let Err(error) = result else {
            // Only the already-expired row may parse; the store rejects it.
            assert!(script.contains("2000-01-01"), "{script}: accepted");
            continue;
        };
        assert!(
            error.is_credential() || error.is_validation(),
            "{script}: {error:?}"
        );
        assert!(error.parameter().is_some(), "{script}: {error:?}");
        // At most 4 KiB of stderr plus the command line.
        assert!(error.to_string().len() < 8192, "{script}: message too long");
        assert_no_secret(&error, &[SECRET, TOKEN], script);
    }
}

#[cfg(feature = "iot")]
fn iot_builder(endpoint: &str) -> aws_refresh_session::strategy::iot::IotConfigBuilder {
    aws_refresh_session::strategy::iot::IotConfig::builder()
        .endpoint(endpoint)
        .role_alias("device-role")
        .certificate_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
        .private_key_pem(format!(
            "-----BEGIN PRIVATE KEY-----\n{SECRET}\n-----END PRIVATE KEY-----\n"
        ))
}

#[cfg(feature = "iot")]
#[test]
fn iot_endpoint_and_alias_inputs() {
    let accepted = [
        "https://127.0.0.1:8443",
        "https://[::1]:8443",
        "c1b2c3example.credentials.iot.us-east-1.amazonaws.com",
        "a1b2c3example-ats.iot.eu-west-1.amazonaws.com",
    ];
    for endpoint in accepted {
        let config = iot_builder(endpoint).build();
        assert!(config.is_ok(), "{endpoint}: {config:?}");
        let debug = format!("{:?}", config.unwrap());
        assert!(
            !debug.contains(SECRET),
            "{endpoint}: Debug shows the key: {debug}"
        );
    }

    let rejected = [
        "".to_owned(),
        "   ".to_owned(),
        "http://127.0.0.1:8443".to_owned(),
        "https://127.0.0.1:0".to_owned(),
        "https://127.0.0.1:65536".to_owned(),
        "https://127.0.0.1:8443/path".to_owned(),
        "https://".to_owned(),
        "127.0.0.1".to_owned(),
        "[::1]".to_owned(),
        "a1b2c3example-ats.iot.us east 1.amazonaws.com".to_owned(),
        "a1b2c3example.credentials.iot..amazonaws.com".to_owned(),
        "ünïcode.credentials.iot.us-east-1.amazonaws.com".to_owned(),
        format!("https://admin:{PASSWORD}@127.0.0.1:8443/path"),
        format!("http://admin:{PASSWORD}@127.0.0.1:8443"),
    ];
    for endpoint in rejected {
        let error = match iot_builder(&endpoint).build() {
            Ok(config) => panic!("{endpoint:?}: accepted as {config:?}"),
            Err(error) => error,
        };
        assert!(error.is_validation(), "{endpoint:?}: {error:?}");
        assert_eq!(error.parameter(), Some("endpoint"), "{endpoint:?}");
        assert_no_secret(&error, &[PASSWORD, SECRET], &endpoint);
        assert!(
            error.value().is_none_or(|value| !value.contains(PASSWORD)),
            "{endpoint:?}: value() leaks the password"
        );
    }

    // Userinfo is meaningless for mutual TLS; it must not be kept or shown.
    let with_password = format!("https://admin:{PASSWORD}@127.0.0.1:8443");
    match iot_builder(&with_password).build() {
        Ok(config) => {
            assert!(!config.endpoint().contains(PASSWORD));
            assert!(!format!("{config:?}").contains(PASSWORD));
        }
        Err(error) => assert_no_secret(&error, &[PASSWORD], "userinfo"),
    }

    for alias in [
        "",
        "a/b",
        "..",
        "a%2Fb",
        "rôle",
        "a b",
        "a\0",
        &"a".repeat(129),
    ] {
        let error = iot_builder("https://127.0.0.1:8443")
            .role_alias(alias)
            .build()
            .unwrap_err();
        assert!(error.is_validation(), "{alias:?}: {error:?}");
        assert_eq!(error.parameter(), Some("role_alias"), "{alias:?}");
    }

    for duration in [
        Duration::ZERO,
        Duration::from_secs(899),
        Duration::from_millis(900_500),
        Duration::from_secs(43_201),
        Duration::MAX,
    ] {
        let error = iot_builder("https://127.0.0.1:8443")
            .duration(duration)
            .build()
            .unwrap_err();
        assert_eq!(error.parameter(), Some("duration"), "{duration:?}");
    }
}

#[cfg(feature = "iot")]
#[test]
fn iot_pem_garbage_inputs() {
    use aws_refresh_session::strategy::iot::{IotConfig, IotSource};

    let certificate = rcgen::generate_simple_self_signed(vec!["device".to_owned()]).unwrap();
    let cert_pem = certificate.cert.pem();
    let key_pem = certificate.signing_key.serialize_pem();
    let key_body = key_pem.lines().nth(1).unwrap().to_owned();

    let rows: Vec<(&str, Vec<u8>, Vec<u8>, &str)> = vec![
        (
            "empty cert",
            Vec::new(),
            key_pem.clone().into_bytes(),
            "certificate",
        ),
        (
            "truncated cert",
            cert_pem.as_bytes()[..cert_pem.len() / 2].to_vec(),
            key_pem.clone().into_bytes(),
            "certificate",
        ),
        (
            "binary cert",
            vec![0xff, 0x00, 0x13, 0x37],
            key_pem.clone().into_bytes(),
            "certificate",
        ),
        (
            "empty key",
            cert_pem.clone().into_bytes(),
            Vec::new(),
            "private_key",
        ),
        (
            "truncated key",
            cert_pem.clone().into_bytes(),
            key_pem.as_bytes()[..key_pem.len() / 2].to_vec(),
            "private_key",
        ),
        (
            "cert as key",
            cert_pem.clone().into_bytes(),
            cert_pem.clone().into_bytes(),
            "private_key",
        ),
        (
            "binary key",
            cert_pem.clone().into_bytes(),
            vec![0xff, 0x00, 0x13, 0x37],
            "private_key",
        ),
    ];
    for (row, cert, key, parameter) in rows {
        let built = IotConfig::builder()
            .endpoint("https://127.0.0.1:8443")
            .role_alias("device-role")
            .certificate_pem(cert)
            .private_key_pem(key)
            .build();
        let error = match built {
            Err(error) => error,
            Ok(config) => {
                let debug = format!("{config:?}");
                assert!(!debug.contains(&key_body), "row {row}: Debug shows the key");
                match std::panic::catch_unwind(AssertUnwindSafe(|| IotSource::new(config))) {
                    Ok(Err(error)) => error,
                    Ok(Ok(_)) => panic!("row {row}: accepted"),
                    Err(_) => panic!("row {row}: panicked"),
                }
            }
        };
        assert!(error.is_validation(), "row {row}: {error:?}");
        assert_eq!(error.parameter(), Some(parameter), "row {row}");
        assert_no_secret(&error, &[&key_body], row);
    }
}

#[cfg(feature = "pkcs11")]
#[test]
fn pkcs11_pin_stays_hidden() {
    use aws_refresh_session::strategy::iot::{IotConfig, Pkcs11Key};

    const PIN: &str = "PLANTEDpin8642";
    let key = Pkcs11Key::new("/nonexistent/libsofthsm2.so")
        .token_label("token")
        .user_pin(PIN)
        .key_label("device");
    assert!(!format!("{key:?}").contains(PIN));
    let built = IotConfig::builder()
        .endpoint("https://127.0.0.1:8443")
        .role_alias("device-role")
        .certificate_pem("unused")
        .pkcs11_key(key)
        .build();
    match built {
        Ok(config) => assert!(!format!("{config:?}").contains(PIN)),
        Err(error) => assert_no_secret(&error, &[PIN], "pkcs11"),
    }
}

/// Collects formatted log lines.
#[derive(Clone, Default)]
struct Logs(Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Logs {
    type Writer = Logs;

    fn make_writer(&'a self) -> Logs {
        self.clone()
    }
}

#[tokio::test]
async fn unsigned_request_log_hides_userinfo() {
    use aws_refresh_session::{RefreshingCredentialsLayer, SigningSettings};
    use http::header::HeaderValue;
    use tower::{Layer, Service, ServiceExt};

    let clock = TokioClock::new(start());
    let store = store_with(RefreshPolicy::default(), &clock, None)
        .await
        .unwrap();
    let layer = RefreshingCredentialsLayer::try_new(
        store,
        SigningSettings::new("execute-api", "us-east-1"),
    )
    .unwrap();
    let inner = tower::service_fn(
        |_request: http::Request<http_body_util::Full<bytes::Bytes>>| async {
            Ok::<_, std::convert::Infallible>(http::Response::new(()))
        },
    );
    let mut service = layer.layer(inner);

    let mut request = request(&format!("https://admin:{PASSWORD}@127.0.0.1:9/path"));
    request
        .headers_mut()
        .insert("x-bin", HeaderValue::from_bytes(b"\xff").unwrap());

    let logs = Logs::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(logs.clone())
        .with_ansi(false)
        .finish();
    let guard = tracing::subscriber::set_default(subscriber);
    let ready = service.ready().await.unwrap();
    let result = ready.call(request).await;
    drop(guard);

    let error = result.unwrap_err();
    let text = String::from_utf8_lossy(&logs.0.lock().unwrap()).into_owned();
    assert!(text.contains("request not signed"), "{text}");
    assert!(text.contains("127.0.0.1:9/path"), "{text}");
    assert!(!text.contains(PASSWORD), "log leaks the password: {text}");
    assert!(
        !format!("{error} {error:?}").contains(PASSWORD),
        "{error:?}"
    );
}

#[test]
fn credentials_builder_blank_fields() {
    let rows = [
        ("", SECRET, Some(TOKEN), "access_key_id"),
        ("   ", SECRET, Some(TOKEN), "access_key_id"),
        ("ASIABADINPUT", "", Some(TOKEN), "secret_access_key"),
        ("ASIABADINPUT", " \t", Some(TOKEN), "secret_access_key"),
        ("ASIABADINPUT", SECRET, Some(""), "session_token"),
        ("ASIABADINPUT", SECRET, Some("\n"), "session_token"),
    ];
    for (access_key_id, secret, token, field) in rows {
        let row = format!("{access_key_id:?}/{field}");
        let mut builder = Credentials::builder()
            .access_key_id(access_key_id)
            .secret_access_key(secret);
        if let Some(token) = token {
            builder = builder.session_token(token);
        }
        let error = builder.build().unwrap_err();
        assert!(error.is_credential(), "row {row}: {error:?}");
        assert_eq!(error.parameter(), Some(field), "row {row}");
        assert_no_secret(&error, &[SECRET, TOKEN], &row);
    }

    // A control character in the access key id reaches the Authorization
    // header; signing must fail cleanly, without the secret.
    let credentials = Credentials::builder()
        .access_key_id("ASIA\nBAD")
        .secret_access_key(SECRET)
        .build()
        .unwrap();
    let settings = aws_refresh_session::SigningSettings::new("execute-api", "us-east-1");
    let mut request = request("https://127.0.0.1/");
    let signed = std::panic::catch_unwind(AssertUnwindSafe(|| {
        aws_refresh_session::signing::sign_request(
            &mut request,
            &credentials,
            &settings,
            signing_time(),
        )
    }))
    .expect("sign_request panicked on a control character in the access key id");
    let error = signed.unwrap_err();
    assert!(error.is_signing(), "{error:?}");
    assert_no_secret(&error, &[SECRET], "control character");
}
