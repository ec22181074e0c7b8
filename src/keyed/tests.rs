//! The bounded map on its own, with a component that is busy on demand.

use crate::sync::{Arc, AtomicBool, AtomicUsize, Ordering};

use super::{KeyedComponent, KeyedComponents, LruMap};

/// A component that may be evicted unless it is marked busy.
#[derive(Clone, Debug)]
struct Part {
    name: String,
    busy: Arc<AtomicBool>,
}

impl Part {
    fn named(name: &str) -> Self {
        Self {
            name: name.to_owned(),
            busy: Arc::new(AtomicBool::new(false)),
        }
    }

    fn set_busy(&self, busy: bool) {
        self.busy.store(busy, Ordering::Relaxed);
    }
}

impl KeyedComponent for Part {
    type Config = &'static str;

    fn config_name<'a>(config: &'a &'static str) -> &'a str {
        config
    }

    fn build(_: &&'static str, name: String) -> Self {
        Self {
            name,
            busy: Arc::new(AtomicBool::new(false)),
        }
    }

    fn is_evictable(&self) -> bool {
        !self.busy.load(Ordering::Relaxed)
    }
}

fn map(capacity: usize) -> LruMap<u32, Part> {
    LruMap::new(capacity).unwrap()
}

fn get(map: &LruMap<u32, Part>, key: u32) -> Part {
    map.get_or_build(&key, || Part::named(&key.to_string()))
}

#[test]
fn a_capacity_of_zero_is_refused() {
    let err = LruMap::<u32, Part>::new(0).err().unwrap();
    assert_eq!(err.field(), "capacity");
}

#[test]
fn the_least_recently_used_entry_goes_first() {
    let map = map(3);
    for key in [1, 2, 3] {
        get(&map, key);
    }
    assert_eq!(map.keys_by_recency(), [3, 2, 1]);
    get(&map, 1); // a use
    assert!(map.peek(&2).is_some()); // not a use
    assert_eq!(map.keys_by_recency(), [1, 3, 2]);
    get(&map, 4);
    assert_eq!(
        map.keys_by_recency(),
        [4, 1, 3],
        "2 was the least recently used"
    );
    get(&map, 5);
    assert_eq!(map.keys_by_recency(), [5, 4, 1]);
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
fn when_every_entry_is_protected_the_least_recently_used_goes() {
    let map = map(3);
    for key in [1, 2, 3] {
        get(&map, key).set_busy(true);
    }
    get(&map, 4);
    assert_eq!(map.len(), 3, "memory stays bounded");
    assert!(map.peek(&1).is_none());
    // The others were looked at in order, so their order is unchanged.
    assert_eq!(map.keys_by_recency(), [4, 3, 2]);
}

#[test]
fn a_component_being_built_is_not_evicted_while_a_built_one_can_go() {
    // Capacity 2: while key 1 is being built, key 2 (busy) and then key 3 arrive.
    // Every probed entry is protected; the built one goes, not the placeholder,
    // so key 1's callers and the map keep one and the same component.
    let map = map(2);
    let one = map.get_or_build(&1, || {
        get(&map, 2).set_busy(true);
        get(&map, 3);
        Part::named("1")
    });
    let kept = map.peek(&1).expect("the key being built stays in the map");
    assert!(
        Arc::ptr_eq(&kept.busy, &one.busy),
        "one component for key 1"
    );
    assert!(map.peek(&2).is_none(), "the busy built entry went instead");
    assert_eq!(map.len(), 2);
}

#[test]
fn entries_passed_over_count_as_used_so_the_next_key_looks_further_back() {
    // Twelve entries: the ten oldest busy, the two newest idle. A new key looks
    // at eight of the oldest, finds none idle and evicts the oldest of all.
    let map = map(12);
    for key in 0..12 {
        get(&map, key).set_busy(key < 10);
    }
    get(&map, 100);
    assert!(map.peek(&0).is_none());
    // The eight passed over now count as used: 8 and 9 (busy), then 10 and 11
    // (idle) are the oldest.
    assert_eq!(
        map.keys_by_recency(),
        [100, 7, 6, 5, 4, 3, 2, 1, 11, 10, 9, 8]
    );
    get(&map, 101);
    assert!(
        map.peek(&10).is_none(),
        "the idle entry behind the busy ones went"
    );
    assert!(map.peek(&8).is_some() && map.peek(&9).is_some());
    get(&map, 102);
    assert!(map.peek(&11).is_none());
}

#[test]
fn a_component_is_built_outside_the_maps_lock() {
    let map = map(4);
    // The build of one key uses the map (for another key): under the map's
    // lock this would deadlock.
    let outer = map.get_or_build(&1, || {
        let inner = get(&map, 2);
        assert_eq!(
            map.len(),
            2,
            "the new key's place is taken before the build"
        );
        assert!(map.peek(&1).is_none(), "not built yet");
        Part::named(&format!("after {}", inner.name))
    });
    assert_eq!(outer.name, "after 2");
    assert_eq!(map.peek(&1).unwrap().name, "after 2");
}

#[test]
fn callers_of_one_new_key_wait_for_its_one_build() {
    let map = Arc::new(map(4));
    let builds = Arc::new(AtomicUsize::new(0));
    let mut other = None;
    let first = map.get_or_build(&7, || {
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
        while map.keys_by_recency()[0] != 7 {
            std::thread::yield_now();
        }
        Part::named("seven")
    });
    let second = other.unwrap().join().unwrap();
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
        map.get_or_build(&4, || panic!("a component that cannot be built"))
    }));
    assert!(panicked.is_err());
    assert!(map.peek(&4).is_none());
    assert_eq!(map.keys_by_recency(), [3, 2], "nothing half-made stays");
    // The entries stay whole: same components, same order, room for new keys.
    assert!(Arc::ptr_eq(&get(&map, 2).busy, &kept[1].busy));
    assert!(Arc::ptr_eq(&get(&map, 3).busy, &kept[2].busy));
    assert_eq!(get(&map, 4).name, "4");
    get(&map, 5);
    assert_eq!(map.keys_by_recency(), [5, 4, 3]);
}

#[test]
fn each_key_is_named_after_the_config() {
    let parts: KeyedComponents<&str, Part> = KeyedComponents::new("tenants", 8).unwrap();
    assert_eq!(parts.get(&"acme").name, "tenants/acme");
    assert_eq!(parts.config_name(), "tenants");
    assert_eq!((parts.len(), parts.capacity()), (1, 8));
    let debug = format!("{:?}", FormatAs(&parts));
    assert_eq!(debug, r#"KeyedParts { name: "tenants", capacity: 8, .. }"#);
}

struct FormatAs<'a>(&'a KeyedComponents<&'static str, Part>);

impl std::fmt::Debug for FormatAs<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt_as("KeyedParts", f)
    }
}
