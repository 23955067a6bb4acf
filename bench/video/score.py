#!/usr/bin/env python3
"""Scores a dash.js session as our players are scored: the linear QoE of MPC/Pensieve
(sum of chunk bit rates in Mbit/s, minus 4.3 x rebuffering seconds with the startup delay
counted as rebuffering, minus the sum of bit-rate changes), from the segments dash.js loaded (the last one loaded per index counts) and the
page's stall time; bit rates from the MPD. Usage: score.py MPD DASHJS.json"""
import json
import re
import sys
import xml.etree.ElementTree as ET

NS = {"d": "urn:mpeg:dash:schema:mpd:2011"}


def main():
    mpd = ET.parse(sys.argv[1]).getroot()
    rates = {}
    for adaptation in mpd.iter("{urn:mpeg:dash:schema:mpd:2011}AdaptationSet"):
        if adaptation.get("contentType") != "video":
            continue
        for rep in adaptation.findall("d:Representation", NS):
            rates[rep.get("id")] = int(rep.get("bandwidth")) / 1e6
    page = json.load(open(sys.argv[2]))
    chosen = {}
    for url in page["segments"]:
        match = re.search(r"chunk-([^-/]+)-(\d+)\.m4s", url)
        if match and match.group(1) in rates:
            chosen[int(match.group(2))] = rates[match.group(1)]
    bitrates = [chosen[k] for k in sorted(chosen)]
    # Startup counts as rebuffering, as in our players' score (Pensieve's convention); the
    # page's clock starts before the MPD is fetched, so dash.js pays for that round trip too.
    startup = (page.get("startup_ms") or 0) / 1000.0
    rebuffer = (page.get("stall_ms") or 0) / 1000.0 + startup
    switches = sum(1 for a, b in zip(bitrates, bitrates[1:]) if a != b)
    smooth = sum(abs(a - b) for a, b in zip(bitrates, bitrates[1:]))
    qoe = sum(bitrates) - 4.3 * rebuffer - smooth
    print(json.dumps({
        "chunks": len(bitrates),
        "average_bitrate_mbps": sum(bitrates) / max(1, len(bitrates)),
        "startup_delay": startup,
        "rebuffer_seconds": rebuffer,
        "switches": switches,
        "qoe": qoe,
        "qoe_per_chunk": qoe / max(1, len(bitrates)),
        "finished": page.get("ended", False),
    }))


main()
