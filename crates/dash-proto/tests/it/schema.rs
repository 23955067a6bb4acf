//! Our MPDs validate against the DASH schema (ISO/IEC 23009-1, MPEGGroup/DASHSchema) with
//! xmllint. Without xmllint the test says so and passes, unless `CI` is set.

use crate::{read, test_data};
use dash_proto::mpd::Mpd;
use std::process::Command;

fn xmllint_available() -> bool {
    Command::new("xmllint").arg("--version").output().is_ok()
}

#[test]
fn written_mpds_validate_against_the_schema() {
    if !xmllint_available() {
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
        assert!(
            !ci,
            "xmllint is required under CI (Debian package libxml2-utils)"
        );
        eprintln!(
            "note: xmllint not found, schema validation skipped (apt-get install libxml2-utils)"
        );
        return;
    }
    let schema = test_data("schema/DASH-MPD.xsd");
    let dir = std::env::temp_dir().join(format!("dash-proto-schema-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for file in [
        "mpd/ffmpeg-timeline.mpd",
        "mpd/ffmpeg-number.mpd",
        "mpd/dashjs-number.mpd",
        "mpd/timeline-time.mpd",
    ] {
        let written = Mpd::parse(&read(file)).unwrap().encode();
        let path = dir.join(file.replace('/', "_"));
        std::fs::write(&path, &written).unwrap();
        let output = Command::new("xmllint")
            .arg("--noout")
            .arg("--schema")
            .arg(&schema)
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{file} does not validate:\n{}\n{written}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
