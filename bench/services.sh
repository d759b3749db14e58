#!/usr/bin/env bash
# The same AWS SDK for Rust client (sos-service-bench: S3 put and get of 1 KiB objects, SQS send
# and receive+delete, 16 in flight) against the sandbox, moto and ministack, one after the other
# in one run on this machine; prints ops/s and the sandbox's ratio to each. Figures, not tests.
# Usage: bash bench/services.sh            OPS=5000 bash bench/services.sh
set -euo pipefail
repo="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
ops="${OPS:-3000}"
release="$repo/target/release"

cargo build --release --quiet -p sandbox -p bench
venv="$repo/.bench-venv"
if [[ ! -x "$venv/bin/moto_server" || ! -x "$venv/bin/ministack" ]]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet -r bench/requirements.txt
fi

work="$(mktemp -d /tmp/sos-services-bench.XXXXXX)"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_for() { # URL → waits until something answers HTTP there
    for _ in $(seq 600); do curl -s -o /dev/null "$1" && return 0; sleep 0.05; done
    echo "nothing answered at $1" >&2; return 1
}
bench() { # label URL → one JSON line
    local out
    out="$("$release/sos-service-bench" --endpoint-url "$2" --ops "$ops")"
    echo "$1 $out" | tee -a "$work/results"
}

echo "== $ops operations of each kind, 16 in flight, 1 KiB objects; $(nproc) cores"
port="$(free_port)"
"$release/sandbox" --port "$port" --data-dir "$work/sandbox" --no-seed >"$work/sandbox.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$port/_sandbox/health"
bench sandbox "http://127.0.0.1:$port"

port="$(free_port)"
"$venv/bin/moto_server" -p "$port" >"$work/moto.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$port/"
bench moto "http://127.0.0.1:$port"

port="$(free_port)"
(cd "$work" && GATEWAY_PORT="$port" exec "$venv/bin/ministack") >"$work/ministack.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$port/"
bench ministack "http://127.0.0.1:$port"

python3 - "$work/results" <<'PY'
import json, sys
rows = {}
for line in open(sys.argv[1]):
    name, data = line.split(" ", 1)
    rows[name] = json.loads(data)
ops = ["s3_put", "s3_get", "sqs_send", "sqs_receive_delete"]
print(f"{'ops/s':<20}" + "".join(f"{name:>12}" for name in rows) + f"{'vs moto':>10}{'vs ministack':>14}")
for op in ops:
    cells = "".join(f"{rows[name][op]:>12.0f}" for name in rows)
    sandbox = rows["sandbox"][op]
    print(f"{op:<20}{cells}{sandbox / rows['moto'][op]:>9.1f}x{sandbox / rows['ministack'][op]:>13.1f}x")
PY
