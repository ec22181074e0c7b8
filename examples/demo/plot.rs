//! `--plot FILE.svg`: both runs on one timeline, seawall above and the bare
//! client below, on the same axes. Each panel shows, per second, the requests
//! sent to the upstream and how the callers' calls ended; the script's phases
//! are marked in both, and the seawall panel shades the time the breaker
//! spent open and half-open. Text is written as SVG `<text>` for the viewer
//! to render, so no font is needed here.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use seawall::breaker::State;

use crate::args::Args;
use crate::run::Outcomes;
use crate::script::Phase;
use crate::tally::Series;

const SIZE: (u32, u32) = (1200, 860);
const FONT: &str = "sans-serif";
const SENT: RGBColor = RGBColor(31, 83, 180);
const REAL: RGBColor = RGBColor(24, 140, 60);
const FALLBACK: RGBColor = RGBColor(230, 140, 0);
const ERROR: RGBColor = RGBColor(200, 30, 30);
const OPEN: RGBColor = RGBColor(220, 60, 60);
const HALF_OPEN: RGBColor = RGBColor(240, 190, 40);
const PHASE: RGBColor = RGBColor(110, 110, 110);
/// The narrowest a breaker band is drawn, as a share of the run: a half-open
/// round of three quick probes lasts milliseconds, and would not show.
const BAND_MIN: f64 = 0.004;

fn style(series: Series) -> (RGBColor, &'static str) {
    match series {
        Series::Sent => (SENT, "requests sent to the upstream"),
        Series::Real => (REAL, "real answers from the upstream"),
        Series::Fallbacks => (FALLBACK, "fallback answers"),
        Series::Errors => (ERROR, "errors seen by the callers"),
    }
}

fn failed<E: std::fmt::Display>(err: E) -> String {
    format!("cannot draw the plot: {err}")
}

/// The picture, as SVG text.
pub fn render(args: &Args, with: &Outcomes, without: &Outcomes) -> Result<String, String> {
    let run = args.duration.as_secs_f64();
    let top = [with, without]
        .iter()
        .flat_map(|outcomes| Series::ALL.map(|series| outcomes.tally.timeline.rates(series)))
        .flatten()
        .map(|(_, rate)| rate)
        .fold(0.0, f64::max);
    // Room above the highest line for the phase names.
    let y_max = (top * 1.2).max(10.0);

    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        let (title, rest) = root.split_vertically(44);
        let (panels, legend) = rest.split_vertically(SIZE.1 as i32 - 44 - 56);
        title
            .draw(&Text::new(
                format!(
                    "seawall demo: {} callers, {} s per run, seed {}; the same script twice",
                    args.concurrency,
                    args.duration.as_secs(),
                    args.seed
                ),
                (20, 14),
                (FONT, 22).into_font().color(&BLACK),
            ))
            .map_err(failed)?;
        let halves = panels.split_evenly((2, 1));
        panel(
            &halves[0],
            with,
            "with seawall: fallback, retry, breaker, bulkhead, 250 ms timeout",
            run,
            y_max,
        )?;
        panel(
            &halves[1],
            without,
            "bare reqwest client: 1 s timeout, no retries",
            run,
            y_max,
        )?;
        draw_legend(&legend)?;
        root.present().map_err(failed)?;
    }
    Ok(svg)
}

fn panel(
    area: &DrawingArea<SVGBackend<'_>, Shift>,
    outcomes: &Outcomes,
    caption: &str,
    run: f64,
    y_max: f64,
) -> Result<(), String> {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, (FONT, 18))
        .margin_left(10)
        .margin_right(24)
        .margin_top(4)
        .x_label_area_size(40)
        .y_label_area_size(64)
        .build_cartesian_2d(0.0..run, 0.0..y_max)
        .map_err(failed)?;
    chart
        .configure_mesh()
        .light_line_style(RGBColor(240, 240, 240))
        .bold_line_style(RGBColor(222, 222, 222))
        .y_label_formatter(&|rate| format!("{rate:.0}"))
        .x_desc("seconds into the run")
        .y_desc("per second")
        .label_style((FONT, 14))
        .axis_desc_style((FONT, 15))
        .draw()
        .map_err(failed)?;

    // The breaker's open and half-open time, behind everything else.
    for (from, to, state) in breaker_bands(&outcomes.tally.transitions.lock().unwrap(), run) {
        let color = if state == State::HalfOpen {
            HALF_OPEN.mix(0.55)
        } else {
            OPEN.mix(0.16)
        };
        let to = to.max(from + run * BAND_MIN).min(run);
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(from, 0.0), (to, y_max)],
                color.filled(),
            )))
            .map_err(failed)?;
    }

    // The script's phases: a dashed line where each begins, and its name.
    for &(at, phase) in outcomes.tally.phases.lock().unwrap().iter() {
        let at = at.as_secs_f64().min(run);
        if at > 0.0 {
            chart
                .draw_series(DashedLineSeries::new(
                    [(at, 0.0), (at, y_max)],
                    6,
                    4,
                    PHASE.stroke_width(1),
                ))
                .map_err(failed)?;
        }
        let label = if phase == Phase::Healthy && at == 0.0 {
            "upstream healthy".to_owned()
        } else {
            phase.name().to_owned()
        };
        chart
            .draw_series(std::iter::once(Text::new(
                label,
                (at + run * 0.006, y_max * 0.985),
                (FONT, 15).into_font().color(&PHASE),
            )))
            .map_err(failed)?;
    }

    let timeline = &outcomes.tally.timeline;
    let half = timeline.bucket().as_secs_f64() / 2.0;
    for series in Series::ALL {
        let (color, _) = style(series);
        let points = timeline
            .rates(series)
            .into_iter()
            .map(|(start, rate)| ((start + half).min(run), rate.min(y_max)));
        // The requests sent are drawn first, wide and pale, so the lines
        // drawn over them (often the same numbers) leave them in sight.
        let line = if series == Series::Sent {
            color.mix(0.45).stroke_width(6)
        } else {
            color.stroke_width(2)
        };
        chart
            .draw_series(LineSeries::new(points, line))
            .map_err(failed)?;
    }
    Ok(())
}

/// The spans (start, end, state) the breaker spent open or half-open, from
/// its transitions; it starts closed, and a span still open at the end of
/// the run ends there.
pub fn breaker_bands(
    transitions: &[(std::time::Duration, State)],
    run: f64,
) -> Vec<(f64, f64, State)> {
    let mut bands = Vec::new();
    let mut current: Option<(f64, State)> = None;
    for &(at, state) in transitions {
        let at = at.as_secs_f64().min(run);
        if let Some((from, shaded)) = current.take() {
            bands.push((from, at, shaded));
        }
        if matches!(state, State::Open | State::HalfOpen | State::ForcedOpen) {
            current = Some((at, state));
        }
    }
    if let Some((from, shaded)) = current {
        bands.push((from, run, shaded));
    }
    bands
}

fn draw_legend(area: &DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), String> {
    enum Swatch {
        Line(RGBAColor, u32),
        Band(RGBAColor),
    }
    let mut items: Vec<(Swatch, &str)> = Series::ALL
        .iter()
        .map(|&series| {
            let (color, label) = style(series);
            let swatch = if series == Series::Sent {
                Swatch::Line(color.mix(0.45), 6)
            } else {
                Swatch::Line(color.mix(1.0), 3)
            };
            (swatch, label)
        })
        .collect();
    items.push((Swatch::Band(OPEN.mix(0.16)), "breaker open"));
    items.push((Swatch::Band(HALF_OPEN.mix(0.55)), "breaker half-open"));
    // SVG leaves the text's width to the viewer: about 0.52 em a character
    // in a common sans-serif face.
    const FONT_SIZE: f64 = 14.0;
    let text_width = |label: &str| (label.len() as f64 * FONT_SIZE / 1.24 * 0.52).ceil() as i32;
    let (swatch, gap) = (30, 24);
    let total: i32 = items
        .iter()
        .map(|(_, label)| swatch + text_width(label) + gap)
        .sum::<i32>()
        - gap;
    let mut x = ((SIZE.0 as i32 - total) / 2).max(4);
    let y = 24;
    let font = (FONT, FONT_SIZE).into_font().color(&BLACK);
    for (kind, label) in items {
        match kind {
            Swatch::Line(color, width) => area.draw(&PathElement::new(
                [(x, y), (x + 22, y)],
                color.stroke_width(width),
            )),
            Swatch::Band(color) => area.draw(&Rectangle::new(
                [(x, y - 8), (x + 22, y + 8)],
                color.filled(),
            )),
        }
        .map_err(failed)?;
        area.draw(&Text::new(
            label,
            (x + swatch, y),
            font.clone().pos(Pos::new(HPos::Left, VPos::Center)),
        ))
        .map_err(failed)?;
        x += swatch + text_width(label) + gap;
    }
    Ok(())
}

/// Writes the picture, naming the file in any error.
pub fn write(path: &Path, svg: &str) -> Result<(), String> {
    std::fs::write(path, svg)
        .map_err(|err| format!("cannot write --plot {}: {err}", path.display()))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;
    use crate::run::BreakerEnd;
    use crate::tally::{Ending, Tally};

    fn outcomes(with_seawall: bool, run: Duration, calls: u64) -> Outcomes {
        let tally = Arc::new(Tally::new(run));
        for i in 0..calls {
            let at = run * (i % 100) as u32 / 100;
            tally.sent(at, Phase::Down);
            let ending = [Ending::Real, Ending::Fallback, Ending::Error][i as usize % 3];
            tally.ended(ending, at, Duration::from_millis(1));
        }
        for phase in Phase::ALL {
            let at = run * u32::from(phase as u8) / 5;
            tally.phases.lock().unwrap().push((at, phase));
        }
        if with_seawall {
            tally.transitions.lock().unwrap().extend([
                (run * 2 / 5, State::Open),
                (run / 2, State::HalfOpen),
                (run / 2 + Duration::from_millis(1), State::Open),
                (run * 4 / 5, State::HalfOpen),
                (run * 4 / 5 + Duration::from_millis(3), State::Closed),
            ]);
        }
        Outcomes {
            with_seawall,
            tally,
            took: run,
            breaker: with_seawall.then_some(BreakerEnd {
                refused: 0,
                state: State::Closed,
                budget: None,
            }),
        }
    }

    fn args(secs: u64) -> Args {
        Args {
            duration: Duration::from_secs(secs),
            ..Args::default()
        }
    }

    /// What the picture's `<text>` elements say.
    fn texts(svg: &str) -> Vec<&str> {
        svg.split("<text ")
            .skip(1)
            .filter_map(|element| {
                let (_, rest) = element.split_once('>')?;
                let (text, _) = rest.split_once("</text>")?;
                Some(text.trim())
            })
            .collect()
    }

    #[test]
    fn the_picture_is_svg_with_its_words_as_text() {
        let run = Duration::from_secs(15);
        let svg = render(
            &args(15),
            &outcomes(true, run, 5000),
            &outcomes(false, run, 3000),
        )
        .unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..100]);
        assert!(svg.trim_end().ends_with("</svg>"));
        for words in [
            "with seawall",
            "bare reqwest client",
            "seconds into the run",
            "per second",
            "upstream healthy",
            "30% errors",
            "recovering",
            "breaker open",
            "breaker half-open",
            "real answers from the upstream",
            "fallback answers",
        ] {
            assert!(
                texts(&svg).iter().any(|text| text.starts_with(words)),
                "no <text> {words:?} in {:?}",
                texts(&svg)
            );
        }
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }

    #[test]
    fn empty_and_extreme_runs_still_draw() {
        for secs in [5, 300] {
            let run = Duration::from_secs(secs);
            let svg = render(
                &args(secs),
                &outcomes(true, run, 0),
                &outcomes(false, run, 0),
            )
            .unwrap();
            assert!(svg.contains("</svg>") && !svg.contains("NaN"));
        }
        let run = Duration::from_secs(5);
        let flood = outcomes(true, run, 200_000);
        // Calls counted long after the run ended land in the last bucket.
        flood.tally.timeline.add(Series::Errors, Duration::MAX);
        flood
            .tally
            .transitions
            .lock()
            .unwrap()
            .push((Duration::MAX, State::ForcedOpen));
        let svg = render(&args(5), &flood, &outcomes(false, run, 1)).unwrap();
        assert!(svg.contains("</svg>") && !svg.contains("NaN"));
    }

    #[test]
    fn bands_follow_the_transitions() {
        let s = Duration::from_secs;
        let bands = breaker_bands(
            &[
                (s(2), State::Open),
                (s(3), State::HalfOpen),
                (s(4), State::Closed),
                (s(6), State::Open),
            ],
            8.0,
        );
        assert_eq!(
            bands,
            [
                (2.0, 3.0, State::Open),
                (3.0, 4.0, State::HalfOpen),
                (6.0, 8.0, State::Open)
            ]
        );
        assert!(breaker_bands(&[], 8.0).is_empty());
        assert!(breaker_bands(&[(s(1), State::Closed)], 8.0).is_empty());
    }

    #[test]
    fn an_unwritable_path_is_named() {
        let path = Path::new("/nonexistent-dir/demo.svg");
        let err = write(path, "<svg/>").unwrap_err();
        assert!(
            err.contains("--plot") && err.contains("/nonexistent-dir/demo.svg"),
            "{err}"
        );
    }
}
