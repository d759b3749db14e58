"""Interop test: boto3 and the aws CLI drive a running SOS sandbox through the original's S3 calls.

Usage: s3_boto3.py SANDBOX_URL DATA_DIR

SANDBOX_URL is the sandbox's endpoint (for example http://127.0.0.1:4566); DATA_DIR is the
repository's data/ folder, whose files the sandbox was seeded with. Run it with the Python of
.venv (made by scripts/python-env), whose bin/ also holds the `aws` command. Each check prints
`ok` or `FAIL`; the last line is `N passed, M failed`, and the exit status is 1 if any failed.
Objects it writes go under a fresh `interop-<uuid>/` prefix, so runs never collide.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import checks
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError
from checks import ACCESS_KEY, BUCKET, REGION, SECRET_KEY

SEED_KEY = "Optimization_result.geojson"
SEED_PREFIX = "Missouri Open Loop sample output/"
SEED_PREFIX_FILES = ["README.txt", "SWE 2024-03-01.geojson", "basin_mean_swe.csv"]
MIB = 1024 * 1024

_url, _data = checks.arguments(__doc__, 2)
URL = _url.rstrip("/")
DATA = Path(_data)
RUN = f"interop-{uuid.uuid4()}/"  # every key this run writes starts with this
WORK = Path(tempfile.mkdtemp(prefix="sos-interop-"))


def client(secret=SECRET_KEY):
    # One attempt per call: a retry would hide a server error that the test is there to catch.
    return checks.client("s3", URL, secret=secret, attempts=1, connect_timeout=10, read_timeout=60)


S3 = client()


def random_file(path, size):
    """Writes `size` random bytes to `path` and returns their sha256 hex digest."""
    digest = hashlib.sha256()
    with open(path, "wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(left, MIB))
            digest.update(chunk)
            f.write(chunk)
            left -= len(chunk)
    return digest.hexdigest()


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(MIB), b""):
            digest.update(chunk)
    return digest.hexdigest()


def expect_client_error(call, code, status):
    try:
        call()
    except ClientError as err:
        got_code = err.response.get("Error", {}).get("Code")
        got_status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        assert (got_code, got_status) == (code, status), (
            f"expected {code} / HTTP {status}, got {got_code} / HTTP {got_status}: {err.response}"
        )
        return
    raise AssertionError(f"expected ClientError {code}, but the call succeeded")


# --- the checks, in the order the original's scripts make these calls ---------------------------


def test_list_buckets():
    names = [b["Name"] for b in S3.list_buckets()["Buckets"]]
    assert BUCKET in names, f"{BUCKET} not in {names}"


def test_list_objects_v2_prefix():
    resp = S3.list_objects_v2(Bucket=BUCKET, Prefix=SEED_PREFIX)
    got = {o["Key"]: o["Size"] for o in resp.get("Contents", [])}
    want = {SEED_PREFIX + n: (DATA / SEED_PREFIX / n).stat().st_size for n in SEED_PREFIX_FILES}
    assert got == want, f"listed {got}, expected {want}"
    assert resp["KeyCount"] == 3, resp["KeyCount"]
    assert resp["IsTruncated"] is False


def test_list_objects_v2_bucket():
    keys = [o["Key"] for o in S3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert SEED_KEY in keys, f"{SEED_KEY} not in {keys}"


def test_get_object_geojson():
    resp = S3.get_object(Bucket=BUCKET, Key=SEED_KEY)
    body = resp["Body"].read()
    assert body == (DATA / SEED_KEY).read_bytes(), "get_object bytes differ from the local file"
    assert resp["ContentLength"] == len(body)
    doc = json.loads(body)
    assert doc.get("type") == "FeatureCollection", f"type is {doc.get('type')!r}"
    assert isinstance(doc.get("features"), list) and doc["features"], "no features"


def test_get_object_key_with_spaces_from_seed():
    key = SEED_PREFIX + "SWE 2024-03-01.geojson"
    body = S3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert body == (DATA / key).read_bytes()


def test_head_object():
    resp = S3.head_object(Bucket=BUCKET, Key=SEED_KEY)
    assert resp["ContentLength"] == (DATA / SEED_KEY).stat().st_size, resp["ContentLength"]
    assert resp["ETag"].startswith('"'), resp["ETag"]


def test_download_file_single_threaded():
    dest = WORK / "download" / SEED_KEY
    dest.parent.mkdir(parents=True, exist_ok=True)
    S3.download_file(BUCKET, SEED_KEY, str(dest), Config=TransferConfig(use_threads=False))
    assert dest.read_bytes() == (DATA / SEED_KEY).read_bytes()


def test_upload_file_single_threaded_1mib():
    src = WORK / "one-mib.bin"
    random_file(src, MIB + 17)
    key = RUN + "upload/one-mib.bin"
    S3.upload_file(str(src), BUCKET, key, Config=TransferConfig(use_threads=False))
    body = S3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    assert body == src.read_bytes(), "get_object bytes differ from the uploaded file"


def test_upload_file_multipart_threaded_40mib():
    src = WORK / "forty-mib.bin"
    size = 40 * MIB
    want = random_file(src, size)
    key = RUN + "upload/forty-mib.bin"
    # Default TransferConfig: multipart above 8 MiB, 8 MiB parts, 10 threads (both ways).
    S3.upload_file(str(src), BUCKET, key)
    head = S3.head_object(Bucket=BUCKET, Key=key)
    assert head["ContentLength"] == size, head["ContentLength"]
    dest = WORK / "forty-mib.down"
    S3.download_file(BUCKET, key, str(dest))
    assert dest.stat().st_size == size, dest.stat().st_size
    assert sha256_of(dest) == want, "sha256 of the downloaded file differs"


def test_keys_with_spaces_round_trip():
    key = RUN + "dir with spaces/file name with spaces.txt"
    data = b"keys with spaces\n"
    S3.put_object(Bucket=BUCKET, Key=key, Body=data)
    listed = [o["Key"] for o in S3.list_objects_v2(Bucket=BUCKET, Prefix=RUN + "dir with").get("Contents", [])]
    assert listed == [key], listed
    assert S3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == data
    src = WORK / "upload with spaces.txt"
    src.write_bytes(data * 3)
    key2 = RUN + "dir with spaces/uploaded file.txt"
    S3.upload_file(str(src), BUCKET, key2, Config=TransferConfig(use_threads=False))
    dest = WORK / "downloaded with spaces.txt"
    S3.download_file(BUCKET, key2, str(dest), Config=TransferConfig(use_threads=False))
    assert dest.read_bytes() == data * 3


def test_keys_with_plus_percent_and_non_ascii_list_exactly():
    # boto3 always asks for encoding-type=url and decodes what it gets: the server must encode.
    keys = sorted(RUN + k for k in ["odd/a+b%25c.txt", "odd/snow ü+ice.geojson", "odd/100%.csv"])
    for key in keys:
        S3.put_object(Bucket=BUCKET, Key=key, Body=key.encode())
    listed = [o["Key"] for o in S3.list_objects_v2(Bucket=BUCKET, Prefix=RUN + "odd/").get("Contents", [])]
    assert listed == keys, listed
    prefixes = S3.list_objects_v2(Bucket=BUCKET, Prefix=RUN, Delimiter="/").get("CommonPrefixes", [])
    assert RUN + "odd/" in [p["Prefix"] for p in prefixes], prefixes
    for key in keys:
        assert S3.get_object(Bucket=BUCKET, Key=key)["Body"].read() == key.encode()


def test_wrong_secret_is_signature_does_not_match():
    bad = client(secret="not-the-secret")
    expect_client_error(lambda: bad.list_objects_v2(Bucket=BUCKET), "SignatureDoesNotMatch", 403)
    expect_client_error(lambda: bad.get_object(Bucket=BUCKET, Key=SEED_KEY), "SignatureDoesNotMatch", 403)


def test_missing_key_is_no_such_key():
    expect_client_error(
        lambda: S3.get_object(Bucket=BUCKET, Key=RUN + "no such key.txt"), "NoSuchKey", 404
    )


def test_missing_bucket_is_no_such_bucket():
    missing = "no-such-bucket-" + uuid.uuid4().hex[:12]
    expect_client_error(lambda: S3.list_objects_v2(Bucket=missing), "NoSuchBucket", 404)


# --- the aws CLI ------------------------------------------------------------------------------


def aws(*args):
    exe = Path(sys.executable).parent / "aws"
    assert exe.exists(), f"no aws CLI at {exe}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=SECRET_KEY,
        AWS_REGION=REGION,
        AWS_DEFAULT_REGION=REGION,
        AWS_CONFIG_FILE=checks.NO_FILE,
        AWS_SHARED_CREDENTIALS_FILE=checks.NO_FILE,
        AWS_EC2_METADATA_DISABLED="true",
        AWS_MAX_ATTEMPTS="1",
    )
    proc = subprocess.run(
        [str(exe), "--endpoint-url", URL, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, (
        f"aws {' '.join(args)} exited {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    )
    return proc.stdout


def test_aws_cli_s3_ls():
    out = aws("s3", "ls", f"s3://{BUCKET}/")
    names = [line.split(None, 3)[-1] for line in out.splitlines() if line.strip()]
    assert SEED_KEY in names, f"{SEED_KEY} not listed:\n{out}"
    assert "PRE " + SEED_PREFIX in [line.strip() for line in out.splitlines()], out


def test_aws_cli_s3_cp_round_trip():
    src = WORK / "cli upload.txt"
    src.write_bytes(b"uploaded by the aws CLI\n" + os.urandom(4096))
    uri = f"s3://{BUCKET}/{RUN}cli/cli upload.txt"
    aws("s3", "cp", str(src), uri)
    dest = WORK / "cli download.txt"
    aws("s3", "cp", uri, str(dest))
    assert dest.read_bytes() == src.read_bytes()


# --- tidy up (this run's prefix only) ---------------------------------------------------------


def test_delete_objects_under_run_prefix():
    keys = [o["Key"] for o in S3.list_objects_v2(Bucket=BUCKET, Prefix=RUN).get("Contents", [])]
    assert keys, "this run wrote nothing?"
    resp = S3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": k} for k in keys]})
    assert not resp.get("Errors"), resp.get("Errors")
    left = S3.list_objects_v2(Bucket=BUCKET, Prefix=RUN).get("KeyCount")
    assert left == 0, f"{left} objects left under {RUN}"


if __name__ == "__main__":
    print(f"sandbox {URL}, data {DATA}, prefix {RUN}", flush=True)
    sys.exit(checks.run(globals(), cleanup=lambda: shutil.rmtree(WORK, ignore_errors=True)))
