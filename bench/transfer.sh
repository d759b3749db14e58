#!/usr/bin/env bash
# Benchmarks for the foundation (figures, not tests; nothing here fails on timing):
#   1. `basic` wall time, prebuilt release binary, embedded sandbox (10 runs);
#   2. a SIZE_MIB (default 1024) MiB file up and down through a standalone release sandbox, with
#      common's transfer helpers (sos-transfer) and with boto3 TransferConfig(use_threads=False):
#      MiB/s and the client's peak RSS (GNU time's maximum resident set size).
# Usage: bash bench/transfer.sh            SIZE_MIB=256 bash bench/transfer.sh
set -euo pipefail
repo="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
size_mib="${SIZE_MIB:-1024}"
release="$repo/target/release"

cargo build --release --quiet -p sandbox -p basic -p bench
bash scripts/python-env >/dev/null
python="$repo/.venv/bin/python"

work="$(mktemp -d /tmp/sos-bench.XXXXXX)"
sandbox_pid=""
cleanup() { [[ -n "$sandbox_pid" ]] && kill "$sandbox_pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

clean_env=(env -i PATH="$PATH" HOME="$work/home" SOS_SANDBOX_URL=http://127.0.0.1:1
    SOS_SANDBOX_DATA_DIR="$work/basic-data")
mkdir -p "$work/home" "$work/run"

echo "== basic, embedded sandbox, release build (10 runs)"
"${clean_env[@]}" "$release/basic" >/dev/null   # first run seeds the data dir
times=()
for _ in $(seq 10); do
    start=$(date +%s%N)
    (cd "$work/run" && "${clean_env[@]}" "$release/basic" >/dev/null)
    times+=($(( ($(date +%s%N) - start) / 1000000 )))
done
sorted=($(printf '%s\n' "${times[@]}" | sort -n))
echo "basic wall time: min ${sorted[0]} ms, median ${sorted[5]} ms, max ${sorted[9]} ms"

echo "== ${size_mib} MiB through a standalone release sandbox"
"$release/sandbox" --port 0 --data-dir "$work/data" >"$work/sandbox.log" 2>&1 &
sandbox_pid=$!
for _ in $(seq 300); do [[ -s "$work/data/.sandbox.url" ]] && break; sleep 0.02; done
url="$(<"$work/data/.sandbox.url")"
head -c "$((size_mib * 1048576))" /dev/urandom >"$work/big.bin"
want="$(sha256sum <"$work/big.bin" | cut -d' ' -f1)"

measure() { # label command… → prints a table row; verifies nothing itself
    local label="$1"; shift
    local out
    out="$(/usr/bin/time -f '%e %M' -o "$work/time" "$@")"
    read -r secs rss_kib <"$work/time"
    local mibs
    mibs="$(awk -v s="$secs" -v m="$size_mib" 'BEGIN { printf "%.1f", (s > 0 ? m / s : 0) }')"
    printf '%-44s %8s s %9s MiB/s %8s MiB peak RSS   (%s)\n' "$label" "$secs" "$mibs" "$((rss_kib / 1024))" "$out"
}
check() {
    local got
    got="$(sha256sum <"$1" | cut -d' ' -f1)"
    [[ "$got" == "$want" ]] || { echo "MISMATCH: $1 differs from the source" >&2; exit 1; }
    rm -f "$1"
}

ours=(env -i PATH="$PATH" HOME="$work/home" "$release/sos-transfer" --endpoint-url "$url")
measure "sos-transfer upload (multipart, 4 parts in flight)" "${ours[@]}" upload "$work/big.bin" bench/ours.bin
measure "sos-transfer download (4 ranges in flight, temp+rename)" "${ours[@]}" download bench/ours.bin "$work/ours.out"
check "$work/ours.out"
measure "boto3 upload_file use_threads=False" "$python" bench/boto3_transfer.py "$url" upload "$work/big.bin" bench/boto3.bin
measure "boto3 download_file use_threads=False" "$python" bench/boto3_transfer.py "$url" download bench/boto3.bin "$work/boto3.out"
check "$work/boto3.out"
echo "sandbox server peak RSS: $(awk '/VmHWM/ { printf "%d MiB", $2 / 1024 }' "/proc/$sandbox_pid/status")"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo); all downloads verified by sha256"
