//! [`IotConfig`]: what the IoT source connects to and authenticates with.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use zeroize::Zeroizing;

use super::endpoint::Endpoint;
#[cfg(feature = "pkcs11")]
use super::pkcs11::Pkcs11Key;
use crate::error::Error;

/// How long one credentials request may take, connect to last byte: 10
/// seconds.
pub const DEFAULT_IOT_TIMEOUT: Duration = Duration::from_secs(10);

/// The minimum credential lifetime the provider accepts: 900 seconds.
pub const MIN_IOT_DURATION: Duration = Duration::from_secs(900);

/// The maximum credential lifetime the provider accepts: 43,200 seconds
/// (12 hours). The role alias's own `credentialDurationSeconds` may cap it
/// further.
pub const MAX_IOT_DURATION: Duration = Duration::from_secs(43_200);

/// The maximum length of a role alias or thing name in AWS IoT: 128
/// characters.
const MAX_NAME_LEN: usize = 128;

/// PEM data, read from a file or given in memory.
#[derive(Clone)]
pub(crate) enum Pem {
    File(PathBuf),
    Bytes(Zeroizing<Vec<u8>>),
}

impl Pem {
    /// Reads the PEM bytes; `parameter` names the setting in errors.
    pub(crate) fn load(&self, parameter: &str) -> Result<Zeroizing<Vec<u8>>, Error> {
        match self {
            Pem::Bytes(bytes) => Ok(bytes.clone()),
            Pem::File(path) => std::fs::read(path).map(Zeroizing::new).map_err(|error| {
                Error::validation(
                    parameter,
                    Some(path.display().to_string()),
                    format!(
                        "`{parameter}` file {} cannot be read; check the path and its permissions",
                        path.display()
                    ),
                )
                .with_source(error)
            }),
        }
    }

    /// Describes the input without its content, for `Debug`.
    fn describe(&self, secret: bool) -> String {
        match self {
            Pem::File(path) => format!("file {}", path.display()),
            Pem::Bytes(_) if secret => "in-memory PEM (redacted)".to_owned(),
            Pem::Bytes(bytes) => format!("in-memory PEM ({} bytes)", bytes.len()),
        }
    }
}

/// The location of the client certificate's private key.
#[derive(Clone)]
pub(crate) enum ClientKey {
    Pem(Pem),
    #[cfg(feature = "pkcs11")]
    Pkcs11(Pkcs11Key),
}

/// The configuration of the AWS IoT Core credentials provider source.
///
/// Built by [`IotConfig::builder`], which validates every parameter.
/// Files are read, and a PKCS#11 token is opened, when the source is built
/// ([`IotSource::new`](super::IotSource::new) or
/// [`Strategy::into_source`](crate::Strategy::into_source)).
///
/// `Debug` shows paths and sizes, never the private key or a PIN.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use aws_refresh_session::strategy::iot::IotConfig;
///
/// let config = IotConfig::builder()
///     .endpoint("c1b2c3example.credentials.iot.us-east-1.amazonaws.com")
///     .role_alias("device-role-alias")
///     .certificate_file("/etc/device/certificate.pem.crt")
///     .private_key_file("/etc/device/private.pem.key")
///     .ca_file("/etc/device/AmazonRootCA1.pem")
///     .thing_name("sensor-0042")
///     .duration(Duration::from_secs(3600))
///     .build()?;
/// assert_eq!(config.role_alias(), "device-role-alias");
/// # Ok::<(), aws_refresh_session::Error>(())
/// ```
#[derive(Clone)]
pub struct IotConfig {
    pub(crate) endpoint: Endpoint,
    pub(crate) role_alias: String,
    pub(crate) certificate: Pem,
    pub(crate) key: ClientKey,
    pub(crate) ca: Option<Pem>,
    pub(crate) thing_name: Option<String>,
    pub(crate) duration: Option<Duration>,
    pub(crate) timeout: Duration,
    pub(crate) accept_invalid_server_certificate: bool,
}

impl IotConfig {
    /// Starts a builder.
    pub fn builder() -> IotConfigBuilder {
        IotConfigBuilder::default()
    }

    /// Returns the endpoint as a URL, after any rewrite of a data endpoint.
    pub fn endpoint(&self) -> String {
        self.endpoint.to_string()
    }

    /// Returns the role alias.
    pub fn role_alias(&self) -> &str {
        &self.role_alias
    }

    /// Returns the thing name sent as `x-amzn-iot-thingname`, if set.
    pub fn thing_name(&self) -> Option<&str> {
        self.thing_name.as_deref()
    }

    /// Returns the requested credential lifetime, if set.
    pub fn duration(&self) -> Option<Duration> {
        self.duration
    }

    /// Returns the timeout of one credentials request.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Returns whether server certificate verification is off.
    pub fn accepts_invalid_server_certificate(&self) -> bool {
        self.accept_invalid_server_certificate
    }

    /// Returns the request path: `/role-aliases/<alias>/credentials`.
    pub(crate) fn request_path(&self) -> String {
        format!(
            "/role-aliases/{}/credentials",
            encode_path_segment(&self.role_alias)
        )
    }
}

impl fmt::Debug for IotConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("IotConfig");
        debug
            .field("endpoint", &self.endpoint)
            .field("role_alias", &self.role_alias)
            .field("certificate", &self.certificate.describe(false));
        match &self.key {
            ClientKey::Pem(pem) => debug.field("private_key", &pem.describe(true)),
            #[cfg(feature = "pkcs11")]
            ClientKey::Pkcs11(key) => debug.field("pkcs11_key", key),
        };
        debug
            .field("ca", &self.ca.as_ref().map(|ca| ca.describe(false)))
            .field("thing_name", &self.thing_name)
            .field("duration", &self.duration)
            .field("timeout", &self.timeout)
            .field(
                "accept_invalid_server_certificate",
                &self.accept_invalid_server_certificate,
            )
            .finish()
    }
}

/// Builds an [`IotConfig`]. Every setter is consuming; [`build`](Self::build)
/// validates.
#[derive(Clone, Default)]
pub struct IotConfigBuilder {
    endpoint: Option<String>,
    role_alias: Option<String>,
    certificate: Option<Pem>,
    private_key: Option<Pem>,
    #[cfg(feature = "pkcs11")]
    pkcs11: Option<Pkcs11Key>,
    ca: Option<Pem>,
    thing_name: Option<String>,
    duration: Option<Duration>,
    timeout: Option<Duration>,
    accept_invalid_server_certificate: bool,
}

impl IotConfigBuilder {
    /// Sets the credentials endpoint (required).
    ///
    /// Pass `<id>.credentials.iot.<region>.amazonaws.com`. A data endpoint
    /// (`<id>-ats.iot.<region>.amazonaws.com` or
    /// `<id>.iot.<region>.amazonaws.com`) is rewritten to that form with a
    /// warning. A full URL (`https://127.0.0.1:8443`) is used as given, for
    /// private endpoints and local providers.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// Sets the role alias (required): letters, digits and `_=,@-`, at most
    /// 128 characters.
    pub fn role_alias(mut self, role_alias: impl Into<String>) -> Self {
        self.role_alias = Some(role_alias.into());
        self
    }

    /// Reads the device certificate (PEM, optionally followed by its chain)
    /// from `path`.
    pub fn certificate_file(mut self, path: impl AsRef<Path>) -> Self {
        self.certificate = Some(Pem::File(path.as_ref().to_owned()));
        self
    }

    /// Sets the device certificate as PEM bytes.
    pub fn certificate_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.certificate = Some(Pem::Bytes(Zeroizing::new(pem.into())));
        self
    }

    /// Reads the certificate's private key (PEM: PKCS#8, SEC1 or PKCS#1)
    /// from `path`.
    pub fn private_key_file(mut self, path: impl AsRef<Path>) -> Self {
        self.private_key = Some(Pem::File(path.as_ref().to_owned()));
        self
    }

    /// Sets the certificate's private key as PEM bytes. The bytes are
    /// zeroized when the config is dropped.
    pub fn private_key_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.private_key = Some(Pem::Bytes(Zeroizing::new(pem.into())));
        self
    }

    /// Uses a private key held in a PKCS#11 token instead of a PEM key.
    #[cfg(feature = "pkcs11")]
    pub fn pkcs11_key(mut self, key: Pkcs11Key) -> Self {
        self.pkcs11 = Some(key);
        self
    }

    /// Reads the CA certificates that the server certificate must chain to
    /// from `path`. Defaults to the Mozilla root program (`webpki-roots`),
    /// which includes Amazon's roots.
    pub fn ca_file(mut self, path: impl AsRef<Path>) -> Self {
        self.ca = Some(Pem::File(path.as_ref().to_owned()));
        self
    }

    /// Sets the CA certificates as PEM bytes. See [`ca_file`](Self::ca_file).
    pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca = Some(Pem::Bytes(Zeroizing::new(pem.into())));
        self
    }

    /// Sets the thing name, sent as the `x-amzn-iot-thingname` header so
    /// that policies can use thing attributes. Letters, digits and `:_-`,
    /// at most 128 characters.
    pub fn thing_name(mut self, thing_name: impl Into<String>) -> Self {
        self.thing_name = Some(thing_name.into());
        self
    }

    /// Requests a credential lifetime, sent as the
    /// `x-amzn-iot-credential-duration-seconds` header: whole seconds from
    /// 900 to 43,200. Defaults to the role alias's configured duration.
    pub fn duration(mut self, duration: Duration) -> Self {
        self.duration = Some(duration);
        self
    }

    /// Sets the timeout of one credentials request, from connect to the
    /// last byte of the response. Defaults to [`DEFAULT_IOT_TIMEOUT`]
    /// (10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Turns off verification of the server's certificate.
    ///
    /// Anyone on the network path can then impersonate the provider and
    /// hand the device credentials of their choice. Use it only against a
    /// local test provider. Every refresh logs a warning while it is on.
    pub fn danger_accept_invalid_server_certificate(mut self) -> Self {
        self.accept_invalid_server_certificate = true;
        self
    }

    /// Validates the settings and builds the config.
    ///
    /// # Errors
    ///
    /// - A validation error naming the parameter and value for a missing or
    ///   malformed endpoint, role alias, certificate, thing name, duration
    ///   or timeout.
    /// - A configuration error when both or neither of a PEM private key
    ///   and a PKCS#11 key are set.
    pub fn build(self) -> Result<IotConfig, Error> {
        let endpoint = Endpoint::parse(&required("endpoint", self.endpoint)?)?;

        let role_alias = required("role_alias", self.role_alias)?;
        check_name("role_alias", &role_alias, |byte| {
            byte.is_ascii_alphanumeric() || b"_=,@-".contains(&byte)
        })?;

        let certificate = required("certificate", self.certificate)?;
        let key = choose_key(
            self.private_key,
            #[cfg(feature = "pkcs11")]
            self.pkcs11,
        )?;

        if let Some(thing_name) = &self.thing_name {
            check_name("thing_name", thing_name, |byte| {
                byte.is_ascii_alphanumeric() || b":_-".contains(&byte)
            })?;
        }

        if let Some(duration) = self.duration {
            check_duration(duration)?;
        }

        let timeout = self.timeout.unwrap_or(DEFAULT_IOT_TIMEOUT);
        if timeout.is_zero() {
            return Err(Error::validation(
                "timeout",
                Some(format!("{timeout:?}")),
                "`timeout` must be longer than zero; the default is 10 s",
            ));
        }

        Ok(IotConfig {
            endpoint,
            role_alias,
            certificate,
            key,
            ca: self.ca,
            thing_name: self.thing_name,
            duration: self.duration,
            timeout,
            accept_invalid_server_certificate: self.accept_invalid_server_certificate,
        })
    }
}

impl fmt::Debug for IotConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("IotConfigBuilder");
        debug
            .field("endpoint", &self.endpoint)
            .field("role_alias", &self.role_alias)
            .field(
                "certificate",
                &self.certificate.as_ref().map(|pem| pem.describe(false)),
            )
            .field(
                "private_key",
                &self.private_key.as_ref().map(|pem| pem.describe(true)),
            );
        #[cfg(feature = "pkcs11")]
        debug.field("pkcs11_key", &self.pkcs11);
        debug
            .field("ca", &self.ca.as_ref().map(|pem| pem.describe(false)))
            .field("thing_name", &self.thing_name)
            .field("duration", &self.duration)
            .field("timeout", &self.timeout)
            .field(
                "accept_invalid_server_certificate",
                &self.accept_invalid_server_certificate,
            )
            .finish()
    }
}

fn required<T>(parameter: &str, value: Option<T>) -> Result<T, Error> {
    value.ok_or_else(|| {
        Error::validation(
            parameter,
            None,
            format!(
                "`{parameter}` is required for the IoT credentials provider; set it on the builder"
            ),
        )
    })
}

fn choose_key(
    private_key: Option<Pem>,
    #[cfg(feature = "pkcs11")] pkcs11: Option<Pkcs11Key>,
) -> Result<ClientKey, Error> {
    #[cfg(feature = "pkcs11")]
    match (private_key, pkcs11) {
        (Some(pem), None) => Ok(ClientKey::Pem(pem)),
        (None, Some(key)) => {
            key.validate()?;
            Ok(ClientKey::Pkcs11(key))
        }
        (Some(_), Some(_)) => Err(Error::configuration(
            "both a private key and a PKCS#11 key are set; set exactly one of them",
        )),
        (None, None) => Err(Error::configuration(
            "no private key is set; set a private key (file or PEM) or a PKCS#11 key",
        )),
    }

    #[cfg(not(feature = "pkcs11"))]
    match private_key {
        Some(pem) => Ok(ClientKey::Pem(pem)),
        None => Err(Error::configuration(
            "no private key is set; set a private key (file or PEM), or enable the `pkcs11` feature for a token-held key",
        )),
    }
}

fn check_name(parameter: &str, value: &str, allowed: impl Fn(u8) -> bool) -> Result<(), Error> {
    let problem = if value.is_empty() {
        Some("is empty".to_owned())
    } else if value.len() > MAX_NAME_LEN {
        Some(format!(
            "is {} characters long, over the maximum of {MAX_NAME_LEN}",
            value.len()
        ))
    } else {
        value.bytes().find(|byte| !allowed(*byte)).map(|bad| {
            format!(
                "contains the character {:?}, which AWS IoT does not allow here",
                bad as char
            )
        })
    };

    match problem {
        None => Ok(()),
        Some(problem) => Err(Error::validation(
            parameter,
            Some(value.to_owned()),
            format!("`{parameter}` {value:?} {problem}"),
        )),
    }
}

fn check_duration(duration: Duration) -> Result<(), Error> {
    let whole = duration.subsec_nanos() == 0;
    if whole && (MIN_IOT_DURATION..=MAX_IOT_DURATION).contains(&duration) {
        return Ok(());
    }
    Err(Error::validation(
        "duration",
        Some(format!("{duration:?}")),
        format!(
            "`duration` {duration:?} is invalid; pass whole seconds from {} to {}",
            MIN_IOT_DURATION.as_secs(),
            MAX_IOT_DURATION.as_secs()
        ),
    ))
}

/// Percent-encodes `segment` for use as one URI path segment (RFC 3986
/// `pchar`), keeping unreserved characters and the sub-delimiters a role
/// alias may contain.
fn encode_path_segment(segment: &str) -> String {
    let mut encoded = String::with_capacity(segment.len());
    for byte in segment.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~=,@".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> IotConfigBuilder {
        IotConfig::builder()
            .endpoint("https://127.0.0.1:8443")
            .role_alias("example-role-alias")
            .certificate_pem("cert")
            .private_key_pem("key")
    }

    #[test]
    fn defaults_apply() {
        let config = valid().build().unwrap();

        assert_eq!(config.timeout(), DEFAULT_IOT_TIMEOUT);
        assert_eq!(config.duration(), None);
        assert!(!config.accepts_invalid_server_certificate());
        assert_eq!(
            config.request_path(),
            "/role-aliases/example-role-alias/credentials"
        );
    }

    #[test]
    fn duration_bounds_are_inclusive() {
        for seconds in [900, 3600, 43_200] {
            assert!(
                valid()
                    .duration(Duration::from_secs(seconds))
                    .build()
                    .is_ok(),
                "{seconds}"
            );
        }
    }

    #[test]
    fn duration_outside_bounds_is_rejected() {
        for duration in [
            Duration::from_secs(899),
            Duration::from_secs(43_201),
            Duration::from_millis(900_500),
            Duration::ZERO,
        ] {
            let error = valid().duration(duration).build().unwrap_err();
            assert!(error.is_validation(), "{duration:?}");
            assert_eq!(error.parameter(), Some("duration"));
            assert_eq!(error.value(), Some(format!("{duration:?}").as_str()));
        }
    }

    #[test]
    fn role_alias_characters_are_checked() {
        let error = valid().role_alias("bad/alias").build().unwrap_err();

        assert_eq!(error.parameter(), Some("role_alias"));
        assert_eq!(error.value(), Some("bad/alias"));
        assert!(error.message().contains("'/'"), "{error}");
    }

    #[test]
    fn role_alias_sub_delimiters_pass_unencoded() {
        let config = valid().role_alias("a=b,c@d_e-f").build().unwrap();

        assert_eq!(
            config.request_path(),
            "/role-aliases/a=b,c@d_e-f/credentials"
        );
    }

    #[test]
    fn role_alias_too_long_is_rejected() {
        let error = valid().role_alias("a".repeat(129)).build().unwrap_err();

        assert_eq!(error.parameter(), Some("role_alias"));
    }

    #[test]
    fn thing_name_characters_are_checked() {
        assert!(valid().thing_name("thing:one_2-x").build().is_ok());

        let error = valid().thing_name("thing one").build().unwrap_err();
        assert_eq!(error.parameter(), Some("thing_name"));
        assert_eq!(error.value(), Some("thing one"));
    }

    #[test]
    fn missing_parameters_are_named() {
        let error = IotConfig::builder().build().unwrap_err();
        assert_eq!(error.parameter(), Some("endpoint"));

        let error = IotConfig::builder()
            .endpoint("https://127.0.0.1:1")
            .build()
            .unwrap_err();
        assert_eq!(error.parameter(), Some("role_alias"));

        let error = IotConfig::builder()
            .endpoint("https://127.0.0.1:1")
            .role_alias("a")
            .build()
            .unwrap_err();
        assert_eq!(error.parameter(), Some("certificate"));
    }

    #[test]
    fn missing_key_is_configuration_error() {
        let error = IotConfig::builder()
            .endpoint("https://127.0.0.1:1")
            .role_alias("a")
            .certificate_pem("cert")
            .build()
            .unwrap_err();

        assert!(error.is_configuration(), "{error}");
    }

    #[test]
    fn zero_timeout_is_rejected() {
        let error = valid().timeout(Duration::ZERO).build().unwrap_err();

        assert_eq!(error.parameter(), Some("timeout"));
    }

    #[test]
    fn debug_hides_private_key_pem() {
        let key = "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----\n";
        let builder = valid().private_key_pem(key);
        let config = builder.clone().build().unwrap();

        for printed in [format!("{config:?}"), format!("{builder:?}")] {
            assert!(!printed.contains("MIGHAgEA"), "{printed}");
            assert!(printed.contains("in-memory PEM (redacted)"), "{printed}");
        }
    }
}
