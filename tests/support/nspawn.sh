#!/usr/bin/env bash
# The operator's experience in a real booted systemd: boot Debian bookworm with systemd-nspawn,
# install the .deb, configure it, enable the timer, run the service, read the journal, break
# things and read `systemctl status`, run the template for a build user, remove the package.
#
#   tests/support/nspawn.sh PATH/TO/ecr-login_*.deb
#
# The rootfs is cached in $ECR_LOGIN_ROOTFS (default /var/cache/ecr-login-test/bookworm) and
# built with debootstrap when missing; --volatile=overlay keeps every change in memory. The
# container shares the host's network, so moto_server on the host's loopback serves it.
set -euo pipefail

deb=$(realpath "$1")
source "$(dirname "$0")/lib.sh"
rootfs=${ECR_LOGIN_ROOTFS:-/var/cache/ecr-login-test/bookworm}
mirror=${ECR_LOGIN_MIRROR:-http://deb.debian.org/debian}
started=$(date +%s)
work=$(mktemp -d)
pids=()
cleanup() {
    # Ask the container to power off, then make sure nothing outlives the test.
    [[ -n ${init:-} ]] && nsenter -t "$init" -a systemctl poweroff --no-block >/dev/null 2>&1
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for _ in $(seq 100); do
        alive=0
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [[ $alive == 0 ]] && break
        sleep 0.1
    done
    for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; [[ -s $work/nspawn.log ]] && tail -20 "$work/nspawn.log" >&2; exit 1; }
ok() { echo "ok: $*"; }
for tool in systemd-nspawn debootstrap nsenter moto_server python3; do
    command -v "$tool" >/dev/null || fail "$tool is not installed (run scripts/test)"
done

# ca-certificates: the package depends on it (every call is HTTPS).
if [[ ! -x $rootfs/usr/lib/systemd/systemd || ! -s $rootfs/etc/ssl/certs/ca-certificates.crt ]]; then
    echo "building $rootfs with debootstrap (cached for later runs)"
    rm -rf "$rootfs.tmp" "$rootfs"
    mkdir -p "$(dirname "$rootfs")"
    debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,ca-certificates bookworm "$rootfs.tmp" "$mirror" >"$work/debootstrap.log" 2>&1 ||
        { tail -20 "$work/debootstrap.log" >&2; fail "debootstrap"; }
    mv "$rootfs.tmp" "$rootfs"
fi

# Two moto servers on the host's loopback: one that hands out tokens, one that refuses
# every request (IAM checks on from the first call).
moto=$(free_port)
moto_server -H 127.0.0.1 -p "$moto" >"$work/moto.log" 2>&1 &
pids+=($!)
denying=$(free_port)
INITIAL_NO_AUTH_ACTION_COUNT=0 moto_server -H 127.0.0.1 -p "$denying" >"$work/moto-denying.log" 2>&1 &
pids+=($!)
closed=$(free_port)
wait_port 127.0.0.1 "$moto" || fail "moto did not start"
wait_port 127.0.0.1 "$denying" || fail "moto did not start"

# What moto hands out, asked directly, so the expectation does not come from ecr-login.
password=$(moto_password "http://127.0.0.1:$moto")
token=$(printf 'AWS:%s' "$password" | base64 -w0)
# The checks below get them from the environment: never on an argv, where the argv-scanning
# tests (and anyone on the machine) would see them.
export MOTO_PASSWORD=$password MOTO_TOKEN=$token

systemd-nspawn --register=no --keep-unit --boot --volatile=overlay --quiet -D "$rootfs" \
    --bind-ro="$(dirname "$deb")":/mnt/pkg >"$work/nspawn.log" 2>&1 </dev/null &
nspawn=$!
pids+=($nspawn)
init=""
# The container's init is nspawn's child once that child has become systemd.
for _ in $(seq 200); do
    init=$(pgrep -P "$nspawn" | head -1 || true)
    [[ -n $init && $(cat "/proc/$init/comm" 2>/dev/null) == systemd ]] && break
    init=""
    sleep 0.1
done
[[ -n $init ]] || fail "the container did not start"
# Run a command inside the container.
ct() { nsenter -t "$init" -a "$@"; }
# Until systemd has set up /run/systemd and its bus, systemctl says nothing or "offline";
# then --wait waits for the boot to finish.
state=""
for _ in $(seq 300); do
    state=$(timeout 60 nsenter -t "$init" -a systemctl is-system-running --wait 2>/dev/null || true)
    [[ -n $state && $state != offline ]] && break
    sleep 0.1
done
[[ $state == running || $state == degraded ]] || fail "container systemd is '$state'"
ok "booted Debian bookworm with systemd in $(( $(date +%s) - started ))s ($state)"

# Install: the timer is not enabled by the package; the operator does that.
ct dpkg -i "/mnt/pkg/$(basename "$deb")" >"$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log" >&2; fail "dpkg -i"; }
[[ $(ct systemctl is-enabled ecr-login.timer || true) == disabled ]] || fail "the install enabled the timer"
[[ $(ct systemctl is-active ecr-login.timer || true) == inactive ]] || fail "the install started the timer"
ok "installed $(basename "$deb"); timer disabled and inactive"

units=(ecr-login.service ecr-login.timer ecr-login@.service ecr-login@.timer)
for unit in "${units[@]}"; do [[ -f /proc/$init/root/usr/lib/systemd/system/$unit ]] || fail "$unit is not installed"; done
[[ -f /proc/$init/root/usr/share/man/man1/ecr-login.1.gz ]] || fail "no man page"
verify=$(ct systemd-analyze verify --man=no "${units[@]/#//usr/lib/systemd/system/}" 2>&1 | grep -v '^$' || true)
[[ -z $verify ]] || fail "systemd-analyze verify: $verify"
ok "units installed and pass systemd-analyze verify (no output)"

# Configure as the README says: registries in the conffile, AWS settings in /etc/default.
cat >"/proc/$init/root/etc/ecr-login/config.toml" <<'EOF'
registries = ["111122223333.dkr.ecr.us-east-1.amazonaws.com", "444455556666.dkr.ecr.eu-west-1.amazonaws.com"]
EOF
set_endpoint() {
    printf 'AWS_ENDPOINT_URL=http://127.0.0.1:%s\nAWS_ACCESS_KEY_ID=AKIDEXAMPLE\nAWS_SECRET_ACCESS_KEY=secret\nAWS_EC2_METADATA_DISABLED=true\n' \
        "$1" >"/proc/$init/root/etc/default/ecr-login"
}
set_endpoint "$moto"

ct systemctl enable --now ecr-login.timer >/dev/null 2>&1 || fail "enable --now ecr-login.timer"
timers=$(ct systemctl list-timers --all --no-pager ecr-login.timer)
grep -q 'ecr-login.timer *ecr-login.service' <<<"$timers" || fail "timer not listed: $timers"
grep -qv '^n/a' <<<"$(sed -n 2p <<<"$timers")" || fail "timer not scheduled: $timers"
# Keep it enabled, but stop it so it cannot fire in the middle of the checks below.
ct systemctl stop ecr-login.timer
ok "timer enabled and scheduled: $(sed -n 2p <<<"$timers" | tr -s ' ')"

ct systemctl start ecr-login.service || fail "the first run on a fresh host failed: $(ct systemctl status ecr-login --no-pager)"
python3 - "/proc/$init/root/root/.docker/config.json" <<'PY' || fail "root's config.json"
import base64, json, os, stat, sys
path, password = sys.argv[1], os.environ["MOTO_PASSWORD"]
auths = json.load(open(path))["auths"]
for host in ["111122223333.dkr.ecr.us-east-1.amazonaws.com", "444455556666.dkr.ecr.eu-west-1.amazonaws.com"]:
    assert base64.b64decode(auths[host]["auth"]).decode() == "AWS:" + password, host
assert stat.S_IMODE(os.stat(path).st_mode) == 0o600, oct(os.stat(path).st_mode)
PY
ok "ecr-login.service wrote both registries into /root/.docker/config.json (0600)"

# root's `ecr-login status` by hand reads what the unit recorded in its StateDirectory.
[[ $(stat -c %a "/proc/$init/root/var/lib/ecr-login/state.json") == 600 ]] || fail "state.json is not 0600"
status_json=$(ct ecr-login status --json) && fail "status passed on moto's expired tokens"
python3 - "$status_json" <<'PY' || fail "ecr-login status: $status_json"
import json, sys
lines = [json.loads(l) for l in sys.argv[1].splitlines()]
assert sorted(l["registry"] for l in lines) == ["111122223333.dkr.ecr.us-east-1.amazonaws.com", "444455556666.dkr.ecr.eu-west-1.amazonaws.com"], lines
assert all(l["state"] == "expired" and l["sink"]["file"] == "/root/.docker/config.json" for l in lines), lines
PY
ok "ecr-login status (root, by hand) sees the unit's records in /var/lib/ecr-login"

ct journalctl -u ecr-login -o json --no-pager >"$work/journal.json"
python3 - "$work/journal.json" <<'PY' || fail "journal"
import json, os, sys
path, password, token = sys.argv[1], os.environ["MOTO_PASSWORD"], os.environ["MOTO_TOKEN"]
text = open(path).read()
assert password not in text and token not in text, "the token reached the journal"
records = [json.loads(line) for line in text.splitlines()]
mine = [r for r in records if r.get("SYSLOG_IDENTIFIER") == "ecr-login"]
logins = {r["REGISTRY"]: r for r in mine if "REGISTRY" in r and r["MESSAGE"].startswith("logged in to")}
assert logins["111122223333.dkr.ecr.us-east-1.amazonaws.com"]["REGION"] == "us-east-1", logins
assert logins["444455556666.dkr.ecr.eu-west-1.amazonaws.com"]["REGION"] == "eu-west-1", logins
assert all(r["EXPIRES_AT"] == "2015-01-01T00:00:00Z" for r in logins.values()), logins
assert any(r["MESSAGE"] == "logged in to 2 of 2 registries" for r in mine), [r["MESSAGE"] for r in mine]
PY
ok "journalctl -u ecr-login: REGISTRY=, REGION=, EXPIRES_AT= per registry, no token"

# Denied credentials: 77/NOPERM in systemctl status, and no retry.
set_endpoint "$denying"
ct systemctl start ecr-login.service 2>/dev/null && fail "a denied run succeeded"
status=$(ct systemctl status ecr-login.service --no-pager 2>&1 || true)
# systemd prints the number of a non-systemd exit code; ecr-login's Status: line names it.
grep -q 'Main PID: .*status=77' <<<"$status" || fail "no status=77 in: $status"
grep -q 'Status: ".*exit 77/NOPERM"' <<<"$status" || fail "no 77/NOPERM in: $status"
[[ $(ct systemctl show -p ActiveState --value ecr-login.service) == failed ]] || fail "NOPERM is being retried"
ok "denied credentials: systemctl status shows status=77 and Status: ...exit 77/NOPERM; not retried"

# Unreachable endpoint: 75/TEMPFAIL, and the unit schedules a retry.
ct systemctl reset-failed ecr-login.service
set_endpoint "$closed"
ct systemctl start ecr-login.service 2>/dev/null && fail "an unreachable run succeeded"
status=$(ct systemctl status ecr-login.service --no-pager 2>&1 || true)
grep -q 'Main PID: .*status=75' <<<"$status" || fail "no status=75 in: $status"
grep -q 'Status: ".*exit 75/TEMPFAIL"' <<<"$status" || fail "no 75/TEMPFAIL in: $status"
[[ $(ct systemctl show -p SubState --value ecr-login.service) == auto-restart ]] || fail "TEMPFAIL is not retried: $status"
ct systemctl stop ecr-login.service
ok "unreachable endpoint: status=75 and Status: ...exit 75/TEMPFAIL; the unit waits to retry (auto-restart)"

# The template, for a build user.
set_endpoint "$moto"
ct useradd --create-home builder
ct systemctl start ecr-login@builder.service || fail "ecr-login@builder: $(ct systemctl status ecr-login@builder --no-pager)"
python3 - "/proc/$init/root/home/builder/.docker/config.json" "$(stat -c %u "/proc/$init/root/home/builder")" <<'PY' || fail "builder's config.json"
import base64, json, os, stat, sys
path, password, uid = sys.argv[1], os.environ["MOTO_PASSWORD"], int(sys.argv[2])
st = os.stat(path)
assert st.st_uid == uid, (st.st_uid, uid)
assert stat.S_IMODE(st.st_mode) == 0o600, oct(st.st_mode)
assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
auth = json.load(open(path))["auths"]["111122223333.dkr.ecr.us-east-1.amazonaws.com"]["auth"]
assert base64.b64decode(auth).decode() == "AWS:" + password
PY
ct systemctl enable --now ecr-login@builder.timer >/dev/null 2>&1 || fail "enable ecr-login@builder.timer"
ok "ecr-login@builder.service wrote /home/builder/.docker/config.json, owned by builder, 0600"

# A build user cannot use the template to take over a directory: a ~/.docker planted as a
# symlink to a root-owned directory leaves that directory as it was.
ct useradd --create-home mallory
ct install -d -m 0755 /srv/victim
ct runuser -u mallory -- ln -s /srv/victim /home/mallory/.docker
ct systemctl start ecr-login@mallory.service 2>/dev/null && fail "ecr-login@mallory ran through a planted symlink"
victim=$(stat -c '%u %g %a' "/proc/$init/root/srv/victim")
[[ $victim == "0 0 755" ]] || fail "/srv/victim is now '$victim' (uid gid mode), not '0 0 755'"
[[ -z $(ls -A "/proc/$init/root/srv/victim") ]] || fail "ecr-login@mallory wrote into /srv/victim: $(ls -A "/proc/$init/root/srv/victim")"
ct systemctl reset-failed ecr-login@mallory.service
ok "ecr-login@mallory with ~/.docker -> /srv/victim: refused, /srv/victim still root's, 0755 and empty"

# Removal stops and disables the timers.
ct systemctl start ecr-login.timer
ct dpkg -r ecr-login >"$work/dpkg-r.log" 2>&1 || { cat "$work/dpkg-r.log" >&2; fail "dpkg -r"; }
for unit in ecr-login.timer ecr-login@builder.timer; do
    [[ $(ct systemctl is-active "$unit" || true) != active ]] || fail "$unit still active after removal"
done
# (deb-systemd-helper masks ecr-login.timer on remove and unmasks it on purge, as for any
# Debian package; what must go are the .wants/ links that would start it.)
left=$(find "/proc/$init/root/etc/systemd/system" -path '*.wants/ecr-login*' 2>/dev/null)
[[ -z $left ]] || fail "enablement links left after removal: $left"
ok "dpkg -r stopped and disabled ecr-login.timer and ecr-login@builder.timer"

echo "systemd test passed in $(( $(date +%s) - started ))s"
