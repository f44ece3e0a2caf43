//! The signing service's response future.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::{Request, Response};
use http_body::Body;
use pin_project_lite::pin_project;
use tower::Service;

use super::error::SigningServiceError;
use super::invalidate::{
    ResponseBody, body_may_report_expiry, error_type_code, is_expired_token_code, report_rejected,
};
use super::layer::Signer;
use super::sign::sign_request;
use crate::credentials::Credentials;
use crate::error::Error;
use crate::strategy::BoxFuture;

pin_project! {
    /// The response future of [`SigningService`](super::SigningService).
    ///
    /// It resolves to the inner service's response, with its body wrapped
    /// in [`ResponseBody`], after learning any clock skew from the
    /// response's `Date` header and checking it for an expired-token error.
    pub struct ResponseFuture<S, B>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        state: State<S, B>,
    }
}

pin_project! {
    #[project = StateProjection]
    enum State<S, B>
    where
        S: Service<Request<B>>,
    {
        // The inner service was called.
        Called {
            #[pin]
            future: S::Future,
            signer: Signer,
            // The credentials that signed the request, kept to invalidate
            // them if AWS rejects them; `None` when that is switched off.
            signed_with: Option<Credentials>,
        },
        // The store had no credentials ready; a refresh is awaited.
        Waiting {
            credentials: BoxFuture<'static, Result<Credentials, Error>>,
            request: Option<Request<B>>,
            service: Option<S>,
            signer: Signer,
        },
        // Signing failed; the inner service is never called.
        Failed {
            error: Option<Error>,
        },
    }
}

impl<S, B> ResponseFuture<S, B>
where
    S: Service<Request<B>>,
{
    pub(crate) fn called(
        future: S::Future,
        signer: Signer,
        signed_with: Option<Credentials>,
    ) -> Self {
        ResponseFuture {
            state: State::Called {
                future,
                signer,
                signed_with,
            },
        }
    }

    pub(crate) fn waiting(request: Request<B>, service: S, signer: Signer) -> Self {
        let store = signer.shared.store.clone();
        ResponseFuture {
            state: State::Waiting {
                credentials: Box::pin(async move { store.credentials().await }),
                request: Some(request),
                service: Some(service),
                signer,
            },
        }
    }

    pub(crate) fn failed(error: Error) -> Self {
        ResponseFuture {
            state: State::Failed { error: Some(error) },
        }
    }
}

impl<S, B, ResBody> Future for ResponseFuture<S, B>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    B: Body + 'static,
{
    type Output = Result<Response<ResponseBody<ResBody>>, SigningServiceError<S::Error>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProjection::Called {
                    future,
                    signer,
                    signed_with,
                } => {
                    let response = ready!(future.poll(cx)).map_err(SigningServiceError::Service)?;
                    if signer.shared.settings.learns_clock_skew() {
                        let local = signer.shared.store.clock().now();
                        signer
                            .shared
                            .skew
                            .observe(response.status(), response.headers(), local);
                    }
                    let response = watch_for_rejection(response, signer, signed_with.take());
                    return Poll::Ready(Ok(response));
                }
                StateProjection::Waiting {
                    credentials,
                    request,
                    service,
                    signer,
                } => {
                    let fetched = ready!(credentials.as_mut().poll(cx));
                    let (Some(mut request), Some(mut service)) = (request.take(), service.take())
                    else {
                        return Poll::Ready(Err(polled_after_completion()));
                    };
                    let signer = signer.clone();

                    let mut fetched_key = None;
                    let signed = fetched.and_then(|credentials| {
                        let time = signer.signing_time();
                        let signed =
                            sign_request(&mut request, &credentials, &signer.shared.settings, time);
                        fetched_key = Some(credentials);
                        signed
                    });
                    if let Err(error) = signed {
                        tracing::error!(error = %error, uri = %super::sign::describe_uri(request.uri()), "request not signed");
                        this.state.set(State::Failed { error: None });
                        return Poll::Ready(Err(SigningServiceError::Signing(error)));
                    }

                    let future = service.call(request);
                    let signed_with = fetched_key
                        .and_then(|credentials| signer.keep_for_invalidation(&credentials));
                    this.state.set(State::Called {
                        future,
                        signer,
                        signed_with,
                    });
                }
                StateProjection::Failed { error } => {
                    return Poll::Ready(Err(match error.take() {
                        Some(error) => SigningServiceError::Signing(error),
                        None => polled_after_completion(),
                    }));
                }
            }
        }
    }
}

/// Invalidates the credentials that signed the request when the response
/// header names an expired-token error, or wraps a 400 or 403 body so it is
/// searched for one as it streams.
fn watch_for_rejection<B>(
    response: Response<B>,
    signer: &Signer,
    signed_with: Option<Credentials>,
) -> Response<ResponseBody<B>> {
    let Some(credentials) = signed_with else {
        return response.map(ResponseBody::new);
    };
    let status = response.status();
    if !status.is_client_error() {
        return response.map(ResponseBody::new);
    }

    let store = &signer.shared.store;
    if let Some(code) = error_type_code(response.headers()) {
        if is_expired_token_code(code) {
            report_rejected(store, credentials.access_key_id(), code);
        }
        // The header named the error, so the body is not searched.
        return response.map(ResponseBody::new);
    }
    if !body_may_report_expiry(status) {
        return response.map(ResponseBody::new);
    }

    let access_key_id = credentials.access_key_id().to_owned();
    let store = store.clone();
    response.map(|body| ResponseBody::scanning(body, store, access_key_id))
}

fn polled_after_completion<E>() -> SigningServiceError<E> {
    SigningServiceError::Signing(Error::signing(
        "the signing service's response future was polled after it completed; poll each future to completion once",
    ))
}

impl<S, B> fmt::Debug for ResponseFuture<S, B>
where
    S: Service<Request<B>>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Called { .. } => "called",
            State::Waiting { .. } => "waiting for credentials",
            State::Failed { .. } => "failed",
        };
        f.debug_struct("ResponseFuture")
            .field("state", &state)
            .finish()
    }
}
