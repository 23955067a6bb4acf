//! `transmission-show` and libtorrent (Debian's python3-libtorrent) read the torrents we
//! make, with the same info-hash and the same description; we read `transmission-create`'s,
//! and print them as `transmission-show` does, byte for byte.

use bt_proto::magnet::Magnet;
use bt_proto::show::transmission_show;
use bt_proto::Metainfo;
use std::path::{Path, PathBuf};
use std::process::Command;
use torrent::{create, CreateOptions};

fn tool_missing(name: &str) -> bool {
    let missing = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .map(|out| !out.status.success())
        .unwrap_or(true);
    if missing {
        assert!(std::env::var_os("CI").is_none(), "{name} is required in CI");
        eprintln!("skipped: {name} is not installed");
    }
    missing
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A folder of files of awkward sizes (one empty, one crossing pieces, one tiny) in
/// subfolders.
fn sample_folder(root: &Path) -> PathBuf {
    let folder = root.join("Crêpes & co");
    std::fs::create_dir_all(folder.join("sub/deeper")).unwrap();
    let bytes = |n: usize, seed: u32| -> Vec<u8> {
        (0..n as u32)
            .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 13) as u8)
            .collect()
    };
    std::fs::write(folder.join("a.bin"), bytes(70_001, 1)).unwrap();
    std::fs::write(folder.join("sub/b.txt"), b"hello\n").unwrap();
    std::fs::write(folder.join("sub/deeper/c.dat"), bytes(40_000, 2)).unwrap();
    std::fs::write(folder.join("empty"), b"").unwrap();
    folder
}

fn transmission_show_output(args: &[&str], torrent: &Path) -> String {
    let out = Command::new("transmission-show")
        .args(args)
        .arg(torrent)
        .env("TZ", "UTC")
        .output()
        .expect("transmission-show runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

#[test]
fn transmission_and_libtorrent_read_our_torrents() {
    if tool_missing("transmission-show") {
        return;
    }
    let dir = scratch("ours");
    let folder = sample_folder(&dir);
    let single = dir.join("single.bin");
    std::fs::write(&single, vec![7u8; 100_000]).unwrap();
    let options = CreateOptions {
        trackers: vec![
            vec!["http://127.0.0.1:6969/announce".into()],
            vec![
                "udp://127.0.0.1:6969".into(),
                "http://tracker.example/a".into(),
            ],
        ],
        piece_length: Some(32 * 1024),
        comment: Some("made by applayer".into()),
        created_by: Some("applayer/0.0.0".into()),
        creation_date: Some(1_796_646_482),
        private: false,
        web_seeds: Vec::new(),
    };
    for (source, private) in [(&folder, false), (&single, true)] {
        let options = CreateOptions {
            private,
            ..options.clone()
        };
        let bytes = create(source, &options).expect("create");
        let file = dir.join(format!("{}.torrent", private));
        std::fs::write(&file, &bytes).unwrap();
        let meta = Metainfo::parse(&bytes).unwrap();
        let label = file.to_str().unwrap();
        assert_eq!(
            transmission_show_output(&[], &file),
            transmission_show(&meta, label),
            "our description differs from transmission-show's"
        );
        assert_eq!(
            transmission_show_output(&["--magnet"], &file).trim(),
            Magnet::of(&meta).to_string()
        );
        // libtorrent's own reading of the file: the same info-hash, files and pieces.
        if Path::new("/usr/bin/python3").exists() && !tool_missing("transmission-create") {
            let script = "import sys, libtorrent as lt\n\
                t = lt.torrent_info(sys.argv[1])\n\
                print(str(t.info_hash()), t.num_pieces(), t.piece_length(), t.num_files(), t.total_size(), t.priv())";
            let out = Command::new("/usr/bin/python3")
                .args(["-c", script, label])
                .output()
                .expect("python3 runs");
            if out.status.success() {
                let expected = format!(
                    "{} {} {} {} {} {}",
                    meta.info_hash_hex(),
                    meta.info.pieces.len(),
                    meta.info.piece_length,
                    meta.info.files.len(),
                    meta.info.total_length(),
                    if private { "True" } else { "False" }
                );
                assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), expected);
            } else {
                let stderr = String::from_utf8_lossy(&out.stderr);
                assert!(
                    std::env::var_os("CI").is_none(),
                    "python3-libtorrent is required in CI: {stderr}"
                );
            }
        }
    }
}

#[test]
fn we_read_transmission_create_torrents() {
    if tool_missing("transmission-create") {
        return;
    }
    let dir = scratch("theirs");
    let folder = sample_folder(&dir);
    // transmission-create leaves empty files out (we keep them, as libtorrent and mktorrent
    // do), so the folder compared has none.
    std::fs::remove_file(folder.join("empty")).unwrap();
    let file = dir.join("theirs.torrent");
    let status = Command::new("transmission-create")
        .args([
            "-o",
            file.to_str().unwrap(),
            "-s",
            "16",
            "-c",
            "their comment",
        ])
        .args([
            "-t",
            "http://127.0.0.1:6969/announce",
            "-t",
            "udp://127.0.0.1:1337",
        ])
        .arg(&folder)
        .env("TZ", "UTC")
        .output()
        .expect("transmission-create runs");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let bytes = std::fs::read(&file).unwrap();
    let meta = Metainfo::parse(&bytes).expect("we read Transmission's torrent");
    let label = file.to_str().unwrap();
    assert_eq!(
        transmission_show_output(&[], &file),
        transmission_show(&meta, label)
    );
    // Our own torrent of the same folder with the same settings holds the same files and
    // piece hashes (the info-hashes differ only because Transmission writes `private: 0`).
    let ours = create(
        &folder,
        &CreateOptions {
            piece_length: Some(16 * 1024),
            ..CreateOptions::default()
        },
    )
    .unwrap();
    let ours = Metainfo::parse(&ours).unwrap();
    assert_eq!(ours.info, meta.info);
}
