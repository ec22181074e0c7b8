//! The output: lines that stay (events, results) and, on a terminal, one
//! status line redrawn in place. The status line is cut to fit the
//! terminal's width, asked again at every redraw: a line one column too wide
//! wraps, and the next redraw clears only the wrapped half, leaving the first
//! half behind as a ghost line. When stdout is not a terminal every status is
//! a plain line of its own.

use std::io::{IsTerminal, Write};
use std::sync::Mutex;

/// The width assumed when the terminal does not say.
const DEFAULT_WIDTH: usize = 80;

/// One part of the status line: its full text, a shorter one, and how much
/// it matters (0 first; the first part is always shown).
#[derive(Clone, Debug)]
pub struct Segment {
    pub full: String,
    pub short: String,
    pub rank: u8,
}

impl Segment {
    pub fn new(rank: u8, full: String, short: String) -> Self {
        Self { full, short, rank }
    }
}

/// The parts joined in order, as many and as long as fit in `width`
/// characters: all in full if they fit; otherwise the short forms of the
/// most important parts, dropping the least important; cut at `width` if
/// even the first is too long.
pub fn fit(segments: &[Segment], width: usize) -> String {
    const SEPARATOR: &str = " | ";
    let join = |parts: Vec<&str>| parts.join(SEPARATOR);
    let full = join(segments.iter().map(|s| s.full.as_str()).collect());
    if full.chars().count() <= width {
        return full;
    }
    let mut by_rank: Vec<usize> = (0..segments.len()).collect();
    by_rank.sort_by_key(|&i| segments[i].rank);
    let mut shown = vec![false; segments.len()];
    let mut used = 0;
    for (n, i) in by_rank.into_iter().enumerate() {
        let short = &segments[i].short;
        let cost = short.chars().count() + if n == 0 { 0 } else { SEPARATOR.len() };
        if used + cost <= width {
            shown[i] = true;
            used += cost;
        } else if n == 0 {
            return short.chars().take(width).collect();
        }
    }
    join(
        segments
            .iter()
            .zip(&shown)
            .filter(|(_, shown)| **shown)
            .map(|(segment, _)| segment.short.as_str())
            .collect(),
    )
}

/// The terminal's width in columns: asked of the terminal, else `COLUMNS`,
/// else 80.
pub fn terminal_width() -> usize {
    #[cfg(unix)]
    {
        if let Ok(size) = rustix::termios::tcgetwinsize(std::io::stdout()) {
            if size.ws_col > 0 {
                return usize::from(size.ws_col);
            }
        }
    }
    columns_from(std::env::var("COLUMNS").ok().as_deref()).unwrap_or(DEFAULT_WIDTH)
}

fn columns_from(value: Option<&str>) -> Option<usize> {
    value?.trim().parse().ok().filter(|&columns| columns > 0)
}

/// Where the demo prints.
pub struct Screen {
    terminal: bool,
    /// The status on display (on a terminal), to redraw after an event at
    /// the width the terminal has then.
    status: Mutex<Vec<Segment>>,
}

impl Screen {
    pub fn new() -> Self {
        Self {
            terminal: std::io::stdout().is_terminal(),
            status: Mutex::new(Vec::new()),
        }
    }

    pub fn is_terminal(&self) -> bool {
        self.terminal
    }

    /// Shows a status: redrawn in place on a terminal, one column short of
    /// its width so the cursor never wraps; a plain line otherwise.
    pub fn status(&self, segments: &[Segment]) {
        let mut out = std::io::stdout().lock();
        if self.terminal {
            let line = fit(segments, terminal_width().saturating_sub(1));
            let _ = write!(out, "\r\x1b[2K{line}");
            *self.status.lock().unwrap() = segments.to_vec();
        } else {
            let _ = writeln!(out, "{}", fit(segments, usize::MAX));
        }
        let _ = out.flush();
    }

    /// Prints a line that stays, above the status line.
    pub fn event(&self, line: &str) {
        let mut out = std::io::stdout().lock();
        if self.terminal {
            let status = fit(
                &self.status.lock().unwrap(),
                terminal_width().saturating_sub(1),
            );
            let _ = write!(out, "\r\x1b[2K{line}\n{status}");
        } else {
            let _ = writeln!(out, "{line}");
        }
        let _ = out.flush();
    }

    /// Clears the status line for good (the end of a run).
    pub fn end_status(&self) {
        if self.terminal {
            let mut out = std::io::stdout().lock();
            self.status.lock().unwrap().clear();
            let _ = write!(out, "\r\x1b[2K");
            let _ = out.flush();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segments() -> Vec<Segment> {
        let big = u64::MAX;
        vec![
            Segment::new(
                0,
                "[300.0s] recovering".into(),
                "[300.0s] recovering".into(),
            ),
            Segment::new(7, format!("calls {big}"), format!("calls {big}")),
            Segment::new(
                1,
                format!("real {big} fallback {big} errors {big}"),
                format!("real {big} fb {big} err {big}"),
            ),
            Segment::new(3, format!("sent {big}"), format!("sent {big}")),
            Segment::new(5, format!("retries {big}"), format!("retry {big}")),
            Segment::new(2, "breaker half_open".into(), "half_open".into()),
        ]
    }

    #[test]
    fn every_width_gets_a_line_no_longer_than_itself() {
        let segments = segments();
        for width in (0..400).chain([usize::MAX]) {
            let line = fit(&segments, width);
            assert!(line.chars().count() <= width, "{width}: {line}");
            let first = "[300.0s] recovering";
            let shown = width.min(first.len());
            assert_eq!(line.get(..shown), first.get(..shown), "{width}: {line}");
        }
        assert_eq!(fit(&segments, 0), "");
        assert_eq!(fit(&segments, 4), "[300");
    }

    #[test]
    fn the_important_parts_come_first_and_keep_their_order() {
        let line = fit(&segments(), 79);
        assert!(line.contains("half_open"), "{line}");
        let wide = fit(&segments(), 200);
        let real = wide.find("real").unwrap();
        let sent = wide.find("sent").unwrap();
        let breaker = wide.find("half_open").unwrap();
        assert!(real < sent && sent < breaker, "{wide}");
        let all = fit(&segments(), usize::MAX);
        assert!(all.contains("fallback") && all.contains("calls"), "{all}");
    }

    #[test]
    fn no_segments_make_an_empty_line() {
        assert_eq!(fit(&[], 80), "");
    }

    #[test]
    fn columns_must_be_a_positive_number() {
        assert_eq!(columns_from(Some("120")), Some(120));
        assert_eq!(columns_from(Some(" 80\n")), Some(80));
        assert_eq!(columns_from(Some("0")), None);
        assert_eq!(columns_from(Some("-1")), None);
        assert_eq!(columns_from(Some("wide")), None);
        assert_eq!(columns_from(Some("99999999999999999999999")), None);
        assert_eq!(columns_from(None), None);
    }
}
