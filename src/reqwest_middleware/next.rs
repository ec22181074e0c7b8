//! The rest of the middleware chain as a `tower::Service`, so seawall's
//! layers can wrap it.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Extensions;
use reqwest::{Request, Response};
use reqwest_middleware::Next;
use tower_service::Service;

use crate::sync::{Arc, Mutex};

/// Sends each attempt down the rest of the chain (`next`).
///
/// The chain takes the request's extensions by `&mut`; attempts take turns
/// with them. Each attempt starts from the extensions as the previous
/// attempt left them and puts them back when it ends, so what the
/// middleware further in records is there for the next attempt and, at the
/// end, for the caller. An attempt cancelled by its timeout leaves them as
/// they were before it.
#[derive(Clone)]
pub(super) struct NextService<'a> {
    next: Next<'a>,
    extensions: Arc<Mutex<Extensions>>,
}

impl<'a> NextService<'a> {
    pub(super) fn new(next: Next<'a>, extensions: Arc<Mutex<Extensions>>) -> Self {
        Self { next, extensions }
    }
}

impl<'a> Service<Request> for NextService<'a> {
    type Response = Response;
    type Error = reqwest_middleware::Error;
    type Future = Pin<Box<dyn Future<Output = reqwest_middleware::Result<Response>> + Send + 'a>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let next = self.next.clone();
        let shared = self.extensions.clone();
        Box::pin(async move {
            let mut extensions = shared.lock().clone();
            let result = next.run(request, &mut extensions).await;
            *shared.lock() = extensions;
            result
        })
    }
}
