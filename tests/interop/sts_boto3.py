"""The original's MFA flow with boto3 against a sandbox started with --require-mfa.

usage: sts_boto3.py URL

get_session_token(SerialNumber=..., TokenCode=...) as the original's get_session_token() does, then
an S3 client built from the three returned values (the original's decompose_mfa_validated_token),
which lists the bucket. The code is computed from the sandbox's documented MFA secret (RFC 6238).
Prints `N passed, M failed` last; exits 1 on any failure.
"""
import base64
import hashlib
import hmac
import struct
import sys
import time

import checks
from botocore.exceptions import ClientError
from checks import BUCKET

(URL,) = checks.arguments(__doc__, 1)
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
SERIAL = f"arn:aws:iam::{checks.ACCOUNT}:mfa/sandbox"


def totp(secret, at=None):
    key = base64.b32decode(secret)
    counter = int((time.time() if at is None else at) // 30)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def client(service, **creds):
    return checks.client(service, URL, **creds)


def error_code(call):
    try:
        call()
    except ClientError as err:
        return err.response["Error"]["Code"]
    return None


def test_rfc_6238_vector():
    # RFC 6238 appendix B, SHA-1, T = 59: 94287082 → the 6-digit device shows 287082.
    assert totp(base64.b32encode(b"12345678901234567890").decode(), at=59) == "287082"


def test_long_term_key_is_refused_s3():
    assert error_code(lambda: client("s3").list_objects_v2(Bucket=BUCKET)) == "AccessDenied"


def test_seed_flow_lists_the_bucket():
    sts = client("sts")
    token = sts.get_session_token(SerialNumber=SERIAL, TokenCode=totp(SECRET))
    creds = token["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA"), creds["AccessKeyId"]
    s3 = client("s3", key=creds["AccessKeyId"], secret=creds["SecretAccessKey"], token=creds["SessionToken"])
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    assert "Optimization_result.geojson" in keys, keys


def test_wrong_code_is_access_denied():
    wrong = f"{(int(totp(SECRET)) + 1) % 1_000_000:06d}"
    code = error_code(lambda: client("sts").get_session_token(SerialNumber=SERIAL, TokenCode=wrong))
    assert code == "AccessDenied", code


if __name__ == "__main__":
    sys.exit(checks.run(globals()))
