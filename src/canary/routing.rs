//! Which side a request goes to: a sticky key's bucket, or a random draw.

use std::hash::{Hash, Hasher};

use super::config::FULL_WEIGHT;

/// Where a request goes: a bucket in `0..10_000` from its sticky key, or
/// `None` to route it at random.
///
/// Implemented for [`NoKey`] and for every `Fn(&Request) -> Option<K>` with a
/// hashable `K`; a key function is usually a closure given to
/// [`CanaryService::sticky_by`](super::CanaryService::sticky_by). Implement it by hand to choose buckets yourself
/// (say, to send an allow-list of testers to the candidate first).
///
/// ```
/// use seawall::canary::{bucket_of_key, StickyKey};
///
/// /// Keeps every user of a tenant on one side: routes by the part before the `/`.
/// #[derive(Clone)]
/// struct ByTenant;
///
/// impl StickyKey<String> for ByTenant {
///     fn bucket(&self, path: &String) -> Option<u16> {
///         path.split_once('/').map(|(tenant, _)| bucket_of_key(tenant))
///     }
/// }
///
/// assert_eq!(ByTenant.bucket(&"acme/ada".into()), ByTenant.bucket(&"acme/bob".into()));
/// assert_eq!(ByTenant.bucket(&"no-tenant".into()), None);
/// ```
pub trait StickyKey<Request> {
    /// The request's bucket, or `None` when it has no key.
    fn bucket(&self, request: &Request) -> Option<u16>;
}

/// No sticky key: every request is routed at random. The default of
/// [`CanaryService::new`](super::CanaryService::new) and [`CanaryLayer::new`](super::CanaryLayer::new).
///
/// ```
/// use seawall::canary::{NoKey, StickyKey};
///
/// assert_eq!(StickyKey::<u32>::bucket(&NoKey, &7), None);
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct NoKey;

impl<Request> StickyKey<Request> for NoKey {
    fn bucket(&self, _: &Request) -> Option<u16> {
        None
    }
}

impl<F, K, Request> StickyKey<Request> for F
where
    F: Fn(&Request) -> Option<K>,
    K: Hash,
{
    fn bucket(&self, request: &Request) -> Option<u16> {
        let key = self(request)?;
        Some(bucket_of_key(&key))
    }
}

/// The bucket of a sticky `key`, in `0..10_000`: the same key always lands in
/// the same bucket within a process.
///
/// ```
/// use seawall::canary::bucket_of_key;
///
/// let bucket = bucket_of_key(&"user-42");
/// assert!(bucket < 10_000);
/// assert_eq!(bucket, bucket_of_key(&"user-42"));
/// ```
pub fn bucket_of_key<K: Hash + ?Sized>(key: &K) -> u16 {
    // SipHash with fixed keys: stable within a process (and a Rust release),
    // well mixed, and 10,000 is small enough against 2^64 that `%` adds no
    // visible bias.
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    key.hash(&mut hasher);
    (hasher.finish() % u64::from(FULL_WEIGHT)) as u16
}

/// A random bucket in `0..10_000` from a service's own stream `state`.
#[inline]
pub(crate) fn random_bucket(state: &mut u64) -> u16 {
    (splitmix(state) % u64::from(FULL_WEIGHT)) as u16
}

/// splitmix64: a fast, well-mixed stream from a counter.
pub(crate) fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
