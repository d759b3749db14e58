"""Interop test: boto3 gets S3's answers where the sandbox's S3 used to differ from S3.

Usage: s3_rules_boto3.py SANDBOX_URL

Goes through any key, conditional reads and writes, multipart checks, CopyObject onto itself,
listings, ListObjectVersions and ListMultipartUploads, request ids, and S3's own events
(s3:TestEvent, ObjectRemoved:Delete).

Each check runs against the sandbox and must pass. Then each runs again against moto (in
process, `mock_aws`), and where moto answers otherwise than S3's documentation the line
`moto differs: …` says so: moto is evidence, not authority. Each check prints `ok` or `FAIL`;
the last line is `N passed, M failed`, and the exit status is 1 if any sandbox check failed.
"""

import datetime
import json
import sys
import traceback
import uuid

import checks  # clears the developer's AWS settings: before any client exists

from botocore.exceptions import ClientError  # noqa: E402

URL = checks.arguments(__doc__, 1)[0].rstrip("/")
MIB = 1024 * 1024


def clients(endpoint):
    """The S3, SQS and SNS clients of a target (`None`: AWS's endpoints, which moto intercepts),
    one attempt per call so every answer is the target's first."""
    return tuple(checks.client(service, endpoint, attempts=1, path_style=True) for service in ("s3", "sqs", "sns"))


def fails(call, code=None, status=None):
    """Runs `call`, which must fail with `code` and/or HTTP `status`."""
    try:
        call()
    except ClientError as err:
        got_code = err.response["Error"]["Code"]
        got_status = err.response["ResponseMetadata"]["HTTPStatusCode"]
        if code is not None:
            assert got_code == code, f"expected {code}, got {got_code} (HTTP {got_status}): {err}"
        if status is not None:
            assert got_status == status, f"expected HTTP {status}, got {got_status} ({got_code}): {err}"
        return err
    raise AssertionError(f"expected {code or status}, but the call succeeded")


def fresh_bucket(s3):
    name = f"rules-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    return name


def keys(s3, bucket, **kwargs):
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, **kwargs).get("Contents", [])]


# --- Keys ------------------------------------------------------------------------------------


def check_a_key_beside_its_folder_and_the_folder_key(s3, sqs, sns):
    bucket = fresh_bucket(s3)
    s3.put_object(Bucket=bucket, Key="foo/bar", Body=b"1")
    s3.put_object(Bucket=bucket, Key="foo/", Body=b"2")  # with a body (s3s-fs: UnexpectedContent)
    s3.put_object(Bucket=bucket, Key="foo", Body=b"3")  # (s3s-fs: 500 InternalError)
    assert keys(s3, bucket) == ["foo", "foo/", "foo/bar"], keys(s3, bucket)
    assert s3.get_object(Bucket=bucket, Key="foo/")["Body"].read() == b"2"


def check_every_key_s3_accepts(s3, sqs, sns):
    bucket = fresh_bucket(s3)
    odd = ["a", "a/b", "a/", "a//b", "./x", "../x", "%", "100%.csv", "new\nline", "snow ü+ice ❄", "tab\tkey"]
    for key in odd:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    for key in odd:
        assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == key.encode(), key
    listed = keys(s3, bucket)  # boto3 asks for encoding-type=url and decodes
    assert listed == sorted(odd, key=lambda k: k.encode()), listed


def check_a_deleted_nested_key_leaves_the_bucket_empty(s3, sqs, sns):
    bucket = fresh_bucket(s3)
    s3.put_object(Bucket=bucket, Key="a/b", Body=b"x")
    s3.delete_object(Bucket=bucket, Key="a/b")
    s3.delete_bucket(Bucket=bucket)  # s3s-fs: BucketNotEmpty (a folder was left behind)


# --- Conditional requests --------------------------------------------------------------------


def check_conditional_reads(s3, sqs, sns):
    bucket = fresh_bucket(s3)
    etag = s3.put_object(Bucket=bucket, Key="doc", Body=b"v1")["ETag"]
    past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=1)
    future = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(hours=1)
    wrong = '"0123456789abcdef0123456789abcdef"'
    fails(lambda: s3.get_object(Bucket=bucket, Key="doc", IfMatch=wrong), "PreconditionFailed", 412)
    fails(lambda: s3.head_object(Bucket=bucket, Key="doc", IfMatch=wrong), status=412)
    fails(lambda: s3.get_object(Bucket=bucket, Key="doc", IfUnmodifiedSince=past), "PreconditionFailed", 412)
    fails(lambda: s3.get_object(Bucket=bucket, Key="doc", IfNoneMatch=etag), status=304)
    fails(lambda: s3.head_object(Bucket=bucket, Key="doc", IfNoneMatch=etag), status=304)
    fails(lambda: s3.get_object(Bucket=bucket, Key="doc", IfModifiedSince=future), status=304)
    s3.get_object(Bucket=bucket, Key="doc", IfMatch=etag, IfUnmodifiedSince=past)  # If-Match wins: 200


def check_conditional_writes(s3, sqs, sns):
    bucket = fresh_bucket(s3)
    etag = s3.put_object(Bucket=bucket, Key="once", Body=b"first", IfNoneMatch="*")["ETag"]
    fails(lambda: s3.put_object(Bucket=bucket, Key="once", Body=b"second", IfNoneMatch="*"), "PreconditionFailed", 412)
    fails(lambda: s3.put_object(Bucket=bucket, Key="once", Body=b"x", IfMatch='"ffff"'), "PreconditionFailed", 412)
    s3.put_object(Bucket=bucket, Key="once", Body=b"third", IfMatch=etag)
    fails(lambda: s3.put_object(Bucket=bucket, Key="absent", Body=b"x", IfMatch=etag), "NoSuchKey", 404)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="once")["UploadId"]
    part = s3.upload_part(Bucket=bucket, Key="once", UploadId=upload, PartNumber=1, Body=b"part")["ETag"]
    parts = {"Parts": [{"PartNumber": 1, "ETag": part}]}
    fails(
        lambda: s3.complete_multipart_upload(
            Bucket=bucket, Key="once", UploadId=upload, MultipartUpload=parts, IfNoneMatch="*"
        ),
        "PreconditionFailed",
        412,
    )
    s3.complete_multipart_upload(Bucket=bucket, Key="once", UploadId=upload, MultipartUpload=parts)
    assert s3.get_object(Bucket=bucket, Key="once")["Body"].read() == b"part"


def check_a_replaced_object_fails_a_ranged_read_with_if_match(s3, sqs, sns):
    # What our own download (common::transfer) relies on: later ranges ask with If-Match.
    bucket = fresh_bucket(s3)
    first = s3.put_object(Bucket=bucket, Key="big", Body=b"a" * MIB)["ETag"]
    s3.get_object(Bucket=bucket, Key="big", Range="bytes=0-9", IfMatch=first)
    s3.put_object(Bucket=bucket, Key="big", Body=b"b" * MIB)
    fails(lambda: s3.get_object(Bucket=bucket, Key="big", Range="bytes=10-", IfMatch=first), "PreconditionFailed", 412)


# --- Multipart -------------------------------------------------------------------------------


def check_multipart_parts_are_checked(s3, sqs, sns):
    bucket = fresh_bucket(s3)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="mpu")["UploadId"]
    first = s3.upload_part(Bucket=bucket, Key="mpu", UploadId=upload, PartNumber=1, Body=b"1" * (5 * MIB))["ETag"]
    second = s3.upload_part(Bucket=bucket, Key="mpu", UploadId=upload, PartNumber=2, Body=b"2" * 100)["ETag"]
    complete = lambda parts: s3.complete_multipart_upload(  # noqa: E731
        Bucket=bucket, Key="mpu", UploadId=upload, MultipartUpload={"Parts": parts}
    )
    fails(lambda: complete([{"PartNumber": 1, "ETag": first}, {"PartNumber": 2, "ETag": '"ffff"'}]), "InvalidPart", 400)
    fails(lambda: complete([{"PartNumber": 1, "ETag": first}, {"PartNumber": 3, "ETag": second}]), "InvalidPart", 400)
    fails(lambda: complete([{"PartNumber": 2, "ETag": second}, {"PartNumber": 1, "ETag": first}]), "InvalidPartOrder")
    uploads = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [("mpu", upload)], uploads
    parts = s3.list_parts(Bucket=bucket, Key="mpu", UploadId=upload)["Parts"]
    assert [(p["PartNumber"], p["Size"]) for p in parts] == [(1, 5 * MIB), (2, 100)], parts
    done = complete([{"PartNumber": 1, "ETag": first}, {"PartNumber": 2, "ETag": second}])
    assert done["ETag"].endswith('-2"'), done["ETag"]
    assert s3.head_object(Bucket=bucket, Key="mpu")["ContentLength"] == 5 * MIB + 100


def check_small_parts_and_abort(s3, sqs, sns):
    bucket = fresh_bucket(s3)
    upload = s3.create_multipart_upload(Bucket=bucket, Key="small")["UploadId"]
    parts = [
        {"PartNumber": n, "ETag": s3.upload_part(Bucket=bucket, Key="small", UploadId=upload, PartNumber=n, Body=b"x")["ETag"]}
        for n in (1, 2)
    ]
    fails(
        lambda: s3.complete_multipart_upload(Bucket=bucket, Key="small", UploadId=upload, MultipartUpload={"Parts": parts}),
        "EntityTooSmall",
        400,
    )
    s3.abort_multipart_upload(Bucket=bucket, Key="small", UploadId=upload)
    fails(lambda: s3.list_parts(Bucket=bucket, Key="small", UploadId=upload), "NoSuchUpload", 404)


# --- Copy ------------------------------------------------------------------------------------


def check_copy_onto_itself_needs_a_change(s3, sqs, sns):
    bucket = fresh_bucket(s3)
    etag = s3.put_object(Bucket=bucket, Key="src", Body=b"x", Metadata={"colour": "blue"})["ETag"]
    source = {"Bucket": bucket, "Key": "src"}
    err = fails(lambda: s3.copy_object(Bucket=bucket, Key="src", CopySource=source), "InvalidRequest", 400)
    assert "itself" in str(err), err
    s3.copy_object(Bucket=bucket, Key="src", CopySource=source, MetadataDirective="REPLACE", Metadata={"colour": "red"})
    assert s3.head_object(Bucket=bucket, Key="src")["Metadata"] == {"colour": "red"}
    fails(lambda: s3.copy_object(Bucket=bucket, Key="dst", CopySource=source, CopySourceIfMatch='"ffff"'), "PreconditionFailed", 412)
    fails(lambda: s3.copy_object(Bucket=bucket, Key="dst", CopySource=source, CopySourceIfNoneMatch=etag), "PreconditionFailed", 412)
    s3.copy_object(Bucket=bucket, Key="dst", CopySource=source, CopySourceIfMatch=etag)
    assert s3.head_object(Bucket=bucket, Key="dst")["Metadata"] == {"colour": "red"}, "COPY keeps the metadata"


# --- Listings --------------------------------------------------------------------------------


def check_listings(s3, sqs, sns):
    bucket = fresh_bucket(s3)
    for key in ["a", "b/1", "b/2", "c d/e", "plus+sign"]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    nothing = s3.list_objects_v2(Bucket=bucket, Prefix="nothing/", Delimiter="/")
    assert "Contents" not in nothing and "CommonPrefixes" not in nothing, nothing
    empty = s3.list_objects_v2(Bucket=bucket, Delimiter="")
    assert "Delimiter" not in empty, f"an empty delimiter is not echoed: {empty.get('Delimiter')!r}"
    assert len(empty["Contents"]) == 5
    # Asked for explicitly, boto3 leaves the encoding as S3 sent it: space `+`, `+` as `%2B`.
    raw = s3.list_objects_v2(Bucket=bucket, EncodingType="url", Delimiter="/")
    assert [o["Key"] for o in raw["Contents"]] == ["a", "plus%2Bsign"], raw["Contents"]
    assert [p["Prefix"] for p in raw["CommonPrefixes"]] == ["b/", "c+d/"], raw["CommonPrefixes"]
    owned = s3.list_objects_v2(Bucket=bucket, FetchOwner=True)
    assert all("ID" in o.get("Owner", {}) for o in owned["Contents"]), owned["Contents"]
    assert all("Owner" not in o for o in s3.list_objects_v2(Bucket=bucket)["Contents"])
    zero = s3.list_objects_v2(Bucket=bucket, MaxKeys=0)
    assert zero["IsTruncated"] is False and zero["KeyCount"] == 0 and "Contents" not in zero, zero
    page = s3.list_objects(Bucket=bucket, Delimiter="/", MaxKeys=2)
    assert page["IsTruncated"] and page["NextMarker"] == "b/", page
    rest = s3.list_objects(Bucket=bucket, Delimiter="/", Marker=page["NextMarker"])
    assert [p["Prefix"] for p in rest.get("CommonPrefixes", [])] == ["c d/"], rest
    assert [o["Key"] for o in rest["Contents"]] == ["plus+sign"], rest
    paged = [k for p in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, PaginationConfig={"PageSize": 2}) for k in (o["Key"] for o in p.get("Contents", []))]
    assert paged == ["a", "b/1", "b/2", "c d/e", "plus+sign"], paged


def check_list_object_versions_and_uploads_on_an_unversioned_bucket(s3, sqs, sns):
    bucket = fresh_bucket(s3)
    for key in ["one", "two"]:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    versions = s3.list_object_versions(Bucket=bucket)
    got = [(v["Key"], v["VersionId"], v["IsLatest"]) for v in versions.get("Versions", [])]
    assert got == [("one", "null", True), ("two", "null", True)], got
    # What cleanup tools do: delete every version listed.
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k, "VersionId": v} for k, v, _ in got]})
    assert keys(s3, bucket) == []
    assert s3.list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []


# --- Request ids -----------------------------------------------------------------------------


def check_error_request_ids_match_their_header(s3, sqs, sns):
    seen = {}

    def remember(http_response, **_):
        seen["header"] = http_response.headers.get("x-amz-request-id")
        seen["body"] = http_response.content.decode()

    s3.meta.events.register("after-call.s3.GetObject", remember)
    try:
        bucket = fresh_bucket(s3)
        fails(lambda: s3.get_object(Bucket=bucket, Key="absent"), "NoSuchKey", 404)
    finally:
        s3.meta.events.unregister("after-call.s3.GetObject", remember)
    assert seen.get("header"), seen
    assert f"<RequestId>{seen['header']}</RequestId>" in seen["body"], seen


# --- Events ----------------------------------------------------------------------------------


def check_test_event_and_removal_events(s3, sqs, sns):
    bucket = fresh_bucket(s3)
    queue = sqs.create_queue(QueueName=f"events-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={"QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectRemoved:*"]}]},
    )
    s3.put_object(Bucket=bucket, Key="gone soon", Body=b"x")
    s3.delete_object(Bucket=bucket, Key="gone soon")
    bodies = []
    for _ in range(10):
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        bodies.extend(json.loads(m["Body"]) for m in messages)
        if len(bodies) >= 2:
            break
    assert bodies and bodies[0].get("Event") == "s3:TestEvent" and bodies[0].get("Bucket") == bucket, bodies
    records = [r for b in bodies for r in b.get("Records", [])]
    assert [(r["eventName"], r["s3"]["object"]["key"]) for r in records] == [("ObjectRemoved:Delete", "gone+soon")], records


CHECKS = [(name, fn) for name, fn in list(globals().items()) if name.startswith("check_") and callable(fn)]


def main():
    passed = failed = 0
    targets = clients(URL)
    for name, check in CHECKS:
        try:
            check(*targets)
        except Exception:  # noqa: BLE001 - any exception is a failed check
            failed += 1
            print(f"FAIL {name}")
            traceback.print_exc(file=sys.stdout)
        else:
            passed += 1
            print(f"ok   {name}")
    # The same checks against moto, for the record: where it differs from S3's documentation.
    try:
        from moto import mock_aws
    except ImportError:  # pragma: no cover - moto is pinned in requirements.txt
        mock_aws = None
    if mock_aws is not None:
        with mock_aws():
            moto = clients(None)
            for name, check in CHECKS:
                try:
                    check(*moto)
                except Exception as err:  # noqa: BLE001
                    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
                    print(f"moto differs: {name}: {first[:200]}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
