//! Video streaming drivers over `dash_proto`: [`package`] encodes a ladder with `ffmpeg`
//! into fragmented MP4 segments and writes the MPD; [`player`] plays an MPD over HTTP/1.1
//! with an ABR algorithm, in real time (paced by a bandwidth trace if given) or simulated;
//! [`fetch`] is the player's keep-alive HTTP client; [`mp4`] reads just enough ISO BMFF to
//! describe the segments.
//!
//! ```text
//! applayer video package --test-pattern 60 --out site/video
//! applayer video play http://127.0.0.1:8080/video/manifest.mpd --abr bola --trace steps.txt
//! ```

pub mod fetch;
pub mod mp4;
pub mod package;
pub mod player;
