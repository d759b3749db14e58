#!/usr/bin/env bash
# Benchmarks of the publish/subscribe pipeline (figures, not tests; nothing here fails on timing),
# all against one standalone release sandbox on loopback:
#   1. upload→downloaded latency, p50/p99 over COUNT (200) small files, subscriber running;
#   2. BURST (1000) × 1 KiB: files per second until all are on disk (subscriber --concurrency 16),
#      then the same against ministack wired by `setup` (S3 → SNS → SQS) when bench/services.sh
#      has installed it into .bench-venv;
#   3. a SIZE_MIB (1024) MiB file through `uploader` then `subscriber`: MiB/s and peak RSS, beside
#      boto3 with the seed's TransferConfig(use_threads=False) and `aws s3 cp`, each way.
# Usage: bash bench/pipeline.sh        SIZE_MIB=256 COUNT=50 BURST=200 bash bench/pipeline.sh
set -euo pipefail
repo="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
size_mib="${SIZE_MIB:-1024}"
release="$repo/target/release"

cargo build --release --quiet -p sandbox -p subscriber -p uploader -p bench -p setup
bash scripts/python-env >/dev/null
venv="$repo/.venv/bin"

work="$(mktemp -d /tmp/sos-pipeline-bench.XXXXXX)"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/home"

"$release/sandbox" --port 0 --data-dir "$work/data" >"$work/sandbox.log" 2>&1 &
pids+=($!)
for _ in $(seq 300); do [[ -s "$work/data/.sandbox.url" ]] && break; sleep 0.02; done
url="$(<"$work/data/.sandbox.url")"
client=(env -i PATH="$PATH" HOME="$work/home" SOS_SANDBOX_URL="$url" SOS_CACHE_DIR="$work/cache")

echo "== latency and throughput: the sandbox (subscriber --concurrency 16)"
"${client[@]}" "$release/subscriber" --download-dir "$work/dl" --concurrency 16 >"$work/subscriber.log" 2>&1 &
sub=$!
pids+=($sub)
"${client[@]}" "$release/sos-pipeline-bench" --endpoint-url "$url" --download-dir "$work/dl" \
    --count "${COUNT:-200}" --burst "${BURST:-1000}"
kill -TERM "$sub"; wait "$sub" || true

if [[ -x "$repo/.bench-venv/bin/ministack" ]]; then
    echo "== the same against ministack, wired by setup (S3 → SNS → SQS)"
    port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    mkdir -p "$work/ministack"
    (cd "$work/ministack" && GATEWAY_PORT="$port" exec "$repo/.bench-venv/bin/ministack") >"$work/ministack.log" 2>&1 &
    pids+=($!)
    for _ in $(seq 600); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.05; done
    ms=(env -i PATH="$PATH" HOME="$work/home" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1)
    (cd "$work/ministack" && "${ms[@]}" "$release/setup" --endpoint-url "http://127.0.0.1:$port" --bucket sos-bench \
        --env-file .env >/dev/null)
    (cd "$work/ministack" && exec "${ms[@]}" "$release/subscriber" --download-dir "$work/dl-ms" --concurrency 16) \
        >"$work/subscriber-ms.log" 2>&1 &
    sub=$!
    pids+=($sub)
    (cd "$work/ministack" && "${ms[@]}" "$release/sos-pipeline-bench" --endpoint-url "http://127.0.0.1:$port" \
        --bucket sos-bench --download-dir "$work/dl-ms" \
        --count "${COUNT:-200}" --burst "${BURST:-1000}")
    kill -TERM "$sub"; wait "$sub" || true
else
    echo "(ministack not installed: run bench/services.sh once to compare the pipeline with it)"
fi

echo "== ${size_mib} MiB through the pipeline"
head -c "$((size_mib * 1048576))" /dev/urandom >"$work/big.bin"
want="$(sha256sum <"$work/big.bin" | cut -d' ' -f1)"
row() { # label seconds rss_kib
    printf '%-52s %8s s %9s MiB/s %7s MiB peak RSS\n' "$1" "$2" \
        "$(awk -v s="$2" -v m="$size_mib" 'BEGIN { printf "%.1f", (s > 0 ? m / s : 0) }')" "$(($3 / 1024))"
}
timed() { # label command… (GNU time: elapsed seconds and max RSS of the command)
    local label="$1"; shift
    /usr/bin/time -f '%e %M' -o "$work/time" "$@" >/dev/null
    read -r secs rss <"$work/time"
    row "$label" "$secs" "$rss"
}
check() {
    [[ "$(sha256sum <"$1" | cut -d' ' -f1)" == "$want" ]] || { echo "MISMATCH: $1" >&2; exit 1; }
    rm -f "$1"
}
timed "uploader (multipart, 4 parts in flight)" "${client[@]}" "$release/uploader" "$work/big.bin" --key bench/big.bin
timed "subscriber --max-messages 1 (4 ranges in flight)" \
    "${client[@]}" "$release/subscriber" --download-dir "$work/dl-big" --max-messages 1
check "$work/dl-big/bench/big.bin"
timed "boto3 upload_file use_threads=False" "$venv/python" bench/boto3_transfer.py "$url" upload "$work/big.bin" bench/boto3.bin
timed "boto3 download_file use_threads=False" "$venv/python" bench/boto3_transfer.py "$url" download bench/boto3.bin "$work/boto3.out"
check "$work/boto3.out"
aws=(env -i PATH="$PATH" HOME="$work/home" AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1
    AWS_CONFIG_FILE="$work/none" AWS_SHARED_CREDENTIALS_FILE="$work/none" "$venv/aws" --endpoint-url "$url")
timed "aws s3 cp (upload)" "${aws[@]}" s3 cp "$work/big.bin" s3://snow-observing-systems/bench/cli.bin
timed "aws s3 cp (download)" "${aws[@]}" s3 cp s3://snow-observing-systems/bench/cli.bin "$work/cli.out"
check "$work/cli.out"
echo "sandbox server peak RSS: $(awk '/VmHWM/ { printf "%d MiB", $2 / 1024 }' "/proc/${pids[0]}/status")"
echo "machine: $(nproc) cores; every download verified by sha256"
