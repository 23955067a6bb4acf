//! dig-style output: the full layout (header, flags, counts, sections, statistics), `+short`,
//! and the per-step lines of `+trace`.

use dns_proto::{Message, Rcode};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

/// A reply as dig describes it: the message and how it came.
#[derive(Clone, Debug)]
pub struct DigReply<'a> {
    /// The decoded reply.
    pub message: &'a Message,
    /// Its size on the wire.
    pub size: usize,
    /// From query to reply.
    pub elapsed: Duration,
    /// Who answered.
    pub server: SocketAddr,
    /// Over TCP (else UDP).
    pub tcp: bool,
}

/// The message itself in dig's layout: `;; ->>HEADER<<-` line, flags and counts, the OPT
/// pseudo-section, then each section that is not empty.
pub fn format_message(message: &Message) -> String {
    let mut out = String::new();
    let header = message.header();
    let _ = writeln!(
        out,
        ";; ->>HEADER<<- opcode: {}, status: {}, id: {}",
        message.opcode, message.rcode, message.id
    );
    let _ = writeln!(
        out,
        ";; flags: {}; QUERY: {}, ANSWER: {}, AUTHORITY: {}, ADDITIONAL: {}",
        message.flags.to_dig_string(),
        header.qdcount,
        header.ancount,
        header.nscount,
        header.arcount
    );
    if message.flags.rd && !message.flags.ra && message.flags.qr {
        let _ = writeln!(out, ";; WARNING: recursion requested but not available");
    }
    if let Some(edns) = &message.edns {
        let _ = writeln!(out, "\n;; OPT PSEUDOSECTION:");
        let flags = if edns.dnssec_ok { " do" } else { "" };
        let _ = writeln!(
            out,
            "; EDNS: version: {}, flags:{}; udp: {}",
            edns.version, flags, edns.udp_payload
        );
    }
    if !message.questions.is_empty() {
        let _ = writeln!(out, ";; QUESTION SECTION:");
        for question in &message.questions {
            let _ = writeln!(
                out,
                ";{}\t\t{}\t{}",
                question.name, question.qclass, question.qtype
            );
        }
    }
    let sections = [
        ("ANSWER", &message.answers),
        ("AUTHORITY", &message.authority),
        ("ADDITIONAL", &message.additional),
    ];
    for (title, records) in sections {
        if records.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n;; {title} SECTION:");
        for record in records {
            let _ = writeln!(out, "{record}");
        }
    }
    out
}

/// dig's whole output for one exchange. `command` is echoed in the banner; `when` is the
/// wall-clock time already formatted (the library has no clock).
pub fn format_reply(command: &str, reply: &DigReply<'_>, when: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "\n; <<>> applayer dns query <<>> {command}");
    let _ = writeln!(out, ";; global options: +cmd");
    let _ = writeln!(out, ";; Got answer:");
    out.push_str(&format_message(reply.message));
    out.push('\n');
    let _ = writeln!(out, ";; Query time: {} msec", reply.elapsed.as_millis());
    let _ = writeln!(
        out,
        ";; SERVER: {}#{}({}) ({})",
        reply.server.ip(),
        reply.server.port(),
        reply.server.ip(),
        if reply.tcp { "TCP" } else { "UDP" }
    );
    let _ = writeln!(out, ";; WHEN: {when}");
    let _ = writeln!(out, ";; MSG SIZE  rcvd: {}", reply.size);
    out
}

/// `+short`: the RDATA of each answer record, one per line.
pub fn format_short(message: &Message) -> String {
    let mut out = String::new();
    for record in &message.answers {
        let _ = writeln!(out, "{}", record.rdata);
    }
    out
}

/// One step of `+trace`: the records of the reply (answer, then authority, then additional
/// glue), then `;; Received N bytes from IP#PORT(NAME) in T ms`.
pub fn format_trace_step(
    message: &Message,
    size: usize,
    server: SocketAddr,
    server_name: &dyn std::fmt::Display,
    elapsed: Duration,
) -> String {
    let mut out = String::new();
    for record in message
        .answers
        .iter()
        .chain(&message.authority)
        .chain(&message.additional)
    {
        let _ = writeln!(out, "{record}");
    }
    if message.rcode != Rcode::NOERROR {
        let _ = writeln!(out, ";; status: {}", message.rcode);
    }
    let _ = writeln!(
        out,
        ";; Received {size} bytes from {}#{}({server_name}) in {} ms\n",
        server.ip(),
        server.port(),
        elapsed.as_millis()
    );
    out
}

/// The time format of dig's `;; WHEN:` line (`Sun Nov 22 01:20:35 UTC 2026`) from seconds
/// since the Unix epoch (UTC; the library has no clock or time zone database).
pub fn format_when(unix_seconds: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix_seconds / 86_400;
    let seconds = unix_seconds % 86_400;
    let weekday = DAYS[(days % 7) as usize];
    // Civil-from-days (Howard Hinnant's algorithm), valid for all dates after 1970.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{weekday} {} {day:02} {:02}:{:02}:{:02} UTC {year}",
        MONTHS[(month - 1) as usize],
        seconds / 3600,
        seconds / 60 % 60,
        seconds % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use dns_proto::{Edns, Name, Question, Rdata, Record, RecordType};

    fn name(text: &str) -> Name {
        Name::parse(text, None).unwrap()
    }

    fn sample() -> Message {
        let query = Message::query(
            4711,
            Question::new(name("gaia.cs.umass.edu."), RecordType::A),
            true,
        );
        let mut response = Message::response_to(&query);
        response.flags.ra = true;
        response.edns = Some(Edns::default());
        response.answers.push(Record::new(
            name("gaia.cs.umass.edu."),
            3600,
            Rdata::A("128.119.245.12".parse().unwrap()),
        ));
        response
    }

    #[test]
    fn full_layout_matches_dig() {
        let message = sample();
        let reply = DigReply {
            message: &message,
            size: 62,
            elapsed: Duration::from_millis(3),
            server: "127.0.0.1:53".parse().unwrap(),
            tcp: false,
        };
        let text = format_reply(
            "gaia.cs.umass.edu A @127.0.0.1",
            &reply,
            "Sun Nov 22 01:20:35 UTC 2026",
        );
        let expected_lines = [
            "; <<>> applayer dns query <<>> gaia.cs.umass.edu A @127.0.0.1",
            ";; ->>HEADER<<- opcode: QUERY, status: NOERROR, id: 4711",
            ";; flags: qr rd ra; QUERY: 1, ANSWER: 1, AUTHORITY: 0, ADDITIONAL: 1",
            ";; QUESTION SECTION:",
            ";gaia.cs.umass.edu.\t\tIN\tA",
            ";; ANSWER SECTION:",
            "gaia.cs.umass.edu.\t3600\tIN\tA\t128.119.245.12",
            ";; Query time: 3 msec",
            ";; SERVER: 127.0.0.1#53(127.0.0.1) (UDP)",
            ";; WHEN: Sun Nov 22 01:20:35 UTC 2026",
            ";; MSG SIZE  rcvd: 62",
        ];
        let mut lines = text.lines();
        for expected in expected_lines {
            assert!(
                lines.any(|line| line == expected),
                "missing or out of order: {expected:?}\n{text}"
            );
        }
        assert!(
            !text.contains("AUTHORITY SECTION"),
            "empty sections are not printed"
        );
    }

    #[test]
    fn short_and_trace() {
        let message = sample();
        assert_eq!(format_short(&message), "128.119.245.12\n");
        let step = format_trace_step(
            &message,
            62,
            "127.0.0.3:53".parse().unwrap(),
            &name("dns.umass.edu."),
            Duration::from_millis(1),
        );
        assert!(
            step.ends_with(";; Received 62 bytes from 127.0.0.3#53(dns.umass.edu.) in 1 ms\n\n"),
            "{step}"
        );
    }

    #[test]
    fn when_formats_like_date() {
        assert_eq!(format_when(0), "Thu Jan 01 00:00:00 UTC 1970");
        // date -u -d @1795310435
        assert_eq!(format_when(1_795_310_435), "Sun Nov 22 01:20:35 UTC 2026");
        assert_eq!(format_when(951_782_400), "Tue Feb 29 00:00:00 UTC 2000");
    }
}
