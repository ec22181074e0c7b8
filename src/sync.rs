//! The one place atomics, locks and `Arc` come from.
//!
//! Under `cfg(loom)` every primitive is loom's, so the model checker sees every
//! access the state machine makes; otherwise they are std's (and parking_lot's
//! lock, which is only ever taken off the closed-state success path).

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{AtomicU32, AtomicU64, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::Arc;
#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::Arc;

/// A mutual-exclusion lock with a non-poisoning `lock()`.
///
/// A panic while the lock is held (for example in a user's classifier further up
/// the stack) must never wedge a breaker, so poisoning is ignored.
#[derive(Debug, Default)]
pub(crate) struct Mutex<T> {
    #[cfg(not(loom))]
    inner: parking_lot::Mutex<T>,
    #[cfg(loom)]
    inner: loom::sync::Mutex<T>,
}

impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Self {
            #[cfg(not(loom))]
            inner: parking_lot::Mutex::new(value),
            #[cfg(loom)]
            inner: loom::sync::Mutex::new(value),
        }
    }

    #[cfg(not(loom))]
    pub(crate) fn lock(&self) -> parking_lot::MutexGuard<'_, T> {
        self.inner.lock()
    }

    #[cfg(loom)]
    pub(crate) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The stripe this thread adds its counts to.
///
/// Threads are numbered in the order they first touch a breaker and spread over
/// the stripes round-robin, so two busy threads never share a stripe while
/// there are at least two stripes.
#[inline]
pub(crate) fn thread_stripe(stripes: usize) -> usize {
    debug_assert!(stripes.is_power_of_two());
    thread_number() & (stripes - 1)
}

#[cfg(not(loom))]
std::thread_local! {
    // Const-initialised, with no destructor: reading it is one thread-pointer-relative
    // load that inlines into the caller, where a lazily initialised thread local
    // goes through an out-of-line accessor on every call. `usize::MAX` means "not
    // numbered yet".
    static THREAD_NUMBER: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
}

#[cfg(not(loom))]
#[inline]
fn thread_number() -> usize {
    let number = THREAD_NUMBER.with(std::cell::Cell::get);
    if number != usize::MAX {
        return number;
    }
    number_this_thread()
}

#[cfg(not(loom))]
#[cold]
fn number_this_thread() -> usize {
    use std::sync::atomic::AtomicUsize;
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    // Relaxed: the counter only hands out distinct numbers; nothing is published
    // through it. Masked so that no thread is ever given the "not numbered" value.
    let number = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed) & (usize::MAX >> 1);
    THREAD_NUMBER.with(|cell| cell.set(number));
    number
}

#[cfg(loom)]
fn thread_number() -> usize {
    loom::thread::current()
        .name()
        .and_then(|name| name.parse().ok())
        .unwrap_or(0)
}

/// How many stripes a breaker spreads its success counts over: one per core,
/// rounded up to a power of two, at most 16.
pub(crate) fn stripe_count() -> usize {
    #[cfg(loom)]
    {
        2
    }
    #[cfg(not(loom))]
    {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
            .next_power_of_two()
            .min(16)
    }
}
