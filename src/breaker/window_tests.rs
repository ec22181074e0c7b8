//! The closed window's own checks: notable calls packed in a word, stripe
//! buckets handed over before they carry, and epoch tags that cannot alias.

use std::time::Duration;

use super::{CallKind, ClosedWindow, NotableCall, COUNT_BITS, FLUSH_EVERY, IDLE_BUCKETS};
use crate::breaker::SlidingWindow;
use crate::sync::Ordering;

const MS: u64 = 1_000_000;

/// A time window of 4 buckets of 1 ms, on `stripes` stripes.
fn four_ms(stripes: usize) -> ClosedWindow {
    ClosedWindow::new(
        SlidingWindow::Time {
            duration: Duration::from_millis(4),
            buckets: 4,
        },
        stripes,
    )
}

/// The largest count any stripe bucket holds.
fn largest_stripe_count(window: &ClosedWindow) -> u64 {
    window
        .stripes
        .iter()
        .flat_map(|stripe| stripe.buckets.iter())
        .map(|slot| slot.load(Ordering::Relaxed) & COUNT_BITS)
        .max()
        .unwrap()
}

#[test]
fn a_stripe_count_is_handed_over_before_it_can_carry_into_its_tag() {
    let window = four_ms(1);
    let now = 7 * MS + 3;
    for _ in 0..10 * FLUSH_EVERY + 3 {
        window.record_success(0, now);
    }
    assert!(largest_stripe_count(&window) < FLUSH_EVERY);
    assert_eq!(window.counts(now).calls, 10 * FLUSH_EVERY + 3);
    // The handed-over successes slide out with their bucket.
    assert_eq!(window.counts(now + 3 * MS).calls, 10 * FLUSH_EVERY + 3);
    assert_eq!(window.counts(now + 4 * MS).calls, 0);
}

#[test]
fn a_bucket_2_to_the_32_buckets_old_is_not_taken_for_the_current_one() {
    let window = four_ms(2);
    let start = 5 * MS;
    window.record_success(0, start);
    assert_eq!(window.counts(start).calls, 1);
    // 2^32 buckets of 1 ms later (about 50 days), nothing else in between:
    // the same 32-bit tag, in the same slot.
    let later = start + (1 << 32) * MS;
    assert_eq!(window.counts(later).calls, 0, "an idle bucket aliased");
    assert!(window.record_success(0, later).new_bucket);
    assert_eq!(window.counts(later).calls, 1);
    // Idle for 2^32 buckets again, then written before it is read.
    let again = later + (1 << 32) * MS;
    assert!(
        window.record_success(0, again).new_bucket,
        "counted on an old count"
    );
    assert_eq!(window.counts(again).calls, 1);
}

#[test]
fn a_stripe_bucket_left_behind_by_a_busy_window_is_zeroed_not_aliased() {
    let window = four_ms(2);
    let start = 5 * MS;
    window.record_success(0, start);
    // Stripe 1 keeps the window busy, opening a bucket every 2^31 - 1
    // buckets and reading the window then (as the breaker does on each new
    // bucket), while stripe 0's bucket is never written again.
    let step = (IDLE_BUCKETS - 1) * MS;
    let aliased = start + (1 << 32) * MS;
    let mut now = start;
    while now + step < aliased {
        now += step;
        assert!(window.record_success(1, now).new_bucket);
        assert_eq!(window.counts(now).calls, 1);
    }
    // Stripe 1's last bucket is 2 ms old, in the window; stripe 0's is
    // 2^32 buckets old, with the tag of the current one.
    assert_eq!(aliased - now, 2 * MS);
    assert_eq!(
        window.counts(aliased).calls,
        1,
        "stripe 0's old bucket aliased"
    );
}

#[test]
fn a_notable_call_keeps_its_position_and_kind() {
    for position in [1, 2, 100, 1 << 40, (1 << 62) - 1] {
        for (failed, slow) in [(false, false), (true, false), (false, true), (true, true)] {
            let call = NotableCall::new(position, CallKind { failed, slow });
            assert_eq!(call.position(), position);
            assert_eq!((call.kind().failed, call.kind().slow), (failed, slow));
        }
    }
}
