"""Two libtorrent sessions on loopback, a seeder and a leecher, that find each other only
through the tracker named in the torrent (no DHT, LSD, UPnP or PEX). Exits 0 once the
leecher has every piece (libtorrent checked each hash), 1 on timeout or a tracker error.

Usage: two_libtorrents.py TORRENT SEED_DIR LEECH_DIR TIMEOUT_SECONDS
"""

import sys
import time

import libtorrent as lt

torrent, seed_dir, leech_dir, timeout = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
settings = {
    "listen_interfaces": "127.0.0.1:0",
    "enable_dht": False,
    "enable_lsd": False,
    "enable_upnp": False,
    "enable_natpmp": False,
    "allow_multiple_connections_per_ip": True,
    "announce_ip": "",
    "alert_mask": lt.alert.category_t.error_notification | lt.alert.category_t.tracker_notification,
}
info = lt.torrent_info(torrent)
seeder = lt.session(settings)
leecher = lt.session(settings)
seed = seeder.add_torrent({"ti": info, "save_path": seed_dir})
leech = leecher.add_torrent({"ti": lt.torrent_info(torrent), "save_path": leech_dir})
started = time.time()
deadline = started + timeout
errors = []
while time.time() < deadline:
    for session in (seeder, leecher):
        for alert in session.pop_alerts():
            if isinstance(alert, (lt.tracker_error_alert,)):
                errors.append(alert.message())
    s = leech.status()
    if s.is_seeding:
        print("complete", s.num_pieces, "pieces from", s.num_peers, "peer(s) in %.1f s" % (time.time() - started), "tracker errors:", errors, flush=True)
        # Tell the tracker (event=completed), then leave.
        leech.force_reannounce()
        time.sleep(1.5)
        # Leave the swarm: pausing sends event=stopped to the tracker.
        seeder.pause()
        leecher.pause()
        time.sleep(1.5)
        sys.exit(0)
    time.sleep(0.2)
print("timeout: leecher", leech.status().progress, "seeder", seed.status().state, "tracker errors:", errors)
sys.exit(1)
