//! What one run counts: totals for the summary, and the same counts over
//! time for the plot, with the breaker's transitions and the script's phases.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use seawall::breaker::State;

use crate::script::Phase;

/// What a caller's call ended as; every call is exactly one of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ending {
    /// The upstream's own successful answer.
    Real,
    /// The fallback's cached answer.
    Fallback,
    /// A failure the caller saw: an error, or the upstream's 5xx.
    Error,
}

/// The counts of one run.
pub struct Tally {
    pub calls: AtomicU64,
    pub real: AtomicU64,
    pub fallbacks: AtomicU64,
    pub errors: AtomicU64,
    /// Requests that left the client for the upstream (every attempt).
    pub sent: AtomicU64,
    /// Those sent while the upstream was failing.
    pub sent_in_outage: AtomicU64,
    pub retries: AtomicU64,
    latencies: Mutex<Vec<Duration>>,
    pub timeline: Timeline,
    /// The breaker's transitions: when, and the state it entered.
    pub transitions: Mutex<Vec<(Duration, State)>>,
    /// When each phase began.
    pub phases: Mutex<Vec<(Duration, Phase)>>,
}

impl Tally {
    pub fn new(run: Duration) -> Self {
        Self {
            calls: AtomicU64::new(0),
            real: AtomicU64::new(0),
            fallbacks: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            sent_in_outage: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            latencies: Mutex::new(Vec::new()),
            timeline: Timeline::new(run),
            transitions: Mutex::new(Vec::new()),
            phases: Mutex::new(Vec::new()),
        }
    }

    /// A request leaving for the upstream `at` this time into the run.
    pub fn sent(&self, at: Duration, phase: Phase) {
        // Relaxed, here and below: independent counters, read after the
        // run's tasks have been joined (or approximately, for the display).
        self.sent.fetch_add(1, Ordering::Relaxed);
        if phase.is_outage() {
            self.sent_in_outage.fetch_add(1, Ordering::Relaxed);
        }
        self.timeline.add(Series::Sent, at);
    }

    /// A caller's call that ended `at` this time into the run, after `took`.
    pub fn ended(&self, ending: Ending, at: Duration, took: Duration) {
        self.latencies.lock().unwrap().push(took);
        self.calls.fetch_add(1, Ordering::Relaxed);
        let (counter, series) = match ending {
            Ending::Real => (&self.real, Series::Real),
            Ending::Fallback => (&self.fallbacks, Series::Fallbacks),
            Ending::Error => (&self.errors, Series::Errors),
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.timeline.add(series, at);
    }

    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }

    /// The latency below which a share `p` (0 to 1) of the calls finished.
    pub fn percentile(&self, p: f64) -> Duration {
        let mut all = self.latencies.lock().unwrap().clone();
        if all.is_empty() {
            return Duration::ZERO;
        }
        all.sort_unstable();
        let rank = ((all.len() - 1) as f64 * p.clamp(0.0, 1.0)).round() as usize;
        all[rank]
    }
}

/// One of the timeline's counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Series {
    Sent,
    Real,
    Fallbacks,
    Errors,
}

impl Series {
    pub const ALL: [Series; 4] = [Self::Sent, Self::Real, Self::Fallbacks, Self::Errors];
}

/// Counts in fixed-width time buckets, allocated once before the run.
pub struct Timeline {
    bucket: Duration,
    counts: [Box<[AtomicU64]>; 4],
}

impl Timeline {
    /// Buckets of a quarter second to a second, about thirty over the run:
    /// fine enough to follow each phase, coarse enough that a caller's pace
    /// does not show as a saw-tooth.
    pub fn new(run: Duration) -> Self {
        let bucket = (run / 30).clamp(Duration::from_millis(250), Duration::from_secs(1));
        let len = run.as_nanos().div_ceil(bucket.as_nanos()).max(1) as usize;
        let buckets = || (0..len).map(|_| AtomicU64::new(0)).collect();
        Self {
            bucket,
            counts: [buckets(), buckets(), buckets(), buckets()],
        }
    }

    pub fn bucket(&self) -> Duration {
        self.bucket
    }

    /// Counts one event `at` this time into the run; late ones (calls still
    /// in flight when the run ends) go into the last bucket.
    pub fn add(&self, series: Series, at: Duration) {
        let counts = &self.counts[series as usize];
        let index = (at.as_nanos() / self.bucket.as_nanos()).min(counts.len() as u128 - 1);
        counts[index as usize].fetch_add(1, Ordering::Relaxed);
    }

    /// Each bucket's start (seconds) and its count as a rate per second.
    pub fn rates(&self, series: Series) -> Vec<(f64, f64)> {
        let width = self.bucket.as_secs_f64();
        self.counts[series as usize]
            .iter()
            .enumerate()
            .map(|(i, count)| {
                (
                    i as f64 * width,
                    count.load(Ordering::Relaxed) as f64 / width,
                )
            })
            .collect()
    }

    /// The events a series counted in all.
    #[cfg(test)]
    pub fn total(&self, series: Series) -> u64 {
        self.counts[series as usize]
            .iter()
            .map(|count| count.load(Ordering::Relaxed))
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_fit_every_allowed_length() {
        for secs in crate::args::DURATION_SECS {
            let run = Duration::from_secs(secs);
            let timeline = Timeline::new(run);
            let rates = timeline.rates(Series::Sent);
            assert!(
                (20..=300).contains(&rates.len()),
                "{secs} s: {}",
                rates.len()
            );
            let covered = timeline.bucket() * rates.len() as u32;
            assert!(
                covered >= run && covered < run + timeline.bucket(),
                "{secs} s"
            );
        }
    }

    #[test]
    fn a_flood_of_events_from_many_threads_is_counted_once_each() {
        let tally = Tally::new(Duration::from_secs(5));
        std::thread::scope(|scope| {
            for thread in 0..8u64 {
                let tally = &tally;
                scope.spawn(move || {
                    for i in 0..10_000u64 {
                        let at = Duration::from_micros((i * 7919 + thread) % 6_000_000);
                        tally.sent(at, Phase::Down);
                        let ending =
                            [Ending::Real, Ending::Fallback, Ending::Error][i as usize % 3];
                        tally.ended(ending, at, Duration::from_micros(i));
                    }
                });
            }
        });
        let get = Tally::get;
        assert_eq!(get(&tally.calls), 80_000);
        assert_eq!(get(&tally.sent), 80_000);
        assert_eq!(get(&tally.sent_in_outage), 80_000);
        assert_eq!(
            get(&tally.real) + get(&tally.fallbacks) + get(&tally.errors),
            get(&tally.calls)
        );
        assert_eq!(tally.timeline.total(Series::Sent), 80_000);
        assert_eq!(tally.timeline.total(Series::Real), get(&tally.real));
        assert_eq!(tally.timeline.total(Series::Errors), get(&tally.errors));
        assert_eq!(tally.percentile(0.0), Duration::ZERO);
        assert_eq!(tally.percentile(1.0), Duration::from_micros(9_999));
    }

    #[test]
    fn extreme_times_land_in_the_first_and_last_buckets() {
        let timeline = Timeline::new(Duration::from_secs(5));
        timeline.add(Series::Errors, Duration::ZERO);
        timeline.add(Series::Errors, Duration::MAX);
        let rates = timeline.rates(Series::Errors);
        assert!(rates[0].1 > 0.0);
        assert!(rates[rates.len() - 1].1 > 0.0);
        assert_eq!(timeline.total(Series::Errors), 2);
    }

    #[test]
    fn no_calls_have_no_latency() {
        let tally = Tally::new(Duration::from_secs(5));
        assert_eq!(tally.percentile(0.99), Duration::ZERO);
        assert_eq!(tally.percentile(f64::NAN), Duration::ZERO);
    }
}
