"""A libtorrent leecher on loopback: downloads the torrent into LEECH_DIR from whoever the
tracker names, exits 0 once complete (every piece hash-checked by libtorrent), 1 on timeout.

Usage: leech_one.py TORRENT LEECH_DIR SECONDS
"""

import sys
import time

import libtorrent as lt

torrent, leech_dir, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
session = lt.session({
    "listen_interfaces": "127.0.0.1:0",
    "enable_dht": False,
    "enable_lsd": False,
    "enable_upnp": False,
    "enable_natpmp": False,
    "allow_multiple_connections_per_ip": True,
})
handle = session.add_torrent({"ti": lt.torrent_info(torrent), "save_path": leech_dir})
started = time.time()
while time.time() < started + seconds:
    status = handle.status()
    if status.is_seeding:
        print("complete in %.1f s from %d peer(s)" % (time.time() - started, status.num_peers), flush=True)
        session.pause()
        time.sleep(1)
        sys.exit(0)
    time.sleep(0.2)
print("timeout at", handle.status().progress, flush=True)
sys.exit(1)
