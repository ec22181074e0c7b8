//! The tower glue of every keyed layer: pick a component by the request's key,
//! and let it decide the call.

use std::fmt;
use std::future::Future;
use std::task::{Context, Poll};

use tower_layer::Layer;
use tower_service::Service;

use crate::error::BoxError;

/// A keyed handle a [`KeyedService`] picks components from (a layer's public
/// `KeyedX`).
pub(crate) trait KeyedHandle: Clone {
    /// What requests are keyed by.
    type Key;
    /// What is kept per key.
    type Component;

    /// The component for `key`, built if it is new.
    fn component_for(&self, key: &Self::Key) -> Self::Component;
}

/// How a component takes a call: admit it to `inner` or refuse it, in one
/// response future.
///
/// `P` is what the layer adds to each call besides the component: a breaker's
/// classifier, nothing (`()`) for a bulkhead.
pub(crate) trait CallThrough<S: Service<Request>, Request, P> {
    /// The layer's response future.
    type Future: Future<Output = Result<S::Response, BoxError>>;

    /// Calls `inner` with `request` if this component admits it; otherwise a
    /// future that fails with the component's refusal, without calling
    /// `inner`.
    fn call_through(&self, inner: &mut S, request: Request, policy: &P) -> Self::Future;
}

/// Makes [`KeyedService`]s that share one keyed handle.
#[derive(Clone)]
pub(crate) struct KeyedLayer<H, F, P> {
    handle: H,
    key: F,
    policy: P,
}

impl<H, F, P> KeyedLayer<H, F, P> {
    /// Picks each request's component from `handle` by `key(&request)`.
    pub(crate) fn new(handle: H, key: F, policy: P) -> Self {
        Self {
            handle,
            key,
            policy,
        }
    }

    /// The same layer with `policy` instead.
    pub(crate) fn with_policy<P2>(self, policy: P2) -> KeyedLayer<H, F, P2> {
        KeyedLayer {
            handle: self.handle,
            key: self.key,
            policy,
        }
    }
}

impl<S, H: Clone, F: Clone, P: Clone> Layer<S> for KeyedLayer<H, F, P> {
    type Service = KeyedService<S, H, F, P>;

    fn layer(&self, inner: S) -> Self::Service {
        KeyedService {
            inner,
            handle: self.handle.clone(),
            key: self.key.clone(),
            policy: self.policy.clone(),
        }
    }
}

impl<H: fmt::Debug, F, P> KeyedLayer<H, F, P> {
    /// `Debug` for the public layer called `type_name`, its handle shown as
    /// `handle_name`.
    pub(crate) fn fmt_as(
        &self,
        type_name: &str,
        handle_name: &str,
        f: &mut fmt::Formatter<'_>,
    ) -> fmt::Result {
        f.debug_struct(type_name)
            .field(handle_name, &self.handle)
            .finish_non_exhaustive()
    }
}

/// A service with a component per key of the request.
///
/// The key is only known in `call`, so `poll_ready` waits for the inner
/// service and `call` asks the key's component: a refused call never reaches
/// the inner service.
#[derive(Clone)]
pub(crate) struct KeyedService<S, H, F, P> {
    inner: S,
    handle: H,
    key: F,
    policy: P,
}

impl<S, H, F, P> KeyedService<S, H, F, P> {
    pub(crate) fn handle(&self) -> &H {
        &self.handle
    }

    pub(crate) fn get_ref(&self) -> &S {
        &self.inner
    }

    pub(crate) fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    pub(crate) fn into_inner(self) -> S {
        self.inner
    }

    /// `Debug` for the public service called `type_name`, its handle shown as
    /// `handle_name`.
    pub(crate) fn fmt_as(
        &self,
        type_name: &str,
        handle_name: &str,
        f: &mut fmt::Formatter<'_>,
    ) -> fmt::Result
    where
        S: fmt::Debug,
        H: fmt::Debug,
    {
        f.debug_struct(type_name)
            .field("inner", &self.inner)
            .field(handle_name, &self.handle)
            .finish_non_exhaustive()
    }
}

impl<S, H, F, P, Request> Service<Request> for KeyedService<S, H, F, P>
where
    S: Service<Request>,
    S::Error: Into<BoxError>,
    H: KeyedHandle,
    H::Component: CallThrough<S, Request, P>,
    F: Fn(&Request) -> H::Key,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = <H::Component as CallThrough<S, Request, P>>::Future;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    #[inline]
    fn call(&mut self, request: Request) -> Self::Future {
        let component = self.handle.component_for(&(self.key)(&request));
        component.call_through(&mut self.inner, request, &self.policy)
    }
}
