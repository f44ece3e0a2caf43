//! A SigV4 signing reverse proxy, after awslabs' aws-sigv4-proxy: every
//! request to the listen address is signed with refreshing credentials and
//! forwarded to one AWS endpoint. `GET /health` returns 200 without
//! forwarding.
//!
//! Against a local moto server on port 5000, with the keys of a moto user:
//!
//! ```text
//! AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
//! AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=example-secret \
//! cargo run --example sigv4_proxy -- --endpoint http://127.0.0.1:5000 --name s3 --region us-east-1
//! curl -X PUT http://127.0.0.1:8080/my-bucket
//! ```
//!
//! Options (`--help` prints them):
//!
//! - `--endpoint URL` (required): the upstream, `http(s)://host[:port]`.
//!   awslabs' proxy splits this into `--host` and `--upstream-url-scheme`.
//! - `--name SERVICE` and `--region REGION` (required): the signing scope.
//! - `--listen ADDR`: defaults to 127.0.0.1:8080.
//! - `--role-arn ARN` with `--sts-endpoint URL`: assume this role through
//!   STS at that endpoint, using the base keys below, and keep the role's
//!   credentials fresh. `--role-session-name NAME` defaults to
//!   `sigv4-proxy`. Without `--role-arn` the base keys sign directly.
//! - Base keys: `AWS_ACCESS_KEY_ID` (or `--access-key-id`),
//!   `AWS_SECRET_ACCESS_KEY` and the optional `AWS_SESSION_TOKEN`. The
//!   secret is read from the environment only, because command lines are
//!   visible to every user of the machine.
//! - `--unsigned-payload`: stream bodies, signed as `UNSIGNED-PAYLOAD`.
//! - `--strip HEADER` (`-s`, repeatable): remove a header before signing.
//! - `--max-body-size BYTES`: the largest body buffered for signing
//!   (default 10 MiB); larger ones get 413.
//! - `--health-path PATH`: defaults to `/health`.

mod proxy;

use std::net::SocketAddr;
use std::process::ExitCode;

use aws_refresh_session::strategy::CustomSource;
use aws_refresh_session::strategy::sts::{AssumeRoleConfig, StsClientConfig, StsConfig};
use aws_refresh_session::{Credentials, RefreshableSession, Strategy};
use http::HeaderName;

use proxy::{DEFAULT_HEALTH_PATH, DEFAULT_LISTEN, DEFAULT_MAX_BODY_SIZE, ProxyConfig};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

const USAGE: &str = "\
usage: sigv4_proxy --endpoint URL --name SERVICE --region REGION [options]

  --endpoint URL          upstream to forward to, http(s)://host[:port] (required)
  --name SERVICE          service name to sign for, such as s3 or execute-api (required)
  --region REGION         region to sign for (required)
  --listen ADDR           address to listen on (default 127.0.0.1:8080)
  --role-arn ARN          role to assume with the base keys (needs --sts-endpoint)
  --sts-endpoint URL      STS endpoint for --role-arn, such as https://sts.us-east-1.amazonaws.com
  --role-session-name N   session name for --role-arn (default sigv4-proxy)
  --access-key-id ID      base access key id (default: $AWS_ACCESS_KEY_ID)
  --unsigned-payload      stream bodies and sign them as UNSIGNED-PAYLOAD
  -s, --strip HEADER      remove HEADER before signing (repeatable)
  --max-body-size BYTES   largest body buffered for signing (default 10485760)
  --health-path PATH      path that returns 200 to GET (default /health)

The base secret key comes from $AWS_SECRET_ACCESS_KEY and the optional
session token from $AWS_SESSION_TOKEN.
";

/// The parsed command line.
struct Options {
    listen: SocketAddr,
    config: ProxyConfig,
    role_arn: Option<String>,
    sts_endpoint: Option<String>,
    role_session_name: String,
    access_key_id: Option<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();

    let arguments: Vec<String> = std::env::args().skip(1).collect();
    if arguments
        .iter()
        .any(|argument| argument == "--help" || argument == "-h")
    {
        print!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let options = match parse_options(&arguments) {
        Ok(options) => options,
        Err(error) => {
            eprintln!("error: {error}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };

    match run(options).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(options: Options) -> Result<(), BoxError> {
    let session = build_session(&options).await?;
    let router = proxy::router(&session, options.config.clone())?;

    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .map_err(|error| format!("failed to listen on {}: {error}", options.listen))?;
    tracing::info!(
        listen = %options.listen,
        endpoint = %options.config.endpoint,
        service = %options.config.service,
        region = %options.config.region,
        unsigned_payload = options.config.unsigned_payload,
        "proxy started"
    );

    axum::serve(listener, router)
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    tracing::info!("proxy stopped");
    Ok(())
}

/// Builds the session: AssumeRole through the given STS endpoint, or the
/// base keys as they are.
async fn build_session(options: &Options) -> Result<RefreshableSession, BoxError> {
    let access_key_id = options
        .access_key_id
        .clone()
        .or_else(|| std::env::var("AWS_ACCESS_KEY_ID").ok())
        .ok_or("missing base access key id; set AWS_ACCESS_KEY_ID or pass --access-key-id")?;
    let secret_access_key = std::env::var("AWS_SECRET_ACCESS_KEY")
        .map_err(|_| "missing base secret key; set AWS_SECRET_ACCESS_KEY")?;
    let session_token = std::env::var("AWS_SESSION_TOKEN").ok();
    let base = Credentials::new(access_key_id, secret_access_key, session_token, None);

    let strategy = match (&options.role_arn, &options.sts_endpoint) {
        (Some(role_arn), Some(sts_endpoint)) => {
            let assume_role = AssumeRoleConfig::builder(role_arn)
                .role_session_name(&options.role_session_name)
                .build()?;
            let client = StsClientConfig::builder()
                .region(&options.config.region)
                .endpoint_url(sts_endpoint)
                .credentials(base)
                .build()?;
            Strategy::sts(StsConfig::builder(assume_role, client).build()?)
        }
        (Some(_), None) => {
            return Err(
                "--role-arn needs --sts-endpoint, such as https://sts.us-east-1.amazonaws.com"
                    .into(),
            );
        }
        (None, _) => Strategy::custom(CustomSource::new("static-keys", move || {
            let base = base.clone();
            async move { Ok(base) }
        })),
    };

    Ok(RefreshableSession::builder()
        .strategy(strategy)
        .build()
        .await?)
}

fn parse_options(arguments: &[String]) -> Result<Options, String> {
    let mut endpoint = None;
    let mut name = None;
    let mut region = None;
    let mut listen = DEFAULT_LISTEN.to_owned();
    let mut role_arn = None;
    let mut sts_endpoint = None;
    let mut role_session_name = "sigv4-proxy".to_owned();
    let mut access_key_id = None;
    let mut unsigned_payload = false;
    let mut strip_headers = Vec::new();
    let mut max_body_size = DEFAULT_MAX_BODY_SIZE;
    let mut health_path = DEFAULT_HEALTH_PATH.to_owned();

    let mut rest = arguments.iter();
    while let Some(flag) = rest.next() {
        let mut value = || {
            rest.next()
                .cloned()
                .ok_or_else(|| format!("missing value for {flag}"))
        };
        match flag.as_str() {
            "--endpoint" => endpoint = Some(value()?),
            "--name" => name = Some(value()?),
            "--region" => region = Some(value()?),
            "--listen" => listen = value()?,
            "--role-arn" => role_arn = Some(value()?),
            "--sts-endpoint" => sts_endpoint = Some(value()?),
            "--role-session-name" => role_session_name = value()?,
            "--access-key-id" => access_key_id = Some(value()?),
            "--unsigned-payload" => unsigned_payload = true,
            "-s" | "--strip" => {
                let header = value()?;
                let parsed = HeaderName::from_bytes(header.as_bytes())
                    .map_err(|_| format!("invalid header name {header:?} for --strip"))?;
                strip_headers.push(parsed);
            }
            "--max-body-size" => {
                let bytes = value()?;
                max_body_size = bytes.parse().map_err(|_| {
                    format!("invalid --max-body-size {bytes:?}; pass a number of bytes")
                })?;
            }
            "--health-path" => health_path = value()?,
            other => return Err(format!("unknown option {other:?}")),
        }
    }

    let endpoint = endpoint.ok_or("missing --endpoint")?;
    let name = name.ok_or("missing --name")?;
    let region = region.ok_or("missing --region")?;
    let listen = listen.parse().map_err(|_| {
        format!("invalid --listen address {listen:?}; pass IP:PORT such as 127.0.0.1:8080")
    })?;
    if !health_path.starts_with('/') {
        return Err(format!(
            "invalid --health-path {health_path:?}; it must start with '/'"
        ));
    }

    let mut config =
        ProxyConfig::new(&endpoint, &name, &region).map_err(|error| error.to_string())?;
    config.unsigned_payload = unsigned_payload;
    config.strip_headers = strip_headers;
    config.max_body_size = max_body_size;
    config.health_path = health_path;

    Ok(Options {
        listen,
        config,
        role_arn,
        sts_endpoint,
        role_session_name,
        access_key_id,
    })
}
