use std::borrow::Cow;
use std::fmt;

use tower_layer::Layer;

use crate::sync::Arc;

use super::core::FallbackCore;
use super::event::{FallbackEvent, FallbackListeners};
use super::service::FallbackService;
use super::{
    AcceptResponses, BackupService, FallbackFn, FallbackOn, FallbackValue, NoMark, SharedError,
};

/// Wraps services in a [`FallbackService`].
///
/// Pick where the degraded answer comes from with [`value`](Self::value),
/// [`with_fn`](Self::with_fn) or [`service`](Self::service) (or
/// [`new`](Self::new) with your own [`Fallback`](super::Fallback)), then
/// which failures it covers with [`on`](Self::on) (default:
/// [`FallbackOn::DEFAULT_KINDS`]) and how it is marked with
/// [`marked`](Self::marked).
///
/// # Clone
///
/// A clone makes services of its own, but shares the listeners: one added
/// with [`on_event`](Self::on_event) to either hears the services of both.
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
pub struct FallbackLayer<B, C = AcceptResponses, M = NoMark> {
    fallback: B,
    name: Cow<'static, str>,
    on: FallbackOn<C>,
    mark: M,
    listeners: Arc<FallbackListeners>,
}

impl<T> FallbackLayer<FallbackValue<T>> {
    /// Falls back to a clone of `value`.
    ///
    /// ```
    /// use seawall::fallback::FallbackLayer;
    ///
    /// let layer = FallbackLayer::value(Vec::<String>::new()).name("recommendations");
    /// # drop(layer);
    /// ```
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
    ///
    /// ```
    /// use seawall::fallback::FallbackLayer;
    /// use tower::service_fn;
    ///
    /// let mirror = service_fn(|q: String| async move { Ok::<_, std::io::Error>(q) });
    /// let layer = FallbackLayer::service(mirror).name("search");
    /// # drop(layer);
    /// ```
    pub fn service(backup: B) -> Self {
        Self::new(BackupService::new(backup))
    }
}

impl<B> FallbackLayer<B> {
    /// Falls back to `fallback`, covering [`FallbackOn::default`], unmarked.
    /// See [`Fallback`](super::Fallback) for writing your own.
    pub fn new(fallback: B) -> Self {
        Self {
            fallback,
            name: Cow::Borrowed("default"),
            on: FallbackOn::default(),
            mark: NoMark,
            listeners: Arc::new(FallbackListeners::new()),
        }
    }
}

impl<B, C, M> FallbackLayer<B, C, M> {
    /// The name used in metrics labels, events and [`Degraded`](super::Degraded) marks.
    pub fn name(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// Covers the failures `on` describes instead.
    pub fn on<C2>(self, on: FallbackOn<C2>) -> FallbackLayer<B, C2, M> {
        FallbackLayer {
            fallback: self.fallback,
            name: self.name,
            on,
            mark: self.mark,
            listeners: self.listeners,
        }
    }

    /// Marks every degraded answer with `mark`, such as
    /// [`HttpMark`](super::HttpMark) or a closure.
    pub fn marked<M2>(self, mark: M2) -> FallbackLayer<B, C, M2> {
        FallbackLayer {
            fallback: self.fallback,
            name: self.name,
            on: self.on,
            mark,
            listeners: self.listeners,
        }
    }

    /// Calls `listener` for every fallback taken ([`FallbackEvent::Taken`])
    /// or failed ([`FallbackEvent::Failed`]) by the services this layer makes.
    /// A panicking listener is caught. With none registered, no event is
    /// built.
    ///
    /// ```
    /// use seawall::fallback::{FallbackEvent, FallbackLayer};
    ///
    /// let layer = FallbackLayer::value(0u32).on_event(|event: &FallbackEvent<'_>| {
    ///     if let FallbackEvent::Taken { name, cause } = event {
    ///         eprintln!("{name}: degraded answer for {}", cause.as_str());
    ///     }
    /// });
    /// # drop(layer);
    /// ```
    pub fn on_event<F>(self, listener: F) -> Self
    where
        F: Fn(&FallbackEvent<'_>) + Send + Sync + 'static,
    {
        self.listeners.add(Box::new(listener));
        self
    }
}

impl<B: Clone, C: Clone, M: Clone> Clone for FallbackLayer<B, C, M> {
    fn clone(&self) -> Self {
        Self {
            fallback: self.fallback.clone(),
            name: self.name.clone(),
            on: self.on.clone(),
            mark: self.mark.clone(),
            listeners: self.listeners.clone(),
        }
    }
}

impl<B: fmt::Debug, C: fmt::Debug, M: fmt::Debug> fmt::Debug for FallbackLayer<B, C, M> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FallbackLayer")
            .field("fallback", &self.fallback)
            .field("name", &self.name)
            .field("on", &self.on)
            .field("mark", &self.mark)
            .field("listeners", &self.listeners.len())
            .finish()
    }
}

impl<S, B: Clone, C: Clone, M: Clone> Layer<S> for FallbackLayer<B, C, M> {
    type Service = FallbackService<S, B, C, M>;

    fn layer(&self, inner: S) -> Self::Service {
        FallbackService::from_parts(
            inner,
            Arc::new(FallbackCore::new(
                &self.name,
                self.fallback.clone(),
                self.on.clone(),
                self.mark.clone(),
                self.listeners.clone(),
            )),
        )
    }
}
