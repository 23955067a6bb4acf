//! The MPD (ISO/IEC 23009-1 §5.3): the model of a static presentation, its reader (errors
//! with lines), its writer (valid against the DASH schema), ISO 8601 durations, and the
//! expansion of SegmentTemplate (with or without SegmentTimeline) into segment URLs.

use crate::url::resolve;
use crate::xml::{self, Element};
use std::fmt::Write as _;
use std::time::Duration;

/// The most segments one representation may expand to: a bound on what a hostile MPD
/// (`r="4000000000"`) can make us allocate.
pub const MAX_SEGMENTS: usize = 200_000;

/// What can be wrong with an MPD, with the line of the element at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MpdError {
    /// The document is not well-formed XML.
    #[error("line {line}, column {column}: {reason}")]
    Xml {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        reason: String,
    },
    /// A required attribute is absent.
    #[error("line {line}: {element} without {attribute}")]
    Missing {
        /// 1-based line of the element.
        line: usize,
        /// The element.
        element: &'static str,
        /// The attribute it lacks.
        attribute: &'static str,
    },
    /// An attribute's value does not parse.
    #[error("line {line}: {element}@{attribute} is not valid: {value:?}")]
    Invalid {
        /// 1-based line of the element.
        line: usize,
        /// The element.
        element: &'static str,
        /// The attribute.
        attribute: &'static str,
        /// The value as written.
        value: String,
    },
    /// The document is XML but not an MPD we can use.
    #[error("line {line}: {reason}")]
    Structure {
        /// 1-based line of the element.
        line: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A representation's segments cannot be listed.
    #[error("representation {representation}: {reason}")]
    Segments {
        /// The representation's id.
        representation: String,
        /// Why.
        reason: String,
    },
    /// An index given to [`Mpd::segment_list`] names nothing.
    #[error("no such {what}: {index}")]
    NoSuch {
        /// "period", "adaptation set" or "representation".
        what: &'static str,
        /// The index asked for.
        index: usize,
    },
}

/// MPD@type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Presentation {
    /// On demand: every segment exists (the only kind whose segments we list).
    #[default]
    Static,
    /// Live.
    Dynamic,
}

/// The whole presentation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Mpd {
    /// MPD@type.
    pub presentation: Presentation,
    /// MPD@profiles, e.g. `urn:mpeg:dash:profile:isoff-live:2011`.
    pub profiles: String,
    /// MPD@mediaPresentationDuration.
    pub media_presentation_duration: Option<Duration>,
    /// MPD@minBufferTime.
    pub min_buffer_time: Duration,
    /// MPD@maxSegmentDuration.
    pub max_segment_duration: Option<Duration>,
    /// MPD-level BaseURL elements (the first one is used).
    pub base_urls: Vec<String>,
    /// The periods, in order.
    pub periods: Vec<Period>,
}

/// One Period.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Period {
    /// Period@id.
    pub id: Option<String>,
    /// Period@start.
    pub start: Option<Duration>,
    /// Period@duration.
    pub duration: Option<Duration>,
    /// BaseURL elements.
    pub base_urls: Vec<String>,
    /// A SegmentTemplate its adaptation sets inherit.
    pub segment_template: Option<SegmentTemplate>,
    /// The adaptation sets.
    pub adaptation_sets: Vec<AdaptationSet>,
}

/// One AdaptationSet: interchangeable encodings of one content component.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AdaptationSet {
    /// AdaptationSet@id.
    pub id: Option<u32>,
    /// AdaptationSet@contentType (`video`, `audio`, ...).
    pub content_type: Option<String>,
    /// AdaptationSet@mimeType, inherited by the representations.
    pub mime_type: Option<String>,
    /// AdaptationSet@codecs, inherited by the representations.
    pub codecs: Option<String>,
    /// AdaptationSet@lang.
    pub lang: Option<String>,
    /// AdaptationSet@segmentAlignment (segments of all representations line up).
    pub segment_alignment: bool,
    /// AdaptationSet@maxWidth.
    pub max_width: Option<u32>,
    /// AdaptationSet@maxHeight.
    pub max_height: Option<u32>,
    /// AdaptationSet@frameRate, inherited by the representations.
    pub frame_rate: Option<FrameRate>,
    /// BaseURL elements.
    pub base_urls: Vec<String>,
    /// A SegmentTemplate the representations inherit.
    pub segment_template: Option<SegmentTemplate>,
    /// The representations (the ladder, in document order).
    pub representations: Vec<Representation>,
}

/// One Representation: one encoding.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Representation {
    /// Representation@id (what `$RepresentationID$` expands to).
    pub id: String,
    /// Representation@bandwidth in bits/s.
    pub bandwidth: u32,
    /// Representation@width.
    pub width: Option<u32>,
    /// Representation@height.
    pub height: Option<u32>,
    /// Representation@frameRate.
    pub frame_rate: Option<FrameRate>,
    /// Representation@codecs.
    pub codecs: Option<String>,
    /// Representation@mimeType.
    pub mime_type: Option<String>,
    /// Representation@audioSamplingRate in Hz.
    pub audio_sampling_rate: Option<u32>,
    /// BaseURL elements.
    pub base_urls: Vec<String>,
    /// The representation's own SegmentTemplate (overrides inherited attributes).
    pub segment_template: Option<SegmentTemplate>,
}

/// A frame rate as the schema's FrameRateType writes it: `25` or `30000/1001`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameRate {
    /// Frames per `denominator` seconds.
    pub numerator: u32,
    /// Absent means 1.
    pub denominator: Option<u32>,
}

impl FrameRate {
    /// Frames per second.
    pub fn per_second(&self) -> f64 {
        f64::from(self.numerator) / f64::from(self.denominator.unwrap_or(1))
    }

    fn parse(text: &str) -> Option<FrameRate> {
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        match text.split_once('/') {
            Some((n, d)) if digits(n) && digits(d) && !d.starts_with('0') => Some(FrameRate {
                numerator: n.parse().ok()?,
                denominator: Some(d.parse().ok()?),
            }),
            None if digits(text) => Some(FrameRate {
                numerator: text.parse().ok()?,
                denominator: None,
            }),
            _ => None,
        }
    }
}

impl std::fmt::Display for FrameRate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.denominator {
            Some(denominator) => write!(f, "{}/{denominator}", self.numerator),
            None => write!(f, "{}", self.numerator),
        }
    }
}

/// SegmentTemplate (§5.3.9.4): every field optional because each level inherits the ones it
/// does not set from the level above.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SegmentTemplate {
    /// Ticks per second (default 1).
    pub timescale: Option<u32>,
    /// The constant segment duration in ticks (when there is no timeline).
    pub duration: Option<u32>,
    /// The number of the first segment (default 1).
    pub start_number: Option<u32>,
    /// SegmentTemplate@presentationTimeOffset in ticks.
    pub presentation_time_offset: Option<u64>,
    /// The init segment's template.
    pub initialization: Option<String>,
    /// The media segments' template.
    pub media: Option<String>,
    /// SegmentTimeline's S elements.
    pub timeline: Option<Vec<TimelineEntry>>,
}

impl SegmentTemplate {
    /// This template with what it leaves unset taken from `parent`.
    pub fn inherit(&self, parent: &SegmentTemplate) -> SegmentTemplate {
        SegmentTemplate {
            timescale: self.timescale.or(parent.timescale),
            duration: self.duration.or(parent.duration),
            start_number: self.start_number.or(parent.start_number),
            presentation_time_offset: self
                .presentation_time_offset
                .or(parent.presentation_time_offset),
            initialization: self
                .initialization
                .clone()
                .or_else(|| parent.initialization.clone()),
            media: self.media.clone().or_else(|| parent.media.clone()),
            timeline: self.timeline.clone().or_else(|| parent.timeline.clone()),
        }
    }
}

/// One `S` element of a SegmentTimeline: `r + 1` segments of `d` ticks from `t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimelineEntry {
    /// S@t, the start in ticks (absent: right after the previous one).
    pub t: Option<u64>,
    /// S@d, the duration in ticks.
    pub d: u64,
    /// S@r, repeats after the first; -1 means until the next S@t or the period's end.
    pub r: i64,
}

/// One media segment of a representation, ready to fetch.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// Its number (`$Number$`).
    pub number: u64,
    /// Its start in ticks (`$Time$`).
    pub time: u64,
    /// Its start in seconds from the period's start.
    pub start: f64,
    /// Its duration in seconds.
    pub duration: f64,
    /// Its URL, resolved against the MPD's URL and the BaseURLs.
    pub url: String,
}

/// The segments of one representation.
#[derive(Debug, Clone, PartialEq)]
pub struct SegmentList {
    /// Representation@id.
    pub representation_id: String,
    /// Representation@bandwidth in bits/s.
    pub bandwidth: u32,
    /// The init segment's URL.
    pub initialization: Option<String>,
    /// The media segments in order.
    pub segments: Vec<Segment>,
}

/// The video ladder of a presentation: one [`SegmentList`] per representation, ordered by
/// bandwidth ascending, all cut to the same number of segments.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    /// Index of the period in [`Mpd::periods`].
    pub period: usize,
    /// Index of the adaptation set in the period.
    pub adaptation_set: usize,
    /// Quality 0 (lowest bandwidth) first.
    pub qualities: Vec<SegmentList>,
}

impl Track {
    /// The bit rates of the ladder in bits/s, ascending.
    pub fn ladder(&self) -> Vec<f64> {
        self.qualities
            .iter()
            .map(|q| f64::from(q.bandwidth))
            .collect()
    }

    /// The duration of each segment in seconds (from the lowest quality).
    pub fn durations(&self) -> Vec<f64> {
        self.qualities
            .first()
            .map(|q| q.segments.iter().map(|s| s.duration).collect())
            .unwrap_or_default()
    }
}

// ---------------------------------------------------------------------------------------------
// ISO 8601 durations (xs:duration)

/// Parses an xs:duration such as `PT1H2M3.5S`, `PT0S` or `P0Y0M0DT0H0M10.000S`. A year is
/// 365 days and a month 30, as players do; negative durations are refused.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let rest = text.trim().strip_prefix('P')?;
    let (date, time) = match rest.split_once('T') {
        Some((date, time)) if !time.is_empty() => (date, Some(time)),
        Some(_) => return None,
        None => (rest, None),
    };
    let mut total = Duration::ZERO;
    let mut any = false;
    let mut add = |part: &str, units: &[(char, u64)], fraction_unit: Option<char>| -> Option<()> {
        let mut rest = part;
        let mut allowed = units;
        while !rest.is_empty() {
            let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
            let (number, unit) = (&rest[..end], rest[end..].chars().next()?);
            let index = allowed.iter().position(|(u, _)| *u == unit)?;
            let seconds_per = allowed[index].1;
            allowed = &allowed[index + 1..];
            rest = &rest[end + unit.len_utf8()..];
            let (whole, fraction) = match number.split_once('.') {
                Some((whole, fraction)) if Some(unit) == fraction_unit => (whole, fraction),
                Some(_) => return None,
                None => (number, ""),
            };
            if whole.is_empty() && fraction.is_empty() {
                return None;
            }
            let whole: u64 = if whole.is_empty() {
                0
            } else {
                whole.parse().ok()?
            };
            if !fraction.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            let mut nanos: u32 = 0;
            for (place, digit) in fraction.bytes().take(9).enumerate() {
                nanos += u32::from(digit - b'0') * 10u32.pow(8 - place as u32);
            }
            let part = Duration::from_secs(whole.checked_mul(seconds_per)?)
                .checked_add(Duration::from_nanos(u64::from(nanos)))?;
            total = total.checked_add(part)?;
            any = true;
        }
        Some(())
    };
    add(
        date,
        &[('Y', 365 * 86_400), ('M', 30 * 86_400), ('D', 86_400)],
        None,
    )?;
    if let Some(time) = time {
        add(time, &[('H', 3_600), ('M', 60), ('S', 1)], Some('S'))?;
    }
    any.then_some(total)
}

/// Writes a duration as xs:duration in seconds: `PT9S`, `PT3723.5S`.
pub fn format_duration(duration: Duration) -> String {
    let nanos = duration.subsec_nanos();
    if nanos == 0 {
        format!("PT{}S", duration.as_secs())
    } else {
        let fraction = format!("{nanos:09}");
        format!(
            "PT{}.{}S",
            duration.as_secs(),
            fraction.trim_end_matches('0')
        )
    }
}

// ---------------------------------------------------------------------------------------------
// Reading

fn xml_error(error: xml::XmlError) -> MpdError {
    MpdError::Xml {
        line: error.line,
        column: error.column,
        reason: error.reason,
    }
}

struct Node<'a> {
    element: &'a Element,
    name: &'static str,
}

impl<'a> Node<'a> {
    fn children(&self, name: &'static str) -> impl Iterator<Item = Node<'a>> + 'a {
        self.element
            .children
            .iter()
            .filter(move |child| child.is_dash(name))
            .map(move |element| Node { element, name })
    }

    fn text(&self, attribute: &'static str) -> Option<String> {
        self.element.attribute(attribute).map(str::to_string)
    }

    fn required(&self, attribute: &'static str) -> Result<&'a str, MpdError> {
        self.element.attribute(attribute).ok_or(MpdError::Missing {
            line: self.element.line,
            element: self.name,
            attribute,
        })
    }

    fn invalid(&self, attribute: &'static str, value: &str) -> MpdError {
        MpdError::Invalid {
            line: self.element.line,
            element: self.name,
            attribute,
            value: value.to_string(),
        }
    }

    fn parsed<T>(
        &self,
        attribute: &'static str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, MpdError> {
        match self.element.attribute(attribute) {
            None => Ok(None),
            Some(value) => parse(value.trim())
                .map(Some)
                .ok_or_else(|| self.invalid(attribute, value)),
        }
    }

    fn number<T: std::str::FromStr>(&self, attribute: &'static str) -> Result<Option<T>, MpdError> {
        self.parsed(attribute, |value| value.parse().ok())
    }

    fn duration(&self, attribute: &'static str) -> Result<Option<Duration>, MpdError> {
        self.parsed(attribute, parse_duration)
    }

    fn boolean(&self, attribute: &'static str) -> Result<Option<bool>, MpdError> {
        self.parsed(attribute, |value| match value {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        })
    }

    fn base_urls(&self) -> Vec<String> {
        self.children("BaseURL")
            .map(|node| {
                node.element
                    .text
                    .trim_matches([' ', '\t', '\n', '\r'])
                    .to_string()
            })
            .collect()
    }

    fn segment_template(&self) -> Result<Option<SegmentTemplate>, MpdError> {
        let Some(node) = self.children("SegmentTemplate").next() else {
            return Ok(None);
        };
        let timeline = match node.children("SegmentTimeline").next() {
            None => None,
            Some(timeline) => Some(
                timeline
                    .children("S")
                    .map(|s| {
                        let d = s.required("d")?;
                        Ok(TimelineEntry {
                            t: s.number("t")?,
                            d: d.trim().parse().map_err(|_| s.invalid("d", d))?,
                            r: s.number("r")?.unwrap_or(0),
                        })
                    })
                    .collect::<Result<Vec<_>, MpdError>>()?,
            ),
        };
        if let Some(entry) = timeline.iter().flatten().find(|entry| entry.r < -1) {
            return Err(node.invalid("r", &entry.r.to_string()));
        }
        Ok(Some(SegmentTemplate {
            timescale: node.number("timescale")?,
            duration: node.number("duration")?,
            start_number: node.number("startNumber")?,
            presentation_time_offset: node.number("presentationTimeOffset")?,
            initialization: node.text("initialization"),
            media: node.text("media"),
            timeline,
        }))
    }
}

impl Mpd {
    /// Reads an MPD from bytes (UTF-8).
    pub fn decode(bytes: &[u8]) -> Result<Mpd, MpdError> {
        match std::str::from_utf8(bytes) {
            Ok(text) => Mpd::parse(text),
            Err(error) => {
                let before = &bytes[..error.valid_up_to()];
                let line = 1 + before.iter().filter(|b| **b == b'\n').count();
                Err(MpdError::Xml {
                    line,
                    column: 1 + before.iter().rev().take_while(|b| **b != b'\n').count(),
                    reason: "not UTF-8".to_string(),
                })
            }
        }
    }

    /// Reads an MPD from text.
    pub fn parse(text: &str) -> Result<Mpd, MpdError> {
        let root = xml::parse(text).map_err(xml_error)?;
        if !root.is_dash("MPD") {
            return Err(MpdError::Structure {
                line: root.line,
                reason: "the root element is not MPD",
            });
        }
        let mpd = Node {
            element: &root,
            name: "MPD",
        };
        let presentation = match mpd.element.attribute("type").map(str::trim) {
            None | Some("static") => Presentation::Static,
            Some("dynamic") => Presentation::Dynamic,
            Some(other) => return Err(mpd.invalid("type", other)),
        };
        let min_buffer_time = mpd.required("minBufferTime")?;
        let min_buffer_time = parse_duration(min_buffer_time)
            .ok_or_else(|| mpd.invalid("minBufferTime", min_buffer_time))?;
        let mut periods = Vec::new();
        for period in mpd.children("Period") {
            let mut adaptation_sets = Vec::new();
            for set in period.children("AdaptationSet") {
                let mut representations = Vec::new();
                for representation in set.children("Representation") {
                    let id = representation.required("id")?.to_string();
                    let bandwidth = representation.required("bandwidth")?;
                    representations.push(Representation {
                        id,
                        bandwidth: bandwidth
                            .trim()
                            .parse()
                            .map_err(|_| representation.invalid("bandwidth", bandwidth))?,
                        width: representation.number("width")?,
                        height: representation.number("height")?,
                        frame_rate: representation.parsed("frameRate", FrameRate::parse)?,
                        codecs: representation.text("codecs"),
                        mime_type: representation.text("mimeType"),
                        // AudioSamplingRateType may give a range "min max": the first is kept.
                        audio_sampling_rate: representation.parsed("audioSamplingRate", |v| {
                            v.split_whitespace().next()?.parse().ok()
                        })?,
                        base_urls: representation.base_urls(),
                        segment_template: representation.segment_template()?,
                    });
                }
                adaptation_sets.push(AdaptationSet {
                    id: set.number("id")?,
                    content_type: set.text("contentType"),
                    mime_type: set.text("mimeType"),
                    codecs: set.text("codecs"),
                    lang: set.text("lang"),
                    segment_alignment: set.boolean("segmentAlignment")?.unwrap_or(false),
                    max_width: set.number("maxWidth")?,
                    max_height: set.number("maxHeight")?,
                    frame_rate: set.parsed("frameRate", FrameRate::parse)?,
                    base_urls: set.base_urls(),
                    segment_template: set.segment_template()?,
                    representations,
                });
            }
            periods.push(Period {
                id: period.text("id"),
                start: period.duration("start")?,
                duration: period.duration("duration")?,
                base_urls: period.base_urls(),
                segment_template: period.segment_template()?,
                adaptation_sets,
            });
        }
        if periods.is_empty() {
            return Err(MpdError::Structure {
                line: root.line,
                reason: "MPD without a Period",
            });
        }
        Ok(Mpd {
            presentation,
            profiles: mpd.required("profiles")?.to_string(),
            media_presentation_duration: mpd.duration("mediaPresentationDuration")?,
            min_buffer_time,
            max_segment_duration: mpd.duration("maxSegmentDuration")?,
            base_urls: mpd.base_urls(),
            periods,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Writing

fn attribute(out: &mut String, name: &str, value: Option<impl std::fmt::Display>) {
    if let Some(value) = value {
        let _ = write!(out, " {name}=\"{}\"", xml::escape(&value.to_string()));
    }
}

fn base_urls(out: &mut String, indent: &str, urls: &[String]) {
    for url in urls {
        let _ = writeln!(out, "{indent}<BaseURL>{}</BaseURL>", xml::escape(url));
    }
}

fn segment_template(out: &mut String, indent: &str, template: Option<&SegmentTemplate>) {
    let Some(template) = template else { return };
    let _ = write!(out, "{indent}<SegmentTemplate");
    attribute(out, "timescale", template.timescale);
    attribute(out, "duration", template.duration);
    attribute(out, "startNumber", template.start_number);
    attribute(
        out,
        "presentationTimeOffset",
        template.presentation_time_offset,
    );
    attribute(out, "initialization", template.initialization.as_ref());
    attribute(out, "media", template.media.as_ref());
    match &template.timeline {
        None => out.push_str("/>\n"),
        Some(entries) => {
            let _ = writeln!(out, ">\n{indent}  <SegmentTimeline>");
            for entry in entries {
                let _ = write!(out, "{indent}    <S");
                attribute(out, "t", entry.t);
                attribute(out, "d", Some(entry.d));
                attribute(out, "r", (entry.r != 0).then_some(entry.r));
                out.push_str("/>\n");
            }
            let _ = writeln!(
                out,
                "{indent}  </SegmentTimeline>\n{indent}</SegmentTemplate>"
            );
        }
    }
}

impl Mpd {
    /// Writes the MPD as XML, in the element order the DASH schema requires.
    pub fn encode(&self) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        out.push_str("<MPD xmlns=\"urn:mpeg:dash:schema:mpd:2011\"");
        attribute(&mut out, "profiles", Some(&self.profiles));
        let kind = match self.presentation {
            Presentation::Static => "static",
            Presentation::Dynamic => "dynamic",
        };
        attribute(&mut out, "type", Some(kind));
        attribute(
            &mut out,
            "mediaPresentationDuration",
            self.media_presentation_duration.map(format_duration),
        );
        attribute(
            &mut out,
            "minBufferTime",
            Some(format_duration(self.min_buffer_time)),
        );
        attribute(
            &mut out,
            "maxSegmentDuration",
            self.max_segment_duration.map(format_duration),
        );
        out.push_str(">\n");
        base_urls(&mut out, "  ", &self.base_urls);
        for period in &self.periods {
            out.push_str("  <Period");
            attribute(&mut out, "id", period.id.as_ref());
            attribute(&mut out, "start", period.start.map(format_duration));
            attribute(&mut out, "duration", period.duration.map(format_duration));
            out.push_str(">\n");
            base_urls(&mut out, "    ", &period.base_urls);
            segment_template(&mut out, "    ", period.segment_template.as_ref());
            for set in &period.adaptation_sets {
                out.push_str("    <AdaptationSet");
                attribute(&mut out, "id", set.id);
                attribute(&mut out, "contentType", set.content_type.as_ref());
                attribute(&mut out, "lang", set.lang.as_ref());
                attribute(&mut out, "mimeType", set.mime_type.as_ref());
                attribute(&mut out, "codecs", set.codecs.as_ref());
                attribute(&mut out, "frameRate", set.frame_rate);
                attribute(&mut out, "maxWidth", set.max_width);
                attribute(&mut out, "maxHeight", set.max_height);
                attribute(
                    &mut out,
                    "segmentAlignment",
                    set.segment_alignment.then_some("true"),
                );
                out.push_str(">\n");
                base_urls(&mut out, "      ", &set.base_urls);
                segment_template(&mut out, "      ", set.segment_template.as_ref());
                for representation in &set.representations {
                    out.push_str("      <Representation");
                    attribute(&mut out, "id", Some(&representation.id));
                    attribute(&mut out, "bandwidth", Some(representation.bandwidth));
                    attribute(&mut out, "mimeType", representation.mime_type.as_ref());
                    attribute(&mut out, "codecs", representation.codecs.as_ref());
                    attribute(&mut out, "width", representation.width);
                    attribute(&mut out, "height", representation.height);
                    attribute(&mut out, "frameRate", representation.frame_rate);
                    attribute(
                        &mut out,
                        "audioSamplingRate",
                        representation.audio_sampling_rate,
                    );
                    let empty = representation.base_urls.is_empty()
                        && representation.segment_template.is_none();
                    if empty {
                        out.push_str("/>\n");
                        continue;
                    }
                    out.push_str(">\n");
                    base_urls(&mut out, "        ", &representation.base_urls);
                    segment_template(
                        &mut out,
                        "        ",
                        representation.segment_template.as_ref(),
                    );
                    out.push_str("      </Representation>\n");
                }
                out.push_str("    </AdaptationSet>\n");
            }
            out.push_str("  </Period>\n");
        }
        out.push_str("</MPD>\n");
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Segment templates

/// Expands a segment template (§5.3.9.4.4, Table 16): `$RepresentationID$`, `$Number$`,
/// `$Bandwidth$`, `$Time$`, each but the first with an optional `%0Nd` width, and `$$`.
pub fn expand_template(
    template: &str,
    representation_id: &str,
    number: u64,
    bandwidth: u32,
    time: u64,
) -> Result<String, String> {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        let Some(end) = after.find('$') else {
            return Err(format!("unclosed `$` in {template:?}"));
        };
        let identifier = &after[..end];
        rest = &after[end + 1..];
        if identifier.is_empty() {
            out.push('$');
            continue;
        }
        let (name, format) = match identifier.split_once('%') {
            Some((name, format)) => (name, Some(format)),
            None => (identifier, None),
        };
        let value = match name {
            "RepresentationID" if format.is_none() => {
                out.push_str(representation_id);
                continue;
            }
            "Number" => number,
            "Bandwidth" => u64::from(bandwidth),
            "Time" => time,
            _ => return Err(format!("unknown identifier ${identifier}$")),
        };
        let width = match format {
            None => 0,
            Some(format) => {
                let digits = format
                    .strip_suffix('d')
                    .ok_or_else(|| format!("bad format in ${identifier}$"))?;
                let digits = digits.strip_prefix('0').unwrap_or(digits);
                if digits.is_empty() {
                    0
                } else {
                    digits
                        .parse::<usize>()
                        .ok()
                        .filter(|width| *width <= 32)
                        .ok_or_else(|| format!("bad format in ${identifier}$"))?
                }
            }
        };
        let _ = write!(out, "{value:0width$}");
    }
    out.push_str(rest);
    Ok(out)
}

impl Mpd {
    /// The length of a period, from Period@duration, the next period's start, or the
    /// presentation's duration.
    pub fn period_duration(&self, index: usize) -> Option<Duration> {
        let period = self.periods.get(index)?;
        if let Some(duration) = period.duration {
            return Some(duration);
        }
        let start = period.start.unwrap_or(Duration::ZERO);
        if let Some(next) = self.periods.get(index + 1).and_then(|next| next.start) {
            return next.checked_sub(start);
        }
        self.media_presentation_duration?.checked_sub(start)
    }

    /// The init and media segment URLs of one representation, resolved against `mpd_url`
    /// (the URL the MPD was fetched from) through the BaseURLs of every level.
    pub fn segment_list(
        &self,
        mpd_url: &str,
        period: usize,
        adaptation_set: usize,
        representation: usize,
    ) -> Result<SegmentList, MpdError> {
        let period_index = period;
        let period = self.periods.get(period).ok_or(MpdError::NoSuch {
            what: "period",
            index: period,
        })?;
        let set = period
            .adaptation_sets
            .get(adaptation_set)
            .ok_or(MpdError::NoSuch {
                what: "adaptation set",
                index: adaptation_set,
            })?;
        let rep = set
            .representations
            .get(representation)
            .ok_or(MpdError::NoSuch {
                what: "representation",
                index: representation,
            })?;
        let fail = |reason: String| MpdError::Segments {
            representation: rep.id.clone(),
            reason,
        };
        if self.presentation == Presentation::Dynamic {
            return Err(fail(
                "dynamic (live) presentations are not supported".into(),
            ));
        }
        let mut base = mpd_url.to_string();
        for urls in [
            &self.base_urls,
            &period.base_urls,
            &set.base_urls,
            &rep.base_urls,
        ] {
            if let Some(url) = urls.first() {
                base = resolve(&base, url);
            }
        }
        let empty = SegmentTemplate::default();
        let template = rep
            .segment_template
            .as_ref()
            .unwrap_or(&empty)
            .inherit(set.segment_template.as_ref().unwrap_or(&empty))
            .inherit(period.segment_template.as_ref().unwrap_or(&empty));
        if template == empty {
            return Err(fail(
                "no SegmentTemplate (SegmentBase and SegmentList are not supported)".into(),
            ));
        }
        let media = template
            .media
            .as_deref()
            .ok_or_else(|| fail("SegmentTemplate without media".into()))?;
        let timescale = template.timescale.unwrap_or(1);
        if timescale == 0 {
            return Err(fail("timescale 0".into()));
        }
        let start_number = u64::from(template.start_number.unwrap_or(1));
        let offset = template.presentation_time_offset.unwrap_or(0);
        // The period's end in ticks, when known.
        let period_ticks = self.period_duration(period_index).map(|duration| {
            let ticks = duration.as_nanos() * u128::from(timescale) / 1_000_000_000;
            u64::try_from(ticks)
                .unwrap_or(u64::MAX)
                .saturating_add(offset)
        });
        // (number, time, duration) in ticks.
        let mut ticks: Vec<(u64, u64, u64)> = Vec::new();
        if let Some(timeline) = &template.timeline {
            let mut time = offset;
            for (index, entry) in timeline.iter().enumerate() {
                if let Some(t) = entry.t {
                    time = t;
                }
                if entry.d == 0 {
                    return Err(fail("S@d is 0".into()));
                }
                let count = if entry.r >= 0 {
                    (entry.r as u64).saturating_add(1)
                } else {
                    let end = timeline
                        .get(index + 1)
                        .and_then(|next| next.t)
                        .or(period_ticks)
                        .ok_or_else(|| fail("S@r=-1 with no end in sight".into()))?;
                    end.saturating_sub(time).div_ceil(entry.d)
                };
                for _ in 0..count {
                    if ticks.len() >= MAX_SEGMENTS {
                        return Err(fail(format!("more than {MAX_SEGMENTS} segments")));
                    }
                    ticks.push((start_number + ticks.len() as u64, time, entry.d));
                    time = time.saturating_add(entry.d);
                }
            }
        } else {
            let duration = u64::from(template.duration.ok_or_else(|| {
                fail("SegmentTemplate without duration or SegmentTimeline".into())
            })?);
            if duration == 0 {
                return Err(fail("SegmentTemplate@duration is 0".into()));
            }
            let end = period_ticks
                .ok_or_else(|| fail("no period duration or mediaPresentationDuration".into()))?;
            let count = end.saturating_sub(offset).div_ceil(duration);
            if count > MAX_SEGMENTS as u64 {
                return Err(fail(format!("more than {MAX_SEGMENTS} segments")));
            }
            for index in 0..count {
                let time = offset + index * duration;
                ticks.push((start_number + index, time, duration.min(end - time)));
            }
        }
        let segments = ticks
            .into_iter()
            .map(|(number, time, duration)| {
                let name =
                    expand_template(media, &rep.id, number, rep.bandwidth, time).map_err(&fail)?;
                Ok(Segment {
                    number,
                    time,
                    start: time.saturating_sub(offset) as f64 / f64::from(timescale),
                    duration: duration as f64 / f64::from(timescale),
                    url: resolve(&base, &name),
                })
            })
            .collect::<Result<Vec<_>, MpdError>>()?;
        let initialization = match &template.initialization {
            None => None,
            Some(init) => Some(resolve(
                &base,
                &expand_template(init, &rep.id, start_number, rep.bandwidth, offset)
                    .map_err(&fail)?,
            )),
        };
        Ok(SegmentList {
            representation_id: rep.id.clone(),
            bandwidth: rep.bandwidth,
            initialization,
            segments,
        })
    }

    /// The video ladder of the first period: the first adaptation set whose contentType is
    /// `video` or whose mimeType starts with `video/`, else the first one.
    pub fn video_track(&self, mpd_url: &str) -> Result<Track, MpdError> {
        let period = self.periods.first().ok_or(MpdError::NoSuch {
            what: "period",
            index: 0,
        })?;
        let is_video = |set: &AdaptationSet| {
            set.content_type.as_deref() == Some("video")
                || set
                    .mime_type
                    .iter()
                    .chain(
                        set.representations
                            .iter()
                            .filter_map(|r| r.mime_type.as_ref()),
                    )
                    .any(|mime| mime.starts_with("video/"))
        };
        let set_index = period
            .adaptation_sets
            .iter()
            .position(is_video)
            .or((!period.adaptation_sets.is_empty()).then_some(0))
            .ok_or(MpdError::NoSuch {
                what: "adaptation set",
                index: 0,
            })?;
        let set = &period.adaptation_sets[set_index];
        let mut qualities = (0..set.representations.len())
            .map(|index| self.segment_list(mpd_url, 0, set_index, index))
            .collect::<Result<Vec<_>, MpdError>>()?;
        if qualities.is_empty() {
            return Err(MpdError::NoSuch {
                what: "representation",
                index: 0,
            });
        }
        qualities.sort_by_key(|quality| quality.bandwidth);
        let count = qualities
            .iter()
            .map(|q| q.segments.len())
            .min()
            .unwrap_or(0);
        for quality in &mut qualities {
            quality.segments.truncate(count);
        }
        Ok(Track {
            period: 0,
            adaptation_set: set_index,
            qualities,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        for (text, seconds, nanos) in [
            ("PT1H2M3.5S", 3723, 500_000_000),
            ("PT0S", 0, 0),
            ("P0Y0M0DT0H0M10.000S", 10, 0),
            ("PT9.0S", 9, 0),
            ("P1D", 86_400, 0),
            ("PT0.000000001S", 0, 1),
            ("PT.5S", 0, 500_000_000),
        ] {
            assert_eq!(
                parse_duration(text),
                Some(Duration::new(seconds, nanos)),
                "{text}"
            );
        }
        for bad in [
            "", "P", "PT", "T1S", "PT1.5M", "PTS", "PT1S2M", "-PT1S", "PT1X", "P1.5D",
        ] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
        for duration in [
            Duration::ZERO,
            Duration::new(3723, 500_000_000),
            Duration::new(1, 1),
        ] {
            assert_eq!(parse_duration(&format_duration(duration)), Some(duration));
        }
        assert_eq!(format_duration(Duration::from_millis(3500)), "PT3.5S");
    }

    #[test]
    fn templates() {
        let check = |template: &str, expected: &str| {
            assert_eq!(
                expand_template(template, "v1", 7, 500_000, 12_800).as_deref(),
                Ok(expected),
                "{template}"
            );
        };
        check(
            "chunk-$RepresentationID$-$Number%05d$.m4s",
            "chunk-v1-00007.m4s",
        );
        check("$Bandwidth$/$Time$.m4s", "500000/12800.m4s");
        check("$Number$$$", "7$");
        check("seg_$Number%d$", "seg_7");
        check("$Time%08d$", "00012800");
        for bad in ["$Number", "$Foo$", "$Number%5x$", "$RepresentationID%02d$"] {
            assert!(expand_template(bad, "v", 1, 1, 1).is_err(), "{bad}");
        }
    }

    const SMALL: &str = r#"<?xml version="1.0"?>
<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011"
     type="static" mediaPresentationDuration="PT10S" minBufferTime="PT2S">
  <Period>
    <AdaptationSet mimeType="video/mp4">
      <SegmentTemplate timescale="1000" duration="4000" media="$RepresentationID$/$Number$.m4s" initialization="$RepresentationID$/init.mp4"/>
      <Representation id="low" bandwidth="200000"/>
      <Representation bandwidth="1"/>
    </AdaptationSet>
  </Period>
</MPD>"#;

    #[test]
    fn missing_attributes_name_their_line() {
        assert_eq!(
            Mpd::parse(SMALL).unwrap_err().to_string(),
            "line 8: Representation without id"
        );
        let text = SMALL.replace(
            "<Representation bandwidth=\"1\"/>",
            "<Representation id=\"x\"/>",
        );
        assert_eq!(
            Mpd::parse(&text).unwrap_err().to_string(),
            "line 8: Representation without bandwidth"
        );
    }

    #[test]
    fn duration_templates_cover_the_period() {
        let text = SMALL.replace("<Representation bandwidth=\"1\"/>", "");
        let mpd = Mpd::parse(&text).unwrap();
        let list = mpd.segment_list("http://h/v/m.mpd", 0, 0, 0).unwrap();
        assert_eq!(
            list.initialization.as_deref(),
            Some("http://h/v/low/init.mp4")
        );
        let got: Vec<(u64, f64, f64, &str)> = list
            .segments
            .iter()
            .map(|s| (s.number, s.start, s.duration, s.url.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                (1, 0.0, 4.0, "http://h/v/low/1.m4s"),
                (2, 4.0, 4.0, "http://h/v/low/2.m4s"),
                (3, 8.0, 2.0, "http://h/v/low/3.m4s"),
            ]
        );
    }

    #[test]
    fn hostile_repeat_counts_are_bounded() {
        let text = SMALL.replace("<Representation bandwidth=\"1\"/>", "").replace(
            "duration=\"4000\"",
            "",
        ).replace(
            "/>\n      <Representation",
            "><SegmentTimeline><S d=\"1\" r=\"9999999999\"/></SegmentTimeline></SegmentTemplate>\n      <Representation",
        );
        let mpd = Mpd::parse(&text).unwrap();
        assert!(matches!(
            mpd.segment_list("m.mpd", 0, 0, 0),
            Err(MpdError::Segments { .. })
        ));
    }
}
