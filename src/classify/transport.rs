//! Whether a call that got no answer is worth trying again, from its error.

use std::error::Error as StdError;
use std::io;

use crate::error::{as_known_error, chain};

/// Whether a failure may pass if the call is tried again, judged from the
/// error alone.
///
/// A refused or reset connection, a timeout and an answer cut short are
/// [`Transient`](Self::Transient): the next attempt may well reach a healthy
/// instance. A request that could not be built, an answer that could not be
/// decoded and a redirect loop are [`Permanent`](Self::Permanent): they fail
/// the same way every time. The rules are those users of `reqwest-retry`
/// know, and any HTTP client can use them through
/// [`of_error`](Self::of_error):
///
/// | error in the `source()` chain | judged |
/// |---|---|
/// | `std::io::Error` of kind `ConnectionRefused`, `ConnectionReset`, `ConnectionAborted`, `NotConnected`, `BrokenPipe`, `TimedOut`, `UnexpectedEof` | transient |
/// | any other `std::io::Error` | permanent |
/// | `hyper::Error` (feature `http`): an incomplete message, a cancelled request, a closed connection, a timeout | transient |
/// | any other `hyper::Error` | what an I/O error under it says, else permanent |
/// | `reqwest::Error` (feature `reqwest`): a connect error or a timeout | transient |
/// | `reqwest::Error`: a builder, body, decode or redirect error | permanent |
/// | `reqwest::Error`: another request error | what a hyper or I/O error under it says, else permanent |
/// | `reqwest_middleware::Error::Middleware` (feature `reqwest-middleware`) | what its chain says, else permanent |
/// | seawall's [`Elapsed`](crate::timeout::error::Elapsed) (feature `timeout`) | transient |
/// | nothing above | transient |
///
/// The first error in the chain (outermost first) that the table names
/// decides. An error it names nowhere is transient: a transport error of a
/// client seawall does not know is far more often a connection problem than a
/// malformed request. seawall's own rejections (an open breaker, a full
/// bulkhead, an empty budget) are not judged here: the retry layer does not
/// retry them unless told to.
///
/// ```
/// use seawall::classify::Transience;
/// use std::io;
///
/// let reset = io::Error::from(io::ErrorKind::ConnectionReset);
/// assert_eq!(Transience::of_error(&reset), Transience::Transient);
///
/// let denied = io::Error::from(io::ErrorKind::PermissionDenied);
/// assert_eq!(Transience::of_error(&denied), Transience::Permanent);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transience {
    /// The failure may pass: trying again can succeed.
    Transient,
    /// Trying again fails the same way.
    Permanent,
}

impl Transience {
    /// Judges `err` by the first error in its `source()` chain that says
    /// something (see the table above).
    pub fn of_error(err: &(dyn StdError + 'static)) -> Self {
        judge_chain(Some(err)).unwrap_or(Self::Transient)
    }

    /// Judges an error of any type: through its `source()` chain when it is
    /// one of the error types seawall knows (a
    /// [`BoxError`](crate::BoxError), an `io::Error`, a reqwest or hyper
    /// error), transient otherwise.
    #[cfg_attr(not(all(feature = "http", feature = "retry")), allow(dead_code))]
    pub(crate) fn of_any<E: 'static>(err: &E) -> Self {
        match as_known_error(err) {
            Some(err) => Self::of_error(err),
            None => Self::Transient,
        }
    }
}

/// The judgement of the first error from `err` on down its chain that gives
/// one.
fn judge_chain(err: Option<&(dyn StdError + 'static)>) -> Option<Transience> {
    err.and_then(|err| chain(err).find_map(judge_one))
}

/// What one error of the chain says, if it is of a kind the rules name.
fn judge_one(err: &(dyn StdError + 'static)) -> Option<Transience> {
    if let Some(err) = err.downcast_ref::<io::Error>() {
        return Some(judge_io(err));
    }
    #[cfg(feature = "timeout")]
    if err.is::<crate::timeout::error::Elapsed>() {
        return Some(Transience::Transient);
    }
    #[cfg(feature = "http")]
    if let Some(err) = err.downcast_ref::<hyper::Error>() {
        return Some(judge_hyper(err));
    }
    #[cfg(feature = "reqwest")]
    if let Some(err) = err.downcast_ref::<::reqwest::Error>() {
        return judge_reqwest(err);
    }
    #[cfg(feature = "reqwest-middleware")]
    if let Some(err) = err.downcast_ref::<reqwest_middleware::Error>() {
        return Some(match err {
            reqwest_middleware::Error::Reqwest(err) => Transience::of_error(err),
            // Like reqwest-retry: a middleware's own error is not retried unless
            // something in it says it may pass.
            reqwest_middleware::Error::Middleware(err) => {
                judge_chain(Some(err.as_ref())).unwrap_or(Transience::Permanent)
            }
        });
    }
    None
}

fn judge_io(err: &io::Error) -> Transience {
    match err.kind() {
        io::ErrorKind::ConnectionRefused
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::NotConnected
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::TimedOut
        | io::ErrorKind::UnexpectedEof => Transience::Transient,
        _ => Transience::Permanent,
    }
}

#[cfg(feature = "http")]
fn judge_hyper(err: &hyper::Error) -> Transience {
    // An answer cut short, a request cancelled because its connection went
    // away, a pooled connection found closed: the next attempt, on a fresh
    // connection, may well succeed.
    if err.is_incomplete_message() || err.is_canceled() || err.is_closed() || err.is_timeout() {
        return Transience::Transient;
    }
    judge_chain(err.source()).unwrap_or(Transience::Permanent)
}

#[cfg(feature = "reqwest")]
fn judge_reqwest(err: &::reqwest::Error) -> Option<Transience> {
    if err.is_connect() || err.is_timeout() {
        Some(Transience::Transient)
    } else if err.is_builder() || err.is_body() || err.is_decode() || err.is_redirect() {
        Some(Transience::Permanent)
    } else if err.is_request() {
        Some(judge_chain(err.source()).unwrap_or(Transience::Permanent))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::BoxError;

    #[test]
    fn io_kinds_that_may_pass_are_transient_and_the_rest_permanent() {
        for kind in [
            io::ErrorKind::ConnectionRefused,
            io::ErrorKind::ConnectionReset,
            io::ErrorKind::ConnectionAborted,
            io::ErrorKind::NotConnected,
            io::ErrorKind::BrokenPipe,
            io::ErrorKind::TimedOut,
            io::ErrorKind::UnexpectedEof,
        ] {
            assert_eq!(
                Transience::of_error(&io::Error::from(kind)),
                Transience::Transient,
                "{kind:?}"
            );
        }
        for kind in [
            io::ErrorKind::PermissionDenied,
            io::ErrorKind::InvalidData,
            io::ErrorKind::InvalidInput,
            io::ErrorKind::NotFound,
        ] {
            assert_eq!(
                Transience::of_error(&io::Error::from(kind)),
                Transience::Permanent,
                "{kind:?}"
            );
        }
    }

    #[derive(Debug)]
    struct Wrapper(Option<io::Error>);

    impl std::fmt::Display for Wrapper {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("wrapper")
        }
    }

    impl StdError for Wrapper {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            self.0.as_ref().map(|e| e as _)
        }
    }

    #[test]
    fn the_first_named_error_in_the_chain_decides() {
        let wrapped = Wrapper(Some(io::ErrorKind::PermissionDenied.into()));
        assert_eq!(Transience::of_error(&wrapped), Transience::Permanent);
        let unknown = Wrapper(None);
        assert_eq!(Transience::of_error(&unknown), Transience::Transient);
    }

    #[test]
    fn errors_of_any_type_are_judged_through_their_chain_when_known() {
        let boxed: BoxError = Box::new(Wrapper(Some(io::ErrorKind::InvalidData.into())));
        assert_eq!(Transience::of_any(&boxed), Transience::Permanent);
        assert_eq!(
            Transience::of_any(&io::Error::from(io::ErrorKind::BrokenPipe)),
            Transience::Transient
        );
        assert_eq!(
            Transience::of_any(&"not an error type"),
            Transience::Transient
        );
    }

    #[cfg(feature = "timeout")]
    #[test]
    fn an_attempt_that_timed_out_is_transient() {
        let boxed: BoxError = Box::new(crate::timeout::error::Elapsed::new());
        assert_eq!(Transience::of_any(&boxed), Transience::Transient);
    }
}
