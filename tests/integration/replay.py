#!/usr/bin/env python3
"""Sends one captured datagram again from its original source address and
port, and prints what comes back within the timeout as JSON: whether a
HelloVerifyRequest came, and its cookie. Run inside the client namespace.

usage: replay.py SRC SPORT DST DPORT HEX_PAYLOAD [TIMEOUT]
"""
import json
import socket
import sys


def main():
    src, sport, dst, dport, payload = sys.argv[1:6]
    timeout = float(sys.argv[6]) if len(sys.argv) > 6 else 2.0
    family = socket.AF_INET6 if ":" in dst else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((src, int(sport)))
        s.settimeout(timeout)
        s.sendto(bytes.fromhex(payload), (dst, int(dport)))
        try:
            reply, _ = s.recvfrom(2048)
        except socket.timeout:
            print(json.dumps({"reply": False}))
            return
    hvr = len(reply) >= 28 and reply[0] == 22 and reply[13] == 3
    cookie = reply[28:28 + reply[27]].hex() if hvr else ""
    print(json.dumps({"reply": True, "hello_verify_request": hvr,
                      "cookie": cookie, "length": len(reply)}))


if __name__ == "__main__":
    main()
