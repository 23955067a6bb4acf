//! An SVG picture of a session: the bit rate of the segments as they arrive (top) and the
//! buffer level (bottom) against time, with axes, labels, and the startup and stall intervals
//! shaded.

use crate::session::SessionLog;
use std::fmt::Write as _;

const WIDTH: f64 = 860.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const PANEL: f64 = 190.0;
const TOP: f64 = 40.0;
const GAP: f64 = 60.0;

/// A "nice" tick step for a range: 1, 2 or 5 times a power of ten, about five ticks.
fn tick_step(range: f64) -> f64 {
    if range.is_nan() || range <= 0.0 {
        return 1.0;
    }
    let raw = range / 5.0;
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * power)
        .find(|step| *step >= raw)
        .unwrap_or(10.0 * power)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

struct Panel {
    top: f64,
    x_max: f64,
    y_max: f64,
}

impl Panel {
    fn x(&self, t: f64) -> f64 {
        LEFT + (t / self.x_max).clamp(0.0, 1.0) * (WIDTH - LEFT - RIGHT)
    }
    fn y(&self, v: f64) -> f64 {
        self.top + PANEL - (v / self.y_max).clamp(0.0, 1.0) * PANEL
    }

    fn axes(&self, out: &mut String, y_label: &str) {
        let (x0, x1) = (LEFT, WIDTH - RIGHT);
        let (y0, y1) = (self.top + PANEL, self.top);
        let _ = writeln!(
            out,
            r##"<path d="M{x0:.1},{y1:.1} V{y0:.1} H{x1:.1}" fill="none" stroke="#333"/>"##
        );
        let step = tick_step(self.x_max);
        let mut t = 0.0;
        while t <= self.x_max + 1e-9 {
            let x = self.x(t);
            let _ = writeln!(
                out,
                r##"<line x1="{x:.1}" y1="{y0:.1}" x2="{x:.1}" y2="{:.1}" stroke="#333"/><text x="{x:.1}" y="{:.1}" font-size="11" text-anchor="middle">{}</text>"##,
                y0 + 4.0,
                y0 + 16.0,
                t
            );
            t += step;
        }
        let step = tick_step(self.y_max);
        let mut v = 0.0;
        while v <= self.y_max + 1e-9 {
            let y = self.y(v);
            let _ = writeln!(
                out,
                r##"<line x1="{:.1}" y1="{y:.1}" x2="{x0:.1}" y2="{y:.1}" stroke="#333"/><line x1="{x0:.1}" y1="{y:.1}" x2="{x1:.1}" y2="{y:.1}" stroke="#eee"/><text x="{:.1}" y="{:.1}" font-size="11" text-anchor="end">{}</text>"##,
                x0 - 4.0,
                x0 - 6.0,
                y + 4.0,
                (v * 1000.0).round() / 1000.0
            );
            v += step;
        }
        let middle = self.top + PANEL / 2.0;
        let _ = writeln!(
            out,
            r#"<text x="18" y="{middle:.1}" font-size="12" text-anchor="middle" transform="rotate(-90 18 {middle:.1})">{}</text>"#,
            escape(y_label)
        );
        let _ = writeln!(
            out,
            r#"<text x="{:.1}" y="{:.1}" font-size="12" text-anchor="middle">time (s)</text>"#,
            (x0 + x1) / 2.0,
            y0 + 32.0
        );
    }

    fn shade(&self, out: &mut String, start: f64, end: f64, class: &str) {
        let (x0, x1) = (self.x(start), self.x(end));
        let _ = writeln!(
            out,
            r#"<rect class="{class}" x="{x0:.1}" y="{:.1}" width="{:.1}" height="{PANEL:.1}"/>"#,
            self.top,
            (x1 - x0).max(0.5)
        );
    }
}

/// The SVG document for `log`, titled `title`.
pub fn svg(log: &SessionLog, title: &str) -> String {
    let end = log
        .playback_end
        .into_iter()
        .chain(log.buffer_samples.iter().map(|(t, _)| *t))
        .chain(log.chunks.iter().map(|c| c.finished_at))
        .fold(1.0f64, f64::max);
    let top_rate = log
        .ladder
        .iter()
        .chain(log.chunks.iter().map(|c| &c.bitrate))
        .fold(0.0f64, |a, b| a.max(*b))
        / 1e6;
    let top_buffer = log
        .buffer_samples
        .iter()
        .map(|(_, b)| *b)
        .fold(1.0f64, f64::max);
    let bitrate = Panel {
        top: TOP,
        x_max: end,
        y_max: if top_rate > 0.0 { top_rate * 1.1 } else { 1.0 },
    };
    let buffer = Panel {
        top: TOP + PANEL + GAP,
        x_max: end,
        y_max: top_buffer * 1.1,
    };
    let height = TOP + 2.0 * PANEL + GAP + 50.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif">"#
    );
    out.push_str(
        "<style>.stall{fill:#f4a6a6;opacity:0.6}.startup{fill:#cccccc;opacity:0.6}</style>\n",
    );
    let _ = writeln!(
        out,
        r#"<text x="{:.1}" y="22" font-size="15" text-anchor="middle">{}</text>"#,
        WIDTH / 2.0,
        escape(title)
    );
    for panel in [&bitrate, &buffer] {
        if let Some(startup) = log.startup_delay {
            panel.shade(&mut out, 0.0, startup, "startup");
        }
        for stall in &log.stalls {
            panel.shade(&mut out, stall.start, stall.end, "stall");
        }
    }
    bitrate.axes(&mut out, "bitrate (Mbit/s)");
    buffer.axes(&mut out, "buffer (s)");
    // The bit rate as a step function of arrival time.
    if let Some(first) = log.chunks.first() {
        let mut path = format!(
            "M{:.1},{:.1}",
            bitrate.x(first.finished_at),
            bitrate.y(first.bitrate / 1e6)
        );
        for pair in log.chunks.windows(2) {
            let _ = write!(
                path,
                " H{:.1} V{:.1}",
                bitrate.x(pair[1].finished_at),
                bitrate.y(pair[1].bitrate / 1e6)
            );
        }
        let _ = write!(path, " H{:.1}", bitrate.x(end));
        let _ = writeln!(
            out,
            r##"<path class="bitrate" d="{path}" fill="none" stroke="#1f77b4" stroke-width="2"/>"##
        );
    }
    let points: Vec<String> = log
        .buffer_samples
        .iter()
        .map(|(t, b)| format!("{:.1},{:.1}", buffer.x(*t), buffer.y(*b)))
        .collect();
    let _ = writeln!(
        out,
        r##"<polyline class="buffer" points="{}" fill="none" stroke="#2ca02c" stroke-width="2"/>"##,
        points.join(" ")
    );
    out.push_str("</svg>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round() {
        assert_eq!(tick_step(100.0), 20.0);
        assert_eq!(tick_step(7.0), 2.0);
        assert_eq!(tick_step(0.0), 1.0);
    }
}
