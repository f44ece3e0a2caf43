//! MFA token providers: external commands (argv, no shell) and functions.
#![cfg(feature = "sts")]

use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

use aws_refresh_session::Error;
use aws_refresh_session::clock::{Clock, TokioClock};
use aws_refresh_session::strategy::sts::{DEFAULT_MFA_TIMEOUT, MfaTokenProvider};

/// Writes an executable `/bin/sh` script into `dir` and returns its path.
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;

    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

fn path_arg(path: &Path) -> String {
    path.to_str().unwrap().to_owned()
}

#[tokio::test]
async fn command_code_is_read_from_stdout() {
    let provider = MfaTokenProvider::command(["printf", "code: %s\\n", "123456"]).unwrap();

    let code = provider.token_code().await.unwrap();

    assert_eq!(code, "123456");
}

#[tokio::test]
async fn command_last_standalone_code_wins() {
    let dir = tempfile::tempdir().unwrap();
    let path = script(
        dir.path(),
        "otp",
        "echo 'account 123456789012'\necho 'previous 111111'\necho 'current: 222222 (expires in 12s)'\necho 'serial 1234567'",
    );

    let code = MfaTokenProvider::command([path_arg(&path)])
        .unwrap()
        .token_code()
        .await
        .unwrap();

    assert_eq!(code, "222222");
}

#[tokio::test]
async fn command_arguments_reach_program_verbatim() {
    // A shell would reject the unbalanced quote; run as argv, printf gets
    // it as one literal argument.
    let provider = MfaTokenProvider::command(["printf", "%s\\n", "it's 123456"]).unwrap();

    let code = provider.token_code().await.unwrap();

    assert_eq!(code, "123456");
}

#[tokio::test]
async fn command_nonzero_exit_reports_stderr() {
    let dir = tempfile::tempdir().unwrap();
    let path = script(dir.path(), "locked", "echo 'device is locked' >&2\nexit 3");

    let error = MfaTokenProvider::command([path_arg(&path)])
        .unwrap()
        .token_code()
        .await
        .unwrap_err();

    assert!(error.is_credential(), "{error:?}");
    assert_eq!(error.parameter(), Some("mfa_command"));
    assert!(error.to_string().contains("device is locked"), "{error}");
    assert!(error.to_string().contains("exit status: 3"), "{error}");
}

#[tokio::test]
async fn command_stderr_is_truncated() {
    let dir = tempfile::tempdir().unwrap();
    let path = script(
        dir.path(),
        "noisy",
        "head -c 5000 /dev/zero | tr '\\0' e >&2\nexit 1",
    );

    let error = MfaTokenProvider::command([path_arg(&path)])
        .unwrap()
        .token_code()
        .await
        .unwrap_err();

    let message = error.to_string();
    assert!(message.contains("eeee"), "{message}");
    assert!(message.len() < 1000, "message has {} bytes", message.len());
}

#[tokio::test]
async fn command_without_code_fails() {
    let provider = MfaTokenProvider::command(["printf", "no code: 12345 1234567\\n"]).unwrap();

    let error = provider.token_code().await.unwrap_err();

    assert!(error.is_credential(), "{error:?}");
    assert!(error.to_string().contains("6-digit"), "{error}");
}

#[tokio::test]
async fn missing_program_fails_clearly() {
    let provider = MfaTokenProvider::command(["/nonexistent/mfa-tool", "--code"]).unwrap();

    let error = provider.token_code().await.unwrap_err();

    assert!(error.is_credential(), "{error:?}");
    assert!(
        error.to_string().contains("/nonexistent/mfa-tool"),
        "{error}"
    );
}

#[tokio::test(start_paused = true)]
async fn command_default_timeout_applies() {
    let provider = MfaTokenProvider::command(["sleep", "60"]).unwrap();

    let clock = TokioClock::new(UNIX_EPOCH);
    let error = provider.token_code().await.unwrap_err();

    assert!(error.is_timeout(), "{error:?}");
    assert_eq!(clock.now(), UNIX_EPOCH + DEFAULT_MFA_TIMEOUT);
}

#[tokio::test]
async fn timed_out_command_is_killed() {
    let dir = tempfile::tempdir().unwrap();
    let pid_file = dir.path().join("pid");
    let path = script(
        dir.path(),
        "slow",
        &format!("echo $$ > '{}'\nexec sleep 30", pid_file.display()),
    );
    let provider = MfaTokenProvider::command([path_arg(&path)])
        .unwrap()
        .timeout(Duration::from_millis(500));

    let error = provider.token_code().await.unwrap_err();

    assert!(error.is_timeout(), "{error:?}");
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    let stat = format!("/proc/{}/stat", pid.trim());
    let mut running = true;
    for _ in 0..100 {
        // Gone, or a zombie waiting for tokio's reaper: either way, killed.
        running = std::fs::read_to_string(&stat)
            .map(|stat| !stat.contains(") Z "))
            .unwrap_or(false);
        if !running {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!running, "the MFA command (pid {}) still runs", pid.trim());
}

#[tokio::test]
async fn function_code_is_returned() {
    let provider = MfaTokenProvider::function(|| async { Ok("987654".to_owned()) });

    assert_eq!(provider.token_code().await.unwrap(), "987654");
}

#[tokio::test]
async fn function_bad_code_is_validation_error() {
    for code in ["12345", "1234567", "abcdef", ""] {
        let provider = MfaTokenProvider::function(move || async move { Ok(code.to_owned()) });

        let error = provider.token_code().await.unwrap_err();

        assert!(error.is_validation(), "{code}: {error:?}");
        assert_eq!(error.parameter(), Some("token_code"), "{code}");
        assert_eq!(error.value(), None, "{code}");
    }
}

#[tokio::test]
async fn function_error_passes_through() {
    let provider = MfaTokenProvider::function(|| async {
        Err(Error::credential("mfa", "the prompt was cancelled"))
    });

    let error = provider.token_code().await.unwrap_err();

    assert_eq!(error.message(), "the prompt was cancelled");
}

#[tokio::test(start_paused = true)]
async fn function_timeout_applies() {
    let provider = MfaTokenProvider::function(|| async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok("123456".to_owned())
    })
    .timeout(Duration::from_secs(5));

    let error = provider.token_code().await.unwrap_err();

    assert!(error.is_timeout(), "{error:?}");
}
