"""A libtorrent seeder on loopback for a wire-protocol test: prints `port N` once its
torrent is checked and seeding, then serves for SECONDS.

Usage: seed_one.py TORRENT SEED_DIR SECONDS
"""

import sys
import time

import libtorrent as lt

torrent, seed_dir, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
session = lt.session({
    "listen_interfaces": "127.0.0.1:0",
    "enable_dht": False,
    "enable_lsd": False,
    "enable_upnp": False,
    "enable_natpmp": False,
})
handle = session.add_torrent({"ti": lt.torrent_info(torrent), "save_path": seed_dir})
deadline = time.time() + seconds
while not handle.status().is_seeding and time.time() < deadline:
    time.sleep(0.05)
print("port", session.listen_port(), flush=True)
while time.time() < deadline:
    time.sleep(0.2)
