//! A torrent described as `transmission-show` (Transmission 3.00) describes it: the same
//! sections, the same order, its size formats (piece size in KiB/MiB, sizes in kB/MB), files
//! sorted by name. The creation time is given in UTC (the driver's clock and zone are not
//! read here).

use crate::metainfo::Metainfo;

/// Transmission's size format: `units` of `base`, two decimals below 100, one above.
fn formatted(bytes: u64, base: f64, units: [&str; 4]) -> String {
    let mut value = bytes as f64 / base;
    let mut unit = units[0];
    for next in &units[1..] {
        if value < base {
            break;
        }
        value /= base;
        unit = next;
    }
    if value < 100.0 {
        format!("{value:.2} {unit}")
    } else {
        format!("{value:.1} {unit}")
    }
}

/// A size as Transmission shows disk sizes (`100.0 kB`, `70.00 kB`, `1.05 MB`).
pub fn size(bytes: u64) -> String {
    formatted(bytes, 1000.0, ["kB", "MB", "GB", "TB"])
}

/// A size as Transmission shows memory sizes (the piece size: `32.00 KiB`).
pub fn mem(bytes: u64) -> String {
    formatted(bytes, 1024.0, ["KiB", "MiB", "GiB", "TiB"])
}

/// C's `asctime` of a UTC time (`Mon Dec  7 12:28:02 2026`).
pub fn asctime_utc(seconds: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = seconds.div_euclid(86_400);
    let rest = seconds.rem_euclid(86_400);
    // Days to a civil date (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{} {} {:2} {:02}:{:02}:{:02} {}",
        DAYS[days.rem_euclid(7) as usize],
        MONTHS[(month - 1) as usize],
        day,
        rest / 3600,
        rest / 60 % 60,
        rest % 60,
        year
    )
}

/// The text `transmission-show FILE` prints for `meta` read from `file`.
pub fn transmission_show(meta: &Metainfo, file: &str) -> String {
    let info = &meta.info;
    let mut out = String::new();
    out.push_str(&format!("Name: {}\nFile: {file}\n\n", info.name));
    out.push_str("GENERAL\n\n");
    out.push_str(&format!("  Name: {}\n", info.name));
    out.push_str(&format!("  Hash: {}\n", meta.info_hash_hex()));
    out.push_str(&format!(
        "  Created by: {}\n",
        meta.created_by.as_deref().unwrap_or("Unknown")
    ));
    match meta.creation_date.filter(|date| *date != 0) {
        Some(date) => out.push_str(&format!("  Created on: {}\n", asctime_utc(date))),
        None => out.push_str("  Created on: Unknown\n"),
    }
    if let Some(comment) = meta.comment.as_deref().filter(|c| !c.is_empty()) {
        out.push_str(&format!("  Comment: {comment}\n"));
    }
    out.push_str(&format!("  Piece Count: {}\n", info.pieces.len()));
    out.push_str(&format!("  Piece Size: {}\n", mem(info.piece_length)));
    out.push_str(&format!("  Total Size: {}\n", size(info.total_length())));
    out.push_str(&format!(
        "  Privacy: {}\n",
        if info.private {
            "Private torrent"
        } else {
            "Public torrent"
        }
    ));
    out.push_str("\nTRACKERS\n");
    for (tier, urls) in meta.trackers.iter().enumerate() {
        out.push_str(&format!("\n  Tier #{}\n", tier + 1));
        for url in urls {
            out.push_str(&format!("  {url}\n"));
        }
    }
    if !meta.web_seeds.is_empty() {
        out.push_str("\nWEBSEEDS\n\n");
        for url in &meta.web_seeds {
            out.push_str(&format!("  {url}\n"));
        }
    }
    out.push_str("\nFILES\n\n");
    let mut files: Vec<(String, u64)> = info
        .files
        .iter()
        .map(|file| (info.display_path(file), file.length))
        .collect();
    files.sort();
    for (path, length) in files {
        out.push_str(&format!("  {path} ({})\n", size(length)));
    }
    out.push('\n');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transmission_formats() {
        assert_eq!(size(100_000), "100.0 kB");
        assert_eq!(size(70_000), "70.00 kB");
        assert_eq!(size(5), "0.01 kB");
        assert_eq!(size(1_048_576), "1.05 MB");
        assert_eq!(mem(32 * 1024), "32.00 KiB");
        assert_eq!(mem(512 * 1024), "512.0 KiB");
        assert_eq!(mem(4 << 20), "4.00 MiB");
        assert_eq!(asctime_utc(1_796_646_482), "Mon Dec  7 12:28:02 2026");
        assert_eq!(asctime_utc(0), "Thu Jan  1 00:00:00 1970");
    }
}
