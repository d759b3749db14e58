"""What the interop scripts share: an environment that holds none of the developer's AWS settings,
the sandbox's names and keys, a boto3 client factory, and the runner (every `test_*` function of a
script, one line each, then `N passed, M failed` last; the exit status says whether all passed).

Importing this module clears the environment, so import it before anything creates a boto3 client.
"""
import os
import sys
import tempfile
import time
import traceback
import uuid

# No user configuration may leak in: only what a script passes counts.
for _name in [name for name in os.environ if name.startswith("AWS_")]:
    del os.environ[_name]
NO_FILE = os.path.join(tempfile.gettempdir(), f"sos-interop-no-such-file-{uuid.uuid4().hex}")
os.environ["AWS_CONFIG_FILE"] = NO_FILE
os.environ["AWS_SHARED_CREDENTIALS_FILE"] = NO_FILE
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

REGION = "us-east-1"
ACCOUNT = "000000000000"
BUCKET = "snow-observing-systems"
QUEUE = "SnowObservingSystemsDataUpdates"
ACCESS_KEY = "test"
SECRET_KEY = "test"


def arguments(doc, count):
    """The script's `count` arguments; with any other number, the usage line of `doc` (its third
    line) on stderr and exit 2."""
    if len(sys.argv) != count + 1:
        print(doc.strip().splitlines()[2], file=sys.stderr)
        sys.exit(2)
    return sys.argv[1:]


def client(service, url, key=ACCESS_KEY, secret=SECRET_KEY, token=None, attempts=None, path_style=False, **config):
    """A boto3 client of the sandbox at `url`, in its own session. `attempts`: tries per call
    (boto3's default when None); `path_style`: S3 URLs as http://host/bucket/key (boto3 chooses
    when False); `config`: more `botocore.config.Config` settings."""
    if attempts is not None:
        config["retries"] = {"total_max_attempts": attempts, "mode": "standard"}
    if path_style:
        config["s3"] = {"addressing_style": "path"}
    return boto3.session.Session().client(
        service,
        endpoint_url=url,
        region_name=REGION,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=token,
        config=Config(**config),
    )


def run(namespace, cleanup=None):
    """Runs every `test_*` function of `namespace` in order, one line each with its time, then
    `cleanup` if given; returns the exit status (1 if any failed)."""
    tests = [(name, fn) for name, fn in namespace.items() if name.startswith("test_") and callable(fn)]
    passed = failed = 0
    for name, fn in tests:
        start = time.monotonic()
        try:
            fn()
        except Exception:  # noqa: BLE001 - any exception is a failed check
            failed += 1
            print(f"FAIL {name} ({time.monotonic() - start:.2f}s)", flush=True)
            traceback.print_exc(file=sys.stdout)
        else:
            passed += 1
            print(f"ok   {name} ({time.monotonic() - start:.2f}s)", flush=True)
    if cleanup is not None:
        cleanup()
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0
