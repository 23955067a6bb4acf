//! `transmission-show` and libtorrent (Debian's python3-libtorrent) read the torrents we
//! make, with the same info-hash and the same description; we read `transmission-create`'s,
//! and print them as `transmission-show` does, byte for byte.

use bt_proto::magnet::Magnet;
use bt_proto::show::transmission_show;
use bt_proto::Metainfo;
use std::net::SocketAddr;
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

/// A libtorrent seeder (`tests/swarm/seed_one.py`) of `torrent` from `data` for `seconds`,
/// started and checked: the child and its first line (`port N`).
fn libtorrent_seeder(torrent: &Path, data: &Path, seconds: u32) -> (std::process::Child, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/swarm/seed_one.py");
    let mut seeder = Command::new("/usr/bin/python3")
        .arg(script)
        .arg(torrent)
        .arg(data)
        .arg(seconds.to_string())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(seeder.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    (seeder, line)
}

/// The tracker on free loopback ports in its own thread; stopped when the returned
/// `Shutdown` fires.
fn start_tracker() -> (SocketAddr, SocketAddr, netio::Shutdown) {
    let shutdown = netio::Shutdown::new();
    let stop = shutdown.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let server = torrent::bind_tracker(torrent::TrackerServerConfig {
                http: Some("127.0.0.1:0".parse().unwrap()),
                udp: Some("127.0.0.1:0".parse().unwrap()),
                ..torrent::TrackerServerConfig::default()
            })
            .await
            .unwrap();
            tx.send((server.http_addr().unwrap(), server.udp_addr().unwrap()))
                .unwrap();
            server.run(stop).await.unwrap();
        });
    });
    let (http, udp) = rx.recv_timeout(std::time::Duration::from_secs(10)).unwrap();
    (http, udp, shutdown)
}

/// A GET of `path` on the tracker's HTTP side: the body.
fn http_get(addr: SocketAddr, path: &str) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = Vec::new();
    stream.read_to_end(&mut reply).unwrap();
    let at = reply.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    assert!(
        reply.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    reply[at..].to_vec()
}

fn libtorrent_missing() -> bool {
    let ok = Path::new("/usr/bin/python3").exists()
        && Command::new("/usr/bin/python3")
            .args(["-c", "import libtorrent"])
            .status()
            .is_ok_and(|status| status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "python3-libtorrent is required in CI"
        );
        eprintln!("skipped: python3-libtorrent is not installed");
    }
    !ok
}

#[test]
fn libtorrent_peers_find_each_other_through_our_http_and_udp_tracker() {
    if libtorrent_missing() {
        return;
    }
    let (http, udp, shutdown) = start_tracker();
    let dir = scratch("swarm");
    let data: Vec<u8> = (0..3_000_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    std::fs::create_dir_all(dir.join("seed")).unwrap();
    std::fs::write(dir.join("seed/payload.bin"), &data).unwrap();
    for (round, url) in [format!("http://{http}/announce"), format!("udp://{udp}")]
        .iter()
        .enumerate()
    {
        let bytes = create(
            &dir.join("seed/payload.bin"),
            &CreateOptions {
                trackers: vec![vec![url.clone()]],
                piece_length: Some(64 * 1024),
                // A different torrent per round (the comment is outside the info-hash, the
                // private flag is not).
                private: round == 1,
                ..CreateOptions::default()
            },
        )
        .unwrap();
        let meta = Metainfo::parse(&bytes).unwrap();
        let file = dir.join(format!("round{round}.torrent"));
        std::fs::write(&file, &bytes).unwrap();
        let leech = dir.join(format!("leech{round}"));
        let _ = std::fs::remove_dir_all(&leech);
        std::fs::create_dir_all(&leech).unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/swarm/two_libtorrents.py");
        let out = Command::new("/usr/bin/python3")
            .arg(&script)
            .args([
                file.to_str().unwrap(),
                dir.join("seed").to_str().unwrap(),
                leech.to_str().unwrap(),
                "90",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{url}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            std::fs::read(leech.join("payload.bin")).unwrap(),
            data,
            "{url}"
        );
        // The tracker saw the swarm: its scrape counts the completed download (both sessions
        // said `stopped` as they closed, so no peer is left), and its page lists the torrent.
        let hash: String = meta.info_hash.iter().map(|b| format!("%{b:02X}")).collect();
        let scrape =
            bt_proto::bencode::decode(&http_get(http, &format!("/scrape?info_hash={hash}")))
                .unwrap();
        let entry = scrape
            .get("files")
            .unwrap()
            .as_dict()
            .unwrap()
            .get(&meta.info_hash[..])
            .cloned()
            .unwrap();
        let downloaded = entry.get("downloaded").and_then(bt_proto::Value::as_int);
        let complete = entry.get("complete").and_then(bt_proto::Value::as_int);
        assert_eq!(
            (downloaded, complete),
            (Some(1), Some(0)),
            "{url}: {entry:?}"
        );
        let page = String::from_utf8(http_get(http, "/")).unwrap();
        assert!(page.contains(&meta.info_hash_hex()), "{page}");
    }
    shutdown.trigger();
}

/// Our wire codec against a libtorrent seeder: the handshake, its piece announcement
/// (bitfield or BEP 6 have-all), interested/unchoke, and every block of two pieces, whose
/// SHA-1 matches the torrent.
#[test]
fn our_wire_messages_fetch_pieces_from_libtorrent() {
    use bt_proto::wire::{Bitfield, Handshake, Message, BLOCK};
    use sha1::{Digest, Sha1};
    use std::io::{Read, Write};
    if libtorrent_missing() {
        return;
    }
    let dir = scratch("wire");
    std::fs::create_dir_all(dir.join("seed")).unwrap();
    let data: Vec<u8> = (0..200_000u32)
        .map(|i| (i.wrapping_mul(40_503) >> 7) as u8)
        .collect();
    std::fs::write(dir.join("seed/blocks.bin"), &data).unwrap();
    let bytes = create(
        &dir.join("seed/blocks.bin"),
        &CreateOptions {
            piece_length: Some(64 * 1024),
            ..CreateOptions::default()
        },
    )
    .unwrap();
    let meta = Metainfo::parse(&bytes).unwrap();
    let file = dir.join("blocks.torrent");
    std::fs::write(&file, &bytes).unwrap();
    let (mut seeder, line) = libtorrent_seeder(&file, &dir.join("seed"), 60);
    let port: u16 = line.trim().strip_prefix("port ").unwrap().parse().unwrap();
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    stream
        .write_all(&Handshake::new(meta.info_hash, *b"-AL0000-wiretest0001").encode())
        .unwrap();
    let mut input = Vec::new();
    let mut chunk = [0u8; 65536];
    let mut fill = |stream: &mut std::net::TcpStream, input: &mut Vec<u8>| {
        let n = stream.read(&mut chunk).unwrap();
        assert!(n > 0, "libtorrent closed the connection");
        input.extend_from_slice(&chunk[..n]);
    };
    let theirs = loop {
        if let Some(handshake) = Handshake::decode(&input).unwrap() {
            break handshake;
        }
        fill(&mut stream, &mut input);
    };
    assert_eq!(theirs.info_hash, meta.info_hash);
    input.drain(..bt_proto::wire::HANDSHAKE_LEN);
    let mut next = |stream: &mut std::net::TcpStream, input: &mut Vec<u8>| loop {
        if let Some((message, used)) = Message::decode(input).unwrap() {
            input.drain(..used);
            return message;
        }
        fill(stream, input);
    };
    let pieces = meta.info.pieces.len();
    let mut have = None;
    let mut unchoked = false;
    stream.write_all(&Message::Interested.encode()).unwrap();
    while have.is_none() || !unchoked {
        match next(&mut stream, &mut input) {
            Message::Bitfield(bits) => have = Bitfield::from_bytes(&bits, pieces),
            Message::HaveAll => have = Some(Bitfield::full(pieces)),
            Message::Unchoke => unchoked = true,
            _ => {}
        }
    }
    assert!(have.unwrap().is_full(), "the seeder has everything");
    for index in [0usize, pieces - 1] {
        let size = meta.info.piece_size(index) as u32;
        let mut begin = 0;
        while begin < size {
            let length = BLOCK.min(size - begin);
            let request = Message::Request {
                index: index as u32,
                begin,
                length,
            };
            stream.write_all(&request.encode()).unwrap();
            begin += length;
        }
        let mut piece = vec![0u8; size as usize];
        let mut got = 0;
        while got < size {
            if let Message::Piece {
                index: i,
                begin,
                block,
            } = next(&mut stream, &mut input)
            {
                assert_eq!(i as usize, index);
                piece[begin as usize..begin as usize + block.len()].copy_from_slice(&block);
                got += block.len() as u32;
            }
        }
        let hash: [u8; 20] = Sha1::digest(&piece).into();
        assert_eq!(hash, meta.info.pieces[index], "piece {index}");
    }
    let _ = seeder.kill();
    let _ = seeder.wait();
}

/// Runs our client in its own thread until it finishes (or `shutdown`), collecting its
/// progress events.
fn run_client(
    config: torrent::client::ClientConfig,
    shutdown: netio::Shutdown,
) -> std::thread::JoinHandle<(std::io::Result<()>, Vec<torrent::client::Progress>)> {
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
            let result = torrent::client::run(config, tx, shutdown).await;
            let mut events = Vec::new();
            while let Ok(event) = rx.try_recv() {
                events.push(event);
            }
            (result, events)
        })
    })
}

#[test]
fn our_client_downloads_from_libtorrent_and_seeds_to_it() {
    if libtorrent_missing() {
        return;
    }
    let (http, _udp, tracker_stop) = start_tracker();
    let dir = scratch("client");
    std::fs::create_dir_all(dir.join("theirs/share")).unwrap();
    let a: Vec<u8> = (0..1_500_000u32)
        .map(|i| (i.wrapping_mul(2_246_822_519) >> 9) as u8)
        .collect();
    let b: Vec<u8> = (0..300_001u32)
        .map(|i| (i.wrapping_mul(3_266_489_917) >> 5) as u8)
        .collect();
    std::fs::write(dir.join("theirs/share/a.bin"), &a).unwrap();
    std::fs::write(dir.join("theirs/share/b.bin"), &b).unwrap();
    let bytes = create(
        &dir.join("theirs/share"),
        &CreateOptions {
            trackers: vec![vec![format!("http://{http}/announce")]],
            piece_length: Some(32 * 1024),
            ..CreateOptions::default()
        },
    )
    .unwrap();
    let meta = Metainfo::parse(&bytes).unwrap();
    let file = dir.join("share.torrent");
    std::fs::write(&file, &bytes).unwrap();

    // 1. libtorrent seeds; our client finds it through the tracker and downloads.
    let (mut seeder, line) = libtorrent_seeder(&file, &dir.join("theirs"), 90);
    assert!(line.starts_with("port "), "{line}");
    let ours = dir.join("ours");
    let _ = std::fs::remove_dir_all(&ours);
    let config = torrent::client::ClientConfig {
        meta: meta.clone(),
        dir: ours.clone(),
        listen: "127.0.0.1:0".parse().unwrap(),
        seed: false,
        peers: Vec::new(),
        upload_limit: None,
    };
    let stop = netio::Shutdown::new();
    let watchdog = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs(60));
            stop.trigger();
        })
    };
    let (result, events) = run_client(config, stop.clone()).join().unwrap();
    result.unwrap();
    let _ = seeder.kill();
    let _ = seeder.wait();
    assert!(
        events.contains(&torrent::client::Progress::Complete),
        "{events:?}"
    );
    assert_eq!(std::fs::read(ours.join("share/a.bin")).unwrap(), a);
    assert_eq!(std::fs::read(ours.join("share/b.bin")).unwrap(), b);
    drop(watchdog);

    // 2. A restart finds everything on disk (resume) and, seeding, serves a libtorrent
    //    leecher that finds us through the tracker.
    let seed_stop = netio::Shutdown::new();
    let seeding = run_client(
        torrent::client::ClientConfig {
            meta: meta.clone(),
            dir: ours.clone(),
            listen: "127.0.0.1:0".parse().unwrap(),
            seed: true,
            peers: Vec::new(),
            upload_limit: None,
        },
        seed_stop.clone(),
    );
    let leech_dir = dir.join("leech");
    let _ = std::fs::remove_dir_all(&leech_dir);
    std::fs::create_dir_all(&leech_dir).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/swarm/leech_one.py");
    let out = Command::new("/usr/bin/python3")
        .arg(&script)
        .args([file.to_str().unwrap(), leech_dir.to_str().unwrap(), "60"])
        .output()
        .unwrap();
    seed_stop.trigger();
    let (result, events) = seeding.join().unwrap();
    result.unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        events.first(),
        Some(&torrent::client::Progress::Checked {
            have: meta.info.pieces.len(),
            of: meta.info.pieces.len()
        })
    );
    assert_eq!(std::fs::read(leech_dir.join("share/a.bin")).unwrap(), a);
    assert_eq!(std::fs::read(leech_dir.join("share/b.bin")).unwrap(), b);
    tracker_stop.trigger();
}

fn aria2_args(dir: &Path) -> Vec<String> {
    [
        "--enable-dht=false",
        "--enable-dht6=false",
        "--bt-enable-lpd=false",
        "--enable-peer-exchange=false",
        "--summary-interval=0",
        "--console-log-level=warn",
        "--bt-tracker-connect-timeout=5",
        "--no-conf=true",
    ]
    .iter()
    .map(|arg| arg.to_string())
    .chain(["-d".to_string(), dir.to_str().unwrap().to_string()])
    .collect()
}

#[test]
fn aria2_leeches_from_our_seeder_and_seeds_to_our_leecher() {
    if tool_missing("aria2c") {
        return;
    }
    let (http, _udp, tracker_stop) = start_tracker();
    let dir = scratch("aria2");
    std::fs::create_dir_all(dir.join("seed")).unwrap();
    let data: Vec<u8> = (0..1_000_003u32)
        .map(|i| (i.wrapping_mul(2_654_435_769) >> 13) as u8)
        .collect();
    std::fs::write(dir.join("seed/blob.bin"), &data).unwrap();
    let bytes = create(
        &dir.join("seed/blob.bin"),
        &CreateOptions {
            trackers: vec![vec![format!("http://{http}/announce")]],
            piece_length: Some(16 * 1024),
            ..CreateOptions::default()
        },
    )
    .unwrap();
    let meta = Metainfo::parse(&bytes).unwrap();
    let file = dir.join("blob.torrent");
    std::fs::write(&file, &bytes).unwrap();

    // 1. Our seeder, aria2 leeching (aria2 tries MSE first, which we refuse; it then retries
    //    the plain handshake, sends its allowed-fast set first and later bitfields as updates).
    let stop = netio::Shutdown::new();
    let seeding = run_client(
        torrent::client::ClientConfig {
            meta: meta.clone(),
            dir: dir.join("seed"),
            listen: "127.0.0.1:0".parse().unwrap(),
            seed: true,
            peers: Vec::new(),
            upload_limit: None,
        },
        stop.clone(),
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    let out = Command::new("timeout")
        .arg("60")
        .arg("aria2c")
        .args(aria2_args(&dir.join("theirs")))
        .args(["--seed-time=0", file.to_str().unwrap()])
        .output()
        .unwrap();
    stop.trigger();
    seeding.join().unwrap().0.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(std::fs::read(dir.join("theirs/blob.bin")).unwrap(), data);

    // 2. aria2 seeding what it just got, our client leeching.
    let mut seeder = Command::new("timeout")
        .arg("60")
        .arg("aria2c")
        .args(aria2_args(&dir.join("theirs")))
        .args([
            "--check-integrity=true",
            "--seed-ratio=0.0",
            "--seed-time=1",
            file.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_secs(2));
    let stop = netio::Shutdown::new();
    let watchdog = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_secs(60));
            stop.trigger();
        })
    };
    let ours = dir.join("ours");
    let (result, events) = run_client(
        torrent::client::ClientConfig {
            meta: meta.clone(),
            dir: ours.clone(),
            listen: "127.0.0.1:0".parse().unwrap(),
            seed: false,
            peers: Vec::new(),
            upload_limit: None,
        },
        stop,
    )
    .join()
    .unwrap();
    let _ = seeder.kill();
    let _ = seeder.wait();
    drop(watchdog);
    result.unwrap();
    assert!(
        events.contains(&torrent::client::Progress::Complete),
        "{events:?}"
    );
    assert_eq!(std::fs::read(ours.join("blob.bin")).unwrap(), data);
    tracker_stop.trigger();
}

/// A mixed swarm: a libtorrent seeder, our client and a libtorrent leecher at once, all found
/// through our tracker; both leechers complete (ours keeps seeding meanwhile, so the other
/// leecher may take pieces from either).
#[test]
fn a_mixed_swarm_of_ours_and_libtorrent_completes() {
    if libtorrent_missing() {
        return;
    }
    let (http, _udp, tracker_stop) = start_tracker();
    let dir = scratch("mixed");
    std::fs::create_dir_all(dir.join("seed")).unwrap();
    let data: Vec<u8> = (0..2_000_000u32)
        .map(|i| (i.wrapping_mul(1_103_515_245) >> 11) as u8)
        .collect();
    std::fs::write(dir.join("seed/mixed.bin"), &data).unwrap();
    let bytes = create(
        &dir.join("seed/mixed.bin"),
        &CreateOptions {
            trackers: vec![vec![format!("http://{http}/announce")]],
            piece_length: Some(16 * 1024),
            ..CreateOptions::default()
        },
    )
    .unwrap();
    let meta = Metainfo::parse(&bytes).unwrap();
    let file = dir.join("mixed.torrent");
    std::fs::write(&file, &bytes).unwrap();
    let swarm = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/swarm");
    let (mut seeder, _ready) = libtorrent_seeder(&file, &dir.join("seed"), 90);
    let stop = netio::Shutdown::new();
    let ours = run_client(
        torrent::client::ClientConfig {
            meta: meta.clone(),
            dir: dir.join("ours"),
            listen: "127.0.0.1:0".parse().unwrap(),
            seed: true,
            peers: Vec::new(),
            upload_limit: None,
        },
        stop.clone(),
    );
    let leech_dir = dir.join("theirs");
    std::fs::create_dir_all(&leech_dir).unwrap();
    let out = Command::new("/usr/bin/python3")
        .arg(swarm.join("leech_one.py"))
        .args([file.to_str().unwrap(), leech_dir.to_str().unwrap(), "60"])
        .output()
        .unwrap();
    // Give our client the time to finish too, then stop it.
    for _ in 0..300 {
        if std::fs::read(dir.join("ours/mixed.bin")).is_ok_and(|got| got == data) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    stop.trigger();
    let (result, events) = ours.join().unwrap();
    let _ = seeder.kill();
    let _ = seeder.wait();
    result.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        events.contains(&torrent::client::Progress::Complete),
        "{events:?}"
    );
    assert_eq!(std::fs::read(leech_dir.join("mixed.bin")).unwrap(), data);
    assert_eq!(std::fs::read(dir.join("ours/mixed.bin")).unwrap(), data);
    tracker_stop.trigger();
}

/// BEP 9 both ways: our client gets a magnet link's metadata from a libtorrent seeder and
/// downloads; then, seeding, it hands its metadata to a libtorrent leecher that has only the
/// magnet link.
#[test]
fn magnet_links_both_ways_with_libtorrent() {
    if libtorrent_missing() {
        return;
    }
    let (http, _udp, tracker_stop) = start_tracker();
    let dir = scratch("magnet");
    std::fs::create_dir_all(dir.join("theirs/folder")).unwrap();
    // Many files, so that the metadata takes more than one 16 KiB piece.
    for i in 0..400 {
        let body: Vec<u8> = (0..(1000 + i * 7))
            .map(|j| (j as u32).wrapping_mul(i as u32 + 3) as u8)
            .collect();
        std::fs::write(
            dir.join(format!("theirs/folder/part-{i:04}-with-a-long-name.bin")),
            body,
        )
        .unwrap();
    }
    let tracker = format!("http://{http}/announce");
    let bytes = create(
        &dir.join("theirs/folder"),
        &CreateOptions {
            trackers: vec![vec![tracker.clone()]],
            piece_length: Some(16 * 1024),
            ..CreateOptions::default()
        },
    )
    .unwrap();
    let meta = Metainfo::parse(&bytes).unwrap();
    assert!(meta.info_bytes.len() > 16 * 1024);
    let file = dir.join("folder.torrent");
    std::fs::write(&file, &bytes).unwrap();
    let magnet = bt_proto::magnet::Magnet {
        info_hash: meta.info_hash,
        name: Some("folder".into()),
        trackers: vec![tracker.clone()],
        peers: Vec::new(),
    };
    let swarm = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/swarm");
    let (mut seeder, _ready) = libtorrent_seeder(&file, &dir.join("theirs"), 90);
    std::thread::sleep(std::time::Duration::from_secs(1));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let fetched = runtime
        .block_on(torrent::magnet::fetch_metadata(&magnet, 6881))
        .expect("metadata from libtorrent");
    assert_eq!(fetched.info, meta.info);
    assert_eq!(fetched.info_hash, meta.info_hash);
    let _ = seeder.kill();
    let _ = seeder.wait();
    // Our seeder (from the original files), a libtorrent leecher with the magnet link only.
    let stop = netio::Shutdown::new();
    let seeding = run_client(
        torrent::client::ClientConfig {
            meta: fetched,
            dir: dir.join("theirs"),
            listen: "127.0.0.1:0".parse().unwrap(),
            seed: true,
            peers: Vec::new(),
            upload_limit: None,
        },
        stop.clone(),
    );
    std::thread::sleep(std::time::Duration::from_millis(800));
    let leech_dir = dir.join("leech");
    std::fs::create_dir_all(&leech_dir).unwrap();
    let out = Command::new("/usr/bin/python3")
        .arg(swarm.join("leech_magnet.py"))
        .args([
            magnet.to_string().as_str(),
            leech_dir.to_str().unwrap(),
            "60",
        ])
        .output()
        .unwrap();
    stop.trigger();
    seeding.join().unwrap().0.unwrap();
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let name = "part-0399-with-a-long-name.bin";
    assert_eq!(
        std::fs::read(leech_dir.join("folder").join(name)).unwrap(),
        std::fs::read(dir.join("theirs/folder").join(name)).unwrap()
    );
    tracker_stop.trigger();
}
