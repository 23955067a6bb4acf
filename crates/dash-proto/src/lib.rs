//! MPEG-DASH video streaming (ISO/IEC 23009-1), sans-IO: [`mpd`] models, reads and writes the
//! MPD and expands segment templates into URLs ([`url::resolve`] does RFC 3986 resolution);
//! [`abr`] holds the adaptive bitrate algorithms (throughput, BOLA, RobustMPC, dynamic);
//! [`session`] is the playback machine the real player and the [`simulate`] simulator share;
//! [`trace`] reads bandwidth traces; [`qoe`] scores a session; [`optimum`] finds the best
//! sequence in hindsight; [`plot`] draws a session as SVG.
//!
//! # Contract
//!
//! Nothing here opens a socket or a file, reads a clock or draws a random number. Time is
//! an argument, in seconds since the session began (`f64`), and durations in the MPD are
//! [`std::time::Duration`]. The MPD reader never panics, whatever the bytes: a malformed MPD
//! is an [`mpd::MpdError`] that names its line. Every ABR algorithm is deterministic, so a
//! simulation with the download times a real player saw makes the decisions it made.
//!
//! # The run loop
//!
//! ```
//! use dash_proto::{abr, mpd::Mpd, session::{Action, Content, Session, SessionConfig}};
//!
//! let text = r#"<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" profiles="urn:mpeg:dash:profile:isoff-live:2011"
//!   type="static" mediaPresentationDuration="PT8S" minBufferTime="PT2S"><Period>
//!   <AdaptationSet contentType="video"><SegmentTemplate timescale="1" duration="4"
//!     initialization="init-$RepresentationID$.m4s" media="chunk-$RepresentationID$-$Number%05d$.m4s"/>
//!   <Representation id="0" bandwidth="500000"/><Representation id="1" bandwidth="2000000"/>
//!   </AdaptationSet></Period></MPD>"#;
//! let mpd = Mpd::parse(text).unwrap();
//! let track = mpd.video_track("http://cdn.example/v/manifest.mpd").unwrap();
//! let content = Content::from_track(&track).unwrap();
//! let mut session = Session::new(SessionConfig::default(), content, abr::by_name("bola").unwrap());
//! let mut now = 0.0; // the driver's clock, seconds since the start
//! loop {
//!     match session.poll_action(now) {
//!         Action::Request(request) => {
//!             let url = &track.qualities[request.quality].segments[request.index].url;
//!             assert!(url.starts_with("http://cdn.example/v/chunk-"));
//!             // The driver fetches `url`, abandoning it at `request.deadline`; here it takes 1 s.
//!             now += 1.0;
//!             session.handle_downloaded(now, 250_000);
//!             // (or session.handle_failed(now, bytes_so_far, Failure::Truncated) ...)
//!         }
//!         Action::Wait { until } => {
//!             now = until; // sleep, then tell the machine the time
//!             session.handle_timeout(now);
//!         }
//!         Action::Done(outcome) => break,
//!     }
//! }
//! let summary = dash_proto::qoe::Summary::of(session.log());
//! assert_eq!(summary.chunks, 2);
//! ```

pub mod abr;
pub mod mpd;
pub mod optimum;
pub mod plot;
pub mod qoe;
pub mod session;
pub mod simulate;
pub mod trace;
pub mod url;
mod xml;
