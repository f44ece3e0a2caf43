//! The AWS CLI's `credential_process` contract.

use std::time::Duration;

/// How long a `credential_process` command may run: 30 seconds.
pub const DEFAULT_PROCESS_TIMEOUT: Duration = Duration::from_secs(30);

/// A credential source that runs an external command printing the AWS
/// CLI's `credential_process` JSON.
#[derive(Debug)]
pub struct ProcessSource {
    _private: (),
}
