//! The one place atomics, locks and `Arc` come from.
//!
//! Under `cfg(loom)` every primitive is loom's, so the model checker sees every
//! access the state machine makes; otherwise they are std's (and parking_lot's
//! locks, which are only ever taken off the closed-state success path).

#[cfg(loom)]
#[allow(unused_imports)] // which of them a build uses depends on its features
pub(crate) use loom::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
#[cfg(loom)]
pub(crate) use loom::sync::Arc;
#[cfg(not(loom))]
#[allow(unused_imports)] // which of them a build uses depends on its features
pub(crate) use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
#[cfg(not(loom))]
pub(crate) use std::sync::Arc;
/// A weak reference to an [`Arc`]. std's only: loom's `Arc` keeps no weak
/// count, so what holds one (the canary's breaker watch and ticker, the
/// breaker's eager timer) is not modelled under loom.
#[cfg(not(loom))]
pub(crate) use std::sync::Weak;

/// An `Arc` of an unsized value (a trait object, a slice), made from a `Box`
/// of it.
///
/// std's `Arc` unsizes itself (`Arc<T>` into `Arc<dyn Trait>`); loom's cannot,
/// so under loom the value goes through a std `Arc` that loom's takes over.
pub(crate) fn arc_from_box<T: ?Sized>(boxed: Box<T>) -> Arc<T> {
    #[cfg(loom)]
    {
        Arc::from_std(std::sync::Arc::from(boxed))
    }
    #[cfg(not(loom))]
    {
        Arc::from(boxed)
    }
}

/// A slot written at most once and then read without a lock: std's `OnceLock`.
///
/// Under loom the value sits in a `OnceLock` that loom does not see, guarded
/// by a loom flag that it does: the write publishes the value with a release
/// store after writing it, and a read returns it only after an acquire load
/// saw the flag, so the model checker explores exactly the synchronisation
/// the std version relies on.
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct OnceSlot<T>(std::sync::OnceLock<T>);

#[cfg(not(loom))]
impl<T> OnceSlot<T> {
    pub(crate) const fn new() -> Self {
        Self(std::sync::OnceLock::new())
    }

    /// The value, once set. One acquire load.
    #[inline]
    pub(crate) fn get(&self) -> Option<&T> {
        self.0.get()
    }

    /// Sets the value, or gives it back if the slot was already set.
    pub(crate) fn set(&self, value: T) -> Result<(), T> {
        self.0.set(value)
    }
}

#[cfg(loom)]
#[derive(Debug)]
pub(crate) struct OnceSlot<T> {
    value: std::sync::OnceLock<T>,
    published: loom::sync::atomic::AtomicBool,
    writer: loom::sync::Mutex<()>,
}

#[cfg(loom)]
impl<T> OnceSlot<T> {
    pub(crate) fn new() -> Self {
        Self {
            value: std::sync::OnceLock::new(),
            published: loom::sync::atomic::AtomicBool::new(false),
            writer: loom::sync::Mutex::new(()),
        }
    }

    pub(crate) fn get(&self) -> Option<&T> {
        // Acquire: pairs with the release store in `set`.
        if self.published.load(Ordering::Acquire) {
            self.value.get()
        } else {
            None
        }
    }

    pub(crate) fn set(&self, value: T) -> Result<(), T> {
        let _writer = self.writer.lock().unwrap();
        if self.published.load(Ordering::Relaxed) {
            return Err(value);
        }
        self.value.set(value)?;
        // Release: the value is written before the flag says so.
        self.published.store(true, Ordering::Release);
        Ok(())
    }
}

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

/// What [`Mutex::lock`] returns.
#[cfg(not(loom))]
pub(crate) type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;
/// What [`Mutex::lock`] returns.
#[cfg(loom)]
pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

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

    /// The lock if it is free now, without waiting.
    #[cfg(not(loom))]
    #[cfg_attr(not(feature = "canary"), allow(dead_code))]
    pub(crate) fn try_lock(&self) -> Option<parking_lot::MutexGuard<'_, T>> {
        self.inner.try_lock()
    }

    /// The lock if it is free now, without waiting.
    #[cfg(loom)]
    #[cfg_attr(not(feature = "canary"), allow(dead_code))]
    pub(crate) fn try_lock(&self) -> Option<loom::sync::MutexGuard<'_, T>> {
        match self.inner.try_lock() {
            Ok(guard) => Some(guard),
            Err(std::sync::TryLockError::Poisoned(poisoned)) => Some(poisoned.into_inner()),
            Err(std::sync::TryLockError::WouldBlock) => None,
        }
    }
}

/// A reader-writer lock with non-poisoning `read()` and `write()`, for data
/// read on a hot path and rarely replaced (for example the chaos layer's
/// faults).
#[derive(Debug, Default)]
#[cfg_attr(not(feature = "chaos"), allow(dead_code))]
pub(crate) struct RwLock<T> {
    #[cfg(not(loom))]
    inner: parking_lot::RwLock<T>,
    #[cfg(loom)]
    inner: loom::sync::RwLock<T>,
}

#[cfg_attr(not(feature = "chaos"), allow(dead_code))]
impl<T> RwLock<T> {
    pub(crate) fn new(value: T) -> Self {
        Self {
            #[cfg(not(loom))]
            inner: parking_lot::RwLock::new(value),
            #[cfg(loom)]
            inner: loom::sync::RwLock::new(value),
        }
    }

    #[cfg(not(loom))]
    pub(crate) fn read(&self) -> parking_lot::RwLockReadGuard<'_, T> {
        self.inner.read()
    }

    #[cfg(loom)]
    pub(crate) fn read(&self) -> loom::sync::RwLockReadGuard<'_, T> {
        self.inner
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    #[cfg(not(loom))]
    pub(crate) fn write(&self) -> parking_lot::RwLockWriteGuard<'_, T> {
        self.inner.write()
    }

    #[cfg(loom)]
    pub(crate) fn write(&self) -> loom::sync::RwLockWriteGuard<'_, T> {
        self.inner
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The stripe this thread adds its counts to.
///
/// Each live thread that touches a breaker holds a distinct number, the
/// smallest free one, and gives it back when it exits; numbers map onto the
/// stripes round-robin. So threads that come and go (blocking pools, scoped
/// threads) keep reusing the low numbers, and live threads never share a
/// stripe while there are no more of them than stripes. Counting numbers up
/// forever instead would put a new thread on a busy thread's stripe every so
/// often, and the two would then fight over its cache lines.
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

/// Numbers of live threads: the next never used, and those given back.
#[cfg(not(loom))]
struct Numbers {
    next: usize,
    free: Vec<usize>,
}

#[cfg(not(loom))]
static NUMBERS: std::sync::Mutex<Numbers> = std::sync::Mutex::new(Numbers {
    next: 0,
    free: Vec::new(),
});

/// Gives a thread's number back when the thread exits.
#[cfg(not(loom))]
struct GiveBack(std::cell::Cell<usize>);

#[cfg(not(loom))]
impl Drop for GiveBack {
    fn drop(&mut self) {
        let number = self.0.get();
        if number != usize::MAX {
            lock_numbers().free.push(number);
        }
    }
}

#[cfg(not(loom))]
std::thread_local! {
    static GIVE_BACK: GiveBack = const { GiveBack(std::cell::Cell::new(usize::MAX)) };
}

#[cfg(not(loom))]
fn lock_numbers() -> std::sync::MutexGuard<'static, Numbers> {
    // Poisoning cannot leave `Numbers` inconsistent (each update is one push or pop).
    NUMBERS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Once per thread: takes the smallest free number.
#[cfg(not(loom))]
#[cold]
fn number_this_thread() -> usize {
    let number = {
        let mut numbers = lock_numbers();
        let smallest = (0..numbers.free.len()).min_by_key(|&at| numbers.free[at]);
        match smallest {
            Some(at) => numbers.free.swap_remove(at),
            None => {
                numbers.next += 1;
                numbers.next - 1
            }
        }
    };
    THREAD_NUMBER.with(|cell| cell.set(number));
    // Fails only while the thread is being torn down; its number is then not reused.
    let _ = GIVE_BACK.try_with(|give_back| give_back.0.set(number));
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
        // Once per process: `available_parallelism` reads the cgroup limits on
        // Linux, tens of microseconds, and every breaker asks (a keyed breaker
        // once per new key).
        static STRIPES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
        *STRIPES.get_or_init(|| {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
                .next_power_of_two()
                .min(16)
        })
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    #[test]
    fn exited_threads_give_their_numbers_back() {
        let numbers: std::collections::HashSet<usize> = (0..10)
            .map(|_| std::thread::spawn(super::thread_number).join().unwrap())
            .collect();
        // One after another, each thread takes the number the last one gave back
        // (unless another test's thread took it in between).
        assert!(numbers.len() < 10, "no number was reused: {numbers:?}");
    }
}
