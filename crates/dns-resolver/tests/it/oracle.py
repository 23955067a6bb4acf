#!/usr/bin/python3
"""Decoding oracle: parse a DNS message (hex in argv[1]) with dnspython, print a JSON summary.

Exit status 1 with the error on stderr when dnspython rejects the message.
"""
import json
import sys

import dns.flags
import dns.message
import dns.opcode
import dns.rcode

wire = bytes.fromhex(sys.argv[1])
try:
    msg = dns.message.from_wire(wire, ignore_trailing=False)
except Exception as error:  # noqa: BLE001 - any rejection is the answer
    print(f"{type(error).__name__}: {error}", file=sys.stderr)
    sys.exit(1)


def rrsets(section):
    out = []
    for rrset in section:
        for rdata in rrset:
            out.append({
                "name": rrset.name.to_text(),
                "ttl": rrset.ttl,
                "class": dns.rdataclass.to_text(rrset.rdclass),
                "type": dns.rdatatype.to_text(rrset.rdtype),
                "rdata": rdata.to_text(),
            })
    return out


print(json.dumps({
    "id": msg.id,
    "opcode": dns.opcode.to_text(msg.opcode()),
    "rcode": dns.rcode.to_text(msg.rcode()),
    "flags": dns.flags.to_text(msg.flags).split(),
    "edns": msg.edns,
    "payload": msg.payload if msg.edns >= 0 else None,
    "question": [{"name": q.name.to_text(), "type": dns.rdatatype.to_text(q.rdtype),
                  "class": dns.rdataclass.to_text(q.rdclass)} for q in msg.question],
    "answer": rrsets(msg.answer),
    "authority": rrsets(msg.authority),
    "additional": rrsets(msg.additional),
}))
