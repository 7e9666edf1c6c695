#!/usr/bin/env python3
"""A second VBoxSVC client for scripts/suites/svc-e2e.sh, written against the documented protocol
(src/Main/Remote/Protocol.cs: frames of a 4-byte little-endian length and UTF-8 JSON) rather than
with the project's own client code, so it checks the wire format too.

Usage: svc-watch.py SOCKET OUTFILE MACHINE-UUID
Subscribes to the service's events and appends one line per state change of the machine
("STATE Running"), "CONNECTED <service pid>" on each connection and "LOST" when the service goes
away; then waits for the next service (it never starts one itself) until it is killed.
"""
import json
import os
import socket
import struct
import sys
import time

STATES = {
    0: "Null", 1: "PoweredOff", 2: "Saved", 3: "Teleported", 4: "Aborted", 5: "AbortedSaved", 6: "Running",
    7: "Paused", 8: "Stuck", 9: "Teleporting", 10: "LiveSnapshotting", 11: "Starting", 12: "Stopping",
    13: "Saving", 14: "Restoring", 19: "OnlineSnapshotting", 20: "RestoringSnapshot", 21: "DeletingSnapshot",
    22: "SettingUp", 23: "Snapshotting",
}
MACHINE_STATE_CHANGED = 32


def read_exact(s, n):
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            return None
        buf += chunk
    return buf


def recv(s):
    head = read_exact(s, 4)
    if head is None:
        return None
    body = read_exact(s, struct.unpack("<i", head)[0])
    return None if body is None else json.loads(body)


def send(s, obj):
    body = json.dumps(obj).encode()
    s.sendall(struct.pack("<i", len(body)) + body)


def main():
    path, out_path, machine = sys.argv[1], sys.argv[2], sys.argv[3].lower()
    with open(out_path, "a", buffering=1) as out:
        while True:
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(path)
            except OSError:
                s.close()
                time.sleep(0.1)
                continue
            try:
                send(s, {"op": "hello", "proto": 1, "client": "svc-watch", "pid": os.getpid()})
                hello = recv(s)
                if hello is None or hello.get("op") != "hello":
                    raise OSError(f"unexpected greeting {hello}")
                send(s, {"op": "subscribe", "id": 1})
                out.write(f"CONNECTED {hello['pid']}\n")
                while True:
                    m = recv(s)
                    if m is None:
                        break
                    e = m.get("e") if m.get("op") == "event" else None
                    if e and e["Type"] == MACHINE_STATE_CHANGED and e["MachineId"].lower() == machine:
                        out.write(f"STATE {STATES.get(e['State'], e['State'])}\n")
            except OSError:
                pass
            finally:
                s.close()
            out.write("LOST\n")
            time.sleep(0.1)


if __name__ == "__main__":
    main()
