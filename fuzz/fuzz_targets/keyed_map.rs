//! A keyed bulkhead driven by adversarial key sequences against a plain
//! sequential model of its map: one list per shard, newest first.
//!
//! Operations get and peek keys (few, many, repeated, neighbouring, far
//! apart), hold a call in flight on a key's bulkhead (which protects it) and
//! release held calls, and flood the map with runs of new keys. The model
//! follows the documented rule: a hit moves its key to the front of its
//! shard's list; a new key in a full shard looks at the `EVICTION_PROBES`
//! oldest entries, moving each protected one to the front, and takes the
//! place of the first unprotected one; if there is none, the key is not kept
//! and gets the overflow bulkhead. After every step each shard's keys, in
//! order, must equal the model's, no shard may exceed its share of the
//! capacity, every protected key must still be kept, and every bulkhead's
//! calls in flight must equal the model's (never past its cap).
#![no_main]

use std::collections::HashMap;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use seawall::bulkhead::{BulkheadConfig, BulkheadPermit, KeyedBulkhead};

/// Calls a bulkhead admits at once.
const CAP: u64 = 2;

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Key {
    /// A few keys, seen again and again.
    Few(u8),
    /// Neighbouring keys.
    Near(u16),
    /// Keys that differ only in their high bits.
    High(u8),
    /// Anything.
    Any(u64),
}

impl Key {
    fn value(self) -> u64 {
        match self {
            Key::Few(k) => u64::from(k % 8),
            Key::Near(k) => 1_000 + u64::from(k),
            Key::High(k) => u64::from(k) << 56,
            Key::Any(k) => k,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    Get(Key),
    Peek(Key),
    Hold(Key),
    Release(u8),
    /// A call held on each of a run of neighbouring keys: shards full of
    /// protected entries.
    HoldRun {
        start: u16,
        count: u8,
    },
    Flood {
        start: u32,
        count: u8,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    capacity: u16,
    ops: Vec<Op>,
}

/// Where a held call's slot is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Own(u64),
    Overflow,
}

struct Model {
    probes: usize,
    capacities: Vec<usize>,
    /// Per shard, newest first.
    shards: Vec<Vec<u64>>,
    /// Calls in flight on each kept key's bulkhead.
    in_flight: HashMap<u64, u64>,
    overflow_in_flight: u64,
}

impl Model {
    fn protected(&self, key: u64) -> bool {
        self.in_flight.get(&key).copied().unwrap_or(0) > 0
    }

    /// What `get(key)` gives, with the map's bookkeeping.
    fn get(&mut self, shard: usize, key: u64) -> Target {
        let list = &mut self.shards[shard];
        if let Some(at) = list.iter().position(|&k| k == key) {
            list.remove(at);
            list.insert(0, key);
            return Target::Own(key);
        }
        if list.len() < self.capacities[shard] {
            list.insert(0, key);
            return Target::Own(key);
        }
        for _ in 0..self.probes.min(self.shards[shard].len()) {
            let oldest = *self.shards[shard].last().expect("a full shard");
            if self.protected(oldest) {
                let list = &mut self.shards[shard];
                list.pop();
                list.insert(0, oldest);
                continue;
            }
            let list = &mut self.shards[shard];
            list.pop();
            list.insert(0, key);
            self.in_flight.remove(&oldest);
            return Target::Own(key);
        }
        Target::Overflow
    }

    fn slots(&mut self, target: Target) -> &mut u64 {
        match target {
            Target::Own(key) => self.in_flight.entry(key).or_default(),
            Target::Overflow => &mut self.overflow_in_flight,
        }
    }
}

fn check(bulkheads: &KeyedBulkhead<u64>, model: &Model, held: &[(Target, BulkheadPermit)]) {
    for (shard, expected) in model.shards.iter().enumerate() {
        let actual = bulkheads.fuzz_keys_by_recency(shard);
        assert_eq!(&actual, expected, "shard {shard}");
        assert!(actual.len() <= model.capacities[shard]);
    }
    for (&key, &calls) in &model.in_flight {
        if calls > 0 {
            let kept = bulkheads.peek(&key).expect("a protected key is kept");
            assert_eq!(u64::from(kept.in_flight()), calls, "key {key}");
        }
    }
    assert_eq!(
        u64::from(bulkheads.overflow().in_flight()),
        model.overflow_in_flight
    );
    assert!(model.overflow_in_flight <= CAP);
    assert_eq!(
        held.len() as u64,
        model.in_flight.values().sum::<u64>() + model.overflow_in_flight
    );
}

fuzz_target!(|input: Input| {
    let capacity = 1 + usize::from(input.capacity % 300);
    let config = BulkheadConfig::builder()
        .name("keyed")
        .max_concurrent_calls(CAP as u32)
        .build()
        .expect("a valid config");
    let bulkheads: KeyedBulkhead<u64> =
        KeyedBulkhead::new(config, capacity).expect("capacity >= 1");
    let capacities = bulkheads.fuzz_shard_capacities();
    assert_eq!(capacities.iter().sum::<usize>(), capacity);
    let mut model = Model {
        probes: KeyedBulkhead::<u64>::FUZZ_EVICTION_PROBES,
        shards: vec![Vec::new(); capacities.len()],
        capacities,
        in_flight: HashMap::new(),
        overflow_in_flight: 0,
    };
    let mut held: Vec<(Target, BulkheadPermit)> = Vec::new();
    let overflow_name = bulkheads.overflow().name().to_owned();
    let get = |model: &mut Model, key: u64| {
        let expected = model.get(bulkheads.fuzz_shard_of(&key), key);
        let bulkhead = bulkheads.get(&key);
        let actual = if bulkhead.name() == overflow_name {
            Target::Overflow
        } else {
            Target::Own(key)
        };
        assert_eq!(actual, expected, "key {key}");
        (expected, bulkhead)
    };
    let hold = |model: &mut Model, held: &mut Vec<(Target, BulkheadPermit)>, key: u64| {
        let (target, bulkhead) = get(model, key);
        let slots = model.slots(target);
        match bulkhead.try_acquire() {
            Ok(permit) => {
                assert!(*slots < CAP, "admitted past the cap");
                *slots += 1;
                held.push((target, permit));
            }
            Err(_) => assert_eq!(*slots, CAP, "refused below the cap"),
        }
    };
    for op in input.ops.into_iter().take(2_000) {
        match op {
            Op::Get(key) => {
                get(&mut model, key.value());
            }
            Op::Peek(key) => {
                let key = key.value();
                let kept = model.shards[bulkheads.fuzz_shard_of(&key)].contains(&key);
                assert_eq!(bulkheads.peek(&key).is_some(), kept, "peek {key}");
            }
            Op::Hold(key) => hold(&mut model, &mut held, key.value()),
            Op::HoldRun { start, count } => {
                for offset in 0..u64::from(count) {
                    hold(&mut model, &mut held, Key::Near(start).value() + offset);
                }
            }
            Op::Release(index) => {
                if !held.is_empty() {
                    let (target, permit) = held.swap_remove(usize::from(index) % held.len());
                    drop(permit);
                    *model.slots(target) -= 1;
                }
            }
            Op::Flood { start, count } => {
                for offset in 0..u64::from(count) {
                    get(&mut model, (1 << 40) + u64::from(start) * 256 + offset);
                }
            }
        }
        check(&bulkheads, &model, &held);
    }
});
