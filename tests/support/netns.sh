#!/usr/bin/env bash
# Run a command in a private network and mount namespace where ECR hostnames resolve to a
# real registry (Debian's docker-registry, htpasswd auth, TLS) and AWS_ENDPOINT_URL points at a
# real moto_server. Nothing outside the namespace is touched: /etc/hosts and
# /etc/resolv.conf are bind-mounted over only in here, and no lookup can leave.
#
#   REGISTRY_PASSWORD=... tests/support/netns.sh WORKDIR HOST... -- COMMAND...
#
# The registry accepts user AWS with $REGISTRY_PASSWORD (never on an argv: the tests scan
# every process's argv for it). COMMAND runs with AWS_ENDPOINT_URL set.
set -euo pipefail

if [[ "${ECR_LOGIN_IN_NETNS:-}" != 1 ]]; then
    export ECR_LOGIN_IN_NETNS=1
    exec unshare --net --mount --fork -- "$0" "$@"
fi

work=$1
shift
source "$(dirname "$0")/lib.sh"
hosts=()
while [[ $# -gt 0 && "$1" != -- ]]; do hosts+=("$1"); shift; done
shift

for tool in docker-registry moto_server htpasswd openssl ip; do
    command -v "$tool" >/dev/null || { echo "netns.sh: $tool is not installed (run scripts/test)" >&2; exit 99; }
done

ip link set lo up
mkdir -p "$work"
{ echo "127.0.0.1 localhost"; for h in "${hosts[@]}"; do echo "127.0.0.1 $h"; done; } > "$work/hosts"
echo "nameserver 127.0.0.1" > "$work/resolv.conf"
mount --bind "$work/hosts" /etc/hosts
mount --bind "$work/resolv.conf" /etc/resolv.conf

san=$(printf 'DNS:%s,' "${hosts[@]}")
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=${hosts[0]}" \
    -addext "subjectAltName=${san%,}" -keyout "$work/registry.key" -out "$work/registry.crt" 2>/dev/null
printf '%s' "$REGISTRY_PASSWORD" | htpasswd -Bic "$work/htpasswd" AWS 2>/dev/null
unset REGISTRY_PASSWORD
cat > "$work/registry.yml" <<YAML
version: 0.1
log: {level: warn}
storage:
  filesystem: {rootdirectory: $work/registry-data}
http:
  addr: 127.0.0.1:443
  tls: {certificate: $work/registry.crt, key: $work/registry.key}
auth:
  htpasswd: {realm: ecr-login-test, path: $work/htpasswd}
YAML

docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry=$!
moto_server -H 127.0.0.1 -p 5000 >"$work/moto.log" 2>&1 &
moto=$!
trap 'kill $registry $moto 2>/dev/null; wait 2>/dev/null' EXIT

wait_port 127.0.0.1 443 || exit 99
wait_port 127.0.0.1 5000 || exit 99

export AWS_ENDPOINT_URL=http://127.0.0.1:5000
"$@"
