#!/usr/bin/env bash
# Interop with real peers: Python `websockets` and Node `ws` as clients of our echo servers
# and as servers for our `client` example; a stand-in Autobahn server for `autobahn_client`;
# headless Chromium (the Debian package, driven by playwright-core) on the `chat` example.
#
#   bash tests/interop/run.sh
#
# Installs its peers itself (a venv and node_modules here, Chromium through apt if missing),
# builds the examples once in release, starts every server on a free port of 127.0.0.1 and
# stops it by its PID. Each check prints `PASS name` or `FAIL name: why`; the last line is
# `N passed, N failed`, and the exit status is non-zero when anything failed.
set -uo pipefail
cd "$(dirname "$0")"
HERE=$(pwd)
ROOT=$(cd ../.. && pwd)
BIN="$ROOT/target/release/examples"
TMP=$(mktemp -d)
PIDS=()
passed=0
failed=0

cleanup() {
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null
  done
  rm -rf "$TMP"
}
trap cleanup EXIT

fail() {
  echo "FAIL $1: $2"
  failed=$((failed + 1))
}

# Runs one checker script (bounded by `timeout`), echoes its lines and counts them. A script
# that exits non-zero without printing a FAIL line counts as one failure.
checks() {
  local name=$1
  shift
  local out rc
  out=$(timeout 300 "$@" 2>"$TMP/stderr")
  rc=$?
  [ -n "$out" ] && echo "$out"
  local p f
  p=$(grep -c '^PASS ' <<<"$out")
  f=$(grep -c '^FAIL ' <<<"$out")
  passed=$((passed + p))
  failed=$((failed + f))
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    fail "$name" "exit status $rc: $(tail -c 600 "$TMP/stderr")"
  fi
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits (at most 10 s) until something accepts connections on 127.0.0.1:$1.
wait_port() {
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  return 1
}

# Starts an example server on a free port; sets PORT and SERVER_PID.
start_server() {
  local example=$1
  PORT=$(free_port)
  "$BIN/$example" "127.0.0.1:$PORT" >"$TMP/$example.log" 2>&1 &
  SERVER_PID=$!
  PIDS+=("$SERVER_PID")
  if ! wait_port "$PORT"; then
    fail "$example starts" "nothing listens on port $PORT: $(tail -c 300 "$TMP/$example.log")"
    return 1
  fi
}

stop_server() {
  kill "$SERVER_PID" 2>/dev/null
  wait "$SERVER_PID" 2>/dev/null
}

start=$(date +%s)
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

echo "==> peers"
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import websockets' 2>/dev/null; then
  python3 -m venv .venv && .venv/bin/pip install -q 'websockets>=14' ||
    fail "install Python websockets" "pip failed"
fi
if [ ! -d node_modules/ws ] || [ ! -d node_modules/playwright-core ]; then
  npm ci --no-audit --no-fund --loglevel=error || fail "install Node ws and playwright-core" "npm ci failed"
fi
if [ ! -x /usr/bin/chromium ]; then
  as_root apt-get update -qq && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null ||
    fail "install Chromium" "apt-get failed"
fi
echo "python websockets $(.venv/bin/python -c 'import websockets; print(websockets.__version__)' 2>/dev/null)," \
  "node ws $(node -p 'require("./node_modules/ws/package.json").version' 2>/dev/null)," \
  "$(/usr/bin/chromium --version 2>/dev/null)"

echo "==> cargo build --release --examples"
if ! (cd "$ROOT" && cargo build --release --examples --quiet); then
  fail "build the examples" "cargo build failed"
  echo "$passed passed, $failed failed"
  exit 1
fi

# Extra Python checks per server: the mio and tokio servers ping after 20 s idle, and the
# mio server also takes 2000 connections at once.
declare -A EXTRA=([echo_server]="" [echo_server_mio]="keepalive many" [echo_server_tokio]="keepalive")
for server in echo_server echo_server_mio echo_server_tokio; do
  echo "==> clients against $server"
  if start_server "$server"; then
    # shellcheck disable=SC2086 # EXTRA holds separate words
    checks "python clients -> $server" .venv/bin/python py_checks.py client "ws://127.0.0.1:$PORT/" "-> $server" ${EXTRA[$server]}
    checks "node clients -> $server" node node_checks.mjs client "ws://127.0.0.1:$PORT/" "-> $server"
    stop_server
  fi
done

echo "==> servers for the client example"
checks "python server <- client" .venv/bin/python py_checks.py server "$BIN/client"
checks "node server <- client" node node_checks.mjs server "$BIN/client"

echo "==> autobahn_client against a stand-in fuzzing server"
checks "autobahn_client" .venv/bin/python fake_autobahn.py "$BIN/autobahn_client"

echo "==> Chromium on the chat example"
if start_server chat; then
  checks "chromium chat" node chromium_chat.mjs "http://127.0.0.1:$PORT/"
  stop_server
fi

echo "(interop took $(($(date +%s) - start)) s)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
