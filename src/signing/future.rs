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
use super::layer::Signer;
use super::sign::sign_request;
use crate::credentials::Credentials;
use crate::error::Error;
use crate::strategy::BoxFuture;

pin_project! {
    /// The response future of [`SigningService`](super::SigningService).
    ///
    /// It resolves to the inner service's response, after learning any
    /// clock skew from the response's `Date` header.
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
    pub(crate) fn called(future: S::Future, signer: Signer) -> Self {
        ResponseFuture {
            state: State::Called { future, signer },
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
    type Output = Result<Response<ResBody>, SigningServiceError<S::Error>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProjection::Called { future, signer } => {
                    let response = ready!(future.poll(cx)).map_err(SigningServiceError::Service)?;
                    if signer.shared.settings.learns_clock_skew() {
                        let local = signer.shared.store.clock().now();
                        signer
                            .shared
                            .skew
                            .observe(response.status(), response.headers(), local);
                    }
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

                    let signed = fetched.and_then(|credentials| {
                        let time = signer.signing_time();
                        sign_request(&mut request, &credentials, &signer.shared.settings, time)
                    });
                    if let Err(error) = signed {
                        tracing::error!(error = %error, uri = %super::sign::describe_uri(request.uri()), "request not signed");
                        this.state.set(State::Failed { error: None });
                        return Poll::Ready(Err(SigningServiceError::Signing(error)));
                    }

                    let future = service.call(request);
                    this.state.set(State::Called { future, signer });
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
