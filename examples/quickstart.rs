//! The quickstart: a session assumes a role through STS and keeps the
//! temporary credentials fresh in the background. A hyper client wrapped in
//! the session's signing layer calls STS `GetCallerIdentity` and S3 (put and
//! list on one bucket, created when missing) for `--seconds`.
//!
//! Each refresh prints a line with the new access key id and expiry; each
//! call prints its HTTP status and the access key id it was signed with. The
//! example exits with status 1 when any call fails, and 2 on a usage error.
//!
//! Settings come from flags or, when a flag is absent, from the environment:
//!
//! | flag | variable | meaning |
//! | --- | --- | --- |
//! | `--role-arn` | `AWS_ROLE_ARN` | the role to assume (required) |
//! | `--region` | `AWS_REGION` | the region to sign for (required) |
//! | `--sts-endpoint` | `AWS_ENDPOINT_URL_STS`, `AWS_ENDPOINT_URL` | STS endpoint URL (required) |
//! | `--s3-endpoint` | `AWS_ENDPOINT_URL_S3`, `AWS_ENDPOINT_URL` | S3 endpoint URL (required) |
//! | `--access-key-id` | `AWS_ACCESS_KEY_ID` | base access key id (required) |
//! | `--secret-access-key` | `AWS_SECRET_ACCESS_KEY` | base secret access key (required) |
//! | `--session-token` | `AWS_SESSION_TOKEN` | base session token (optional) |
//! | `--bucket` | | bucket name (default `aws-refresh-session-quickstart`) |
//! | `--duration` | | AssumeRole `DurationSeconds` (default 900) |
//! | `--advisory-window` | | seconds before expiry to refresh at (default 890) |
//! | `--seconds` | | how long to make calls (default 30) |
//! | `--interval` | | seconds between rounds of calls (default 2) |
//!
//! There is no default endpoint: with nothing set, the example prints its
//! usage and exits, so it never reaches AWS unless told to.
//!
//! Against a local moto server (installed and started for you):
//!
//! ```text
//! scripts/quickstart.sh
//! ```
//!
//! Against AWS, with a role your base keys may assume and a bucket name of
//! your own:
//!
//! ```text
//! AWS_ROLE_ARN=arn:aws:iam::123456789012:role/demo AWS_REGION=eu-west-1 \
//! AWS_ENDPOINT_URL_STS=https://sts.eu-west-1.amazonaws.com \
//! AWS_ENDPOINT_URL_S3=https://s3.eu-west-1.amazonaws.com \
//! cargo run --example quickstart -- --bucket my-quickstart-bucket
//! ```
//!
//! With the defaults (900-second credentials, an 890-second advisory
//! window), the background refresher replaces the credentials about every
//! 10 seconds: at most 1.25 s earlier, because the random jitter is capped at
//! a quarter of the time between the 5-second minimum refresh interval and the
//! advisory point.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime};

use aws_refresh_session::clock::{Clock, SystemClock};
use aws_refresh_session::credentials::format_rfc3339;
use aws_refresh_session::refresh::RefreshOutcome;
use aws_refresh_session::signing::SigningServiceError;
use aws_refresh_session::strategy::sts::{AssumeRoleConfig, StsClientConfig, StsConfig};
use aws_refresh_session::{
    Credentials, Error, RefreshPolicy, RefreshableSession, SigningSettings, Strategy,
};
use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower::{Service, ServiceBuilder, ServiceExt};

/// A response body as the signing layer returns it: hyper's body, watched
/// for `ExpiredToken` errors.
type SignedBody = aws_refresh_session::signing::ResponseBody<Incoming>;

const USAGE: &str = "\
usage: cargo run --example quickstart -- [FLAGS]

Assumes a role through STS, keeps the credentials fresh in the background and
makes signed STS and S3 calls with them. A flag with a variable beside it may
come from that environment variable instead.

required:
  --role-arn ARN               AWS_ROLE_ARN
  --region REGION              AWS_REGION
  --sts-endpoint URL           AWS_ENDPOINT_URL_STS, else AWS_ENDPOINT_URL
  --s3-endpoint URL            AWS_ENDPOINT_URL_S3, else AWS_ENDPOINT_URL
  --access-key-id ID           AWS_ACCESS_KEY_ID
  --secret-access-key SECRET   AWS_SECRET_ACCESS_KEY (prefer the variable: a
                               flag is visible in the process list)
optional:
  --session-token TOKEN        AWS_SESSION_TOKEN, for temporary base keys
  --bucket NAME                S3 bucket, created when missing
                               (default aws-refresh-session-quickstart)
  --duration SECONDS           AssumeRole DurationSeconds (default 900)
  --advisory-window SECONDS    refresh this long before expiry (default 890)
  --seconds SECONDS            how long to make calls (default 30)
  --interval SECONDS           pause between rounds of calls (default 2)
  --help                       print this text

There is no default endpoint. To try it against a local AWS emulator, run
scripts/quickstart.sh.";

/// The name the assumed-role session gets in STS and CloudTrail.
const ROLE_SESSION_NAME: &str = "quickstart";

/// The prefix of every object the example writes.
const KEY_PREFIX: &str = "quickstart/";

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match Settings::read(std::env::args().skip(1)) {
        Ok(Some(settings)) => settings,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };

    match run(settings).await {
        Ok(summary) => {
            println!(
                "done: {} calls, {} failed; {} background refreshes, {} failed",
                summary.calls, summary.failed_calls, summary.refreshes, summary.failed_refreshes
            );
            if summary.failed_calls == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(error) => {
            eprintln!("error: {}", error_chain(&error));
            ExitCode::FAILURE
        }
    }
}

/// Counts of the calls and refreshes in one run.
struct Summary {
    calls: u32,
    failed_calls: u32,
    refreshes: u32,
    failed_refreshes: u32,
}

async fn run(settings: Settings) -> Result<Summary, Error> {
    let clock = SystemClock;
    let started = clock.now();

    // 1. The session: AssumeRole with the base keys, then a background
    //    refresher that assumes the role again inside the advisory window.
    let assume_role = AssumeRoleConfig::builder(&settings.role_arn)
        .role_session_name(ROLE_SESSION_NAME)
        .duration_seconds(settings.duration_seconds)
        .build()?;
    let sts_client = StsClientConfig::builder()
        .region(&settings.region)
        .endpoint_url(&settings.sts_endpoint)
        .credentials(settings.base_credentials())
        .build()?;
    let policy = RefreshPolicy::default().advisory_window(settings.advisory_window);
    let session = RefreshableSession::builder()
        .strategy(Strategy::Sts(
            StsConfig::builder(assume_role, sts_client).build()?,
        ))
        .policy(policy)
        .build()
        .await?;

    let first = session.credentials().await?;
    let identity = session.whoami().await?;
    println!(
        "{} session ready as {}: access key {}, expires {}",
        stamp(started),
        identity.arn,
        first.access_key_id(),
        first.expiry_rfc3339().as_deref().unwrap_or("never")
    );

    // 2. One line per background refresh, printed as it happens.
    let refreshes = Arc::new(AtomicU32::new(0));
    let failed_refreshes = Arc::new(AtomicU32::new(0));
    let watcher = tokio::spawn(print_refreshes(
        session.clone(),
        started,
        Arc::clone(&refreshes),
        Arc::clone(&failed_refreshes),
    ));

    // 3. A hyper client, wrapped by the session's signing layer, once per
    //    service. moto rejects an empty-body STS call unless
    //    x-amz-content-sha256 is signed, and AWS accepts the header too.
    let transport = note_signing_key(https_client());
    let mut sts = ServiceBuilder::new()
        .layer(session.layer_with(
            SigningSettings::new("sts", &settings.region).content_sha256_header(true),
        )?)
        .service(transport.clone());
    let mut s3 = ServiceBuilder::new()
        .layer(session.layer_with(SigningSettings::s3(&settings.region))?)
        .service(transport);

    // 4. Calls in rounds until the time is up.
    let mut calls = Calls::new(started);
    let bucket_url = format!(
        "{}/{}",
        settings.s3_endpoint.trim_end_matches('/'),
        settings.bucket
    );
    ensure_bucket(&mut s3, &mut calls, &bucket_url, &settings.region).await;

    let get_caller_identity = format!(
        "{}/?Action=GetCallerIdentity&Version=2011-06-15",
        settings.sts_endpoint.trim_end_matches('/')
    );
    let list_objects = format!("{bucket_url}?list-type=2&prefix=quickstart%2F");
    let mut round = 0;
    while elapsed(started) < settings.run_for {
        round += 1;

        let request = new_request(Method::GET, &get_caller_identity, Bytes::new());
        calls.make(&mut sts, "sts GetCallerIdentity", request).await;

        let key = format!("{KEY_PREFIX}round-{round}.txt");
        let body = Bytes::from(format!("written in round {round}\n"));
        let request = new_request(Method::PUT, &format!("{bucket_url}/{key}"), body);
        calls
            .make(&mut s3, &format!("s3 PutObject {key}"), request)
            .await;

        let request = new_request(Method::GET, &list_objects, Bytes::new());
        if let Some(body) = calls.make(&mut s3, "s3 ListObjectsV2", request).await {
            println!(
                "         {} objects under {KEY_PREFIX}",
                body.matches("<Contents>").count()
            );
        }

        tokio::time::sleep(settings.interval).await;
    }

    watcher.abort();
    Ok(Summary {
        calls: calls.made,
        failed_calls: calls.failed,
        refreshes: refreshes.load(Ordering::Relaxed),
        failed_refreshes: failed_refreshes.load(Ordering::Relaxed),
    })
}

/// Prints one line for each refresh the session publishes.
async fn print_refreshes(
    session: RefreshableSession,
    started: SystemTime,
    refreshes: Arc<AtomicU32>,
    failed_refreshes: Arc<AtomicU32>,
) {
    let mut events = session.subscribe();
    drop(session);
    while events.changed().await.is_ok() {
        let event = events.borrow_and_update().clone();
        match event.outcome {
            RefreshOutcome::Refreshed {
                access_key_id,
                expiry,
                source,
            } => {
                refreshes.fetch_add(1, Ordering::Relaxed);
                println!(
                    "{} refreshed ({source}, generation {}): access key {access_key_id}, expires {}",
                    stamp(started),
                    event.generation,
                    expiry.map(format_rfc3339).as_deref().unwrap_or("never")
                );
            }
            RefreshOutcome::Failed {
                error,
                consecutive_failures,
            } => {
                failed_refreshes.fetch_add(1, Ordering::Relaxed);
                println!(
                    "{} refresh failed ({consecutive_failures} in a row): {}",
                    stamp(started),
                    error_chain(&error)
                );
            }
            _ => {}
        }
    }
}

/// Creates the bucket unless `HEAD` finds it.
async fn ensure_bucket<S>(s3: &mut S, calls: &mut Calls, bucket_url: &str, region: &str)
where
    S: Service<Request<Full<Bytes>>, Response = Response<SignedBody>, Error = SendError>,
{
    let head = new_request(Method::HEAD, bucket_url, Bytes::new());
    let Some(status) = calls.send(s3, head).await else {
        return;
    };
    calls.print("s3 HeadBucket", status, None);
    if status.is_success() {
        return;
    }
    if status != StatusCode::NOT_FOUND {
        calls.failed += 1;
        println!("         the bucket exists but is not yours, or access is denied; pass --bucket");
        return;
    }

    // Outside us-east-1, S3 creates a bucket in the region the body names.
    let body = if region == "us-east-1" {
        Bytes::new()
    } else {
        Bytes::from(format!(
            "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <LocationConstraint>{region}</LocationConstraint></CreateBucketConfiguration>"
        ))
    };
    let create = new_request(Method::PUT, bucket_url, body);
    calls.make(s3, "s3 CreateBucket", create).await;
}

/// The error of a signed call: the request was not signed, or hyper failed.
type SendError = SigningServiceError<hyper_util::client::legacy::Error>;

/// The access key id a request was signed with, copied from its
/// `Authorization` header into the response's extensions.
#[derive(Clone, Debug)]
struct SignedWith(String);

/// Counts and prints calls.
struct Calls {
    started: SystemTime,
    made: u32,
    failed: u32,
    last_key: Option<SignedWith>,
}

impl Calls {
    fn new(started: SystemTime) -> Calls {
        Calls {
            started,
            made: 0,
            failed: 0,
            last_key: None,
        }
    }

    /// Sends `request`, prints its status and returns the body of a
    /// successful call.
    async fn make<S>(
        &mut self,
        service: &mut S,
        label: &str,
        request: Request<Full<Bytes>>,
    ) -> Option<String>
    where
        S: Service<Request<Full<Bytes>>, Response = Response<SignedBody>, Error = SendError>,
    {
        let response = self.send_for_response(service, request).await?;
        let status = response.status();
        let body = match response.into_body().collect().await {
            Ok(body) => String::from_utf8_lossy(&body.to_bytes()).into_owned(),
            Err(error) => {
                self.failed += 1;
                println!(
                    "{} {label}: reading the response failed: {error}",
                    stamp(self.started)
                );
                return None;
            }
        };

        if status.is_success() {
            self.print(label, status, None);
            Some(body)
        } else {
            self.failed += 1;
            self.print(label, status, Some(&body));
            None
        }
    }

    /// Sends `request` and returns only its status, or `None` (printed)
    /// when it was not sent.
    async fn send<S>(
        &mut self,
        service: &mut S,
        request: Request<Full<Bytes>>,
    ) -> Option<StatusCode>
    where
        S: Service<Request<Full<Bytes>>, Response = Response<SignedBody>, Error = SendError>,
    {
        self.send_for_response(service, request)
            .await
            .map(|response| response.status())
    }

    async fn send_for_response<S>(
        &mut self,
        service: &mut S,
        request: Request<Full<Bytes>>,
    ) -> Option<Response<SignedBody>>
    where
        S: Service<Request<Full<Bytes>>, Response = Response<SignedBody>, Error = SendError>,
    {
        self.made += 1;
        let label = format!("{} {}", request.method(), request.uri().path());
        let result = match service.ready().await {
            Ok(ready) => ready.call(request).await,
            Err(error) => Err(error),
        };
        match result {
            Ok(response) => {
                self.last_key = response.extensions().get::<SignedWith>().cloned();
                Some(response)
            }
            Err(error) => {
                self.failed += 1;
                self.last_key = None;
                println!(
                    "{} {label} failed: {}",
                    stamp(self.started),
                    error_chain(&error)
                );
                None
            }
        }
    }

    /// Prints one call's line; `error_body` is the body of a failed call.
    fn print(&self, label: &str, status: StatusCode, error_body: Option<&str>) {
        let key = self
            .last_key
            .as_ref()
            .map_or("an unknown key", |signed| signed.0.as_str());
        println!(
            "{} {label:<36} {status}  signed with {key}",
            stamp(self.started)
        );
        if let Some(body) = error_body {
            println!(
                "         error code {}: {}",
                xml_text(body, "Code").unwrap_or("(none)"),
                xml_text(body, "Message").unwrap_or("(no message)")
            );
        }
    }
}

/// Wraps `client` in a service that records which access key id signed each
/// request, for the call lines. The signing layer goes outside it.
fn note_signing_key(
    client: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
) -> impl Service<
    Request<Full<Bytes>>,
    Response = Response<Incoming>,
    Error = hyper_util::client::legacy::Error,
> + Clone {
    tower::service_fn(move |request: Request<Full<Bytes>>| {
        let signed_with = signing_key_id(&request).map(|key| SignedWith(key.to_owned()));
        let response = client.request(request);
        async move {
            let mut response = response.await?;
            if let Some(signed_with) = signed_with {
                response.extensions_mut().insert(signed_with);
            }
            Ok(response)
        }
    })
}

/// Returns the access key id in a SigV4 `Authorization` header:
/// `AWS4-HMAC-SHA256 Credential=<key id>/<date>/<region>/<service>/aws4_request, ...`.
fn signing_key_id<B>(request: &Request<B>) -> Option<&str> {
    let authorization = request.headers().get("authorization")?.to_str().ok()?;
    let credential = authorization.split("Credential=").nth(1)?;
    credential.split('/').next()
}

/// Builds a hyper client for `https` (rustls, ring, webpki roots) and plain `http`
/// endpoints such as a local moto.
fn https_client() -> Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>> {
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_webpki_roots(rustls::crypto::ring::default_provider())
        .unwrap_or_else(|_| hyper_rustls::HttpsConnectorBuilder::new().with_webpki_roots())
        .https_or_http()
        .enable_http1()
        .build();
    Client::builder(TokioExecutor::new()).build(connector)
}

fn new_request(method: Method, url: &str, body: Bytes) -> Request<Full<Bytes>> {
    let mut request = Request::new(Full::new(body));
    *request.method_mut() = method;
    // A URL that does not parse is left as `/`: the signing layer then
    // rejects the request for having no host, and the call line prints that error.
    if let Ok(uri) = url.parse() {
        *request.uri_mut() = uri;
    }
    request
}

fn xml_text<'a>(body: &'a str, tag: &str) -> Option<&'a str> {
    let start = body.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = start + body[start..].find(&format!("</{tag}>"))?;
    Some(&body[start..end])
}

fn elapsed(started: SystemTime) -> Duration {
    SystemClock
        .now()
        .duration_since(started)
        .unwrap_or_default()
}

/// `[ 12.3s]`: seconds since the example started.
fn stamp(started: SystemTime) -> String {
    format!("[{:>5.1}s]", elapsed(started).as_secs_f64())
}

/// Formats an error with its causes: `error: cause: cause`.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

/// The example's settings, from flags and the environment.
struct Settings {
    role_arn: String,
    region: String,
    sts_endpoint: String,
    s3_endpoint: String,
    access_key_id: String,
    secret_access_key: String,
    session_token: Option<String>,
    bucket: String,
    duration_seconds: u32,
    advisory_window: Duration,
    run_for: Duration,
    interval: Duration,
}

/// A flag and the environment variables it falls back to, in order.
struct Flag {
    name: &'static str,
    variables: &'static [&'static str],
    required: bool,
}

const FLAGS: [Flag; 12] = [
    Flag {
        name: "--role-arn",
        variables: &["AWS_ROLE_ARN"],
        required: true,
    },
    Flag {
        name: "--region",
        variables: &["AWS_REGION"],
        required: true,
    },
    Flag {
        name: "--sts-endpoint",
        variables: &["AWS_ENDPOINT_URL_STS", "AWS_ENDPOINT_URL"],
        required: true,
    },
    Flag {
        name: "--s3-endpoint",
        variables: &["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"],
        required: true,
    },
    Flag {
        name: "--access-key-id",
        variables: &["AWS_ACCESS_KEY_ID"],
        required: true,
    },
    Flag {
        name: "--secret-access-key",
        variables: &["AWS_SECRET_ACCESS_KEY"],
        required: true,
    },
    Flag {
        name: "--session-token",
        variables: &["AWS_SESSION_TOKEN"],
        required: false,
    },
    Flag {
        name: "--bucket",
        variables: &[],
        required: false,
    },
    Flag {
        name: "--duration",
        variables: &[],
        required: false,
    },
    Flag {
        name: "--advisory-window",
        variables: &[],
        required: false,
    },
    Flag {
        name: "--seconds",
        variables: &[],
        required: false,
    },
    Flag {
        name: "--interval",
        variables: &[],
        required: false,
    },
];

impl Settings {
    /// Reads the flags in `args`, falling back to the environment. Returns
    /// `None` for `--help`, and a message naming what is missing or invalid.
    fn read(args: impl Iterator<Item = String>) -> Result<Option<Settings>, String> {
        let mut values: Vec<Option<String>> = FLAGS.iter().map(|_| None).collect();
        let mut args = args;
        while let Some(arg) = args.next() {
            if arg == "--help" || arg == "-h" {
                return Ok(None);
            }
            let Some(index) = FLAGS.iter().position(|flag| flag.name == arg) else {
                return Err(format!("unknown argument {arg:?}"));
            };
            let value = args.next().ok_or_else(|| format!("{arg} needs a value"))?;
            values[index] = Some(value);
        }

        let mut missing = Vec::new();
        for (flag, value) in FLAGS.iter().zip(values.iter_mut()) {
            if value.is_none() {
                *value = flag
                    .variables
                    .iter()
                    .filter_map(|variable| std::env::var(variable).ok())
                    .find(|value| !value.is_empty());
            }
            if flag.required && value.is_none() {
                let variables = flag.variables.join(" or ");
                missing.push(format!("{} (or {variables})", flag.name));
            }
        }
        if !missing.is_empty() {
            return Err(format!("missing settings: {}", missing.join(", ")));
        }

        let mut values = values.into_iter();
        let mut next = || values.next().flatten();
        let settings = Settings {
            role_arn: next().unwrap_or_default(),
            region: next().unwrap_or_default(),
            sts_endpoint: next().unwrap_or_default(),
            s3_endpoint: next().unwrap_or_default(),
            access_key_id: next().unwrap_or_default(),
            secret_access_key: next().unwrap_or_default(),
            session_token: next(),
            bucket: next().unwrap_or_else(|| "aws-refresh-session-quickstart".to_owned()),
            duration_seconds: seconds("--duration", next(), 900)?,
            advisory_window: Duration::from_secs(seconds("--advisory-window", next(), 890)?.into()),
            run_for: Duration::from_secs(seconds("--seconds", next(), 30)?.into()),
            interval: Duration::from_secs(seconds("--interval", next(), 2)?.into()),
        };

        if settings.advisory_window.as_secs() >= u64::from(settings.duration_seconds) {
            return Err(format!(
                "--advisory-window {} is not shorter than --duration {}, so every refresh would \
                 start at once; pass a shorter window",
                settings.advisory_window.as_secs(),
                settings.duration_seconds
            ));
        }
        Ok(Some(settings))
    }

    fn base_credentials(&self) -> Credentials {
        Credentials::new(
            &self.access_key_id,
            &self.secret_access_key,
            self.session_token.clone(),
            None,
        )
    }
}

/// Parses a whole number of seconds, or returns `default` when absent.
fn seconds(flag: &str, value: Option<String>, default: u32) -> Result<u32, String> {
    match value {
        None => Ok(default),
        Some(value) => value
            .parse()
            .map_err(|_| format!("{flag} {value:?} is not a whole number of seconds")),
    }
}
