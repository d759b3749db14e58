#!/usr/bin/env bash
# One comparison, repeated (figures, not a test): a SIZE_MIB (256) MiB file uploaded to a
# standalone release sandbox by `uploader` (the whole process, start to exit: multipart, 4 parts
# in flight) and by boto3's upload_file with the seed's TransferConfig(use_threads=False), RUNS (3)
# times each, alternating; prints every time, the medians and uploader's speed-up. Both write the
# same bucket of the same sandbox. Where the time goes: run the sandbox under `perf record -g`
# (PERF=1 writes $work/perf.data and prints the top of `perf report`).
# Usage: bash bench/upload.sh            SIZE_MIB=1024 RUNS=5 bash bench/upload.sh
set -euo pipefail
repo="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
size_mib="${SIZE_MIB:-256}"
runs="${RUNS:-3}"
release="$repo/target/release"

cargo build --release --quiet -p sandbox -p uploader
bash scripts/python-env >/dev/null
python="$repo/.venv/bin/python"

work="$(mktemp -d /tmp/sos-upload-bench.XXXXXX)"
sandbox_pid=""
cleanup() { [[ -n "$sandbox_pid" ]] && kill "$sandbox_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
mkdir -p "$work/home"

serve=("$release/sandbox" --port 0 --data-dir "$work/data")
if [[ "${PERF:-0}" == 1 ]]; then
    serve=(perf record -e cpu-clock -g -o "$work/perf.data" -- "${serve[@]}")
fi
"${serve[@]}" >"$work/sandbox.log" 2>&1 &
sandbox_pid=$!
for _ in $(seq 300); do [[ -s "$work/data/.sandbox.url" ]] && break; sleep 0.02; done
url="$(<"$work/data/.sandbox.url")"
head -c "$((size_mib * 1048576))" /dev/urandom >"$work/big.bin"

seconds() { # command… → elapsed seconds of the whole process
    local start end
    start=$(date +%s%N)
    "$@" >/dev/null
    end=$(date +%s%N)
    awk -v ns="$((end - start))" 'BEGIN { printf "%.2f", ns / 1e9 }'
}
ours=(env -i PATH="$PATH" HOME="$work/home" SOS_SANDBOX_URL="$url" SOS_CACHE_DIR="$work/cache"
    "$release/uploader" "$work/big.bin" --key bench/uploader.bin)
theirs=("$python" bench/boto3_transfer.py "$url" upload "$work/big.bin" bench/boto3.bin)

echo "== ${size_mib} MiB upload, ${runs} runs each, alternating; $(nproc) cores"
uploader_times=()
boto3_times=()
for run in $(seq "$runs"); do
    u="$(seconds "${ours[@]}")"
    b="$(seconds "${theirs[@]}")"
    uploader_times+=("$u")
    boto3_times+=("$b")
    printf 'run %d: uploader %6s s   boto3 use_threads=False %6s s\n' "$run" "$u" "$b"
done
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
mu="$(median "${uploader_times[@]}")"
mb="$(median "${boto3_times[@]}")"
awk -v u="$mu" -v b="$mb" -v m="$size_mib" \
    'BEGIN { printf "median: uploader %.2f s (%.0f MiB/s), boto3 %.2f s (%.0f MiB/s): uploader %.2fx boto3\n", u, m / u, b, m / b, b / u }'
echo "sandbox server peak RSS: $(awk '/VmHWM/ { printf "%d MiB", $2 / 1024 }' "/proc/$sandbox_pid/status" 2>/dev/null || echo "?")"
if [[ "${PERF:-0}" == 1 ]]; then
    kill -INT "$sandbox_pid"; wait "$sandbox_pid" 2>/dev/null || true; sandbox_pid=""
    perf report -i "$work/perf.data" --no-children --sort symbol --stdio 2>/dev/null | grep -v '^#' | grep -v '^$' | head -40
fi
