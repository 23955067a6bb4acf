//! The experiment's outputs: a text table, a JSON document and an SVG plot of the measured
//! distribution times against N beside the two fluid bounds (the textbook's figure).

use super::{Report, Run};
use std::fmt::Write;

/// A rate in bits per second as people write it: `40 Mbit/s`.
pub fn rate(bits: u64) -> String {
    let (value, unit) = match bits {
        b if b >= 1_000_000_000 => (b as f64 / 1e9, "Gbit/s"),
        b if b >= 1_000_000 => (b as f64 / 1e6, "Mbit/s"),
        b if b >= 1_000 => (b as f64 / 1e3, "kbit/s"),
        b => (b as f64, "bit/s"),
    };
    format!("{} {unit}", trim(value))
}

/// A size in bytes: `64 MiB`.
pub fn size(bytes: u64) -> String {
    let (value, unit) = match bytes {
        b if b >= 1 << 30 => (b as f64 / (1u64 << 30) as f64, "GiB"),
        b if b >= 1 << 20 => (b as f64 / (1u64 << 20) as f64, "MiB"),
        b if b >= 1 << 10 => (b as f64 / 1024.0, "KiB"),
        b => (b as f64, "B"),
    };
    format!("{} {unit}", trim(value))
}

fn trim(value: f64) -> String {
    let text = format!("{value:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

fn title(report: &Report) -> String {
    let p = &report.params;
    format!(
        "Distribution time of a {} file: server up {}; peers up {}, down {}",
        size(p.size),
        rate(p.server_up),
        rate(p.peer_up),
        rate(p.peer_down)
    )
}

/// The table: one line per N, measured, bound and ratio for each way.
pub fn table(report: &Report) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{}", title(report));
    let _ = writeln!(
        out,
        "{:>4}  {:>14} {:>10} {:>7}  {:>14} {:>10} {:>7}",
        "N", "client-server", "bound", "ratio", "P2P", "bound", "ratio"
    );
    let mut ns: Vec<usize> = report
        .client_server
        .iter()
        .chain(&report.p2p)
        .map(|run| run.n)
        .collect();
    ns.sort_unstable();
    ns.dedup();
    let cell = |runs: &[Run], n: usize| match runs.iter().find(|run| run.n == n) {
        Some(run) => format!(
            "{:>12.2} s {:>8.2} s {:>7.3}",
            run.measured,
            run.bound,
            run.ratio()
        ),
        None => format!("{:>14} {:>10} {:>7}", "-", "-", "-"),
    };
    for n in ns {
        let _ = writeln!(
            out,
            "{n:>4}  {}  {}",
            cell(&report.client_server, n),
            cell(&report.p2p, n)
        );
    }
    let _ = writeln!(
        out,
        "ratio: measured / bound (the bounds count only the file's bytes; TCP/IP and Ethernet \
         headers add about 4.5% on the shaped links at a 1500-byte MTU)"
    );
    out
}

/// The report as JSON.
pub fn json(report: &Report) -> String {
    let runs = |runs: &[Run]| {
        runs.iter()
            .map(|run| {
                serde_json::json!({
                    "n": run.n, "measured_s": run.measured, "bound_s": run.bound,
                    "ratio": run.ratio(), "per_peer_s": run.per_peer,
                })
            })
            .collect::<Vec<_>>()
    };
    let p = &report.params;
    let value = serde_json::json!({
        "size_bytes": p.size,
        "server_up_bps": p.server_up,
        "peer_up_bps": p.peer_up,
        "peer_down_bps": p.peer_down,
        "client_server": runs(&report.client_server),
        "p2p": runs(&report.p2p),
    });
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}

const WIDTH: f64 = 820.0;
const HEIGHT: f64 = 480.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 250.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 60.0;
const BLUE: &str = "#1f5fa8";
const RED: &str = "#c0392b";

/// A step for about `count` ticks up to `max`: 1, 2 or 5 times a power of ten.
fn step(max: f64, count: f64) -> f64 {
    let raw = (max / count).max(1e-9);
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * power)
}

/// The plot: measured times (points joined by lines) and the bounds (dashed) against N.
pub fn svg(report: &Report) -> String {
    let p = report.params;
    let max_n = report
        .client_server
        .iter()
        .chain(&report.p2p)
        .map(|run| run.n)
        .max()
        .unwrap_or(1)
        .max(2) as f64;
    let mut y_max: f64 = 0.0;
    for run in report.client_server.iter().chain(&report.p2p) {
        y_max = y_max.max(run.measured).max(run.bound);
    }
    y_max = y_max.max(p.client_server(max_n as usize)).max(1e-3) * 1.08;
    let y_step = step(y_max, 6.0);
    let y_max = (y_max / y_step).ceil() * y_step;
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |n: f64| LEFT + n / max_n * plot_w;
    let y = |t: f64| TOP + plot_h - t / y_max * plot_h;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        out,
        r#"<rect width="100%" height="100%" fill="white"/><text x="{}" y="24" font-size="14" text-anchor="middle">{}</text>"#,
        WIDTH / 2.0,
        escape(&title(report))
    );
    // Axes, grid and ticks.
    let _ = writeln!(
        out,
        r##"<g stroke="#999" stroke-width="1"><line x1="{LEFT}" y1="{}" x2="{}" y2="{}"/><line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{}"/></g>"##,
        TOP + plot_h,
        LEFT + plot_w,
        TOP + plot_h,
        TOP + plot_h
    );
    let x_step = step(max_n, 10.0).max(1.0);
    let mut n = 0.0;
    while n <= max_n + 1e-9 {
        let _ = writeln!(
            out,
            r##"<line x1="{0}" y1="{1}" x2="{0}" y2="{2}" stroke="#999"/><text x="{0}" y="{3}" text-anchor="middle">{4}</text>"##,
            x(n),
            TOP + plot_h,
            TOP + plot_h + 5.0,
            TOP + plot_h + 20.0,
            n
        );
        n += x_step;
    }
    let mut t = 0.0;
    while t <= y_max + 1e-9 {
        let _ = writeln!(
            out,
            r##"<line x1="{LEFT}" y1="{0}" x2="{1}" y2="{0}" stroke="#eee"/><text x="{2}" y="{3}" text-anchor="end">{4}</text>"##,
            y(t),
            LEFT + plot_w,
            LEFT - 8.0,
            y(t) + 4.0,
            trim(t)
        );
        t += y_step;
    }
    let _ = writeln!(
        out,
        r#"<text x="{}" y="{}" text-anchor="middle">N (peers)</text><text x="18" y="{}" text-anchor="middle" transform="rotate(-90 18 {})">minimum distribution time (s)</text>"#,
        LEFT + plot_w / 2.0,
        HEIGHT - 18.0,
        TOP + plot_h / 2.0,
        TOP + plot_h / 2.0
    );
    // The bounds, sampled along N.
    let samples = 200;
    let bound_path = |f: &dyn Fn(usize) -> f64| {
        let mut path = String::new();
        for i in 0..=samples {
            let n = 1.0 + (max_n - 1.0) * i as f64 / samples as f64;
            // The bounds are linear in N between integers except where a max changes sides:
            // evaluate at the real N through the closed forms.
            let t = f_at(f, n);
            let _ = write!(
                path,
                "{}{:.1},{:.1}",
                if i == 0 { "M" } else { " L" },
                x(n),
                y(t)
            );
        }
        path
    };
    let cs_bound = bound_path(&|n| p.client_server(n));
    let p2p_bound = bound_path(&|n| p.p2p(n));
    let _ = writeln!(
        out,
        r#"<path d="{cs_bound}" fill="none" stroke="{BLUE}" stroke-width="1.5" stroke-dasharray="6 4"/><path d="{p2p_bound}" fill="none" stroke="{RED}" stroke-width="1.5" stroke-dasharray="6 4"/>"#
    );
    for (runs, color) in [(&report.client_server, BLUE), (&report.p2p, RED)] {
        if runs.is_empty() {
            continue;
        }
        let mut path = String::new();
        for (i, run) in runs.iter().enumerate() {
            let _ = write!(
                path,
                "{}{:.1},{:.1}",
                if i == 0 { "M" } else { " L" },
                x(run.n as f64),
                y(run.measured)
            );
        }
        let _ = writeln!(
            out,
            r#"<path d="{path}" fill="none" stroke="{color}" stroke-width="2"/>"#
        );
        for run in runs.iter() {
            let _ = writeln!(
                out,
                r#"<circle cx="{:.1}" cy="{:.1}" r="4" fill="{color}"><title>N={}: {:.2} s, bound {:.2} s (×{:.3})</title></circle>"#,
                x(run.n as f64),
                y(run.measured),
                run.n,
                run.measured,
                run.bound,
                run.ratio()
            );
        }
    }
    // The legend.
    let lx = WIDTH - RIGHT + 20.0;
    let entries = [
        (BLUE, "", "client-server, measured"),
        (BLUE, "6 4", "client-server bound"),
        (RED, "", "P2P, measured"),
        (RED, "6 4", "P2P bound"),
    ];
    for (i, (color, dash, label)) in entries.iter().enumerate() {
        let ly = TOP + 10.0 + i as f64 * 22.0;
        let _ = writeln!(
            out,
            r#"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{color}" stroke-width="2" stroke-dasharray="{dash}"/><text x="{}" y="{}">{label}</text>"#,
            lx + 30.0,
            lx + 38.0,
            ly + 4.0
        );
    }
    out.push_str("</svg>\n");
    out
}

/// A bound at a real N: the closed forms are affine in N on each side of their max, so the
/// value between two integers is read off their straight line.
fn f_at(f: &dyn Fn(usize) -> f64, n: f64) -> f64 {
    let low = n.floor().max(1.0);
    let frac = n - low;
    let a = f(low as usize);
    if frac <= 0.0 {
        return a;
    }
    let b = f(low as usize + 1);
    a + (b - a) * frac
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::experiment::bounds::Params;

    fn report() -> Report {
        let params = Params {
            size: 64 << 20,
            server_up: 40_000_000,
            peer_up: 20_000_000,
            peer_down: 1_000_000_000,
        };
        let run = |n: usize, bound: f64, ratio: f64| Run {
            n,
            bound,
            measured: bound * ratio,
            per_peer: vec![bound * ratio; n],
        };
        Report {
            params,
            client_server: vec![
                run(1, params.client_server(1), 1.04),
                run(4, params.client_server(4), 1.05),
            ],
            p2p: vec![run(1, params.p2p(1), 1.06), run(4, params.p2p(4), 1.2)],
        }
    }

    #[test]
    fn outputs() {
        let report = report();
        let table = table(&report);
        assert!(table.starts_with(
            "Distribution time of a 64 MiB file: server up 40 Mbit/s; peers up 20 Mbit/s, down 1 Gbit/s"
        ));
        assert!(table.contains("1.200"), "{table}");
        let json: serde_json::Value = serde_json::from_str(&json(&report)).unwrap();
        assert_eq!(json["p2p"][1]["n"], 4);
        assert!((json["p2p"][1]["ratio"].as_f64().unwrap() - 1.2).abs() < 1e-9);
        let svg = svg(&report);
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<circle").count(), 4);
        assert!(svg.contains("P2P bound"));
    }

    #[test]
    fn units() {
        assert_eq!(rate(40_000_000), "40 Mbit/s");
        assert_eq!(rate(1_500_000_000), "1.5 Gbit/s");
        assert_eq!(size(64 << 20), "64 MiB");
        assert_eq!(size(1536), "1.5 KiB");
        assert_eq!(step(53.0, 6.0), 10.0);
        assert_eq!(step(8.0, 10.0), 1.0);
    }
}
