#!/usr/bin/env python3
# Writes the hand-made part of the fuzz seed corpora under fuzz/corpus/
# from the captured ClientHellos in tests/data/client-hellos: variants of
# them for the parser, inputs in fuzz_cookie_verify's layout, secret files
# and the agent's command lines and config files.
# Run by hand when a layout changes; scripts/fuzz.sh only reads the files.
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "tests", "data", "client-hellos")
CORPUS = os.path.join(HERE, "corpus")
CLIENTS = ["openssl-dtls1_2", "openssl-dtls1_0", "gnutls-dtls1_2",
           "gnutls-dtls1_0"]


def read(name):
    with open(os.path.join(DATA, name), "rb") as f:
        return f.read()


def write(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def be(n, v):
    return v.to_bytes(n, "big")


def fix_lengths(d):
    """Record, message and fragment lengths for a one-record datagram."""
    d = bytearray(d)
    body = len(d) - 25
    d[11:13] = be(2, len(d) - 13)
    d[14:17] = be(3, body)
    d[22:25] = be(3, body)
    return bytes(d)


def cookie_at(d):
    at = 60 + d[59]
    return at, at + 1 + d[at]


def with_cookie(d, cookie):
    at, end = cookie_at(d)
    return fix_lengths(d[:at] + bytes([len(cookie)]) + cookie + d[end:])


def with_session_id(d, sid):
    at, _ = cookie_at(d)
    return fix_lengths(d[:59] + bytes([len(sid)]) + sid + d[at:])


def with_extensions(d, exts):
    """Replaces the extension block (d must parse fully)."""
    at, end = cookie_at(d)
    p = end
    p += 2 + int.from_bytes(d[p:p + 2], "big")  # cipher suites
    p += 1 + d[p]  # compression methods
    block = b"".join(be(2, t) + be(2, len(v)) + v for t, v in exts)
    return fix_lengths(d[:p] + be(2, len(block)) + block)


def client_hello_seeds():
    t = "fuzz_client_hello"
    for c in CLIENTS:
        for which in ("first", "second"):
            write(t, f"{c}.{which}", read(f"{c}.{which}.bin"))
    base = read("openssl-dtls1_2.first.bin")
    versions = bytes([6]) + be(2, 0xfefc) + be(2, 0xfefd) + be(2, 0xfeff)
    write(t, "dtls13-offer", with_extensions(base, [(43, versions), (10, b"\0\2\0\x1d")]))
    write(t, "no-extensions", fix_lengths(
        base[:cookie_at(base)[1]] + b"\0\2\xc0\x2b\1\0"))
    write(t, "session-id-32-cookie-255",
          with_cookie(with_session_id(base, bytes(range(32))), b"\xc5" * 255))
    write(t, "cookie-12", with_cookie(base, bytes(range(12))))
    frag = bytearray(base)
    frag[19:22] = be(3, 100)
    frag[22:25] = be(3, len(base) - 25 - 100)
    write(t, "fragment", bytes(frag))
    epoch1 = bytearray(base)
    epoch1[3:5] = be(2, 1)
    write(t, "epoch-1", bytes(epoch1))
    write(t, "two-records", base + read("gnutls-dtls1_0.first.bin"))
    write(t, "application-data", b"\x17\xfe\xfd\0\1" + bytes(6) + be(2, 8) + bytes(8))
    write(t, "dtls13-unified", b"\x2c\x12\x34" + bytes(20))
    hvr = (b"\x16\xfe\xff\0\0" + be(6, 7) + be(2, 27) + b"\x03" + be(3, 15) +
           be(2, 0) + be(3, 0) + be(3, 15) + b"\xfe\xff\x0c" + bytes(12))
    write(t, "hello-verify-request", hvr)
    write(t, "truncated", base[:60])


HEADER = struct.Struct("<B16sI16sIB16s2sQIIiB")


def header(flags, key=bytes(16), gen=1, prev=bytes(16), prev_gen=0,
           gnutls_key_len=16, addr=bytes(16), port=b"\x12\x34", seq=0,
           read_seq=0, write_seq=0, push=0, raw_len=0):
    return HEADER.pack(flags, key, gen, prev, prev_gen, gnutls_key_len, addr,
                       port, seq, read_seq, write_seq, push, raw_len)


def cookie_verify_seeds():
    t = "fuzz_cookie_verify"
    GNUTLS, TWO, NONE, V6, RAW, NULLPS, V12 = 1, 2, 4, 8, 16, 32, 64
    key = read("cookie-key.bin")
    v4 = bytes([127, 0, 0, 1]) + bytes(12)
    v6 = bytes(15) + b"\1"
    for i, c in enumerate(CLIENTS):
        first = read(f"{c}.first.bin")
        second = read(f"{c}.second.bin")
        cd = read(f"{c}.client-data.bin")
        # GnuTLS mode: the key and client data the capture's cookie was
        # made with, so the second ClientHello verifies.
        write(t, f"gnutls-{c}.second",
              header(GNUTLS | RAW, key=key, raw_len=len(cd), push=44) + cd +
              second)
        write(t, f"gnutls-{c}.first",
              header(GNUTLS | RAW, key=key, raw_len=len(cd), push=-1) + cd +
              first)
        write(t, f"siphash-{c}.first",
              header(0, key=key, gen=7 + i, addr=v4, seq=0x0102030405 * i,
                     write_seq=i, push=39) + first)
    base = read("openssl-dtls1_2.first.bin")
    write(t, "siphash-two-keys-v6",
          header(TWO | V6 | V12, key=key, gen=9, prev=key[::-1], prev_gen=8,
                 addr=v6, push=39) + with_cookie(base, bytes(12)))
    write(t, "siphash-no-keys", header(NONE, addr=v4) + base)
    write(t, "siphash-null-prestate-push-error",
          header(NULLPS, key=key, addr=v4, seq=300, push=-5) + base)
    write(t, "siphash-raw-sockaddr-storage",
          header(RAW, key=key, raw_len=128) + b"\x0a\x00" + bytes(126) + base)
    write(t, "gnutls-empty-key", header(GNUTLS, gnutls_key_len=0) + base)
    write(t, "gnutls-32-byte-key-short",
          header(GNUTLS, key=key, prev=key, gnutls_key_len=32) + base[:59])


def secret_file_seeds():
    t = "fuzz_secret_file"
    write(t, "empty", b"")
    write(t, "15-bytes", bytes(range(15)))
    write(t, "16-bytes", bytes(range(16)))
    write(t, "32-bytes", bytes((7 * i + 3) & 0xff for i in range(32)))
    write(t, "text-with-newline", b"not a very secret passphrase\n")
    write(t, "1024-bytes", bytes((i * 131 + 17) & 0xff for i in range(1024)))


def agent_config_seeds():
    """First line: the arguments; the rest: the config file, if any."""
    t = "fuzz_agent_config"
    seeds = {
        "attach-args": "attach --iface eth0,eth1 --port 4433,5684 --dtls13 "
                       "answer --server-version 1.2 --local-addr 192.0.2.1 "
                       "--mode skb",
        "attach-file": "attach\n"
                       "verbose = true\n"
                       "[attach]\n"
                       "iface = [\"eth0\", \"eth1\"]\n"
                       "port = 4433\n"
                       "mode = \"skb\"\n"
                       "established = \"drop\"\n"
                       "local-addr = [\"192.0.2.1\", \"2001:db8::1\"]\n"
                       "reply-rate = 100\n"
                       "reply-prefix6 = 56\n"
                       "reply-table-size = 1024\n"
                       "key-interval = 30\n"
                       "secret-file = \"/etc/dtls-cookie/secret\"\n",
        "run-file-args-win": "run --rotate-every 120\n"
                             "# the daemon's settings\n"
                             "[run]\n"
                             "iface = \"eth0\"\n"
                             "port = [4433, 5684]\n"
                             "rotate-every = 300\n"
                             "metrics = \"127.0.0.1:9434\"\n"
                             "skip-check = false\n"
                             "pin-dir = \"/sys/fs/bpf/x/../y/\"\n",
        "run-unknown-key": "run\n[run]\niface = \"eth0\"\nport = 4433\n"
                           "prot = 1\n",
        "attach-bad-port": "attach\n[attach]\niface = \"eth0\"\n"
                           "port = 70000\n",
        "rotate-file": "rotate\n[rotate]\nsecret-file = \"/etc/s\"\n"
                       "key-interval = 86400\n",
        "status-ini": "status\n; INI style\n[status]\njson=true\n"
                      "pin-dir=relative/dir\n",
        "stats-args": "stats --watch 0.5 --count 4 --json",
        "stats-count-without-watch": "stats --count 3",
        "detach-args": "detach --iface eth0 --pin-dir /sys/fs/bpf/x/",
        "check-args": "-v check --count 10 --seed 7",
        "help": "attach --help",
        "version": "--version",
        "empty": "",
    }
    for name, text in seeds.items():
        write(t, name, text.encode())


def main():
    client_hello_seeds()
    cookie_verify_seeds()
    secret_file_seeds()
    agent_config_seeds()
    return 0


if __name__ == "__main__":
    sys.exit(main())
