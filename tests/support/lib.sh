# Shared by the shell harnesses in tests/support (sourced, not run).

# A free TCP port on loopback.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Wait up to 30 s for HOST:PORT to accept connections; on timeout print the logs in $work.
wait_port() { # HOST PORT
    for _ in $(seq 300); do (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null && return 0; sleep 0.1; done
    cat "${work:-/nonexistent}"/*.log >&2 2>/dev/null || true
    echo "nothing listens on $1:$2" >&2
    return 1
}

# The password moto at URL hands out, asked directly (not through ecr-login).
moto_password() { # URL
    python3 - "$1" <<'PY'
import base64, json, sys, urllib.request
req = urllib.request.Request(sys.argv[1] + "/", data=b"{}", headers={
    "X-Amz-Target": "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken",
    "Content-Type": "application/x-amz-json-1.1",
    "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/ecr/aws4_request, SignedHeaders=host, Signature=0"})
token = json.load(urllib.request.urlopen(req))["authorizationData"][0]["authorizationToken"]
print(base64.b64decode(token).decode().split(":", 1)[1])
PY
}

# A CA of our own (DIR/ca.crt, DIR/ca.key) and a server certificate it signed for every NAME
# (DIR/tls.crt, DIR/tls.key), valid for two days.
make_tls_cert() { # DIR NAME...
    local dir=$1
    shift
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=ecr-login test CA" \
        -keyout "$dir/ca.key" -out "$dir/ca.crt" 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$1" -keyout "$dir/tls.key" -out "$dir/tls.csr" 2>/dev/null
    local names
    names=$(printf 'DNS:%s,' "$@")
    printf 'subjectAltName=%s\n' "${names%,}" >"$dir/san.ext"
    openssl x509 -req -in "$dir/tls.csr" -CA "$dir/ca.crt" -CAkey "$dir/ca.key" -CAcreateserial \
        -days 2 -extfile "$dir/san.ext" -out "$dir/tls.crt" 2>/dev/null
}
