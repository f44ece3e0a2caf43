//! The credentials provider's endpoint: the host form AWS issues, the data
//! endpoint rewritten to it, or an explicit `https://host:port` URL.

use std::fmt;

use rustls_pki_types::ServerName;

use crate::error::Error;

/// The port of an endpoint given as a bare host name: 443.
const HTTPS_PORT: u16 = 443;

/// The endpoint the source connects to.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Endpoint {
    host: String,
    port: u16,
}

impl Endpoint {
    /// Parses what the user configured.
    ///
    /// - `<id>.credentials.iot.<region>.amazonaws.com[.cn]` is used as is.
    /// - `<id>-ats.iot.<region>.amazonaws.com[.cn]` and
    ///   `<id>.iot.<region>.amazonaws.com[.cn]` are data endpoints; they are
    ///   rewritten to the credentials form with a warning, because the data
    ///   endpoint does not serve `/role-aliases/...`.
    /// - `https://host:port` is used as given (local providers, private
    ///   endpoints).
    pub(crate) fn parse(input: &str) -> Result<Endpoint, Error> {
        let trimmed = input.trim();
        if trimmed.is_empty() {
            return Err(Error::validation(
                "endpoint",
                Some(input.to_owned()),
                "`endpoint` is empty; pass the account's credentials endpoint \
                 (`aws iot describe-endpoint --endpoint-type iot:CredentialProvider`)",
            ));
        }

        if trimmed.contains("://") {
            return Endpoint::parse_url(trimmed);
        }

        let host = trimmed.trim_end_matches('.').to_ascii_lowercase();
        match classify_host(&host) {
            HostForm::Credentials => Ok(Endpoint {
                host,
                port: HTTPS_PORT,
            }),
            HostForm::Data { id, rest } => {
                let rewritten = format!("{id}.credentials.iot.{rest}");
                tracing::warn!(
                    configured = %mask_prefix(&host),
                    using = %mask_prefix(&rewritten),
                    "the IoT data endpoint does not vend credentials; using the credentials endpoint instead"
                );
                Ok(Endpoint {
                    host: rewritten,
                    port: HTTPS_PORT,
                })
            }
            HostForm::Other => Err(Error::validation(
                "endpoint",
                Some(crate::cache::RedactedEndpoint(input).to_string()),
                format!(
                    "`endpoint` {:?} is not an AWS IoT credentials endpoint; pass \
                     `<id>.credentials.iot.<region>.amazonaws.com` (from `aws iot describe-endpoint \
                     --endpoint-type iot:CredentialProvider`), or a full URL such as \
                     `https://127.0.0.1:8443` for a private or local provider",
                    crate::cache::RedactedEndpoint(input).to_string()
                ),
            )),
        }
    }

    fn parse_url(input: &str) -> Result<Endpoint, Error> {
        // A password in `user:password@` must not reach the error's value
        // or message, which callers log.
        let redacted = crate::cache::RedactedEndpoint(input);
        let shown = redacted.to_string();
        let invalid = |why: &str| {
            Error::validation(
                "endpoint",
                Some(shown.clone()),
                format!("`endpoint` URL {shown:?} is invalid: {why}"),
            )
        };
        if redacted.has_userinfo() {
            return Err(invalid(
                "it contains user information, which the provider does not use (it authenticates the device by mutual TLS); remove the `user:password@` part",
            ));
        }

        let uri: http::Uri = input
            .parse()
            .map_err(|error| invalid("it does not parse as a URL").with_source(error))?;
        if uri.scheme_str() != Some("https") {
            return Err(invalid(
                "the scheme must be `https`, because the provider authenticates the device by mutual TLS",
            ));
        }
        let Some(host) = uri.host() else {
            return Err(invalid("it has no host"));
        };
        if uri.path() != "/" && !uri.path().is_empty() || uri.query().is_some() {
            return Err(invalid(
                "it has a path or query; pass only `https://host:port`, the request path is set by the role alias",
            ));
        }

        // `http::Uri` keeps the brackets of an IPv6 literal.
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if !crate::cache::has_valid_port(&uri) {
            return Err(invalid("the port must be from 1 to 65535"));
        }
        let port = uri.port_u16().unwrap_or(HTTPS_PORT);
        let endpoint = Endpoint {
            host: host.to_ascii_lowercase(),
            port,
        };
        endpoint
            .server_name()
            .map_err(|_| invalid("the host is not a valid DNS name or IP address"))?;
        Ok(endpoint)
    }

    /// Returns the host, without brackets for IPv6.
    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    /// Returns the TCP port.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// Returns the name the server certificate must match.
    pub(crate) fn server_name(&self) -> Result<ServerName<'static>, Error> {
        ServerName::try_from(self.host.clone()).map_err(|error| {
            Error::validation(
                "endpoint",
                Some(self.host.clone()),
                format!(
                    "`endpoint` host {:?} is not a valid DNS name or IP address",
                    self.host
                ),
            )
            .with_source(error)
        })
    }

    /// Returns the `Host` header value: the host, and the port unless 443.
    pub(crate) fn authority(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == HTTPS_PORT {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "https://{}", self.authority())
    }
}

impl fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{self}")
    }
}

enum HostForm<'a> {
    Credentials,
    /// A data endpoint: the account-specific `id` and what follows `.iot.`.
    Data {
        id: &'a str,
        rest: &'a str,
    },
    Other,
}

fn classify_host(host: &str) -> HostForm<'_> {
    let Some((prefix, rest)) = host.split_once(".iot.") else {
        return HostForm::Other;
    };
    if !is_region_and_domain(rest) {
        return HostForm::Other;
    }

    if let Some(id) = prefix.strip_suffix(".credentials") {
        return if is_endpoint_id(id) {
            HostForm::Credentials
        } else {
            HostForm::Other
        };
    }

    let id = prefix.strip_suffix("-ats").unwrap_or(prefix);
    if is_endpoint_id(id) {
        HostForm::Data { id, rest }
    } else {
        HostForm::Other
    }
}

/// Checks the account-specific endpoint prefix: lowercase letters and digits.
fn is_endpoint_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit())
}

/// Checks for `<region>.amazonaws.com` or `<region>.amazonaws.com.cn`.
fn is_region_and_domain(rest: &str) -> bool {
    let region = rest
        .strip_suffix(".amazonaws.com")
        .or_else(|| rest.strip_suffix(".amazonaws.com.cn"));
    region.is_some_and(|region| {
        !region.is_empty()
            && region
                .bytes()
                .all(|byte| byte.is_ascii_lowercase() || byte.is_ascii_digit() || byte == b'-')
    })
}

/// Masks the account-specific prefix of an AWS endpoint host for logs.
pub(crate) fn mask_prefix(host: &str) -> String {
    match host.split_once('.') {
        Some((first, rest)) => {
            let suffix = if first.ends_with("-ats") { "-ats" } else { "" };
            format!("****{suffix}.{rest}")
        }
        None => host.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_form_is_used_as_is() {
        let endpoint =
            Endpoint::parse("c1b2c3example.credentials.iot.us-east-1.amazonaws.com").unwrap();

        assert_eq!(
            endpoint.host(),
            "c1b2c3example.credentials.iot.us-east-1.amazonaws.com"
        );
        assert_eq!(endpoint.port(), 443);
    }

    #[test]
    fn data_forms_are_rewritten() {
        for input in [
            "a1b2c3example-ats.iot.eu-west-1.amazonaws.com",
            "a1b2c3example.iot.eu-west-1.amazonaws.com",
        ] {
            let endpoint = Endpoint::parse(input).unwrap();
            assert_eq!(
                endpoint.host(),
                "a1b2c3example.credentials.iot.eu-west-1.amazonaws.com",
                "{input}"
            );
        }
    }

    #[test]
    fn china_partition_is_accepted() {
        let endpoint =
            Endpoint::parse("abc123.credentials.iot.cn-north-1.amazonaws.com.cn").unwrap();

        assert_eq!(
            endpoint.authority(),
            "abc123.credentials.iot.cn-north-1.amazonaws.com.cn"
        );
    }

    #[test]
    fn other_hosts_are_rejected() {
        for input in [
            "example.com",
            "sts.us-east-1.amazonaws.com",
            "abc.credentials.iot.us-east-1.example.com",
            "ABC_1.credentials.iot.us-east-1.amazonaws.com",
            "127.0.0.1:8443",
            "",
        ] {
            let error = Endpoint::parse(input).unwrap_err();
            assert!(error.is_validation(), "{input}");
            assert_eq!(error.parameter(), Some("endpoint"), "{input}");
        }
    }

    #[test]
    fn explicit_url_is_used_as_given() {
        let endpoint = Endpoint::parse("https://127.0.0.1:8443").unwrap();

        assert_eq!(endpoint.host(), "127.0.0.1");
        assert_eq!(endpoint.port(), 8443);
        assert_eq!(endpoint.to_string(), "https://127.0.0.1:8443");
    }

    #[test]
    fn url_needs_https_and_no_path() {
        for input in [
            "http://127.0.0.1:8443",
            "https://127.0.0.1:8443/role-aliases/x",
            "https://h?x=1",
        ] {
            let error = Endpoint::parse(input).unwrap_err();
            assert!(error.is_validation(), "{input}");
        }
    }

    #[test]
    fn ipv6_url_keeps_brackets_in_authority() {
        let endpoint = Endpoint::parse("https://[::1]:9443").unwrap();

        assert_eq!(endpoint.host(), "::1");
        assert_eq!(endpoint.authority(), "[::1]:9443");
    }

    #[test]
    fn mask_hides_account_prefix() {
        assert_eq!(
            mask_prefix("a1b2c3example-ats.iot.us-east-1.amazonaws.com"),
            "****-ats.iot.us-east-1.amazonaws.com"
        );
        assert_eq!(
            mask_prefix("a1b2c3example.credentials.iot.us-east-1.amazonaws.com"),
            "****.credentials.iot.us-east-1.amazonaws.com"
        );
    }
}
