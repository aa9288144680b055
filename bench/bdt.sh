#!/usr/bin/env bash
# Runs the SMART Bulk Data conformance suite bdt (github.com/smart-on-fhir/bdt, Bulk Data
# v2 tests) against a fresh development server, then prints the totals and the failures.
#
# usage: bench/bdt.sh [BDT_SOURCE]
#   BDT_SOURCE  a bdt checkout (directory with package.json) or a bare git mirror of it;
#               default /work/.mirror/smart-on-fhir+bdt/repo. bdt is not on the npm
#               registry (`npm view bdt` is 404), so without a source the script stops.
# environment:
#   BDT_WORK         where bdt is copied, installed and built (default /tmp/bdt-work); its
#                    node_modules are reused on a later run when package-lock.json matches
#   BDT_API_VERSION  Bulk Data version of the tests to run (default 2.0)
#   BDT_SCOPE        scope bdt asks for by default (default system/*.read, bdt's own)
#   BDT_KEEP=1       keep the server's data dir
# Output: bdt's totals and one line per failed/skipped test; bdt's full report (with each
# failure's request/response), results.json and the server log are left in $BDT_WORK.
# Needs: node >= 14 with npm, git (for a mirror), the project venv (.venv/bin/fhir-server).
# Exit status: 0 all passed, 1 some test failed, 2 setup failed.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY="$ROOT/.venv/bin/python"
SOURCE=${1:-/work/.mirror/smart-on-fhir+bdt/repo}
WORK=${BDT_WORK:-/tmp/bdt-work}
API_VERSION=${BDT_API_VERSION:-2.0}
RUN=$(mktemp -d /tmp/bdt-run.XXXXXX)
DATA="$RUN/data"
SERVER_PID="" JWKS_PID=""

log() { echo "bdt.sh: $*" >&2; }
die() { log "$*"; exit 2; }

cleanup() {
    # SIGTERM to the leader only (the server stops its embedded mongod itself); each job
    # runs in its own process group (setsid), killed as a whole if it does not stop.
    for pid in $JWKS_PID $SERVER_PID; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in $JWKS_PID $SERVER_PID; do
        # the server stops its embedded mongod first, which can take a while
        for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -KILL -- "-$pid" 2>/dev/null && log "process group $pid killed" || true
        wait "$pid" 2>/dev/null || true
    done
    if [[ ${BDT_KEEP:-0} == 1 ]]; then log "kept $RUN"; else rm -rf "$RUN"; fi
}
trap cleanup EXIT

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# --- 1. bdt: copy the sources, install, rebuild build/ from src/ -------------------------
mkdir -p "$WORK"
BDT="$WORK/bdt"
if [[ -f "$SOURCE/package.json" ]]; then
    log "bdt from checkout $SOURCE"
    rm -rf "$BDT.new" && mkdir -p "$BDT.new"
    tar -C "$SOURCE" --exclude=./node_modules --exclude=./.git -c . | tar -x -C "$BDT.new"
elif git --git-dir="$SOURCE" rev-parse --verify -q HEAD >/dev/null 2>&1; then
    log "bdt from git $SOURCE at $(git --git-dir="$SOURCE" rev-parse HEAD)"
    rm -rf "$BDT.new" && mkdir -p "$BDT.new"
    git --git-dir="$SOURCE" archive HEAD | tar -x -C "$BDT.new"
elif npm view bdt version >/dev/null 2>&1; then
    log "bdt from the npm registry"
    rm -rf "$BDT.new" && mkdir -p "$BDT.new"
    (cd "$BDT.new" && npm pack bdt --silent | xargs -I{} tar -xzf {} --strip-components=1)
else
    die "no bdt source: pass a bdt checkout or git mirror (bdt is not on the npm registry)"
fi
if [[ -d "$BDT/node_modules" ]] && cmp -s "$BDT/package-lock.json" "$BDT.new/package-lock.json"; then
    mv "$BDT/node_modules" "$BDT.new/node_modules"
fi
rm -rf "$BDT" && mv "$BDT.new" "$BDT"
(
    cd "$BDT"
    if [[ ! -d node_modules ]]; then
        log "npm install"
        npm ci --no-audit --no-fund --loglevel=error >&2 || npm i --no-audit --no-fund --loglevel=error >&2
    fi
    log "npm run build"
    rm -rf build
    npm run build --silent >&2
) || die "bdt install/build failed"

# --- 2. server, backend client keys, JWKS, client registration, Group -------------------
mkdir -p "$DATA" "$RUN/jwks"
PORT=$(free_port)
BASE="http://127.0.0.1:$PORT/fhir"
log "starting fhir-server on $BASE (data $DATA)"
setsid "$ROOT/.venv/bin/fhir-server" serve --dev --port "$PORT" --data-dir "$DATA" \
    >"$RUN/server.log" 2>&1 &
SERVER_PID=$!
for i in $(seq 240); do
    curl -sf -o /dev/null "$BASE/metadata" && break
    kill -0 "$SERVER_PID" 2>/dev/null || { tail -30 "$RUN/server.log" >&2; die "server exited"; }
    [[ $i == 240 ]] && { tail -30 "$RUN/server.log" >&2; die "no /metadata after 120 s"; }
    sleep 0.5
done

# ES384 (P-384) key: the server takes RS384 or ES384 assertions.
"$PY" - "$RUN" <<'EOF'
import json, secrets, sys
from pathlib import Path
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

run = Path(sys.argv[1])
key = ec.generate_private_key(ec.SECP384R1())
numbers = key.private_numbers()
b64 = lambda n: __import__("base64").urlsafe_b64encode(n.to_bytes(48, "big")).rstrip(b"=").decode()
public = {"kty": "EC", "crv": "P-384", "x": b64(numbers.public_numbers.x),
          "y": b64(numbers.public_numbers.y), "kid": secrets.token_hex(16), "alg": "ES384",
          "use": "sig", "key_ops": ["verify"]}
private = {**public, "d": b64(numbers.private_value), "key_ops": ["sign"]}
(run / "jwks" / "jwks.json").write_text(json.dumps({"keys": [public]}))
(run / "private-jwk.json").write_text(json.dumps(private))
(run / "private.pem").write_bytes(key.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
EOF

JWKS_PORT=$(free_port)
JWKS_URL="http://127.0.0.1:$JWKS_PORT/jwks.json"
setsid "$PY" -m http.server --bind 127.0.0.1 --directory "$RUN/jwks" "$JWKS_PORT" \
    >"$RUN/jwks.log" 2>&1 &
JWKS_PID=$!
for i in $(seq 40); do
    curl -sf -o /dev/null "$JWKS_URL" && break
    [[ $i == 40 ]] && die "JWKS server did not start"
    sleep 0.25
done

"$ROOT/.venv/bin/fhir-server" client register --data-dir "$DATA" --client-id bdt \
    --jwks-url "$JWKS_URL" --scope 'system/*.rs' >&2

# The demo data has one Group (loaded by --dev, possibly after /metadata answers).
GROUP_ID=$("$PY" - "$BASE" "$RUN/private.pem" "$(cat "$RUN/private-jwk.json")" <<'EOF'
import json, secrets, sys, time, urllib.parse, urllib.request
import jwt

base, pem, jwk = sys.argv[1], open(sys.argv[2]).read(), json.loads(sys.argv[3])
token_url = base + "/auth/token"
assertion = jwt.encode(
    {"iss": "bdt", "sub": "bdt", "aud": token_url, "exp": int(time.time()) + 240,
     "jti": secrets.token_hex(16)},
    pem, algorithm="ES384", headers={"kid": jwk["kid"], "typ": "JWT"})
form = urllib.parse.urlencode({
    "grant_type": "client_credentials", "scope": "system/Group.rs",
    "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    "client_assertion": assertion}).encode()
token = json.load(urllib.request.urlopen(token_url, form))["access_token"]
for _ in range(60):
    request = urllib.request.Request(base + "/Group?_count=1", headers={
        "Authorization": "Bearer " + token, "Accept": "application/fhir+json"})
    entries = json.load(urllib.request.urlopen(request)).get("entry", [])
    if entries:
        print(entries[0]["resource"]["id"])
        break
    time.sleep(1)
EOF
) || die "could not get a token or search Group (see $RUN/server.log with BDT_KEEP=1)"
[[ -n $GROUP_ID ]] && log "Group/$GROUP_ID" || log "no Group: group-level tests are skipped"

# --- 3. bdt --------------------------------------------------------------------------------
log "running bdt (Bulk Data v$API_VERSION); its full report goes to $WORK/bdt-report.txt"
status=0
BDT_BASE_URL="$BASE" BDT_TOKEN_URL="$BASE/auth/token" BDT_CLIENT_ID=bdt \
BDT_PRIVATE_JWK="$RUN/private-jwk.json" BDT_JWKS_URL="$JWKS_URL" BDT_GROUP_ID="$GROUP_ID" \
    node "$ROOT/bench/bdt-run.js" "$BDT" "$ROOT/bench/bdt-config.js" "$WORK/results.json" \
    "$API_VERSION" >"$WORK/bdt-report.txt" 2>&1 || status=$?
cp "$RUN/server.log" "$WORK/server.log"
if [[ $status -ge 2 ]]; then
    tail -40 "$WORK/bdt-report.txt" >&2
    die "bdt did not run (server log: $WORK/server.log)"
fi
# bdt's own totals, then the per-test summary of bench/bdt-run.js
grep -E '^ *([0-9]+ tests executed|[a-z ]+tests?:|generated warnings|assertions)' "$WORK/bdt-report.txt" || true
sed -n '/^==== bdt summary/,$p' "$WORK/bdt-report.txt"
exit "$status"
