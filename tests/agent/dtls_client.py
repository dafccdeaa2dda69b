#!/usr/bin/env python3
# A DTLS client reduced to the cookie exchange, for the agent's shell
# tests: sends a captured first ClientHello and saves the cookie of the
# HelloVerifyRequest, or sends the ClientHello again with a saved cookie
# and says whether the responder let it through or answered it again.
import argparse
import socket
import sys

SESSION_ID_LEN_OFFSET = 59


def with_cookie(hello: bytes, cookie: bytes) -> bytes:
    """The ClientHello with cookie inserted and its three lengths grown."""
    sid_len = hello[SESSION_ID_LEN_OFFSET]
    off = SESSION_ID_LEN_OFFSET + 1 + sid_len
    if hello[off] != 0:
        sys.exit("the captured ClientHello already carries a cookie")
    out = bytearray(hello[:off] + bytes([len(cookie)]) + cookie + hello[off + 1:])
    grow = len(cookie)
    rec_len = int.from_bytes(out[11:13], "big") + grow
    out[11:13] = rec_len.to_bytes(2, "big")
    for start in (14, 22):  # handshake length, fragment length
        n = int.from_bytes(out[start:start + 3], "big") + grow
        out[start:start + 3] = n.to_bytes(3, "big")
    return bytes(out)


def hello_verify_request_cookie(reply: bytes, hello: bytes) -> bytes:
    if len(reply) < 28 or reply[0] != 22 or reply[13] != 3:
        sys.exit("reply is not a HelloVerifyRequest: " + reply.hex())
    if reply[5:11] != hello[5:11]:
        sys.exit("HelloVerifyRequest does not echo the record sequence number")
    n = reply[27]
    return reply[28:28 + n]


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["hello", "second"])
    p.add_argument("--server", required=True)
    p.add_argument("--port", type=int, default=4433)
    p.add_argument("--bind", required=True, help="local ADDR:PORT")
    p.add_argument("--client-hello", required=True, help="captured first CH")
    p.add_argument("--cookie-file", required=True)
    a = p.parse_args()

    hello = open(a.client_hello, "rb").read()
    host, port = a.bind.rsplit(":", 1)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, int(port)))
    s.connect((a.server, a.port))

    if a.mode == "hello":
        s.settimeout(3)
        s.send(hello)
        try:
            reply = s.recv(2048)
        except socket.timeout:
            print("no HelloVerifyRequest within 3 s", file=sys.stderr)
            return 1
        cookie = hello_verify_request_cookie(reply, hello)
        open(a.cookie_file, "w").write(cookie.hex() + "\n")
        print("cookie " + cookie.hex())
        return 0

    cookie = bytes.fromhex(open(a.cookie_file).read().strip())
    s.settimeout(1)
    s.send(with_cookie(hello, cookie))
    try:
        reply = s.recv(2048)
    except ConnectionRefusedError:
        print("passed (the server's port is closed)")
        return 0
    except socket.timeout:
        print("passed")
        return 0
    hello_verify_request_cookie(reply, hello)
    print("answered")
    return 0


if __name__ == "__main__":
    sys.exit(main())
