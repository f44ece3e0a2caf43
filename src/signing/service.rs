//! The service that signs each request before calling the inner one.

use std::task::{Context, Poll};

use http::{Request, Response};
use http_body::Body;
use tower::Service;

use super::error::SigningServiceError;
use super::future::ResponseFuture;
use super::invalidate::ResponseBody;
use super::layer::Signer;
use super::sign::sign_request;
use crate::refresh::Lookup;

/// Signs each request with SigV4 and calls the inner service.
///
/// When the store has credentials ready (the usual case) the request is
/// signed synchronously in `call`, without a lock or an `.await`. At cold
/// start, inside the mandatory refresh window, or after invalidation, the
/// response future first waits for the store's refresh, then signs and
/// calls the inner service that `poll_ready` readied.
///
/// A request that cannot be signed fails with
/// [`SigningServiceError::Signing`] and never reaches the inner service.
///
/// The response body comes back wrapped in [`ResponseBody`], which passes
/// every frame through and watches rejected responses for an expired-token
/// error (see [`SigningSettings::invalidate_on_expired_token`](super::SigningSettings::invalidate_on_expired_token)).
///
/// Created by [`RefreshingCredentialsLayer`](super::RefreshingCredentialsLayer).
#[derive(Clone, Debug)]
pub struct SigningService<S> {
    inner: S,
    signer: Signer,
}

impl<S> SigningService<S> {
    pub(crate) fn new(inner: S, signer: Signer) -> Self {
        SigningService { inner, signer }
    }

    /// Returns a reference to the inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// Returns a mutable reference to the inner service.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Returns the inner service, consuming `self`.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for SigningService<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    ReqBody: Body + 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = SigningServiceError<S::Error>;
    type Future = ResponseFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner
            .poll_ready(cx)
            .map_err(SigningServiceError::Service)
    }

    fn call(&mut self, mut request: Request<ReqBody>) -> Self::Future {
        if let Some(error) = &self.signer.shared.invalid {
            return ResponseFuture::failed(error.clone());
        }

        match self.signer.shared.store.lookup() {
            Lookup::Ready(current) => {
                let time = self.signer.signing_time();
                let signed =
                    sign_request(&mut request, &current, &self.signer.shared.settings, time);
                let signed_with = self.signer.keep_for_invalidation(&current);
                drop(current);
                match signed {
                    Ok(()) => ResponseFuture::called(
                        self.inner.call(request),
                        self.signer.clone(),
                        signed_with,
                    ),
                    Err(error) => {
                        tracing::error!(error = %error, uri = %super::sign::describe_uri(request.uri()), "request not signed");
                        ResponseFuture::failed(error)
                    }
                }
            }
            Lookup::Wait => {
                // `poll_ready` readied `self.inner`; that instance goes with
                // the request, and a fresh clone stays behind for the next
                // `poll_ready`.
                let clone = self.inner.clone();
                let readied = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::waiting(request, readied, self.signer.clone())
            }
        }
    }
}
