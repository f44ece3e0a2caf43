//! MFA token providers: where a fresh one-time code comes from on every
//! refresh.
//!
//! A provider is either an async function or an external command given as
//! an argument vector (no shell is involved). The STS source requests a
//! new code from it before every AssumeRole call, so a code is never sent twice.

use std::fmt;
use std::future::Future;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use crate::error::Error;
use crate::strategy::BoxFuture;

use super::assume_role::check_token_code;

/// How long a token provider may take to return a code: 30 seconds.
pub const DEFAULT_MFA_TIMEOUT: Duration = Duration::from_secs(30);

/// The maximum number of stderr bytes of a failed command kept in its error
/// message.
const MAX_STDERR_IN_ERROR: usize = 512;

type TokenFn = dyn Fn() -> BoxFuture<'static, Result<String, Error>> + Send + Sync;

/// A source of MFA token codes, asked once per AssumeRole call.
///
/// # Examples
///
/// An external command; the last standalone 6-digit number it prints is the
/// code:
///
/// ```
/// use aws_refresh_session::strategy::sts::MfaTokenProvider;
///
/// let provider = MfaTokenProvider::command(["ykman", "oath", "accounts", "code", "--single", "aws"])?;
/// # Ok::<(), aws_refresh_session::Error>(())
/// ```
///
/// An async function:
///
/// ```
/// use aws_refresh_session::strategy::sts::MfaTokenProvider;
///
/// let provider = MfaTokenProvider::function(|| async {
///     // Ask a TOTP library or a prompt here.
///     Ok("123456".to_owned())
/// });
/// ```
#[derive(Clone)]
pub struct MfaTokenProvider {
    kind: ProviderKind,
    timeout: Duration,
}

#[derive(Clone)]
enum ProviderKind {
    Function(Arc<TokenFn>),
    Command(Arc<[String]>),
}

impl MfaTokenProvider {
    /// Wraps an async function that returns a 6-digit code.
    pub fn function<F, Fut>(function: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String, Error>> + Send + 'static,
    {
        MfaTokenProvider {
            kind: ProviderKind::Function(Arc::new(move || Box::pin(function()))),
            timeout: DEFAULT_MFA_TIMEOUT,
        }
    }

    /// Runs `argv` (the program, then its arguments) without a shell, and
    /// reads the code from its standard output. The code is the last 6-digit
    /// number that is not part of a longer run of letters or digits.
    ///
    /// # Errors
    ///
    /// A validation error naming `mfa_command` when `argv` is empty or the
    /// program name is empty.
    pub fn command<I, S>(argv: I) -> Result<Self, Error>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let argv: Vec<String> = argv.into_iter().map(Into::into).collect();
        if argv.first().is_none_or(|program| program.is_empty()) {
            return Err(Error::validation(
                "mfa_command",
                Some(format!("{} arguments", argv.len())),
                "the MFA token command is empty; pass the program and its arguments, such as \
                 [\"ykman\", \"oath\", \"accounts\", \"code\", \"--single\", \"aws\"]",
            ));
        }
        Ok(MfaTokenProvider {
            kind: ProviderKind::Command(argv.into()),
            timeout: DEFAULT_MFA_TIMEOUT,
        })
    }

    /// Sets how long the provider may take. Defaults to
    /// [`DEFAULT_MFA_TIMEOUT`] (30 seconds). A command that runs longer is
    /// killed.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Gets a fresh token code.
    ///
    /// # Errors
    ///
    /// - A timeout error when the provider takes longer than its timeout.
    /// - A validation error naming `token_code` when a function returns
    ///   something other than 6 digits.
    /// - A credential error when a command cannot start, exits with a
    ///   non-zero status (its stderr, truncated, is in the message), or
    ///   prints no 6-digit code.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future kills a running command.
    pub async fn token_code(&self) -> Result<String, Error> {
        let code = match &self.kind {
            ProviderKind::Function(function) => {
                let code = tokio::time::timeout(self.timeout, function())
                    .await
                    .map_err(|_| {
                        Error::timeout(format!(
                            "the MFA token function did not return a code within {:?}; raise the \
                             provider's timeout",
                            self.timeout
                        ))
                    })??;
                check_token_code(code.trim())?;
                code.trim().to_owned()
            }
            ProviderKind::Command(argv) => run_command(argv, self.timeout).await?,
        };
        tracing::debug!(provider = self.kind_name(), "MFA token code obtained");
        Ok(code)
    }

    fn kind_name(&self) -> &'static str {
        match self.kind {
            ProviderKind::Function(_) => "function",
            ProviderKind::Command(_) => "command",
        }
    }
}

impl fmt::Debug for MfaTokenProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("MfaTokenProvider");
        match &self.kind {
            ProviderKind::Function(_) => debug.field("kind", &"function"),
            // Arguments may carry a secret (a TOTP seed, a password), so
            // only the program is shown.
            ProviderKind::Command(argv) => debug.field("program", &argv[0]),
        };
        debug.field("timeout", &self.timeout).finish()
    }
}

async fn run_command(argv: &[String], timeout: Duration) -> Result<String, Error> {
    let program = &argv[0];
    let mut command = tokio::process::Command::new(program);
    command
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);

    let child = command.spawn().map_err(|error| {
        Error::credential(
            "mfa_command",
            format!("the MFA token command {program:?} could not start; check that it is installed and on PATH"),
        )
        .with_source(error)
    })?;

    // On timeout the child is dropped, and `kill_on_drop` kills it.
    let output = tokio::time::timeout(timeout, child.wait_with_output())
        .await
        .map_err(|_| {
            Error::timeout(format!(
                "the MFA token command {program:?} did not finish within {timeout:?} and was killed; \
                 raise the provider's timeout or check the command"
            ))
        })?
        .map_err(|error| {
            Error::credential(
                "mfa_command",
                format!("reading the output of the MFA token command {program:?} failed"),
            )
            .with_source(error)
        })?;

    if !output.status.success() {
        // The command may echo the code it rejected, a one-time secret.
        let stderr = redact_token_codes(&truncate_lossy(&output.stderr, MAX_STDERR_IN_ERROR));
        return Err(Error::credential(
            "mfa_command",
            format!(
                "the MFA token command {program:?} failed with {}; stderr: {:?}",
                output.status,
                stderr.trim()
            ),
        ));
    }

    let stdout = String::from_utf8_lossy(&output.stdout);
    match extract_token_code(&stdout) {
        Some(code) => Ok(code.to_owned()),
        None => Err(Error::credential(
            "mfa_command",
            format!(
                "the MFA token command {program:?} printed {} bytes without a standalone 6-digit \
                 code; make it print the code on its own",
                output.stdout.len()
            ),
        )),
    }
}

/// Returns the last standalone 6-digit number in `output`.
///
/// Standalone means the six digits are neither preceded nor followed by a
/// letter, a digit or `_` (a regular expression's `\b\d{6}\b`), so six
/// digits inside a longer number or an identifier do not count.
pub(crate) fn extract_token_code(output: &str) -> Option<&str> {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let mut found = None;
    let mut start = None;

    for (index, c) in output.char_indices().chain([(output.len(), ' ')]) {
        if is_word(c) {
            start.get_or_insert(index);
            continue;
        }
        if let Some(word_start) = start.take() {
            let word = &output[word_start..index];
            if word.len() == 6 && word.bytes().all(|byte| byte.is_ascii_digit()) {
                found = Some(word);
            }
        }
    }
    found
}

/// Replaces every standalone run of six ASCII digits (as
/// [`extract_token_code`] finds them) with `******`.
fn redact_token_codes(text: &str) -> String {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let mut redacted = String::with_capacity(text.len());
    let mut start = None;

    for (index, c) in text.char_indices().chain([(text.len(), ' ')]) {
        if is_word(c) {
            start.get_or_insert(index);
            continue;
        }
        if let Some(word_start) = start.take() {
            let word = &text[word_start..index];
            if word.len() == 6 && word.bytes().all(|byte| byte.is_ascii_digit()) {
                redacted.push_str("******");
            } else {
                redacted.push_str(word);
            }
        }
        if index < text.len() {
            redacted.push(c);
        }
    }
    redacted
}

fn truncate_lossy(bytes: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(max)]).into_owned();
    if bytes.len() > max {
        format!("{text}…")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_standalone_code_wins() {
        assert_eq!(extract_token_code("123456"), Some("123456"));
        assert_eq!(extract_token_code("code: 111111\n222222\n"), Some("222222"));
        assert_eq!(extract_token_code("aws:123456"), Some("123456"));
        assert_eq!(extract_token_code("(654321)."), Some("654321"));
    }

    #[test]
    fn runs_inside_longer_words_do_not_count() {
        assert_eq!(extract_token_code("1234567"), None);
        assert_eq!(extract_token_code("x123456"), None);
        assert_eq!(extract_token_code("123456_"), None);
        assert_eq!(extract_token_code("123456 1234567"), Some("123456"));
        assert_eq!(extract_token_code("12345 abc"), None);
        assert_eq!(extract_token_code(""), None);
    }

    #[test]
    fn non_ascii_digits_do_not_count() {
        // Arabic-Indic digits are alphanumeric but not ASCII digits.
        assert_eq!(extract_token_code("١٢٣٤٥٦"), None);
    }

    #[test]
    fn stderr_codes_are_redacted() {
        assert_eq!(
            redact_token_codes("code 314159 rejected, 1234567 x123456 (271828)."),
            "code ****** rejected, 1234567 x123456 (******)."
        );
        assert_eq!(redact_token_codes(""), "");
        assert_eq!(redact_token_codes("ünï 123456"), "ünï ******");
    }

    #[test]
    fn stderr_is_truncated() {
        let long = vec![b'e'; 600];

        let text = truncate_lossy(&long, MAX_STDERR_IN_ERROR);

        assert_eq!(text.chars().count(), MAX_STDERR_IN_ERROR + 1);
        assert!(text.ends_with('…'));
    }

    #[test]
    fn empty_command_is_rejected() {
        let error = MfaTokenProvider::command(Vec::<String>::new()).unwrap_err();

        assert!(error.is_validation());
        assert_eq!(error.parameter(), Some("mfa_command"));
    }
}
