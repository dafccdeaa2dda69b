#!/usr/bin/env python3
# The systemd side of sd_notify for the agent's shell tests: binds the
# unix datagram socket NOTIFY_SOCKET names ('@' = abstract), touches a
# ready file, and appends each message as one line to a log until
# STOPPING=1 arrives or the time limit passes.
import socket
import sys

path, log, ready, limit = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + path[1:] if path.startswith("@") else path)
s.settimeout(limit)
open(ready, "w").close()
with open(log, "a", buffering=1) as out:
    while True:
        try:
            msg = s.recv(4096).decode()
        except socket.timeout:
            break
        out.write(msg.replace("\n", " ") + "\n")
        if "STOPPING=1" in msg.split("\n"):
            break
