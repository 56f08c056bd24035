//! The overview's chart: events accepted per second and deliveries delivered per second over
//! the last 15 minutes, as an inline SVG drawn on the server (two polylines on a fixed grid).
//! No script draws it and no library is needed; a text summary goes with it for screen readers.

use crate::rates::{INTERVAL, POINTS, Point};
use maud::{Markup, PreEscaped, html};
use std::fmt::Write;

const WIDTH: f64 = 900.0;
const HEIGHT: f64 = 200.0;
/// Room on the left for the scale's labels, and below for the time labels.
const LEFT: f64 = 48.0;
const BOTTOM: f64 = 20.0;

const IN_COLOR: &str = "#0a58ca";
const OUT_COLOR: &str = "#1a7f37";

/// The chart of `points` (oldest first, at most [`POINTS`]).
pub fn rates(points: &[Point]) -> Markup {
    let per_second = |n: u64| n as f64 / INTERVAL.as_secs_f64();
    let peak = points.iter().map(|p| per_second(p.accepted.max(p.delivered))).fold(0.0, f64::max);
    let top = nice_ceiling(peak);
    let last = points.last().copied().unwrap_or_default();
    let summary = format!(
        "Last {} s: {:.1} events/s in, {:.1} delivered/s out. Peak over the last 15 minutes: {:.1}/s.",
        INTERVAL.as_secs(),
        per_second(last.accepted),
        per_second(last.delivered),
        peak
    );
    let line = |pick: fn(&Point) -> u64| polyline(points, top, |p| per_second(pick(p)));
    html! {
        figure {
            svg.chart viewBox=(format!("0 0 {WIDTH} {HEIGHT}")) role="img" aria-label=(summary) {
                (PreEscaped(grid(top)))
                polyline fill="none" stroke=(IN_COLOR) stroke-width="2" points=(line(|p| p.accepted)) {}
                polyline fill="none" stroke=(OUT_COLOR) stroke-width="2" stroke-dasharray="6 3" points=(line(|p| p.delivered)) {}
            }
            figcaption.legend {
                span { span.swatch data-color="in" {} "events/s in (accepted)" }
                span { span.swatch data-color="out" {} "delivered/s out" }
                span.muted { "last 15 minutes, one point per " (INTERVAL.as_secs()) " s" }
            }
            p.sr-only { (summary) }
        }
    }
}

/// `x,y` pairs of `points`, the newest at the right edge, scaled so `top` is the chart's top.
fn polyline(points: &[Point], top: f64, value: impl Fn(&Point) -> f64) -> String {
    let plot_w = WIDTH - LEFT;
    let plot_h = HEIGHT - BOTTOM;
    let step = plot_w / (POINTS.saturating_sub(1).max(1)) as f64;
    let offset = POINTS.saturating_sub(points.len());
    let mut out = String::new();
    for (i, p) in points.iter().enumerate() {
        let x = LEFT + (offset + i) as f64 * step;
        let y = plot_h - (value(p) / top).clamp(0.0, 1.0) * (plot_h - 4.0);
        let _ = write!(out, "{x:.1},{y:.1} ");
    }
    out
}

/// Horizontal lines at 0, half and the top, with their values, and the time labels.
fn grid(top: f64) -> String {
    let plot_h = HEIGHT - BOTTOM;
    let mut out = String::new();
    for fraction in [0.0, 0.5, 1.0] {
        let y = plot_h - fraction * (plot_h - 4.0);
        let label = format_rate(top * fraction);
        let _ = write!(
            out,
            r##"<line x1="{LEFT}" x2="{WIDTH}" y1="{y:.1}" y2="{y:.1}" stroke="#d0d7de" stroke-width="1"/><text x="{x:.1}" y="{ty:.1}" font-size="11" fill="#57606a" text-anchor="end">{label}/s</text>"##,
            x = LEFT - 4.0,
            ty = y + 4.0,
        );
    }
    let _ = write!(
        out,
        r##"<text x="{LEFT}" y="{HEIGHT}" font-size="11" fill="#57606a">15 min ago</text><text x="{WIDTH}" y="{HEIGHT}" font-size="11" fill="#57606a" text-anchor="end">now</text>"##
    );
    out
}

/// The smallest of 1, 2, 5 × 10ⁿ at or above `peak` (at least 1).
fn nice_ceiling(peak: f64) -> f64 {
    let mut top = 1.0;
    while top < peak {
        for factor in [2.0, 2.5, 2.0] {
            top *= factor;
            if top >= peak {
                break;
            }
        }
    }
    top
}

fn format_rate(rate: f64) -> String {
    if rate >= 10.0 || rate == 0.0 { format!("{rate:.0}") } else { format!("{rate:.1}") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_rounds_up_to_one_two_or_five() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(1.5), 2.0);
        assert_eq!(nice_ceiling(3.0), 5.0);
        assert_eq!(nice_ceiling(7.0), 10.0);
        assert_eq!(nice_ceiling(1234.0), 2000.0);
    }

    #[test]
    fn the_newest_point_is_at_the_right_edge_and_the_peak_at_the_top() {
        let points = [Point { at_ms: 1, accepted: 50, delivered: 0 }, Point { at_ms: 2, accepted: 100, delivered: 0 }];
        let line = polyline(&points, 20.0, |p| p.accepted as f64 / 5.0);
        let last = line.split_whitespace().last().unwrap_or_default();
        assert_eq!(last, format!("{WIDTH:.1},4.0"));
    }

    #[test]
    fn the_chart_is_described_in_text() {
        let html = rates(&[Point { at_ms: 1, accepted: 50, delivered: 25 }]).into_string();
        assert!(html.contains("10.0 events/s in, 5.0 delivered/s out"), "{html}");
        assert!(html.contains("role=\"img\""));
    }
}
