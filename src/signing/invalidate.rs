//! Invalidation of credentials that AWS rejected as expired or invalid.
//!
//! JSON protocols name the error in the `x-amzn-ErrorType` header, which is
//! checked as soon as the response head arrives. XML and query protocols
//! (STS, S3) put it only in the body, so [`ResponseBody`] looks for
//! `<Code>ExpiredToken</Code>` and its siblings in the first
//! [`MAX_SCANNED_BODY_BYTES`] of a 400 or 403 body while the frames pass
//! through to the caller unchanged.

use std::fmt;
use std::io::IoSlice;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Buf;
use http::{HeaderMap, StatusCode};
use http_body::{Body, Frame, SizeHint};
use pin_project_lite::pin_project;

use crate::refresh::CredentialStore;

/// How many bytes at the start of a 400 or 403 response body are searched
/// for an expired-token error code: 4096. In the error documents of STS and
/// S3, `<Code>` comes within the first 200 bytes.
pub const MAX_SCANNED_BODY_BYTES: usize = 4096;

/// The error codes that mean the credentials themselves were rejected, so
/// fresh ones may succeed. `RequestExpired` is absent on purpose: it means
/// the signature's time was wrong, which new credentials do not fix.
const EXPIRED_TOKEN_CODES: &[&str] = &["ExpiredToken", "ExpiredTokenException", "InvalidToken"];

/// The same codes as they appear in XML error documents.
const EXPIRED_TOKEN_ELEMENTS: &[&[u8]] = &[
    b"<Code>ExpiredToken</Code>",
    b"<Code>ExpiredTokenException</Code>",
    b"<Code>InvalidToken</Code>",
];

/// Returns whether `code` means the credentials were rejected.
pub(crate) fn is_expired_token_code(code: &str) -> bool {
    EXPIRED_TOKEN_CODES.contains(&code)
}

/// Returns the error code of an `x-amzn-ErrorType` header, without the
/// namespace (`aws.sts#`) and URI suffix (`:http://...`) that AWS may add.
pub(crate) fn error_type_code(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get("x-amzn-errortype")?.to_str().ok()?;
    let code = value.split(':').next()?;
    let code = code.rsplit('#').next()?;
    Some(code.trim())
}

/// Returns whether a response with this status may carry an expired-token
/// code in its body: AWS sends them as 400 (STS, S3) or 403.
pub(crate) fn body_may_report_expiry(status: StatusCode) -> bool {
    status == StatusCode::BAD_REQUEST || status == StatusCode::FORBIDDEN
}

/// Invalidates `access_key_id` in `store` after AWS rejected it with `code`.
pub(crate) fn report_rejected(store: &CredentialStore, access_key_id: &str, code: &str) {
    let invalidated = store.invalidate(access_key_id);
    tracing::info!(
        access_key_id,
        code,
        invalidated,
        "AWS rejected the credentials that signed a request"
    );
}

/// The search state of a [`ResponseBody`].
struct Scan {
    store: CredentialStore,
    access_key_id: String,
    /// The bytes seen so far, at most [`MAX_SCANNED_BODY_BYTES`].
    seen: Vec<u8>,
}

impl Scan {
    /// Appends `bytes` and returns whether the scan is over: a code was
    /// found (and reported) or the limit was reached.
    fn feed(&mut self, bytes: &[u8]) -> bool {
        let start = self.seen.len();
        let room = MAX_SCANNED_BODY_BYTES - start;
        self.seen.extend_from_slice(&bytes[..bytes.len().min(room)]);

        for element in EXPIRED_TOKEN_ELEMENTS {
            // A code split across two frames is found because the search
            // starts before the newly appended bytes.
            let from = start.saturating_sub(element.len() - 1);
            if self.seen[from..]
                .windows(element.len())
                .any(|window| window == *element)
            {
                let code = std::str::from_utf8(&element[6..element.len() - 7]).unwrap_or("");
                report_rejected(&self.store, &self.access_key_id, code);
                return true;
            }
        }
        self.seen.len() >= MAX_SCANNED_BODY_BYTES
    }
}

pin_project! {
    /// The response body of [`SigningService`](super::SigningService).
    ///
    /// It passes every frame of the inner body through unchanged, as it
    /// arrives. For a 400 or 403 response to a signed request it also
    /// searches the first [`MAX_SCANNED_BODY_BYTES`] for an expired-token
    /// error code and, on a match, invalidates the credentials that signed
    /// the request (see
    /// [`SigningSettings::invalidate_on_expired_token`](super::SigningSettings::invalidate_on_expired_token)).
    /// Every other response is not inspected at all.
    pub struct ResponseBody<B> {
        #[pin]
        inner: B,
        scan: Option<Box<Scan>>,
    }
}

impl<B> ResponseBody<B> {
    /// Wraps `inner` without inspecting it.
    pub fn new(inner: B) -> Self {
        ResponseBody { inner, scan: None }
    }

    pub(crate) fn scanning(inner: B, store: CredentialStore, access_key_id: String) -> Self {
        ResponseBody {
            inner,
            scan: Some(Box::new(Scan {
                store,
                access_key_id,
                seen: Vec::new(),
            })),
        }
    }

    /// Returns whether this body is still searched for an error code.
    pub fn is_scanning(&self) -> bool {
        self.scan.is_some()
    }

    /// Returns a reference to the inner body.
    pub fn get_ref(&self) -> &B {
        &self.inner
    }

    /// Returns a mutable reference to the inner body.
    pub fn get_mut(&mut self) -> &mut B {
        &mut self.inner
    }

    /// Returns the inner body, consuming `self` and ending the search.
    pub fn into_inner(self) -> B {
        self.inner
    }
}

impl<B> Default for ResponseBody<B>
where
    B: Default,
{
    fn default() -> Self {
        ResponseBody::new(B::default())
    }
}

impl<B> Body for ResponseBody<B>
where
    B: Body,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = self.project();
        let frame = std::task::ready!(this.inner.poll_frame(cx));

        if let Some(scan) = this.scan.as_mut() {
            let done = match &frame {
                Some(Ok(frame)) => match frame.data_ref() {
                    Some(data) => feed_buf(scan, data),
                    None => false,
                },
                // The body ended or failed: nothing more to see.
                _ => true,
            };
            if done {
                *this.scan = None;
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// Feeds every chunk of `data` to `scan`, without consuming `data`.
fn feed_buf<D: Buf>(scan: &mut Scan, data: &D) -> bool {
    let mut slices = [IoSlice::new(&[]); 16];
    let count = data.chunks_vectored(&mut slices);
    for slice in &slices[..count] {
        if scan.feed(slice) {
            return true;
        }
    }
    false
}

impl<B: fmt::Debug> fmt::Debug for ResponseBody<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseBody")
            .field("inner", &self.inner)
            .field("scanning", &self.scan.is_some())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-amzn-ErrorType", value.parse().unwrap());
        headers
    }

    #[test]
    fn error_type_drops_uri_suffix() {
        let headers = headers(
            "ExpiredTokenException:http://internal.amazon.com/coral/com.amazon.coral.service/",
        );

        assert_eq!(error_type_code(&headers), Some("ExpiredTokenException"));
    }

    #[test]
    fn error_type_drops_namespace() {
        let headers = headers("com.amazonaws.sts#InvalidToken");

        assert_eq!(error_type_code(&headers), Some("InvalidToken"));
    }

    #[test]
    fn request_expired_is_not_a_token_error() {
        assert!(!is_expired_token_code("RequestExpired"));
        assert!(is_expired_token_code("ExpiredToken"));
        assert!(is_expired_token_code("ExpiredTokenException"));
        assert!(is_expired_token_code("InvalidToken"));
    }

    #[test]
    fn only_400_and_403_bodies_are_scanned() {
        assert!(body_may_report_expiry(StatusCode::BAD_REQUEST));
        assert!(body_may_report_expiry(StatusCode::FORBIDDEN));
        assert!(!body_may_report_expiry(StatusCode::OK));
        assert!(!body_may_report_expiry(StatusCode::INTERNAL_SERVER_ERROR));
    }
}
