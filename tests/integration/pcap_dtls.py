#!/usr/bin/env python3
"""Summarises the DTLS datagrams in a pcap file written by tcpdump.

Prints one JSON object: counts of HelloVerifyRequests, ClientHellos with
and without a cookie, and other DTLS records, each split by UDP port
direction, plus the source and hex payload of every ClientHello that carries a
cookie (for replay tests). Reads Ethernet (linktype 1) and Linux cooked (113)
captures, IPv4 and IPv6 (no extension headers).
"""
import json
import socket
import struct
import sys


def packets(path):
    with open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack("<I", data[:4])[0]
    if magic in (0xA1B2C3D4, 0xA1B23C4D):
        endian = "<"
    elif magic in (0xD4C3B2A1, 0x4D3CB2A1):
        endian = ">"
    else:
        raise SystemExit(f"{path}: not a pcap file")
    linktype = struct.unpack(endian + "I", data[20:24])[0]
    off = 24
    while off + 16 <= len(data):
        incl = struct.unpack(endian + "I", data[off + 8:off + 12])[0]
        yield linktype, data[off + 16:off + 16 + incl]
        off += 16 + incl


def udp_payload(linktype, frame):
    if linktype == 1:
        off, proto = 14, struct.unpack("!H", frame[12:14])[0]
        while proto in (0x8100, 0x88A8):
            proto = struct.unpack("!H", frame[off + 2:off + 4])[0]
            off += 4
    elif linktype == 113:
        off, proto = 16, struct.unpack("!H", frame[14:16])[0]
    else:
        return None
    if proto == 0x0800:
        ihl = (frame[off] & 0x0F) * 4
        if frame[off + 9] != 17:
            return None
        src, dst = frame[off + 12:off + 16], frame[off + 16:off + 20]
        off += ihl
    elif proto == 0x86DD:
        if frame[off + 6] != 17:
            return None
        src, dst = frame[off + 8:off + 24], frame[off + 24:off + 40]
        off += 40
    else:
        return None
    sport, dport, length = struct.unpack("!HHH", frame[off:off + 6])
    return src, dst, sport, dport, frame[off + 8:off + length]


def classify(p):
    if len(p) < 13:
        return "other"
    if p[0] == 22 and len(p) >= 25:
        if p[13] == 3:
            return "hello_verify_request"
        if p[13] == 1 and len(p) > 60:
            sid = p[59]
            if len(p) > 60 + sid:
                return "client_hello_cookie" if p[60 + sid] else \
                    "client_hello_no_cookie"
    if p[0] == 23:
        return "application_data"
    return "other"


def main():
    if len(sys.argv) != 3:
        raise SystemExit("usage: pcap_dtls.py FILE SERVER_PORT")
    port = int(sys.argv[2])
    out = {"to_server": {}, "from_server": {}, "cookie_hellos": []}
    for linktype, frame in packets(sys.argv[1]):
        parsed = udp_payload(linktype, frame)
        if parsed is None:
            continue
        src, _, sport, dport, payload = parsed
        if port not in (sport, dport):
            continue
        way = "to_server" if dport == port else "from_server"
        kind = classify(payload)
        out[way][kind] = out[way].get(kind, 0) + 1
        if way == "to_server" and kind == "client_hello_cookie":
            out["cookie_hellos"].append({
                "src": socket.inet_ntop(
                    socket.AF_INET if len(src) == 4 else socket.AF_INET6, src),
                "sport": sport,
                "payload": payload.hex()})
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
