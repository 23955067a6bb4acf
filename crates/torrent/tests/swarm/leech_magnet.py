"""A libtorrent leecher from a magnet link: gets the metadata from peers (BEP 9), then the
files; exits 0 once complete, 1 on timeout.

Usage: leech_magnet.py MAGNET LEECH_DIR SECONDS
"""

import sys
import time

import libtorrent as lt

uri, leech_dir, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
session = lt.session({
    "listen_interfaces": "127.0.0.1:0",
    "enable_dht": False,
    "enable_lsd": False,
    "enable_upnp": False,
    "enable_natpmp": False,
    "allow_multiple_connections_per_ip": True,
})
params = lt.parse_magnet_uri(uri)
params.save_path = leech_dir
handle = session.add_torrent(params)
started = time.time()
while time.time() < started + seconds:
    status = handle.status()
    if status.has_metadata and status.is_seeding:
        print("complete in %.1f s" % (time.time() - started), flush=True)
        session.pause()
        time.sleep(1)
        sys.exit(0)
    time.sleep(0.2)
print("timeout: metadata", handle.status().has_metadata, "progress", handle.status().progress, flush=True)
sys.exit(1)
