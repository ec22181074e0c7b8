//! What stays on screen: each run's final counters, then both runs side by
//! side. Every line fits in 80 columns.

use std::time::Duration;

use crate::run::Outcomes;
use crate::tally::Tally;

/// A run's final counters, a few lines under 80 columns.
pub fn final_counters(run: &Outcomes) -> Vec<String> {
    let tally = &run.tally;
    let get = Tally::get;
    let side = if run.with_seawall {
        "with seawall"
    } else {
        "bare client"
    };
    let mut lines = vec![
        format!(
            "final counters, {side}, after {:.1} s:",
            run.took.as_secs_f64()
        ),
        format!(
            "  calls {} = real answers {} + fallbacks {} + errors {}",
            get(&tally.calls),
            get(&tally.real),
            get(&tally.fallbacks),
            get(&tally.errors),
        ),
        format!(
            "  requests sent to the upstream {} ({} while it was failing)",
            get(&tally.sent),
            get(&tally.sent_in_outage),
        ),
    ];
    if let Some(breaker) = &run.breaker {
        let mut line = format!(
            "  retries {}; breaker refused {} calls, ends {}",
            get(&tally.retries),
            breaker.refused,
            breaker.state,
        );
        if let Some(level) = breaker.budget {
            line.push_str(&format!("; budget {level:.1}"));
        }
        lines.push(line);
    }
    lines
}

/// The two runs side by side.
pub fn summary(with: &Outcomes, without: &Outcomes) -> Vec<String> {
    let mut lines = vec!["the same script, side by side:".to_owned()];
    let mut row = |name: &str, a: String, b: String| {
        lines.push(format!("  {name:<38} {a:>14} {b:>14}"));
    };
    row("", "with seawall".into(), "bare client".into());
    let count = |run: &Outcomes, f: fn(&Tally) -> &std::sync::atomic::AtomicU64| {
        Tally::get(f(&run.tally)).to_string()
    };
    let both = |f: fn(&Tally) -> &std::sync::atomic::AtomicU64| (count(with, f), count(without, f));
    let (a, b) = both(|t| &t.calls);
    row("calls made by the callers", a, b);
    let (a, b) = both(|t| &t.real);
    row("real answers from the upstream", a, b);
    let (a, b) = both(|t| &t.fallbacks);
    row("fallback answers served", a, b);
    let (a, b) = both(|t| &t.errors);
    row("errors seen by the callers", a, b);
    let (a, b) = both(|t| &t.sent);
    row("requests sent to the upstream", a, b);
    let (a, b) = both(|t| &t.sent_in_outage);
    row("requests sent to the failing upstream", a, b);
    let (a, b) = both(|t| &t.retries);
    row("retries", a, b);
    let refused = |run: &Outcomes| run.breaker.as_ref().map_or(0, |b| b.refused).to_string();
    row(
        "calls refused by the open breaker",
        refused(with),
        refused(without),
    );
    let ms = |d: Duration| format!("{:.1} ms", d.as_secs_f64() * 1000.0);
    row(
        "p50 latency",
        ms(with.tally.percentile(0.5)),
        ms(without.tally.percentile(0.5)),
    );
    row(
        "p99 latency",
        ms(with.tally.percentile(0.99)),
        ms(without.tally.percentile(0.99)),
    );
    lines
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

    use seawall::breaker::State;

    use super::*;
    use crate::run::BreakerEnd;
    use crate::script::Phase;
    use crate::tally::Ending;

    fn outcomes(with_seawall: bool, calls: u64) -> Outcomes {
        let tally = Arc::new(Tally::new(Duration::from_secs(300)));
        for i in 0..calls {
            let ending = [Ending::Real, Ending::Fallback, Ending::Error][i as usize % 3];
            tally.sent(Duration::from_millis(i), Phase::Slow);
            tally.ended(ending, Duration::from_millis(i), Duration::from_millis(i));
        }
        tally.retries.store(calls / 10, Ordering::Relaxed);
        Outcomes {
            with_seawall,
            tally,
            took: Duration::from_secs(300),
            breaker: with_seawall.then_some(BreakerEnd {
                refused: calls * 2,
                state: State::HalfOpen,
                budget: Some(10.0),
            }),
        }
    }

    #[test]
    fn every_count_is_shown_for_both_sides() {
        let (with, without) = (outcomes(true, 3001), outcomes(false, 7));
        let lines = summary(&with, &without);
        let find = |name: &str| {
            lines
                .iter()
                .find(|line| line.contains(name))
                .unwrap_or_else(|| panic!("no {name:?} in {lines:#?}"))
                .split_whitespace()
                .rev()
                .take(2)
                .collect::<Vec<_>>()
        };
        assert_eq!(find("calls made"), ["7", "3001"]);
        assert_eq!(find("real answers"), ["3", "1001"]);
        assert_eq!(find("fallback answers"), ["2", "1000"]);
        assert_eq!(find("errors seen"), ["2", "1000"]);
        assert_eq!(find("refused"), ["0", "6002"]);
        assert_eq!(find("retries"), ["0", "300"]);
        assert!(lines.iter().all(|line| line.len() <= 80), "{lines:#?}");
    }

    #[test]
    fn final_counters_fit_80_columns_with_the_largest_numbers() {
        let mut run = outcomes(true, 10);
        if let Some(breaker) = run.breaker.as_mut() {
            breaker.refused = u64::MAX;
        }
        for counter in [&run.tally.calls, &run.tally.retries, &run.tally.sent] {
            counter.store(u64::MAX, Ordering::Relaxed);
        }
        let lines = final_counters(&run);
        assert_eq!(lines.len(), 4);
        for line in &lines {
            // Twenty-digit counts are past what a run can reach; the lines
            // stay readable, if not all under 80 columns, with them.
            assert!(line.len() <= 120, "{line}");
        }
        let typical = final_counters(&outcomes(true, 999_999));
        assert!(typical.iter().all(|line| line.len() <= 80), "{typical:#?}");
        assert_eq!(final_counters(&outcomes(false, 1)).len(), 3);
    }
}
