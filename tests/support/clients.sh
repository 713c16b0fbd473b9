#!/usr/bin/env bash
# Do real clients accept what ecr-login writes? Inside a private network and mount namespace,
# two ECR hostnames resolve to non-loopback addresses (so docker checks certificates, as it
# does for any remote registry) served by Debian's docker-registry over TLS with a CA made
# here, with htpasswd auth for user AWS and the password moto hands out. docker, skopeo and
# podman trust the CA the way each documents (/etc/docker/certs.d, /etc/containers/certs.d).
# /etc is an overlay and /run a tmpfs inside the namespace, and podman's storage and auth
# file live in the work directory: the machine's own files stay untouched.
#
#   tests/support/clients.sh ECR_LOGIN_BINARY
set -euo pipefail

if [[ "${ECR_LOGIN_IN_NETNS:-}" != 1 ]]; then
    export ECR_LOGIN_IN_NETNS=1
    exec unshare --net --mount --fork -- "$0" "$@"
fi

bin=$(realpath "$1")
source "$(dirname "$0")/lib.sh"
started=$(date +%s)
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [[ -n ${GNUPGHOME:-} ]] && gpgconf --kill gpg-agent 2>/dev/null || true
    umount /etc /var/lib 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
for tool in docker skopeo podman docker-registry moto_server htpasswd openssl ip python3 gpg pass docker-credential-pass; do
    command -v "$tool" >/dev/null || fail "$tool is not installed (run scripts/test)"
done

# podman keeps images and state under /var/lib/containers and /run by default: not here.
printf '[storage]\ndriver = "vfs"\ngraphroot = "%s/storage"\nrunroot = "%s/storage-run"\n' "$work" "$work" >"$work/storage.conf"
export CONTAINERS_STORAGE_CONF=$work/storage.conf

host1=111122223333.dkr.ecr.us-east-1.amazonaws.com
host2=444455556666.dkr.ecr.eu-west-1.amazonaws.com
image=team/app:1.0

ip link set lo up
ip addr add 10.200.0.1/32 dev lo
ip addr add 10.200.0.2/32 dev lo
# Overlays: writes to /etc (hosts, CA trust) and /var/lib (skopeo's blob-info cache in
# /var/lib/containers) land in the work directory.
for dir in /etc /var/lib; do
    name=${dir//\//_}
    mkdir -p "$work/upper$name" "$work/work$name"
    mount -t overlay overlay -o "lowerdir=$dir,upperdir=$work/upper$name,workdir=$work/work$name" "$dir"
done
mount -t tmpfs tmpfs /run
rm -f /etc/hosts /etc/resolv.conf
printf '127.0.0.1 localhost\n10.200.0.1 %s\n10.200.0.2 %s\n' "$host1" "$host2" >/etc/hosts
# No resolver answers in here: a lookup of anything else fails at once and never leaves.
echo "nameserver 127.0.0.1" >/etc/resolv.conf

# A CA of our own and a server certificate for both names.
make_tls_cert "$work" "$host1" "$host2"
for host in "$host1" "$host2"; do
    mkdir -p "/etc/docker/certs.d/$host" "/etc/containers/certs.d/$host"
    cp "$work/ca.crt" "/etc/docker/certs.d/$host/ca.crt"
    cp "$work/ca.crt" "/etc/containers/certs.d/$host/ca.crt"
done

moto_server -H 127.0.0.1 -p 5000 >"$work/moto.log" 2>&1 &
pids+=($!)
wait_port 127.0.0.1 5000 || fail "moto did not start"
password=$(moto_password http://127.0.0.1:5000)

start_registry() { # PASSWORD
    [[ -n ${registry:-} ]] && { kill "$registry"; wait "$registry" 2>/dev/null || true; }
    printf '%s' "$1" | htpasswd -Bic "$work/htpasswd" AWS 2>/dev/null
    cat >"$work/registry.yml" <<YAML
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $work/registry-data}
http:
  addr: :443
  tls: {certificate: $work/tls.crt, key: $work/tls.key}
auth:
  htpasswd: {realm: ecr-login-test, path: $work/htpasswd}
YAML
    # The registry reads REGISTRY_* variables as settings: REGISTRY_AUTH_FILE is podman's.
    env -u REGISTRY_AUTH_FILE docker-registry serve "$work/registry.yml" >>"$work/registry.log" 2>&1 &
    registry=$!
    pids+=($registry)
    wait_port 10.200.0.1 443 || fail "the registry did not start"
}
start_registry "$password"

# One small image, pushed once into both registries with the admin credentials.
python3 - "$work/oci" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
root = sys.argv[1]
blobs = os.path.join(root, "blobs", "sha256")
os.makedirs(blobs)
def blob(data):
    digest = hashlib.sha256(data).hexdigest()
    open(os.path.join(blobs, digest), "wb").write(data)
    return {"digest": "sha256:" + digest, "size": len(data)}
tar = io.BytesIO()
with tarfile.open(fileobj=tar, mode="w") as t:
    info = tarfile.TarInfo("hello.txt")
    payload = b"logged in by ecr-login\n"
    info.size = len(payload)
    t.addfile(info, io.BytesIO(payload))
layer_tar = tar.getvalue()
layer = blob(gzip.compress(layer_tar, mtime=0))
config = blob(json.dumps({"architecture": "amd64", "os": "linux",
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer_tar).hexdigest()]}}).encode())
manifest = blob(json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": dict(config, mediaType="application/vnd.oci.image.config.v1+json"),
    "layers": [dict(layer, mediaType="application/vnd.oci.image.layer.v1.tar+gzip")]}).encode())
json.dump({"schemaVersion": 2, "manifests": [dict(manifest, mediaType="application/vnd.oci.image.manifest.v1+json",
    annotations={"org.opencontainers.image.ref.name": "1.0"})]}, open(os.path.join(root, "index.json"), "w"))
json.dump({"imageLayoutVersion": "1.0.0"}, open(os.path.join(root, "oci-layout"), "w"))
PY
# An auth file, not --dest-creds: the password never goes on an argv.
printf '{"auths": {"%s": {"auth": "%s"}, "%s": {"auth": "%s"}}}' \
    "$host1" "$(printf 'AWS:%s' "$password" | base64 -w0)" "$host2" "$(printf 'AWS:%s' "$password" | base64 -w0)" \
    >"$work/admin-creds"
for host in "$host1" "$host2"; do
    skopeo copy --quiet --dest-authfile "$work/admin-creds" "oci:$work/oci:1.0" "docker://$host/$image" \
        >"$work/push.log" 2>&1 || { cat "$work/push.log" >&2; fail "pushing the test image to $host"; }
done
rm -f "$work/admin-creds"
ok "registry with TLS (own CA) and htpasswd on $host1 (10.200.0.1) and $host2 (10.200.0.2); image pushed"

# A fresh client home per scenario: HOME, DOCKER_CONFIG, XDG_RUNTIME_DIR (podman's auth.json).
fresh_home() {
    home=$(mktemp -d -p "$work")
    mkdir -p "$home/run" "$home/bin"
    chmod 700 "$home/run"
    # podman (as root) writes /run/containers/0/auth.json unless told otherwise.
    export HOME=$home DOCKER_CONFIG=$home/.docker XDG_RUNTIME_DIR=$home/run REGISTRY_AUTH_FILE=$home/run/auth.json
}
# PATH for ecr-login: nothing, so docker's default credential store (pass) is not detected
# unless a scenario asks for it; the clients themselves keep the real PATH.
ecr_login() {
    env -i PATH="$home/bin" HOME="$HOME" DOCKER_CONFIG="$DOCKER_CONFIG" XDG_RUNTIME_DIR="$XDG_RUNTIME_DIR" \
        STATE_DIRECTORY="$home/state" \
        REGISTRY_AUTH_FILE="$REGISTRY_AUTH_FILE" CONTAINERS_STORAGE_CONF="$CONTAINERS_STORAGE_CONF" \
        AWS_ENDPOINT_URL=http://127.0.0.1:5000 AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=secret \
        AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
        "$bin" -qq "$@"
}
# Clients also run without pass on PATH, so docker does not pick it as its default store.
clients_path=$(echo "$PATH" | tr ':' '\n' | grep -v '^/usr/bin$' | paste -sd:)
mkdir -p "$work/clientbin"
for tool in docker skopeo podman; do ln -sf "$(command -v "$tool")" "$work/clientbin/$tool"; done
client() { PATH="$work/clientbin:$clients_path" "$@"; }

skopeo_inspect() { client skopeo inspect --no-tags "docker://$1/$image" 2>&1; }

# 1. The config method; docker, skopeo and podman read what it wrote.
fresh_home
ecr_login "$host1" || fail "ecr-login --method config"
out=$(skopeo_inspect "$host1") || fail "skopeo after the config method: $out"
digest=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["Digest"])' <<<"$out")
ok "config method: skopeo inspect docker://$host1/$image -> $digest"
out=$(client docker manifest inspect "$host1/$image" 2>&1) || fail "docker manifest inspect: $out"
grep -q '"schemaVersion": 2' <<<"$out" || fail "docker manifest inspect printed: $out"
ok "config method: docker manifest inspect $host1/$image -> schemaVersion 2 manifest"
# The certificate checks are real: without the CA, both clients refuse the registry.
mv "/etc/docker/certs.d/$host1/ca.crt" "$work/ca.docker" && mv "/etc/containers/certs.d/$host1/ca.crt" "$work/ca.containers"
out=$(client docker manifest inspect "$host1/$image" 2>&1) && fail "docker accepted an unknown CA"
grep -q 'certificate signed by unknown authority' <<<"$out" || fail "docker without the CA: $out"
out=$(skopeo_inspect "$host1") && fail "skopeo accepted an unknown CA"
grep -q 'certificate signed by unknown authority' <<<"$out" || fail "skopeo without the CA: $out"
mv "$work/ca.docker" "/etc/docker/certs.d/$host1/ca.crt" && mv "$work/ca.containers" "/etc/containers/certs.d/$host1/ca.crt"
ok "without the test CA, docker and skopeo refuse the registry (certificate signed by unknown authority)"
out=$(client env -u REGISTRY_AUTH_FILE podman login --get-login "$host1" 2>&1) || fail "podman login --get-login: $out"
[[ $out == AWS ]] || fail "podman login --get-login printed: $out"
ok "config method: podman login --get-login $host1 -> $out"
# podman reads auth.json first, then the docker config: no auth.json here, so the latter.
out=$(client env -u REGISTRY_AUTH_FILE podman pull --quiet "$host1/$image" 2>&1) || fail "podman pull: $out"
ok "config method: podman pull $host1/$image -> ${out:0:12}"
python3 - "$DOCKER_CONFIG/config.json" "$host1" <<'PY'
import json, sys
path, host = sys.argv[1:3]
config = json.load(open(path))
del config["auths"][host]
json.dump(config, open(path, "w"))
PY
out=$(skopeo_inspect "$host1") && fail "skopeo succeeded without credentials"
refused=$(grep -oiE 'unauthorized|authentication required' <<<"$out" | head -1) || fail "skopeo without credentials: $out"
out=$(client docker manifest inspect "$host1/$image" 2>&1) && fail "docker succeeded without credentials"
grep -qiE 'unauthorized|no basic auth|authentication required' <<<"$out" || fail "docker without credentials: $out"
ok "without the entry: skopeo and docker are refused (skopeo: \"$refused\"; docker: \"$(tail -1 <<<"$out")\")"

# 2. The docker method: the real docker CLI logs in and stores; skopeo reads it. Then podman.
fresh_home
ecr_login --method docker --docker-bin "$(command -v docker)" "$host1" || fail "ecr-login --method docker"
out=$(skopeo_inspect "$host1") || fail "skopeo after the docker method: $out"
ok "docker method: docker login stored the credentials; skopeo inspect succeeds"
fresh_home
ecr_login --method docker --docker-bin "$(command -v podman)" "$host1" || fail "ecr-login --docker-bin podman"
[[ -f $REGISTRY_AUTH_FILE ]] || fail "podman wrote no $REGISTRY_AUTH_FILE"
out=$(skopeo_inspect "$host1") || fail "skopeo after podman login: $out"
ok "docker method with --docker-bin podman: podman stored \$REGISTRY_AUTH_FILE; skopeo inspect succeeds"

# 3. A credential store: pass with a throwaway key; docker reads from it; auths stays empty.
fresh_home
export GNUPGHOME=$home/g PASSWORD_STORE_DIR=$home/pass
mkdir -m 700 "$GNUPGHOME"
gpg --batch --passphrase '' --quick-gen-key 'ecr-login test <test@ecr-login.invalid>' default default never 2>/dev/null
pass init test@ecr-login.invalid >/dev/null
mkdir -p "$DOCKER_CONFIG"
echo '{"credsStore": "pass"}' >"$DOCKER_CONFIG/config.json"
# pass is a shell script that needs the usual tools; give it the real PATH for these runs.
ecr_login_with_pass() {
    env PATH="$PATH" GNUPGHOME="$GNUPGHOME" PASSWORD_STORE_DIR="$PASSWORD_STORE_DIR" HOME="$HOME" DOCKER_CONFIG="$DOCKER_CONFIG" \
        STATE_DIRECTORY="$home/state" \
        AWS_ENDPOINT_URL=http://127.0.0.1:5000 AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=secret \
        AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null \
        "$bin" -q "$@"
}
ecr_login_with_pass "$host1" || fail "ecr-login into the pass store"
grep -q "$host1" "$DOCKER_CONFIG/config.json" && fail "auths got an entry for a host stored in pass"
out=$(PATH="$PATH" docker manifest inspect "$host1/$image" 2>&1) || fail "docker reading from pass: $out"
ok "credsStore pass: stored through docker-credential-pass; docker manifest inspect succeeds; config.json unchanged"

# 3b. The same machine (pass installed and initialised, so it is docker's default store), but
# config.json already holds credentials of its own and names no store: docker then ignores
# its default store (ContainsAuth) and reads auths, so that is where they must go.
fresh_home
mkdir -p "$DOCKER_CONFIG"
echo '{"auths": {"registry.example.com": {"auth": "dXNlcjpwYXNz"}}}' >"$DOCKER_CONFIG/config.json"
ecr_login_with_pass "$host1" || fail "ecr-login with pass installed and existing auths"
grep -q "\"$host1\"" "$DOCKER_CONFIG/config.json" || fail "no auths entry for $host1: $(cat "$DOCKER_CONFIG/config.json")"
out=$(PATH="$PATH" docker manifest inspect "$host1/$image" 2>&1) || fail "docker with pass installed and existing auths: $out"
ok "default store pass installed, config.json with auths of its own: written to auths, where docker reads it; docker manifest inspect succeeds"
gpgconf --kill gpg-agent 2>/dev/null || true
unset GNUPGHOME PASSWORD_STORE_DIR

# 4. A wrong password at the registry: the docker method is refused (77); the config method
# writes anyway, because it never contacts the registry.
start_registry "not-the-token"
fresh_home
code=0
ecr_login --method docker --docker-bin "$(command -v docker)" "$host1" 2>"$work/err" || code=$?
[[ $code == 77 ]] || fail "docker method against a wrong password exited $code: $(cat "$work/err")"
fresh_home
ecr_login "$host1" || fail "config method against a wrong password"
out=$(skopeo_inspect "$host1") && fail "skopeo accepted a wrong password"
ok "wrong registry password: docker method exits 77; config method exits 0 and skopeo is refused"
start_registry "$password"

# 5. Two accounts in two regions in one run, both usable by skopeo.
fresh_home
ecr_login "$host1" "$host2" || fail "two registries"
for host in "$host1" "$host2"; do
    out=$(skopeo_inspect "$host") || fail "skopeo $host: $out"
done
ok "two accounts in two regions in one run: skopeo inspect succeeds on both"

echo "clients test passed in $(( $(date +%s) - started ))s"
