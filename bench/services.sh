#!/usr/bin/env bash
# The same AWS SDK for Rust client (sos-service-bench: S3 put and get of 1 KiB objects, a listing
# of 1,000 keys, put into a bucket whose uploads are announced, SQS send and receive+delete, 16 in
# flight) against the sandbox, moto and ministack, one after the other in one run on this
# machine; prints ops/s and the sandbox's ratio to each. Figures, not tests.
#
# ROUNDS (default 3) rounds of the sandbox then ministack, each started afresh, so that a slow
# moment of a shared machine (the same load varies by half from minute to minute on a small
# cloud VM) weighs on both alike; the table shows each one's median, the rounds are listed
# above it. moto, far slower, runs once.
#
# The announced bucket: the sandbox's seeded bucket (S3 event → notifier → SNS → SQS); on
# ministack a bucket wired by `setup` (S3 → SNS → SQS); moto has none.
#
# BASELINE=path/to/an/older/sandbox adds that binary as a column (to compare with an earlier
# build: `git worktree add /tmp/base <commit> && cargo build --release -p sandbox
# --manifest-path /tmp/base/Cargo.toml --target-dir target/base`).
#
# Usage: bash bench/services.sh            OPS=5000 ROUNDS=5 bash bench/services.sh
set -euo pipefail
repo="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
ops="${OPS:-3000}"
rounds="${ROUNDS:-3}"
for setting in "OPS=$ops" "ROUNDS=$rounds"; do
    [[ "${setting#*=}" =~ ^[1-9][0-9]*$ ]] || { echo "bench/services.sh: ${setting%%=*} must be a whole number of 1 or more (got '${setting#*=}')" >&2; exit 2; }
done
release="$repo/target/release"

cargo build --release --quiet -p sandbox -p bench -p setup
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
bench() { # label URL [args…] → one JSON line
    local label="$1" url="$2" out
    shift 2
    out="$("$release/sos-service-bench" --endpoint-url "$url" --ops "$ops" "$@")"
    echo "$label $out" | tee -a "$work/results"
}
sandbox_bench() { # label binary
    local port
    port="$(free_port)"
    rm -rf "${work:?}/$1"
    "$2" --port "$port" --data-dir "$work/$1" >"$work/$1.log" 2>&1 &
    local pid=$!
    pids+=("$pid")
    wait_for "http://127.0.0.1:$port/_sandbox/health"
    bench "$1" "http://127.0.0.1:$port" --notified-bucket snow-observing-systems
    kill "$pid"; wait "$pid" 2>/dev/null || true
}
ministack_bench() {
    local port
    port="$(free_port)"
    rm -rf "$work/ministack"; mkdir -p "$work/ministack"
    (cd "$work/ministack" && GATEWAY_PORT="$port" exec "$venv/bin/ministack") >"$work/ministack.log" 2>&1 &
    local pid=$!
    pids+=("$pid")
    wait_for "http://127.0.0.1:$port/"
    (cd "$work/ministack" && env -i PATH="$PATH" HOME="$work" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test \
        AWS_REGION=us-east-1 "$release/setup" --endpoint-url "http://127.0.0.1:$port" --bucket sos-bench \
        --env-file .env >/dev/null)
    bench ministack "http://127.0.0.1:$port" --notified-bucket sos-bench
    kill "$pid"; wait "$pid" 2>/dev/null || true
}

echo "== $ops operations of each kind, 16 in flight, 1 KiB objects; $(nproc) cores; $rounds rounds"
for round in $(seq "$rounds"); do
    echo "-- round $round"
    sandbox_bench sandbox "$release/sandbox"
    if [[ -n "${BASELINE:-}" ]]; then
        sandbox_bench baseline "$BASELINE"
    fi
    ministack_bench
done

port="$(free_port)"
"$venv/bin/moto_server" -p "$port" >"$work/moto.log" 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$port/"
bench moto "http://127.0.0.1:$port"

python3 - "$work/results" <<'PY'
import json, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    name, data = line.split(" ", 1)
    runs.setdefault(name, []).append(json.loads(data))
rows = {
    name: {op: statistics.median(r[op] for r in results) for op in results[0]}
    for name, results in sorted(runs.items(), key=lambda kv: ["sandbox", "baseline", "moto", "ministack"].index(kv[0]))
}
ops = ["s3_put", "s3_put_notified", "s3_get", "s3_list_1000", "sqs_send", "sqs_receive_delete"]
others = [name for name in ("baseline", "moto", "ministack") if name in rows]
print(f"medians of {len(runs['sandbox'])} rounds (moto: {len(runs.get('moto', []))})")
print(f"{'ops/s':<20}" + "".join(f"{name:>12}" for name in rows) + "".join(f"{'vs ' + n:>14}" for n in others))
for op in ops:
    cells = "".join(f"{rows[name][op]:>12.0f}" if op in rows[name] else f"{'-':>12}" for name in rows)
    ratios = ""
    for other in others:
        mine, theirs = rows["sandbox"].get(op), rows[other].get(op)
        ratios += f"{mine / theirs:>13.1f}x" if mine and theirs else f"{'-':>14}"
    print(f"{op:<20}{cells}{ratios}")
PY
