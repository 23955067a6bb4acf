//! HTTP dates (RFC 9110 §5.6.7): IMF-fixdate out, and the two obsolete formats accepted in.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A point in time with one-second resolution, as HTTP dates carry it.
#[derive(Copy, Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HttpDate {
    secs: u64,
}

const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
const LONG_DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day count since 1970-01-01 (`civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let mp = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl HttpDate {
    /// Seconds since the Unix epoch.
    pub fn from_unix(secs: u64) -> HttpDate {
        HttpDate { secs }
    }

    /// Seconds since the Unix epoch.
    pub fn unix(self) -> u64 {
        self.secs
    }

    /// Truncates `time` to whole seconds (times before 1970 become the epoch).
    pub fn from_system_time(time: SystemTime) -> HttpDate {
        let secs = time
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        HttpDate { secs }
    }

    /// The same instant as a `SystemTime`.
    pub fn to_system_time(self) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(self.secs)
    }

    /// Parses an IMF-fixdate, an RFC 850 date or an asctime date (RFC 9110 §5.6.7).
    pub fn parse(text: &str) -> Option<HttpDate> {
        let text = text.trim_matches([' ', '\t']);
        parse_imf_fixdate(text)
            .or_else(|| parse_rfc850(text))
            .or_else(|| parse_asctime(text))
    }

    /// Writes the IMF-fixdate form (`Sun, 06 Nov 1994 08:49:37 GMT`, always 29 bytes).
    pub fn encode(self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_bytes());
    }

    /// The IMF-fixdate form as 29 bytes.
    pub fn to_bytes(self) -> [u8; 29] {
        let days = (self.secs / 86_400) as i64;
        let secs_of_day = self.secs % 86_400;
        let (year, month, day) = civil_from_days(days);
        // 1970-01-01 was a Thursday (index 3 from Monday).
        let weekday = DAYS[((days + 3).rem_euclid(7)) as usize].as_bytes();
        let month_name = MONTHS[(month - 1) as usize].as_bytes();
        let year = year.clamp(0, 9999) as u32;
        let hour = (secs_of_day / 3600) as u32;
        let minute = (secs_of_day / 60 % 60) as u32;
        let second = (secs_of_day % 60) as u32;
        let digit = |n: u32| b'0' + (n % 10) as u8;
        [
            weekday[0],
            weekday[1],
            weekday[2],
            b',',
            b' ',
            digit(day / 10),
            digit(day),
            b' ',
            month_name[0],
            month_name[1],
            month_name[2],
            b' ',
            digit(year / 1000),
            digit(year / 100),
            digit(year / 10),
            digit(year),
            b' ',
            digit(hour / 10),
            digit(hour),
            b':',
            digit(minute / 10),
            digit(minute),
            b':',
            digit(second / 10),
            digit(second),
            b' ',
            b'G',
            b'M',
            b'T',
        ]
    }
}

impl fmt::Display for HttpDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bytes = self.to_bytes();
        // The bytes are ASCII by construction.
        f.write_str(std::str::from_utf8(&bytes).unwrap_or("Thu, 01 Jan 1970 00:00:00 GMT"))
    }
}

impl From<SystemTime> for HttpDate {
    fn from(time: SystemTime) -> Self {
        HttpDate::from_system_time(time)
    }
}

/// Formats `time` as an IMF-fixdate.
pub fn fmt_http_date(time: SystemTime) -> String {
    HttpDate::from_system_time(time).to_string()
}

/// Parses any of the three HTTP date formats.
pub fn parse_http_date(text: &str) -> Option<SystemTime> {
    HttpDate::parse(text).map(HttpDate::to_system_time)
}

fn number(text: &str, len: usize) -> Option<u32> {
    if text.len() != len || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

fn month_number(text: &str) -> Option<u32> {
    MONTHS
        .iter()
        .position(|m| *m == text)
        .map(|index| index as u32 + 1)
}

fn time_of_day(text: &str) -> Option<u64> {
    let mut parts = text.split(':');
    let hour = number(parts.next()?, 2)?;
    let minute = number(parts.next()?, 2)?;
    let second = number(parts.next()?, 2)?;
    if parts.next().is_some() || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    Some(u64::from(hour) * 3600 + u64::from(minute) * 60 + u64::from(second.min(59)))
}

fn assemble(year: i64, month: u32, day: u32, secs_of_day: u64) -> Option<HttpDate> {
    if !(1..=31).contains(&day) || year < 1970 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    // Reject dates such as 31 Feb that roll over into the next month.
    if civil_from_days(days) != (year, month, day) {
        return None;
    }
    Some(HttpDate {
        secs: days as u64 * 86_400 + secs_of_day,
    })
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`
fn parse_imf_fixdate(text: &str) -> Option<HttpDate> {
    let (weekday, rest) = text.split_once(", ")?;
    if !DAYS.contains(&weekday) {
        return None;
    }
    let mut parts = rest.split(' ');
    let day = number(parts.next()?, 2)?;
    let month = month_number(parts.next()?)?;
    let year = number(parts.next()?, 4)?;
    let secs = time_of_day(parts.next()?)?;
    if parts.next()? != "GMT" || parts.next().is_some() {
        return None;
    }
    assemble(i64::from(year), month, day, secs)
}

/// `Sunday, 06-Nov-94 08:49:37 GMT` (two-digit years: RFC 9110 §5.6.7 says to read a year
/// more than 50 years ahead as the past century).
fn parse_rfc850(text: &str) -> Option<HttpDate> {
    let (weekday, rest) = text.split_once(", ")?;
    if !LONG_DAYS.contains(&weekday) {
        return None;
    }
    let mut parts = rest.split(' ');
    let mut date = parts.next()?.split('-');
    let day = number(date.next()?, 2)?;
    let month = month_number(date.next()?)?;
    let year = number(date.next()?, 2)?;
    if date.next().is_some() {
        return None;
    }
    let secs = time_of_day(parts.next()?)?;
    if parts.next()? != "GMT" || parts.next().is_some() {
        return None;
    }
    let year = if year >= 70 { 1900 + year } else { 2000 + year };
    assemble(i64::from(year), month, day, secs)
}

/// `Sun Nov  6 08:49:37 1994`
fn parse_asctime(text: &str) -> Option<HttpDate> {
    if text.len() != 24 {
        return None;
    }
    let weekday = text.get(0..3)?;
    if !DAYS.contains(&weekday) || text.get(3..4)? != " " {
        return None;
    }
    let month = month_number(text.get(4..7)?)?;
    if text.get(7..8)? != " " {
        return None;
    }
    let day_text = text.get(8..10)?;
    let day = number(
        day_text.trim_start_matches(' '),
        day_text.trim_start_matches(' ').len(),
    )?;
    if day_text.starts_with(' ') && day > 9 || text.get(10..11)? != " " {
        return None;
    }
    let secs = time_of_day(text.get(11..19)?)?;
    if text.get(19..20)? != " " {
        return None;
    }
    let year = number(text.get(20..24)?, 4)?;
    assemble(i64::from(year), month, day, secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_formats_of_rfc_9110() {
        // RFC 9110 §5.6.7 example: all three denote the same instant.
        let expected = HttpDate::from_unix(784_111_777);
        assert_eq!(
            HttpDate::parse("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(expected)
        );
        assert_eq!(
            HttpDate::parse("Sunday, 06-Nov-94 08:49:37 GMT"),
            Some(expected)
        );
        assert_eq!(HttpDate::parse("Sun Nov  6 08:49:37 1994"), Some(expected));
        assert_eq!(expected.to_string(), "Sun, 06 Nov 1994 08:49:37 GMT");
    }

    #[test]
    fn seed_dates_round_trip() {
        for text in [
            "Tue, 18 Aug 2015 15:44:04 GMT",
            "Thu, 01 Jan 1970 00:00:00 GMT",
            "Tue, 29 Feb 2000 23:59:59 GMT",
            "Fri, 31 Dec 9999 23:59:59 GMT",
        ] {
            assert_eq!(HttpDate::parse(text).unwrap().to_string(), text);
        }
    }

    #[test]
    fn rejects_malformed_dates() {
        for text in [
            "",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 31 Feb 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun Nov 6 08:49:37 1994",
            "Sunday, 06-Nov-1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT extra",
        ] {
            assert_eq!(HttpDate::parse(text), None, "{text}");
        }
    }

    #[test]
    fn every_day_round_trips() {
        let mut secs = 0;
        while secs < 4_102_444_800 {
            let date = HttpDate::from_unix(secs);
            assert_eq!(HttpDate::parse(&date.to_string()), Some(date));
            secs += 86_400 * 7 + 3_601;
        }
    }
}
