#!/usr/bin/env bash
# Run a command as systemd would, with stderr "connected to the journal" and NOTIFY_SOCKET
# set, in a private mount namespace whose /run holds sockets of our own: every journal
# datagram (native protocol) and sd_notify message is decoded into OUT as JSON lines.
# journald itself needs a booted systemd; the nspawn tests read the real journal.
#
#   tests/support/journal.sh OUT COMMAND...
set -euo pipefail

if [[ "${ECR_LOGIN_IN_MOUNTNS:-}" != 1 ]]; then
    export ECR_LOGIN_IN_MOUNTNS=1
    exec unshare --mount --fork -- "$0" "$@"
fi

out=$1
shift
mount -t tmpfs tmpfs /run
mkdir -p /run/systemd/journal

python3 - "$out" <<'PY' &
import json, os, socket, struct, sys

def fields(data):
    """Decode one datagram of the journal native protocol."""
    result, i = {}, 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if b"=" in line:
            key, value = line.split(b"=", 1)
            i = nl + 1
        else:
            key = line
            (size,) = struct.unpack("<Q", data[nl + 1:nl + 9])
            value = data[nl + 9:nl + 9 + size]
            i = nl + 9 + size + 1
        result[key.decode()] = value.decode("utf-8", "replace")
    return result

socks = {}
for name, path in [("journal", "/run/systemd/journal/socket"), ("notify", "/run/notify")]:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    socks[s] = name
open("/run/ready", "w").close()
with open(sys.argv[1], "a") as out:
    import select
    while True:
        ready, _, _ = select.select(list(socks), [], [])
        for s in ready:
            data = s.recv(1 << 20)
            if data == b"STOP":
                sys.exit(0)
            record = fields(data) if socks[s] == "journal" else {"NOTIFY": data.decode().strip()}
            record["_SOCKET"] = socks[s]
            out.write(json.dumps(record) + "\n")
            out.flush()
PY
receiver=$!
for _ in $(seq 100); do [[ -e /run/ready ]] && break; sleep 0.05; done
[[ -e /run/ready ]] || { echo "journal.sh: receiver did not start" >&2; exit 99; }

export NOTIFY_SOCKET=/run/notify
export JOURNAL_STREAM=$(stat -L -c '%d:%i' /proc/self/fd/2)
status=0
"$@" || status=$?
python3 -c 'import socket; s=socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.sendto(b"STOP", "/run/notify")'
wait $receiver
exit $status
