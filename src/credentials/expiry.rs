//! Parsing and formatting credential expiry times.
//!
//! Sources send expiry in several shapes: STS and IoT send RFC 3339 with `Z`
//! (moto adds microseconds), `credential_process` scripts often send numeric
//! offsets, and Cognito sends epoch seconds as a JSON number. A timestamp
//! without a zone is rejected rather than guessed as local time.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::Error;

/// Parses an RFC 3339 timestamp with a zone (`Z` or `±hh:mm`) and optional
/// fractional seconds.
///
/// # Errors
///
/// A credential error naming `field` when `value` is not such a timestamp,
/// including a timestamp without a zone designator.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use aws_refresh_session::credentials::parse_rfc3339;
///
/// let expiry = parse_rfc3339("Expiration", "2026-12-04T14:20:00-05:00").unwrap();
/// assert_eq!(expiry, UNIX_EPOCH + Duration::from_secs(1_796_412_000));
/// assert!(parse_rfc3339("Expiration", "2026-12-04T19:20:00").is_err());
/// ```
pub fn parse_rfc3339(field: &str, value: &str) -> Result<SystemTime, Error> {
    let parsed = OffsetDateTime::parse(value, &Rfc3339).map_err(|error| {
        let hint = if looks_zoneless(value) {
            "it has no time zone; add `Z` or an offset such as `+00:00`"
        } else {
            "expected RFC 3339 such as `2026-12-04T19:20:00Z`"
        };
        Error::credential(
            field,
            format!("`{field}` value {value:?} is not a valid timestamp: {hint}"),
        )
        .with_source(error)
    })?;

    Ok(SystemTime::from(parsed))
}

/// Parses an expiry from JSON: an RFC 3339 string or epoch seconds.
///
/// # Errors
///
/// A credential error naming `field` for a string that is not RFC 3339 with
/// a zone, a negative or fractional number, or any other JSON type.
pub fn parse_json_expiry(field: &str, value: &serde_json::Value) -> Result<SystemTime, Error> {
    match value {
        serde_json::Value::String(text) => parse_rfc3339(field, text),
        serde_json::Value::Number(number) => match number.as_u64() {
            Some(seconds) => UNIX_EPOCH
                .checked_add(Duration::from_secs(seconds))
                .ok_or_else(|| {
                    Error::credential(
                        field,
                        format!(
                            "`{field}` value {number} is beyond the range of the system clock; send epoch seconds of a real expiry"
                        ),
                    )
                }),
            None => Err(Error::credential(
                field,
                format!(
                    "`{field}` value {number} is not valid epoch seconds; send a whole, non-negative number or an RFC 3339 string"
                ),
            )),
        },
        other => Err(Error::credential(
            field,
            format!(
                "`{field}` has the wrong type ({}); send an RFC 3339 string or epoch seconds",
                json_type_name(other)
            ),
        )),
    }
}

/// Formats `time` as RFC 3339 in UTC, with fractional seconds only when
/// they are not zero.
pub fn format_rfc3339(time: SystemTime) -> String {
    // `OffsetDateTime::from(SystemTime)` panics past the year 9999, which a
    // source's expiry may be, so the conversion is checked.
    let utc = match time.duration_since(UNIX_EPOCH) {
        Ok(after) => time::Duration::try_from(after)
            .ok()
            .and_then(|after| OffsetDateTime::UNIX_EPOCH.checked_add(after)),
        Err(before) => time::Duration::try_from(before.duration())
            .ok()
            .and_then(|before| OffsetDateTime::UNIX_EPOCH.checked_sub(before)),
    };
    utc.and_then(|utc| utc.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{:?}", time.duration_since(UNIX_EPOCH)))
}

fn looks_zoneless(value: &str) -> bool {
    let Some((_, clock)) = value.split_once(['T', 't', ' ']) else {
        return false;
    };
    !clock.contains(['Z', 'z', '+', '-'])
}

fn json_type_name(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "boolean",
        serde_json::Value::Number(_) => "number",
        serde_json::Value::String(_) => "string",
        serde_json::Value::Array(_) => "array",
        serde_json::Value::Object(_) => "object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(seconds, nanos)
    }

    #[test]
    fn accepted_forms_parse_to_the_same_instant() {
        let cases = [
            ("2026-12-04T19:20:00Z", at(1_796_412_000, 0)),
            ("2026-12-04T19:20:00.123Z", at(1_796_412_000, 123_000_000)),
            (
                "2026-12-04T19:20:00.123456789Z",
                at(1_796_412_000, 123_456_789),
            ),
            ("2026-12-04T20:20:00+01:00", at(1_796_412_000, 0)),
            ("2026-12-04T14:20:00-05:00", at(1_796_412_000, 0)),
            ("2026-12-04T14:20:00.000-05:00", at(1_796_412_000, 0)),
        ];

        for (input, expected) in cases {
            assert_eq!(
                parse_rfc3339("Expiration", input).unwrap(),
                expected,
                "{input}"
            );
        }
    }

    #[test]
    fn zoneless_timestamp_is_rejected_with_hint() {
        let error = parse_rfc3339("Expiration", "2026-12-04T19:20:00").unwrap_err();

        assert!(error.is_credential());
        assert_eq!(error.parameter(), Some("Expiration"));
        assert!(error.to_string().contains("no time zone"), "{error}");
    }

    #[test]
    fn garbage_is_rejected() {
        let error = parse_rfc3339("Expiration", "not-a-date").unwrap_err();

        assert!(error.to_string().contains("\"not-a-date\""), "{error}");
    }

    #[test]
    fn json_epoch_seconds_parse() {
        let value = serde_json::json!(1_796_412_000u64);

        assert_eq!(
            parse_json_expiry("Expiration", &value).unwrap(),
            at(1_796_412_000, 0)
        );
    }

    #[test]
    fn json_wrong_types_are_rejected() {
        for value in [
            serde_json::json!(true),
            serde_json::json!(-5),
            serde_json::json!(1.5),
            serde_json::json!(null),
        ] {
            let error = parse_json_expiry("expiration", &value).unwrap_err();
            assert!(error.is_credential(), "{value}");
            assert_eq!(error.parameter(), Some("expiration"));
        }
    }

    #[test]
    fn format_round_trips() {
        assert_eq!(format_rfc3339(at(1_796_412_000, 0)), "2026-12-04T19:20:00Z");
        assert_eq!(
            format_rfc3339(at(1_796_412_000, 123_000_000)),
            "2026-12-04T19:20:00.123Z"
        );
    }
}
