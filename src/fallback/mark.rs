//! Telling a degraded answer apart from a real one.

use std::sync::Arc;

use crate::error::ErrorKind;

/// What a fallback covered for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Cause {
    /// An error of this kind.
    Error(ErrorKind),
    /// A successful response the classifier judged a failure.
    Response,
}

impl Cause {
    /// The cause in `snake_case`, as used in the `cause` metric label: the
    /// error kind's name, or `"response"`.
    ///
    /// ```
    /// use seawall::fallback::Cause;
    /// use seawall::ErrorKind;
    ///
    /// assert_eq!(Cause::Error(ErrorKind::BreakerOpen).as_str(), "breaker_open");
    /// assert_eq!(Cause::Response.as_str(), "response");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Error(kind) => kind.as_str(),
            Self::Response => "response",
        }
    }
}

/// The mark of a degraded answer: which fallback produced it and why.
///
/// Under the `http` feature, [`HttpMark`] puts it in the response's
/// extensions; any other response type can carry it through a closure
/// [`Mark`].
///
/// ```
/// use seawall::fallback::{Cause, Degraded};
/// use seawall::ErrorKind;
///
/// let degraded = Degraded::new("prices", Cause::Error(ErrorKind::BreakerOpen));
/// assert_eq!(degraded.name(), "prices");
/// assert_eq!(degraded.cause(), Cause::Error(ErrorKind::BreakerOpen));
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Degraded {
    name: Arc<str>,
    cause: Cause,
}

impl Degraded {
    /// A mark from the fallback named `name`, covering for `cause`.
    pub fn new(name: impl Into<Arc<str>>, cause: Cause) -> Self {
        Self {
            name: name.into(),
            cause,
        }
    }

    /// The name of the fallback that produced the answer.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What it covered for.
    pub fn cause(&self) -> Cause {
        self.cause
    }
}

/// Marks a degraded answer before it is returned.
///
/// Implemented for [`NoMark`], for [`HttpMark`] (feature `http`) and for any
/// `Fn(&mut Response, &Degraded)`, which is how a non-HTTP response type
/// carries the mark:
///
/// ```
/// use seawall::fallback::{Degraded, Mark};
///
/// #[derive(Clone, Debug, Default)]
/// struct Quote {
///     price: u32,
///     stale: bool,
/// }
///
/// let mark = |quote: &mut Quote, _: &Degraded| quote.stale = true;
/// let mut quote = Quote::default();
/// Mark::mark(&mark, &mut quote, &Degraded::new("quotes", seawall::fallback::Cause::Response));
/// assert!(quote.stale);
/// ```
pub trait Mark<Response> {
    /// Marks `response`, a degraded answer described by `degraded`.
    fn mark(&self, response: &mut Response, degraded: &Degraded);
}

impl<F, Response> Mark<Response> for F
where
    F: Fn(&mut Response, &Degraded),
{
    fn mark(&self, response: &mut Response, degraded: &Degraded) {
        self(response, degraded)
    }
}

/// Leaves degraded answers unmarked (the default); events and metrics still
/// count them.
///
/// ```
/// use seawall::fallback::{Cause, Degraded, Mark, NoMark};
///
/// let mut answer = 7;
/// NoMark.mark(&mut answer, &Degraded::new("x", Cause::Response));
/// assert_eq!(answer, 7);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct NoMark;

impl<Response> Mark<Response> for NoMark {
    fn mark(&self, _response: &mut Response, _degraded: &Degraded) {}
}

#[cfg(feature = "http")]
pub use self::http_mark::{HttpMark, DEGRADED_HEADER};

#[cfg(feature = "http")]
mod http_mark {
    use super::{Degraded, Mark};

    /// The header [`HttpMark::with_header`] adds to a degraded answer, with
    /// the value `fallback`.
    pub const DEGRADED_HEADER: &str = "x-seawall-degraded";

    /// Marks a degraded `http::Response`: a [`Degraded`] in its extensions,
    /// and optionally an `x-seawall-degraded: fallback` header for clients
    /// across the wire.
    ///
    /// ```
    /// use seawall::fallback::{Cause, Degraded, HttpMark, Mark};
    ///
    /// let mut response = http::Response::new(());
    /// HttpMark::with_header().mark(&mut response, &Degraded::new("profile", Cause::Response));
    /// assert_eq!(response.extensions().get::<Degraded>().unwrap().name(), "profile");
    /// assert_eq!(response.headers()["x-seawall-degraded"], "fallback");
    /// ```
    #[derive(Clone, Copy, Debug, Default)]
    pub struct HttpMark {
        header: bool,
    }

    impl HttpMark {
        /// Only the extension: nothing visible to remote clients.
        pub fn extension() -> Self {
            Self { header: false }
        }

        /// The extension and the `x-seawall-degraded: fallback` header.
        pub fn with_header() -> Self {
            Self { header: true }
        }
    }

    impl<B> Mark<http::Response<B>> for HttpMark {
        fn mark(&self, response: &mut http::Response<B>, degraded: &Degraded) {
            if self.header {
                response
                    .headers_mut()
                    .insert(DEGRADED_HEADER, http::HeaderValue::from_static("fallback"));
            }
            response.extensions_mut().insert(degraded.clone());
        }
    }
}
