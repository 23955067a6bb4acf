//! The integration tests of dash-proto: real MPDs read, our MPDs checked against the DASH
//! schema by xmllint, and the algorithms simulated over the test traces against the optimum.

mod bench_traces;
mod mpd_files;
mod schema;
mod simulation;

use std::path::PathBuf;

/// A file under `test-data/`.
fn test_data(path: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("test-data")
        .join(path)
}

/// A file under `test-data/`, as text.
fn read(path: &str) -> String {
    std::fs::read_to_string(test_data(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}
