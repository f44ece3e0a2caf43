//! The AWS CLI's `credential_process` contract.
//!
//! The command is run directly from an argument vector, never through a
//! shell, with stdin closed. It must exit with status 0 and print one JSON
//! object on stdout:
//!
//! ```json
//! {
//!   "Version": 1,
//!   "AccessKeyId": "ASIAEXAMPLE",
//!   "SecretAccessKey": "...",
//!   "SessionToken": "...",
//!   "Expiration": "2026-12-04T19:20:00Z"
//! }
//! ```
//!
//! `SessionToken` and `Expiration` are optional; without `Expiration` the
//! credentials are static and never refreshed. stderr is never parsed. Its
//! first 4 KiB are quoted when the command fails, unless it mentions a
//! secret key or session token.

use std::ffi::OsStr;
use std::fmt;
use std::io;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use serde_json::{Map, Value};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};
use zeroize::Zeroizing;

use crate::credentials::{Credentials, parse_rfc3339};
use crate::error::Error;
use crate::strategy::{BoxFuture, CredentialSource};

/// How long a `credential_process` command may run: 30 seconds.
pub const DEFAULT_PROCESS_TIMEOUT: Duration = Duration::from_secs(30);

/// The only `Version` of the output format the AWS CLI defines.
const SUPPORTED_VERSION: u64 = 1;

/// The maximum number of stdout bytes kept: 64 KiB. A `credential_process`
/// object with a session token is a few KiB, so larger output is rejected
/// unparsed.
const MAX_STDOUT_BYTES: usize = 64 * 1024;

/// The maximum number of stderr bytes quoted in an error: 4 KiB.
const MAX_STDERR_BYTES: usize = 4 * 1024;

/// How many times a spawn is retried while the program file is busy, and
/// the pause before each retry.
const SPAWN_BUSY_RETRIES: u32 = 5;
const SPAWN_BUSY_DELAY: Duration = Duration::from_millis(20);

/// The source kind reported in logs and events.
const KIND: &str = "process";

/// A credential source that runs an external command printing the AWS
/// CLI's `credential_process` JSON.
///
/// The program and its arguments appear in errors and `Debug` output, so
/// pass secrets through [`env`](Self::env), whose values are never printed.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use aws_refresh_session::strategy::ProcessSource;
///
/// let source = ProcessSource::new(["/usr/local/bin/broker", "--profile", "ci"])?
///     .env("BROKER_TOKEN_FILE", "/run/secrets/broker")
///     .current_dir("/var/lib/broker")
///     .timeout(Duration::from_secs(10));
/// assert_eq!(source.program(), "/usr/local/bin/broker");
/// assert_eq!(source.args(), ["--profile", "ci"]);
/// # Ok::<(), aws_refresh_session::Error>(())
/// ```
#[derive(Clone)]
pub struct ProcessSource {
    program: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
    current_dir: Option<PathBuf>,
    timeout: Duration,
}

impl ProcessSource {
    /// Creates a source that runs `argv`: the program (a path, or a name
    /// looked up on `PATH`) followed by its arguments.
    ///
    /// # Errors
    ///
    /// A validation error naming `argv` when it is empty or the program is
    /// an empty string.
    pub fn new<I, S>(argv: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut argv = argv.into_iter().map(Into::into);
        let Some(program) = argv.next() else {
            return Err(Error::validation(
                "argv",
                Some("[]".into()),
                "the credential_process command is empty; pass the program followed by its arguments",
            ));
        };
        if program.is_empty() {
            return Err(Error::validation(
                "argv",
                Some("\"\"".into()),
                "the credential_process program is an empty string; pass a path or a program name",
            ));
        }

        Ok(ProcessSource {
            program,
            args: argv.collect(),
            env: Vec::new(),
            current_dir: None,
            timeout: DEFAULT_PROCESS_TIMEOUT,
        })
    }

    /// Sets an environment variable for the command, on top of the
    /// environment this process inherited. Its value never appears in
    /// errors or `Debug` output.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Sets the command's working directory. Defaults to this process's
    /// working directory.
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.current_dir = Some(dir.into());
        self
    }

    /// Sets how long the command may run before it is killed. Defaults to
    /// [`DEFAULT_PROCESS_TIMEOUT`] (30 s).
    ///
    /// Keep it below the store's refresh timeout
    /// ([`RefreshPolicy::refresh_timeout`](crate::RefreshPolicy::refresh_timeout),
    /// 60 s by default) to get this source's timeout error rather than
    /// the store's.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Returns the program.
    pub fn program(&self) -> &str {
        &self.program
    }

    /// Returns the arguments after the program.
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// Returns the command's working directory, if one is set.
    pub fn working_dir(&self) -> Option<&Path> {
        self.current_dir.as_deref()
    }

    /// Returns how long the command may run.
    pub fn process_timeout(&self) -> Duration {
        self.timeout
    }

    /// Formats the program and arguments for messages, quoting any word
    /// that is empty or contains whitespace or quotes.
    fn command_line(&self) -> String {
        std::iter::once(&self.program)
            .chain(&self.args)
            .map(|word| {
                if word.is_empty()
                    || word.contains(|c: char| c.is_whitespace() || c == '"' || c == '\'')
                {
                    format!("{word:?}")
                } else {
                    word.clone()
                }
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    async fn run(&self) -> Result<Credentials, Error> {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .envs(
                self.env
                    .iter()
                    .map(|(key, value)| (OsStr::new(key), OsStr::new(value))),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            // Dropping the fetch (store timeout, store dropped) kills the
            // command instead of leaving it running.
            .kill_on_drop(true);
        if let Some(dir) = &self.current_dir {
            command.current_dir(dir);
        }

        tracing::debug!(command = %self.command_line(), "running credential_process command");
        let mut child = self.spawn(&mut command).await?;
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();

        // Read both pipes while waiting, so a chatty command never blocks on
        // a full pipe.
        let finished = async {
            tokio::join!(
                read_capped(stdout, MAX_STDOUT_BYTES),
                read_capped(stderr, MAX_STDERR_BYTES),
                child.wait(),
            )
        };
        let (stdout, stderr, status) = match tokio::time::timeout(self.timeout, finished).await {
            Ok(output) => output,
            Err(_) => {
                // NOTE: only the direct child is killed; processes it started
                // itself keep running unless it `exec`s or forwards the kill.
                let _ = child.start_kill();
                return Err(Error::timeout(format!(
                    "credential_process command `{}` timed out after {:?} and was killed; \
                     check that it does not wait for input, or raise ProcessSource::timeout",
                    self.command_line(),
                    self.timeout
                )));
            }
        };

        let status = status.map_err(|error| self.io_error("waiting for", error))?;
        let (stdout, stdout_truncated) =
            stdout.map_err(|error| self.io_error("reading stdout of", error))?;
        let stdout = Zeroizing::new(stdout);
        let (stderr, stderr_truncated) =
            stderr.map_err(|error| self.io_error("reading stderr of", error))?;

        if !status.success() {
            return Err(self.exit_error(status, &stderr, stderr_truncated));
        }
        if stdout_truncated {
            return Err(Error::credential(
                "stdout",
                format!(
                    "credential_process command `{}` printed more than {} KiB on stdout; \
                     it must print only the credential_process JSON object",
                    self.command_line(),
                    MAX_STDOUT_BYTES / 1024
                ),
            ));
        }

        parse_output(&self.command_line(), &stdout)
    }

    /// Spawns `command`, retrying a few times while the program file is
    /// still open for writing (`ETXTBSY`). That state is transient: another
    /// thread or process has just written the file, or a concurrent fork
    /// briefly inherited its write handle.
    async fn spawn(&self, command: &mut Command) -> Result<Child, Error> {
        let mut retries = 0;
        loop {
            match command.spawn() {
                Ok(child) => return Ok(child),
                Err(error)
                    if error.kind() == io::ErrorKind::ExecutableFileBusy
                        && retries < SPAWN_BUSY_RETRIES =>
                {
                    retries += 1;
                    tokio::time::sleep(SPAWN_BUSY_DELAY).await;
                }
                Err(error) => return Err(self.spawn_error(error)),
            }
        }
    }

    fn spawn_error(&self, error: io::Error) -> Error {
        let program = &self.program;
        let message = match error.kind() {
            io::ErrorKind::NotFound => format!(
                "credential_process program {program:?} was not found; give an absolute path, \
                 or a program name on PATH{}",
                self.current_dir
                    .as_ref()
                    .map(|dir| format!(", and check that the working directory {dir:?} exists"))
                    .unwrap_or_default()
            ),
            io::ErrorKind::PermissionDenied => format!(
                "credential_process program {program:?} is not executable; \
                 make it executable (chmod +x) or check its path"
            ),
            _ => format!(
                "credential_process program {program:?} could not be started; \
                 check that it is an executable file for this system"
            ),
        };
        Error::configuration(message).with_source(error)
    }

    fn io_error(&self, action: &str, error: io::Error) -> Error {
        Error::connection(format!(
            "{action} credential_process command `{}` failed",
            self.command_line()
        ))
        .with_source(error)
    }

    fn exit_error(&self, status: ExitStatus, stderr: &[u8], truncated: bool) -> Error {
        let mut stderr = String::from_utf8_lossy(stderr).trim().to_owned();
        if truncated {
            stderr.push_str(" [truncated]");
        }
        let stderr = if stderr.is_empty() {
            "stderr was empty".to_owned()
        } else if mentions_secret(&stderr) {
            "stderr not shown because it mentions a secret key or session token".to_owned()
        } else {
            format!("stderr: {stderr:?}")
        };
        Error::credential(
            "exit_status",
            format!(
                "credential_process command `{}` failed with {status} ({stderr}); \
                 run it by hand to see why, and make it exit 0 after printing the JSON",
                self.command_line()
            ),
        )
    }
}

impl fmt::Debug for ProcessSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Environment values may be secrets: print only the names.
        let env_names: Vec<&str> = self.env.iter().map(|(key, _)| key.as_str()).collect();
        f.debug_struct("ProcessSource")
            .field("program", &self.program)
            .field("args", &self.args)
            .field("env", &env_names)
            .field("current_dir", &self.current_dir)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl CredentialSource for ProcessSource {
    fn fetch(&self) -> BoxFuture<'_, Result<Credentials, Error>> {
        Box::pin(self.run())
    }

    fn kind(&self) -> &'static str {
        KIND
    }
}

/// Returns whether `text` names a secret credential field, as a command
/// that prints its credentials on stderr would.
fn mentions_secret(text: &str) -> bool {
    let lower = text.to_ascii_lowercase();
    [
        "secretaccesskey",
        "secret_access_key",
        "sessiontoken",
        "session_token",
    ]
    .iter()
    .any(|field| lower.contains(field))
}

/// Reads `reader` to the end, keeping at most `cap` bytes. Returns the kept
/// bytes and whether more were discarded.
async fn read_capped<R: AsyncRead + Unpin>(
    reader: Option<R>,
    cap: usize,
) -> io::Result<(Vec<u8>, bool)> {
    let Some(mut reader) = reader else {
        return Ok((Vec::new(), false));
    };

    let mut kept = Vec::new();
    (&mut reader)
        .take(cap as u64 + 1)
        .read_to_end(&mut kept)
        .await?;
    let truncated = kept.len() > cap;
    if truncated {
        kept.truncate(cap);
        tokio::io::copy(&mut reader, &mut tokio::io::sink()).await?;
    }
    Ok((kept, truncated))
}

/// Parses the command's stdout. No message quotes stdout, since it contains
/// the secret key.
fn parse_output(command: &str, stdout: &[u8]) -> Result<Credentials, Error> {
    let value: Value = serde_json::from_slice(stdout).map_err(|error| {
        // serde_json's own message can quote the input, so only its
        // position is reported.
        Error::credential(
            "stdout",
            format!(
                "credential_process command `{command}` printed invalid JSON (parsing failed at line {} column {}); \
                 it must print one JSON object with Version, AccessKeyId and SecretAccessKey",
                error.line(),
                error.column()
            ),
        )
    })?;
    let Value::Object(mut object) = value else {
        return Err(Error::credential(
            "stdout",
            format!(
                "credential_process command `{command}` printed JSON that is not an object; \
                 it must print one JSON object with Version, AccessKeyId and SecretAccessKey"
            ),
        ));
    };

    check_version(command, object.get("Version"))?;

    let access_key_id = take_string(command, &mut object, "AccessKeyId");
    let secret_access_key = take_string(command, &mut object, "SecretAccessKey");
    let session_token = take_string(command, &mut object, "SessionToken")?;
    let (access_key_id, secret_access_key) = match (access_key_id?, secret_access_key?) {
        (Some(access_key_id), Some(secret_access_key)) => (access_key_id, secret_access_key),
        (access_key_id, secret_access_key) => {
            let missing: Vec<&str> = [
                access_key_id.is_none().then_some("AccessKeyId"),
                secret_access_key.is_none().then_some("SecretAccessKey"),
            ]
            .into_iter()
            .flatten()
            .collect();
            return Err(Error::credential(
                missing.join(", "),
                format!(
                    "credential_process command `{command}` printed JSON without {}; \
                     print a non-empty string for each",
                    missing.join(" and ")
                ),
            ));
        }
    };

    let mut builder = Credentials::builder()
        .access_key_id(access_key_id)
        .secret_access_key(secret_access_key)
        .provider_name(KIND);
    if let Some(session_token) = session_token {
        builder = builder.session_token(session_token);
    }
    match object.get("Expiration") {
        None | Some(Value::Null) => {}
        Some(Value::String(expiration)) => {
            builder = builder.expiry(parse_rfc3339("Expiration", expiration)?)
        }
        Some(_) => {
            return Err(Error::credential(
                "Expiration",
                format!(
                    "credential_process command `{command}` printed an `Expiration` that is not a string; \
                     print an RFC 3339 timestamp such as \"2026-12-04T19:20:00Z\""
                ),
            ));
        }
    }
    builder.build()
}

fn check_version(command: &str, version: Option<&Value>) -> Result<(), Error> {
    let problem = match version {
        Some(Value::Number(number)) if number.as_u64() == Some(SUPPORTED_VERSION) => return Ok(()),
        None | Some(Value::Null) => "has no `Version`".to_owned(),
        Some(Value::Number(number)) => format!("has `Version` {number}"),
        Some(_) => "has a `Version` that is not a number".to_owned(),
    };
    Err(Error::credential(
        "Version",
        format!(
            "credential_process command `{command}` printed JSON that {problem}; \
             only \"Version\": {SUPPORTED_VERSION} is supported"
        ),
    ))
}

/// Moves the string `key` out of `object`, so the secret is not copied.
/// Returns `None` for a missing, null or empty value, and an error naming
/// `key` (without its value) for any other type.
fn take_string(
    command: &str,
    object: &mut Map<String, Value>,
    key: &str,
) -> Result<Option<String>, Error> {
    match object.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) if text.is_empty() => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(Error::credential(
            key,
            format!(
                "credential_process command `{command}` printed a `{key}` that is not a string; print a string"
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;
    use std::os::unix::fs::PermissionsExt;
    use std::time::UNIX_EPOCH;

    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYzSECRETKEY";
    const TOKEN: &str = "IQoJb3JpZ2luX2VjEXAMPLESESSIONTOKEN+/=";
    const ENV_SECRET: &str = "env-value-that-must-not-print";

    /// Writes an executable `/bin/sh` script into `dir` and returns its path.
    fn script(dir: &tempfile::TempDir, name: &str, body: &str) -> String {
        let path = dir.path().join(name);
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path.to_str().unwrap().to_owned()
    }

    /// Returns a source running a script that prints `json` and exits 0.
    fn printing(dir: &tempfile::TempDir, json: &str) -> ProcessSource {
        let path = script(dir, "print.sh", &format!("cat <<'EOF'\n{json}\nEOF"));
        ProcessSource::new([path]).unwrap()
    }

    fn valid_json() -> String {
        format!(
            r#"{{"Version": 1, "AccessKeyId": "ASIAPROCESSEXAMPLE", "SecretAccessKey": "{SECRET}",
                "SessionToken": "{TOKEN}", "Expiration": "2026-12-04T19:20:00Z"}}"#
        )
    }

    /// Asserts that no secret appears in the error, its `Debug` or its causes.
    fn assert_no_secret(error: &Error) {
        let mut texts = vec![
            error.to_string(),
            format!("{error:?}"),
            format!("{error:#?}"),
        ];
        let mut cause = error.source();
        while let Some(inner) = cause {
            texts.push(inner.to_string());
            cause = inner.source();
        }
        for text in texts {
            assert!(!text.contains(SECRET), "secret key in {text}");
            assert!(!text.contains(TOKEN), "session token in {text}");
            assert!(!text.contains(ENV_SECRET), "env value in {text}");
        }
    }

    #[tokio::test]
    async fn valid_output_gives_temporary_credentials() {
        let dir = tempfile::tempdir().unwrap();
        let source = printing(&dir, &valid_json());

        let credentials = source.fetch().await.unwrap();

        assert_eq!(credentials.access_key_id(), "ASIAPROCESSEXAMPLE");
        assert_eq!(credentials.secret_access_key(), SECRET);
        assert_eq!(credentials.session_token(), Some(TOKEN));
        assert_eq!(
            credentials.expiry(),
            Some(UNIX_EPOCH + Duration::from_secs(1_796_412_000))
        );
        assert_eq!(source.kind(), "process");
    }

    #[tokio::test]
    async fn output_without_expiration_is_static() {
        let dir = tempfile::tempdir().unwrap();
        let source = printing(
            &dir,
            &format!(
                r#"{{"Version": 1, "AccessKeyId": "AKIAPROCESS", "SecretAccessKey": "{SECRET}"}}"#
            ),
        );

        let credentials = source.fetch().await.unwrap();

        assert_eq!(credentials.access_key_id(), "AKIAPROCESS");
        assert_eq!(credentials.session_token(), None);
        assert_eq!(credentials.expiry(), None);
    }

    #[tokio::test]
    async fn args_env_and_dir_reach_command() {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("work dir");
        std::fs::create_dir(&work).unwrap();
        let path = script(
            &dir,
            "echo.sh",
            r#"printf '{"Version": 1, "AccessKeyId": "%s", "SecretAccessKey": "%s", "SessionToken": "%s"}' "$1-$2" "$PROCESS_TEST_SECRET" "$(basename "$(pwd)")""#,
        );
        let source = ProcessSource::new([path.as_str(), "first", "second word"])
            .unwrap()
            .env("PROCESS_TEST_SECRET", ENV_SECRET)
            .current_dir(&work);

        let credentials = source.fetch().await.unwrap();

        assert_eq!(credentials.access_key_id(), "first-second word");
        assert_eq!(credentials.secret_access_key(), ENV_SECRET);
        assert_eq!(credentials.session_token(), Some("work dir"));
    }

    #[tokio::test]
    async fn arguments_are_not_shell_expanded() {
        let dir = tempfile::tempdir().unwrap();
        let path = script(
            &dir,
            "arg.sh",
            r#"printf '{"Version": 1, "AccessKeyId": "%s", "SecretAccessKey": "s"}' "$1""#,
        );
        let source = ProcessSource::new([path.as_str(), "$HOME;`id`"]).unwrap();

        let credentials = source.fetch().await.unwrap();

        assert_eq!(credentials.access_key_id(), "$HOME;`id`");
    }

    #[test]
    fn empty_argv_is_rejected() {
        let error = ProcessSource::new(Vec::<String>::new()).unwrap_err();

        assert!(error.is_validation());
        assert_eq!(error.parameter(), Some("argv"));
    }

    #[test]
    fn empty_program_is_rejected() {
        let error = ProcessSource::new(["", "--flag"]).unwrap_err();

        assert!(error.is_validation());
        assert_eq!(error.parameter(), Some("argv"));
    }

    #[tokio::test]
    async fn missing_program_is_configuration_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-helper");
        let source = ProcessSource::new([missing.to_str().unwrap()]).unwrap();

        let error = source.fetch().await.unwrap_err();

        assert!(error.is_configuration(), "{error:?}");
        assert!(error.to_string().contains("no-such-helper"), "{error}");
        assert!(error.to_string().contains("not found"), "{error}");
    }

    #[tokio::test]
    async fn non_executable_program_is_configuration_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = script(&dir, "plain.sh", "echo hi");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let source = ProcessSource::new([path.as_str()]).unwrap();

        let error = source.fetch().await.unwrap_err();

        assert!(error.is_configuration(), "{error:?}");
        assert!(error.to_string().contains(&path), "{error}");
        assert!(error.to_string().contains("not executable"), "{error}");
    }

    #[tokio::test]
    async fn non_zero_exit_reports_status_and_stderr() {
        let dir = tempfile::tempdir().unwrap();
        let path = script(
            &dir,
            "fail.sh",
            &format!(
                "echo '{}'\necho 'broker said: token expired, run login' >&2\nexit 3",
                valid_json().replace('\n', " ")
            ),
        );
        let source = ProcessSource::new([path.as_str(), "--profile", "ci"]).unwrap();

        let error = source.fetch().await.unwrap_err();

        assert!(error.is_credential(), "{error:?}");
        assert_eq!(error.parameter(), Some("exit_status"));
        let message = error.to_string();
        assert!(message.contains("exit status: 3"), "{message}");
        assert!(
            message.contains("broker said: token expired, run login"),
            "{message}"
        );
        assert!(message.contains("--profile ci"), "{message}");
        assert!(message.contains("run it by hand"), "{message}");
        assert_no_secret(&error);
    }

    #[tokio::test]
    async fn stderr_with_credentials_is_withheld() {
        let dir = tempfile::tempdir().unwrap();
        let path = script(
            &dir,
            "leak.sh",
            &format!("echo 'debug: SessionToken={TOKEN}' >&2\nexit 1"),
        );
        let source = ProcessSource::new([path.as_str()]).unwrap();

        let error = source.fetch().await.unwrap_err();

        assert!(error.to_string().contains("stderr not shown"), "{error}");
        assert_no_secret(&error);
    }

    #[tokio::test]
    async fn long_stderr_is_truncated() {
        let dir = tempfile::tempdir().unwrap();
        let path = script(
            &dir,
            "noisy.sh",
            "i=0\nwhile [ $i -lt 2000 ]; do echo 'noise line' >&2; i=$((i+1)); done\nexit 1",
        );
        let source = ProcessSource::new([path.as_str()]).unwrap();

        let error = source.fetch().await.unwrap_err();

        let message = error.to_string();
        assert!(message.contains("[truncated]"), "{message}");
        assert!(
            message.len() < MAX_STDERR_BYTES + 1024,
            "{} bytes",
            message.len()
        );
    }

    #[tokio::test]
    async fn slow_command_times_out_and_is_killed() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("pid");
        let path = script(
            &dir,
            "slow.sh",
            &format!("echo $$ > '{}'\nexec sleep 60", pid_file.display()),
        );
        let source = ProcessSource::new([path.as_str(), "--wait"])
            .unwrap()
            .timeout(Duration::from_millis(500));

        let error = source.fetch().await.unwrap_err();

        assert!(error.is_timeout(), "{error:?}");
        assert!(error.to_string().contains("--wait"), "{error}");
        assert!(
            error.to_string().contains("timed out after 500ms"),
            "{error}"
        );

        // The child is killed and reaped in the background; wait generously.
        let pid = std::fs::read_to_string(&pid_file)
            .unwrap()
            .trim()
            .to_owned();
        let stat = PathBuf::from(format!("/proc/{pid}/stat"));
        let mut alive = true;
        for _ in 0..100 {
            let state = std::fs::read_to_string(&stat).unwrap_or_default();
            // Gone, or a zombie waiting to be reaped: either way, not running.
            if state.is_empty() || state.contains(") Z ") {
                alive = false;
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(!alive, "process {pid} still runs after the timeout");
    }

    #[tokio::test]
    async fn malformed_json_names_position_not_content() {
        let dir = tempfile::tempdir().unwrap();
        let source = printing(
            &dir,
            &format!(
                "{{\"Version\": 1,\n\"AccessKeyId\": \"ASIA\",\n\"SecretAccessKey\": \"{SECRET}\" \"SessionToken\": \"{TOKEN}\"}}"
            ),
        );

        let error = source.fetch().await.unwrap_err();

        assert!(error.is_credential(), "{error:?}");
        assert_eq!(error.parameter(), Some("stdout"));
        assert!(error.to_string().contains("line 3 column"), "{error}");
        assert_no_secret(&error);
    }

    #[tokio::test]
    async fn stderr_is_never_parsed() {
        let dir = tempfile::tempdir().unwrap();
        let path = script(
            &dir,
            "stderr.sh",
            &format!("cat >&2 <<'EOF'\n{}\nEOF", valid_json()),
        );
        let source = ProcessSource::new([path.as_str()]).unwrap();

        let error = source.fetch().await.unwrap_err();

        assert!(error.is_credential(), "{error:?}");
        assert_eq!(error.parameter(), Some("stdout"));
        assert_no_secret(&error);
    }

    #[tokio::test]
    async fn oversized_stdout_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = script(
            &dir,
            "big.sh",
            "i=0\nwhile [ $i -lt 8000 ]; do echo '                    '; i=$((i+1)); done\necho '{}'",
        );
        let source = ProcessSource::new([path.as_str()]).unwrap();

        let error = source.fetch().await.unwrap_err();

        assert!(error.is_credential(), "{error:?}");
        assert_eq!(error.parameter(), Some("stdout"));
        assert!(error.to_string().contains("64 KiB"), "{error}");
    }

    #[tokio::test]
    async fn other_version_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let source = printing(
            &dir,
            &format!(r#"{{"Version": 2, "AccessKeyId": "ASIA", "SecretAccessKey": "{SECRET}"}}"#),
        );

        let error = source.fetch().await.unwrap_err();

        assert!(error.is_credential(), "{error:?}");
        assert_eq!(error.parameter(), Some("Version"));
        assert!(error.to_string().contains("`Version` 2"), "{error}");
        assert_no_secret(&error);
    }

    #[tokio::test]
    async fn missing_version_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let source = printing(
            &dir,
            &format!(r#"{{"AccessKeyId": "ASIA", "SecretAccessKey": "{SECRET}"}}"#),
        );

        let error = source.fetch().await.unwrap_err();

        assert_eq!(error.parameter(), Some("Version"));
        assert!(error.to_string().contains("no `Version`"), "{error}");
    }

    #[tokio::test]
    async fn string_version_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let source = printing(
            &dir,
            &format!(r#"{{"Version": "1", "AccessKeyId": "ASIA", "SecretAccessKey": "{SECRET}"}}"#),
        );

        let error = source.fetch().await.unwrap_err();

        assert_eq!(error.parameter(), Some("Version"));
    }

    #[tokio::test]
    async fn missing_keys_are_each_named() {
        let dir = tempfile::tempdir().unwrap();
        let source = printing(
            &dir,
            &format!(r#"{{"Version": 1, "SessionToken": "{TOKEN}"}}"#),
        );

        let error = source.fetch().await.unwrap_err();

        assert!(error.is_credential(), "{error:?}");
        assert_eq!(error.parameter(), Some("AccessKeyId, SecretAccessKey"));
        assert!(
            error
                .to_string()
                .contains("AccessKeyId and SecretAccessKey"),
            "{error}"
        );
        assert_no_secret(&error);
    }

    #[tokio::test]
    async fn missing_secret_key_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let source = printing(
            &dir,
            r#"{"Version": 1, "AccessKeyId": "ASIA", "SecretAccessKey": ""}"#,
        );

        let error = source.fetch().await.unwrap_err();

        assert_eq!(error.parameter(), Some("SecretAccessKey"));
    }

    #[tokio::test]
    async fn non_string_secret_is_named_not_echoed() {
        let dir = tempfile::tempdir().unwrap();
        let source = printing(
            &dir,
            r#"{"Version": 1, "AccessKeyId": "ASIA", "SecretAccessKey": 918273645}"#,
        );

        let error = source.fetch().await.unwrap_err();

        assert_eq!(error.parameter(), Some("SecretAccessKey"));
        assert!(!error.to_string().contains("918273645"), "{error}");
    }

    #[tokio::test]
    async fn bad_expiration_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let source = printing(
            &dir,
            &format!(
                r#"{{"Version": 1, "AccessKeyId": "ASIA", "SecretAccessKey": "{SECRET}", "Expiration": "2026-12-04T19:20:00"}}"#
            ),
        );

        let error = source.fetch().await.unwrap_err();

        assert!(error.is_credential(), "{error:?}");
        assert_eq!(error.parameter(), Some("Expiration"));
        assert_no_secret(&error);
    }

    #[tokio::test]
    async fn numeric_expiration_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let source = printing(
            &dir,
            &format!(
                r#"{{"Version": 1, "AccessKeyId": "ASIA", "SecretAccessKey": "{SECRET}", "Expiration": 1796412000}}"#
            ),
        );

        let error = source.fetch().await.unwrap_err();

        assert_eq!(error.parameter(), Some("Expiration"));
    }

    #[tokio::test]
    async fn no_secret_in_any_error_or_debug() {
        let dir = tempfile::tempdir().unwrap();
        let valid = valid_json().replace('\n', " ");
        let bodies = [
            format!("echo '{valid}'\nexit 1"),
            format!("echo '{valid}' >&2\nexit 1"),
            format!("echo '{valid}' | head -c 120"),
            format!(
                "echo '{}'",
                valid.replace("\"Version\": 1", "\"Version\": 7")
            ),
            format!("echo '{}'", valid.replace("ASIAPROCESSEXAMPLE", "")),
            format!(
                "echo '{}'",
                valid.replace("2026-12-04T19:20:00Z", "tomorrow")
            ),
            format!("echo '{valid}'\nexec sleep 60"),
        ];

        for (index, body) in bodies.iter().enumerate() {
            let path = script(&dir, &format!("case{index}.sh"), body);
            let source = ProcessSource::new([path.as_str(), "--flag"])
                .unwrap()
                .env("PROCESS_TEST_SECRET", ENV_SECRET)
                .timeout(Duration::from_millis(500));

            let error = source.fetch().await.unwrap_err();

            assert_no_secret(&error);
            let debug = format!("{source:?}");
            assert!(!debug.contains(ENV_SECRET), "{debug}");
            assert!(debug.contains("PROCESS_TEST_SECRET"), "{debug}");
            assert!(debug.contains("--flag"), "{debug}");
        }

        // The successful result's Debug is redacted too.
        let credentials = printing(&dir, &valid_json()).fetch().await.unwrap();
        let debug = format!("{credentials:?}");
        assert!(!debug.contains(SECRET), "{debug}");
        assert!(!debug.contains(TOKEN), "{debug}");
    }

    #[tokio::test]
    async fn store_fetches_through_process() {
        let dir = tempfile::tempdir().unwrap();
        let source = printing(&dir, &valid_json().replace("2026-12-04", "2099-12-04"));
        let store = crate::CredentialStore::builder(source)
            .build()
            .await
            .unwrap();

        let credentials = store.credentials().await.unwrap();

        assert_eq!(credentials.access_key_id(), "ASIAPROCESSEXAMPLE");
        assert_eq!(store.source_kind(), "process");
        let printed = format!("{store:?} {:?}", store.source());
        assert!(!printed.contains(SECRET), "{printed}");
    }

    #[test]
    fn command_line_quotes_words_with_spaces() {
        let source = ProcessSource::new(["/opt/my broker", "--profile", "a b", ""]).unwrap();

        assert_eq!(
            source.command_line(),
            r#""/opt/my broker" --profile "a b" """#
        );
    }
}
