use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use tower_layer::Layer;

use crate::observe::{Event, Listener};

use super::recover::{BackupService, FallbackFn, FallbackValue};
use super::{AcceptResponses, FallbackOn, FallbackService, NoMark, Shared, SharedError};

/// Wraps services in a [`FallbackService`].
///
/// Pick where the degraded answer comes from with [`value`](Self::value),
/// [`with_fn`](Self::with_fn) or [`service`](Self::service) (or
/// [`new`](Self::new) with your own [`Recover`](super::recover::Recover)),
/// then which failures it covers with [`on`](Self::on) (default:
/// [`FallbackOn::DEFAULT_KINDS`]) and how it is marked with
/// [`marked`](Self::marked).
///
/// ```
/// use seawall::fallback::{FallbackLayer, FallbackOn};
/// use seawall::ErrorKind;
/// use tower::{service_fn, Service, ServiceBuilder, ServiceExt};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), seawall::BoxError> {
/// let mut prices = ServiceBuilder::new()
///     .layer(
///         FallbackLayer::value(0u32)
///             .name("prices")
///             .on(FallbackOn::default().kind(ErrorKind::Other)),
///     )
///     .service(service_fn(|_sku: u32| async {
///         Err::<u32, _>(std::io::Error::other("connection reset"))
///     }));
/// assert_eq!(prices.ready().await?.call(7).await?, 0);
/// # Ok(())
/// # }
/// ```
pub struct FallbackLayer<R, C = AcceptResponses, M = NoMark> {
    recover: R,
    name: Cow<'static, str>,
    on: FallbackOn<C>,
    mark: M,
    listeners: Vec<Listener>,
}

impl<T> FallbackLayer<FallbackValue<T>> {
    /// Falls back to a clone of `value`.
    pub fn value(value: T) -> Self {
        Self::new(FallbackValue::new(value))
    }
}

impl<F> FallbackLayer<FallbackFn<F>> {
    /// Falls back to the answer of the async closure `f`, which receives the
    /// error it covers for (for a covered response, a
    /// [`FailedResponse`](super::error::FailedResponse)).
    ///
    /// ```
    /// use seawall::fallback::FallbackLayer;
    /// use seawall::ErrorKind;
    ///
    /// let layer = FallbackLayer::with_fn(|err| async move {
    ///     let note = format!("cached answer ({})", ErrorKind::of(&*err).as_str());
    ///     Ok::<_, std::io::Error>(note)
    /// });
    /// # drop(layer);
    /// ```
    pub fn with_fn<Fut>(f: F) -> Self
    where
        F: Fn(SharedError) -> Fut,
    {
        Self::new(FallbackFn::new(f))
    }
}

impl<B> FallbackLayer<BackupService<B>> {
    /// Falls back to calling `backup` with a clone of the request. Each
    /// fallback polls its own clone of `backup` ready before calling it.
    pub fn service(backup: B) -> Self {
        Self::new(BackupService::new(backup))
    }
}

impl<R> FallbackLayer<R> {
    /// Falls back with `recover`, covering [`FallbackOn::default`], unmarked.
    pub fn new(recover: R) -> Self {
        Self {
            recover,
            name: Cow::Borrowed("default"),
            on: FallbackOn::default(),
            mark: NoMark,
            listeners: Vec::new(),
        }
    }
}

impl<R, C, M> FallbackLayer<R, C, M> {
    /// The name used in metrics labels, events and [`Degraded`](super::Degraded) marks.
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// Covers the failures `on` describes instead.
    pub fn on<C2>(self, on: FallbackOn<C2>) -> FallbackLayer<R, C2, M> {
        FallbackLayer {
            recover: self.recover,
            name: self.name,
            on,
            mark: self.mark,
            listeners: self.listeners,
        }
    }

    /// Marks every degraded answer with `mark`, such as
    /// [`HttpMark`](super::HttpMark) or a closure.
    pub fn marked<M2>(self, mark: M2) -> FallbackLayer<R, C, M2> {
        FallbackLayer {
            recover: self.recover,
            name: self.name,
            on: self.on,
            mark,
            listeners: self.listeners,
        }
    }

    /// Calls `listener` for every fallback taken ([`Event::FallbackTaken`])
    /// or failed ([`Event::FallbackFailed`]) by the services this layer makes.
    /// A panicking listener is caught.
    pub fn on_event<F>(mut self, listener: F) -> Self
    where
        F: Fn(&Event<'_>) + Send + Sync + 'static,
    {
        self.listeners.push(Arc::new(listener));
        self
    }
}

impl<R: Clone, C: Clone, M: Clone> Clone for FallbackLayer<R, C, M> {
    fn clone(&self) -> Self {
        Self {
            recover: self.recover.clone(),
            name: self.name.clone(),
            on: self.on.clone(),
            mark: self.mark.clone(),
            listeners: self.listeners.clone(),
        }
    }
}

impl<R: fmt::Debug, C: fmt::Debug, M: fmt::Debug> fmt::Debug for FallbackLayer<R, C, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackLayer")
            .field("recover", &self.recover)
            .field("name", &self.name)
            .field("on", &self.on)
            .field("mark", &self.mark)
            .field("listeners", &self.listeners.len())
            .finish()
    }
}

impl<S, R: Clone, C: Clone, M: Clone> Layer<S> for FallbackLayer<R, C, M> {
    type Service = FallbackService<S, R, C, M>;

    fn layer(&self, inner: S) -> Self::Service {
        FallbackService::from_parts(
            inner,
            self.recover.clone(),
            Arc::new(Shared::new(
                &self.name,
                self.on.clone(),
                self.mark.clone(),
                self.listeners.clone(),
            )),
        )
    }
}
