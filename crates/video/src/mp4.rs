//! Just enough of ISO BMFF (ISO/IEC 14496-12) to describe what the encoder made: the codec
//! string (RFC 6381) of an initialization segment, and the media time a fragment covers.
//! Parsing only, from bytes; malformed boxes are errors, never panics.

/// Why a file could not be read as fragmented MP4.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Mp4Error {
    /// A box's size runs past its parent, or is below its header's size.
    #[error("box {kind} at offset {offset}: bad size {size}")]
    BadSize {
        /// The box's four-character type.
        kind: String,
        /// Where it starts.
        offset: usize,
        /// The size it claims.
        size: u64,
    },
    /// A box the description needs is absent.
    #[error("no {0} box")]
    Missing(&'static str),
}

/// One box: its type and its payload (after the header).
#[derive(Debug, Clone, Copy)]
struct Mp4Box<'a> {
    kind: [u8; 4],
    body: &'a [u8],
}

/// The boxes directly inside `data`, in order.
fn boxes(data: &[u8]) -> Result<Vec<Mp4Box<'_>>, Mp4Error> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at < data.len() {
        let rest = &data[at..];
        if rest.len() < 8 {
            return Err(bad(rest, at, rest.len() as u64));
        }
        let mut size = u64::from(u32::from_be_bytes([rest[0], rest[1], rest[2], rest[3]]));
        let kind = [rest[4], rest[5], rest[6], rest[7]];
        let mut header = 8usize;
        if size == 1 {
            // A 64-bit size follows the type.
            if rest.len() < 16 {
                return Err(bad(rest, at, size));
            }
            size = u64::from_be_bytes(rest[8..16].try_into().unwrap_or([0; 8]));
            header = 16;
        } else if size == 0 {
            // The box runs to the end of its container.
            size = rest.len() as u64;
        }
        if size < header as u64 || size > rest.len() as u64 {
            return Err(bad(rest, at, size));
        }
        let size = size as usize;
        out.push(Mp4Box {
            kind,
            body: &rest[header..size],
        });
        at += size;
    }
    Ok(out)
}

fn bad(rest: &[u8], offset: usize, size: u64) -> Mp4Error {
    let kind = rest
        .get(4..8)
        .map(|k| String::from_utf8_lossy(k).into_owned())
        .unwrap_or_else(|| "?".into());
    Mp4Error::BadSize { kind, offset, size }
}

/// The first box of type `kind` directly inside `data`.
fn find<'a>(data: &'a [u8], kind: &[u8; 4]) -> Result<Option<&'a [u8]>, Mp4Error> {
    Ok(boxes(data)?
        .into_iter()
        .find(|b| &b.kind == kind)
        .map(|b| b.body))
}

/// Follows a path of box types from the top.
fn path<'a>(data: &'a [u8], kinds: &[&[u8; 4]]) -> Result<Option<&'a [u8]>, Mp4Error> {
    let mut here = data;
    for kind in kinds {
        match find(here, kind)? {
            Some(body) => here = body,
            None => return Ok(None),
        }
    }
    Ok(Some(here))
}

/// What an initialization segment says about its one track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrackInfo {
    /// The RFC 6381 codec string: `avc1.4d401f`, `mp4a.40.2`.
    pub codecs: String,
    /// The track's media timescale (ticks per second).
    pub timescale: u32,
    /// Pixel size for video.
    pub width: Option<u16>,
    /// Pixel size for video.
    pub height: Option<u16>,
}

/// Reads an initialization segment (`ftyp` + `moov`) of one track.
pub fn track_info(init: &[u8]) -> Result<TrackInfo, Mp4Error> {
    let trak = path(init, &[b"moov", b"trak"])?.ok_or(Mp4Error::Missing("moov/trak"))?;
    let mdhd = path(trak, &[b"mdia", b"mdhd"])?.ok_or(Mp4Error::Missing("mdhd"))?;
    // mdhd: version(1) flags(3), then times 4 or 8 bytes each, then the timescale.
    let timescale_at = if mdhd.first() == Some(&1) { 20 } else { 12 };
    let timescale = mdhd
        .get(timescale_at..timescale_at + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        .ok_or(Mp4Error::Missing("mdhd timescale"))?;
    let stsd =
        path(trak, &[b"mdia", b"minf", b"stbl", b"stsd"])?.ok_or(Mp4Error::Missing("stsd"))?;
    // stsd: version/flags(4), entry count(4), then sample entries as boxes.
    let entries = boxes(stsd.get(8..).ok_or(Mp4Error::Missing("stsd entries"))?)?;
    let entry = entries.first().ok_or(Mp4Error::Missing("sample entry"))?;
    match &entry.kind {
        b"avc1" | b"avc3" => {
            // VisualSampleEntry: 6 reserved + 2 index, 16 pre-defined/reserved, then width
            // and height (2 each), then 50 more bytes before the child boxes (78 in all).
            let body = entry.body;
            let size = |at: usize| {
                body.get(at..at + 2)
                    .map(|b| u16::from_be_bytes([b[0], b[1]]))
            };
            let children = body.get(78..).ok_or(Mp4Error::Missing("avc1 children"))?;
            let avcc = find(children, b"avcC")?.ok_or(Mp4Error::Missing("avcC"))?;
            // AVCDecoderConfigurationRecord: version, profile, compatibility, level.
            let [_, profile, compatibility, level, ..] = *avcc else {
                return Err(Mp4Error::Missing("avcC profile"));
            };
            Ok(TrackInfo {
                codecs: format!(
                    "{}.{profile:02x}{compatibility:02x}{level:02x}",
                    String::from_utf8_lossy(&entry.kind)
                ),
                timescale,
                width: size(24),
                height: size(26),
            })
        }
        b"mp4a" => {
            // AudioSampleEntry: 28 bytes, then `esds`.
            let children = entry
                .body
                .get(28..)
                .ok_or(Mp4Error::Missing("mp4a children"))?;
            let esds = find(children, b"esds")?.ok_or(Mp4Error::Missing("esds"))?;
            let (object_type, audio_object_type) = esds_types(esds.get(4..).unwrap_or(&[]));
            let codecs = match (object_type, audio_object_type) {
                (Some(0x40), Some(aot)) => format!("mp4a.40.{aot}"),
                (Some(ot), _) => format!("mp4a.{ot:02x}"),
                _ => "mp4a.40.2".to_string(),
            };
            Ok(TrackInfo {
                codecs,
                timescale,
                width: None,
                height: None,
            })
        }
        other => Ok(TrackInfo {
            codecs: String::from_utf8_lossy(other).into_owned(),
            timescale,
            width: None,
            height: None,
        }),
    }
}

/// From an ES_Descriptor (ISO/IEC 14496-1 §7.2.6.5): the DecoderConfigDescriptor's
/// objectTypeIndication and the first five bits (audio object type) of its
/// DecoderSpecificInfo.
fn esds_types(mut data: &[u8]) -> (Option<u8>, Option<u8>) {
    let mut object_type = None;
    // Descriptors: tag(1), a length of 1-4 bytes with the high bit as "more", payload.
    while let Some((&tag, rest)) = data.split_first() {
        let mut len = 0usize;
        let mut rest = rest;
        for _ in 0..4 {
            let Some((&b, tail)) = rest.split_first() else {
                return (object_type, None);
            };
            rest = tail;
            len = (len << 7) | usize::from(b & 0x7f);
            if b & 0x80 == 0 {
                break;
            }
        }
        match tag {
            // ES_Descriptor: ES_ID(2), flags(1) then its sub-descriptors (no optional
            // fields in what encoders write for DASH; they are skipped if flagged).
            0x03 => {
                let Some(&flags) = rest.get(2) else {
                    return (object_type, None);
                };
                let mut skip = 3;
                if flags & 0x80 != 0 {
                    skip += 2;
                }
                if flags & 0x40 != 0 {
                    skip += 1 + usize::from(*rest.get(skip).unwrap_or(&0));
                }
                if flags & 0x20 != 0 {
                    skip += 2;
                }
                data = rest.get(skip..).unwrap_or(&[]);
            }
            // DecoderConfigDescriptor: objectTypeIndication(1), 12 more, sub-descriptors.
            0x04 => {
                object_type = rest.first().copied();
                data = rest.get(13..).unwrap_or(&[]);
            }
            // DecoderSpecificInfo: AudioSpecificConfig, audioObjectType in 5 bits.
            0x05 => return (object_type, rest.first().map(|b| b >> 3)),
            _ => data = rest.get(len..).unwrap_or(&[]),
        }
    }
    (object_type, None)
}

/// The media time a fragment (`moof` + `mdat`) starts at and lasts, in track ticks:
/// `tfdt`'s base decode time and the sum of `trun`'s sample durations (or `tfhd`'s default).
pub fn fragment_span(segment: &[u8]) -> Result<(u64, u64), Mp4Error> {
    let traf = path(segment, &[b"moof", b"traf"])?.ok_or(Mp4Error::Missing("moof/traf"))?;
    let tfdt = find(traf, b"tfdt")?.ok_or(Mp4Error::Missing("tfdt"))?;
    let start = match tfdt.first() {
        Some(1) => tfdt
            .get(4..12)
            .map(|b| u64::from_be_bytes(b.try_into().unwrap_or([0; 8]))),
        _ => tfdt
            .get(4..8)
            .map(|b| u64::from(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))),
    }
    .ok_or(Mp4Error::Missing("tfdt time"))?;
    let tfhd = find(traf, b"tfhd")?.ok_or(Mp4Error::Missing("tfhd"))?;
    let default_duration = default_sample_duration(tfhd);
    let mut duration = 0u64;
    for trun in boxes(traf)?.into_iter().filter(|b| &b.kind == b"trun") {
        duration += trun_duration(trun.body, default_duration);
    }
    Ok((start, duration))
}

fn be32(data: &[u8], at: usize) -> Option<u32> {
    data.get(at..at + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// tfhd (§8.8.7): the default sample duration when its flag 0x08 is set.
fn default_sample_duration(tfhd: &[u8]) -> u32 {
    let flags = be32(tfhd, 0).unwrap_or(0) & 0x00ff_ffff;
    let mut at = 8; // version/flags, track_ID
    if flags & 0x01 != 0 {
        at += 8; // base_data_offset
    }
    if flags & 0x02 != 0 {
        at += 4; // sample_description_index
    }
    if flags & 0x08 != 0 {
        be32(tfhd, at).unwrap_or(0)
    } else {
        0
    }
}

/// trun (§8.8.8): the sum of its samples' durations.
fn trun_duration(trun: &[u8], default: u32) -> u64 {
    let flags = be32(trun, 0).unwrap_or(0) & 0x00ff_ffff;
    let count = be32(trun, 4).unwrap_or(0) as usize;
    let mut at = 8;
    if flags & 0x001 != 0 {
        at += 4; // data_offset
    }
    if flags & 0x004 != 0 {
        at += 4; // first_sample_flags
    }
    let per_sample = [0x100, 0x200, 0x400, 0x800]
        .iter()
        .filter(|&&f| flags & f != 0)
        .count()
        * 4;
    if flags & 0x100 == 0 {
        return u64::from(default) * count as u64;
    }
    let mut total = 0u64;
    for i in 0..count {
        match be32(trun, at + i * per_sample) {
            Some(d) => total += u64::from(d),
            None => break,
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mp4box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        out.extend_from_slice(kind);
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn a_fragment_span_comes_from_tfdt_and_trun() {
        let tfhd = mp4box(b"tfhd", &[0, 0, 0, 0x08, 0, 0, 0, 1, 0, 0, 0x03, 0xe8]);
        let tfdt = mp4box(b"tfdt", &[1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x0b, 0xb8]);
        // Three samples with durations from the trun (flag 0x100).
        let mut trun_body = vec![0, 0, 0x01, 0x00, 0, 0, 0, 3];
        for d in [1000u32, 1000, 500] {
            trun_body.extend(d.to_be_bytes());
        }
        let trun = mp4box(b"trun", &trun_body);
        let traf = mp4box(b"traf", &[tfhd, tfdt, trun].concat());
        let moof = mp4box(b"moof", &traf);
        let segment = [moof, mp4box(b"mdat", b"xx")].concat();
        assert_eq!(fragment_span(&segment), Ok((3000, 2500)));
    }

    #[test]
    fn bad_sizes_are_errors_not_panics() {
        assert!(boxes(&[0, 0, 0, 99, b'm', b'o', b'o', b'v']).is_err());
        assert!(boxes(&[0, 0, 0, 4, b'm', b'o', b'o', b'v']).is_err());
        assert!(track_info(b"").is_err());
        for n in 0..64 {
            let junk: Vec<u8> = (0..n).map(|i| (i * 37 % 251) as u8).collect();
            let _ = track_info(&junk);
            let _ = fragment_span(&junk);
        }
    }
}
