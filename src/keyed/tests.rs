//! The bounded map on its own, with a component that is busy on demand.

use crate::sync::{Arc, AtomicBool, AtomicUsize, Ordering};

use super::lru::EVICTION_PROBES;
use super::{Found, KeyLabels, KeyName, KeyedComponent, KeyedComponents, KeyedMap, MetricScope};

/// A component that may be evicted unless it is marked busy.
#[derive(Clone, Debug)]
struct Part {
    name: String,
    scope: MetricScope,
    busy: Arc<AtomicBool>,
}

impl Part {
    fn named(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            scope: MetricScope::Own,
            busy: Arc::new(AtomicBool::new(false)),
        }
    }

    fn set_busy(&self, busy: bool) {
        self.busy.store(busy, Ordering::Relaxed);
    }

    fn same(&self, other: &Part) -> bool {
        Arc::ptr_eq(&self.busy, &other.busy)
    }
}

impl KeyedComponent for Part {
    type Config = &'static str;

    fn config_name<'a>(config: &'a &'static str) -> &'a str {
        config
    }

    fn build(config: &&'static str, name: KeyName) -> Self {
        Self {
            name: name.name.unwrap_or_else(|| (*config).to_owned()),
            scope: name.scope,
            busy: Arc::new(AtomicBool::new(false)),
        }
    }

    fn is_evictable(&self) -> bool {
        !self.busy.load(Ordering::Relaxed)
    }
}

fn map(capacity: usize) -> KeyedMap<u32, Part> {
    KeyedMap::new(capacity).unwrap()
}

/// The key's component, which must be kept.
fn get(map: &KeyedMap<u32, Part>, key: u32) -> Part {
    match map.get_or_build(&key, || Part::named(&key.to_string())) {
        Found::Kept(part) => part,
        Found::Full => panic!("key {key} was not kept"),
    }
}

fn built(found: Found<Part>) -> Part {
    match found {
        Found::Kept(part) => part,
        Found::Full => panic!("not kept"),
    }
}

/// Whether `key` would be kept (building it if new).
fn kept(map: &KeyedMap<u32, Part>, key: u32) -> bool {
    matches!(
        map.get_or_build(&key, || Part::named(&key.to_string())),
        Found::Kept(_)
    )
}

/// The keys of a one-shard map, newest first.
fn recency(map: &KeyedMap<u32, Part>) -> Vec<u32> {
    assert_eq!(map.shard_count(), 1);
    map.keys_by_recency(0)
}

#[test]
fn a_capacity_of_zero_is_refused() {
    let err = KeyedMap::<u32, Part>::new(0).err().unwrap();
    assert_eq!(err.field(), "capacity");
}

#[test]
fn the_least_recently_used_entry_goes_first() {
    let map = map(3);
    for key in [1, 2, 3] {
        get(&map, key);
    }
    assert_eq!(recency(&map), [3, 2, 1]);
    get(&map, 1); // a use
    assert!(map.peek(&2).is_some()); // not a use
    assert_eq!(recency(&map), [1, 3, 2]);
    get(&map, 4);
    assert_eq!(recency(&map), [4, 1, 3], "2 was the least recently used");
    get(&map, 5);
    assert_eq!(recency(&map), [5, 4, 1]);
    assert_eq!(map.len(), 3);
}

#[test]
fn a_kept_key_returns_the_same_component_and_an_evicted_one_starts_over() {
    let map = map(1);
    let first = get(&map, 1);
    first.set_busy(false);
    assert!(Arc::ptr_eq(&first.busy, &get(&map, 1).busy));
    get(&map, 2);
    assert!(map.peek(&1).is_none());
    assert!(!Arc::ptr_eq(&first.busy, &get(&map, 1).busy));
}

#[test]
fn a_protected_entry_is_passed_over_while_another_may_go() {
    let map = map(3);
    for key in [1, 2, 3] {
        get(&map, key);
    }
    get(&map, 1).set_busy(true);
    get(&map, 2).set_busy(true);
    // Oldest first: 3, 1, 2. Only 3 may go.
    get(&map, 4);
    assert!(map.peek(&3).is_none(), "the only idle entry went");
    assert!(map.peek(&1).is_some() && map.peek(&2).is_some());
}

#[test]
fn when_every_entry_is_protected_a_new_key_is_not_kept() {
    let map = map(3);
    let kept_parts: Vec<Part> = [1, 2, 3].iter().map(|&key| get(&map, key)).collect();
    for part in &kept_parts {
        part.set_busy(true);
    }
    for key in 4..100 {
        assert!(!kept(&map, key), "key {key} would evict a protected entry");
    }
    assert_eq!(map.len(), 3);
    for (key, part) in [1, 2, 3].iter().zip(&kept_parts) {
        assert!(
            map.peek(key).unwrap().same(part),
            "{key} is the same component"
        );
    }
    // Once one may go, the next new key takes its place.
    kept_parts[1].set_busy(false);
    assert!(kept(&map, 100));
    assert!(map.peek(&2).is_none());
    assert_eq!(map.len(), 3);
}

#[test]
fn a_component_being_built_is_never_evicted() {
    // Capacity 2: while key 1 is being built, key 2 (busy) and then key 3
    // arrive. Every entry is protected, so 3 is not kept, and key 1's callers
    // and the map keep one and the same component.
    let map = map(2);
    let mut third_kept = true;
    let one = map.get_or_build(&1, || {
        get(&map, 2).set_busy(true);
        third_kept = kept(&map, 3);
        Part::named("1")
    });
    let Found::Kept(one) = one else {
        panic!("key 1 was kept")
    };
    assert!(!third_kept);
    assert!(map.peek(&1).expect("still kept").same(&one));
    assert!(map.peek(&2).is_some() && map.peek(&3).is_none());
}

#[test]
fn entries_passed_over_count_as_used_so_the_next_key_looks_further_back() {
    // The oldest EVICTION_PROBES + 2 entries busy, the two newest idle. A new
    // key looks at EVICTION_PROBES of the oldest, finds none idle and is not
    // kept; those it passed over now count as used.
    let busy = EVICTION_PROBES as u32 + 2;
    let map = map(busy as usize + 2);
    for key in 0..busy + 2 {
        get(&map, key).set_busy(key < busy);
    }
    assert!(!kept(&map, 100));
    let passed_over = (0..EVICTION_PROBES as u32).rev();
    let expected: Vec<u32> = passed_over
        .chain([busy + 1, busy, busy - 1, busy - 2])
        .collect();
    assert_eq!(recency(&map), expected);
    // The next key looks past the two busy ones left and evicts an idle one.
    assert!(kept(&map, 101));
    assert!(
        map.peek(&busy).is_none(),
        "the idle entry behind the busy ones went"
    );
    assert!(map.peek(&(busy - 1)).is_some() && map.peek(&(busy - 2)).is_some());
    assert!(kept(&map, 102));
    assert!(map.peek(&(busy + 1)).is_none());
    assert_eq!(map.len(), busy as usize + 2);
}

#[test]
fn the_order_of_evictable_entries_is_kept_while_protected_ones_are_passed_over() {
    let map = map(6);
    for key in 0..6 {
        get(&map, key).set_busy(key % 2 == 0);
    }
    // Oldest first: 0 (busy), 1, 2 (busy), 3, 4 (busy), 5.
    assert!(kept(&map, 10));
    assert!(map.peek(&1).is_none(), "the oldest idle entry went");
    assert!(kept(&map, 11));
    assert!(map.peek(&3).is_none(), "then the next oldest idle one");
    assert!(kept(&map, 12));
    assert!(map.peek(&5).is_none());
    for key in [0, 2, 4] {
        assert!(map.peek(&key).is_some(), "busy {key} stays");
    }
}

#[test]
fn the_capacity_is_split_over_shards_and_never_exceeded() {
    for (capacity, shards) in [(1, 1), (127, 1), (128, 2), (1_000, 15), (65_536, 64)] {
        let map = map(capacity);
        assert_eq!(map.shard_count(), shards, "capacity {capacity}");
        let total: usize = (0..shards).map(|shard| map.shard_capacity(shard)).sum();
        assert_eq!(total, capacity);
    }
    let map = map(1_000);
    for key in 0..20_000 {
        get(&map, key);
    }
    assert_eq!(map.len(), 1_000);
    for shard in 0..map.shard_count() {
        assert_eq!(map.keys_by_recency(shard).len(), map.shard_capacity(shard));
    }
    // Every key lives in the shard its hash names.
    for shard in 0..map.shard_count() {
        for key in map.keys_by_recency(shard) {
            assert_eq!(map.shard_of(&key), shard);
        }
    }
}

#[test]
fn a_component_is_built_outside_the_maps_lock() {
    let map = map(4);
    // The build of one key uses the map (for another key): under the map's
    // lock this would deadlock.
    let outer = built(map.get_or_build(&1, || {
        let inner = get(&map, 2);
        assert_eq!(
            map.len(),
            2,
            "the new key's place is taken before the build"
        );
        assert!(map.peek(&1).is_none(), "not built yet");
        Part::named(&format!("after {}", inner.name))
    }));
    assert_eq!(outer.name, "after 2");
    assert_eq!(map.peek(&1).unwrap().name, "after 2");
}

#[test]
fn callers_of_one_new_key_wait_for_its_one_build() {
    let map = Arc::new(map(4));
    let builds = Arc::new(AtomicUsize::new(0));
    let mut other = None;
    let first = built(map.get_or_build(&7, || {
        builds.fetch_add(1, Ordering::Relaxed);
        get(&map, 8);
        // Another caller of 7, while 7 is being built here.
        let (shared, counter) = (map.clone(), builds.clone());
        other = Some(std::thread::spawn(move || {
            shared.get_or_build(&7, || {
                counter.fetch_add(1, Ordering::Relaxed);
                Part::named("a second build")
            })
        }));
        // Once it has used 7 (after 8), it has found the placeholder and
        // waits on it.
        while recency(&map)[0] != 7 {
            std::thread::yield_now();
        }
        Part::named("seven")
    }));
    let second = built(other.unwrap().join().unwrap());
    assert_eq!(builds.load(Ordering::Relaxed), 1);
    assert_eq!(second.name, "seven");
    assert!(Arc::ptr_eq(&first.busy, &second.busy));
}

#[test]
fn a_build_that_panics_leaves_nothing_behind() {
    let map = map(3);
    let kept: Vec<Part> = [1, 2, 3].iter().map(|&key| get(&map, key)).collect();
    // 4 evicts 1 and takes its place in the slab, then its build panics.
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let _ = map.get_or_build(&4, || panic!("a component that cannot be built"));
    }));
    assert!(panicked.is_err());
    assert!(map.peek(&4).is_none());
    assert_eq!(recency(&map), [3, 2], "nothing half-made stays");
    // The entries stay whole: same components, same order, room for new keys.
    assert!(Arc::ptr_eq(&get(&map, 2).busy, &kept[1].busy));
    assert!(Arc::ptr_eq(&get(&map, 3).busy, &kept[2].busy));
    assert_eq!(get(&map, 4).name, "4");
    get(&map, 5);
    assert_eq!(recency(&map), [5, 4, 3]);
}

#[test]
fn every_key_is_named_after_the_config_unless_labels_per_key_are_asked_for() {
    let parts: KeyedComponents<&str, Part> =
        KeyedComponents::new("tenants", 8, KeyLabels::Shared).unwrap();
    let acme = parts.get(&"acme");
    assert_eq!(
        (acme.name.as_str(), acme.scope),
        ("tenants", MetricScope::SharedByKeys)
    );
    assert_eq!(parts.config_name(), "tenants");
    assert_eq!((parts.len(), parts.capacity()), (1, 8));
    assert_eq!(parts.labelled_keys(), 0);
    let debug = format!("{:?}", FormatAs(&parts));
    assert_eq!(debug, r#"KeyedParts { name: "tenants", capacity: 8, .. }"#);
}

#[test]
fn labels_per_key_stop_at_the_limit_and_a_labelled_key_keeps_its_label() {
    let parts: KeyedComponents<u32, Part> =
        KeyedComponents::new("tenants", 4, KeyLabels::per_key()).unwrap();
    let first = parts.get(&0);
    assert_eq!(
        (first.name.as_str(), first.scope),
        ("tenants/0", MetricScope::Own)
    );
    for key in 1..super::labels::MAX_KEY_LABELS as u32 {
        assert_eq!(parts.get(&key).name, format!("tenants/{key}"));
    }
    let late = parts.get(&1_000_000);
    assert_eq!(
        (late.name.as_str(), late.scope),
        ("tenants/other", MetricScope::SharedByKeys)
    );
    assert_eq!(parts.labelled_keys(), super::labels::MAX_KEY_LABELS);
    // Key 0 was evicted long ago; made again, it keeps its own label.
    assert!(parts.peek(&0).is_none());
    assert_eq!(parts.get(&0).name, "tenants/0");
    assert_eq!(parts.get(&2_000_000).name, "tenants/other");
    assert_eq!(parts.labelled_keys(), super::labels::MAX_KEY_LABELS);
}

#[test]
fn a_new_key_with_nothing_to_evict_gets_the_one_overflow_component() {
    let parts: KeyedComponents<u32, Part> =
        KeyedComponents::new("tenants", 2, KeyLabels::Shared).unwrap();
    parts.get(&1).set_busy(true);
    parts.get(&2).set_busy(true);
    let overflow = parts.get(&3);
    assert_eq!(overflow.name, "tenants/overflow");
    assert_eq!(overflow.scope, MetricScope::Own);
    assert!(overflow.same(parts.overflow()));
    assert!(
        parts.get(&4).same(parts.overflow()),
        "shared by every such key"
    );
    assert!(parts.peek(&3).is_none() && parts.peek(&4).is_none());
    assert_eq!(parts.len(), 2);
    parts.get(&1).set_busy(false);
    let own = parts.get(&3);
    assert!(
        !own.same(parts.overflow()),
        "room again: a component of its own"
    );
    assert!(parts.peek(&3).is_some());
}

#[test]
fn threads_flooding_new_keys_never_exceed_the_capacity_nor_evict_a_protected_entry() {
    let parts: KeyedComponents<u64, Part> =
        KeyedComponents::new("tenants", 256, KeyLabels::Shared).unwrap();
    let protected: Vec<Part> = (0..64).map(|key| parts.get(&key)).collect();
    for part in &protected {
        part.set_busy(true);
    }
    std::thread::scope(|scope| {
        for thread in 0..2u64 {
            let parts = &parts;
            scope.spawn(move || {
                for key in 0..20_000 {
                    parts.get(&(1_000 + thread * 100_000 + key));
                }
            });
        }
    });
    assert!(parts.len() <= 256);
    for (key, part) in protected.iter().enumerate() {
        assert!(parts.peek(&(key as u64)).expect("kept").same(part));
    }
}

struct FormatAs<'a>(&'a KeyedComponents<&'static str, Part>);

impl std::fmt::Debug for FormatAs<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt_as("KeyedParts", f)
    }
}
