"""Interop test: boto3 gets S3's documented answers for versioning, tags, object attributes and
CORS from the sandbox.

Usage: s3_versions_boto3.py SANDBOX_URL

Goes through Put/GetBucketVersioning, version ids on writes, reads by VersionId, delete markers
(404 and 405 with x-amz-delete-marker), the null version while suspended, ListObjectVersions,
DeleteObjects with version ids, DeleteBucket while versions remain, lifecycle configurations,
events with versionId and ObjectRemoved:DeleteMarkerCreated, object and bucket tags with S3's
limits, GetObjectAttributes, and bucket CORS with a browser's preflight request.

Each check runs against the sandbox and must pass. Then each runs again against moto (in
process, `mock_aws`), and where moto answers otherwise the line `moto differs: …` says so: moto
is evidence, not authority. The last line is `N passed, M failed`; the exit status is 1 if any
sandbox check failed.
"""

import json
import sys
import uuid

import checks  # clears the developer's AWS settings: before any client exists

from botocore.exceptions import ClientError  # noqa: E402

URL = checks.arguments(__doc__, 1)[0].rstrip("/")


def clients(endpoint):
    """The S3 and SQS clients of a target (`None`: AWS's endpoints, which moto intercepts), one
    attempt per call so every answer is the target's first."""
    return tuple(checks.client(service, endpoint, attempts=1, path_style=True) for service in ("s3", "sqs"))


def failure(call):
    """Runs `call`, which must fail; returns (HTTP status, code, headers)."""
    try:
        call()
    except ClientError as err:
        meta = err.response["ResponseMetadata"]
        return meta["HTTPStatusCode"], err.response["Error"]["Code"], meta.get("HTTPHeaders", {})
    raise AssertionError("expected the call to fail, but it succeeded")


def versioned_bucket(s3):
    name = f"versions-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def body(s3, bucket, key, **kwargs):
    return s3.get_object(Bucket=bucket, Key=key, **kwargs)["Body"].read()


def check_versioning_states(s3, _sqs):
    name = f"versions-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    assert "Status" not in s3.get_bucket_versioning(Bucket=name), "never versioned: no Status"
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Enabled"
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket=name)["Status"] == "Suspended"
    status, code, _ = failure(lambda: s3.get_bucket_versioning(Bucket=f"no-such-{uuid.uuid4().hex[:8]}"))
    assert (status, code) == (404, "NoSuchBucket"), (status, code)


def check_every_put_is_a_version_readable_by_id(s3, _sqs):
    bucket = versioned_bucket(s3)
    first = s3.put_object(Bucket=bucket, Key="run.geojson", Body=b"first")["VersionId"]
    second = s3.put_object(Bucket=bucket, Key="run.geojson", Body=b"second")["VersionId"]
    assert first != second and "null" not in (first, second), (first, second)
    assert body(s3, bucket, "run.geojson") == b"second"
    assert body(s3, bucket, "run.geojson", VersionId=first) == b"first"
    assert s3.head_object(Bucket=bucket, Key="run.geojson", VersionId=first)["ContentLength"] == 5
    s3.delete_object(Bucket=bucket, Key="run.geojson", VersionId=second)
    assert body(s3, bucket, "run.geojson") == b"first", "the previous version is current again"
    status, code, _ = failure(lambda: s3.get_object(Bucket=bucket, Key="run.geojson", VersionId=second))
    assert (status, code) == (404, "NoSuchVersion"), (status, code)


def check_delete_markers(s3, _sqs):
    bucket = versioned_bucket(s3)
    kept = s3.put_object(Bucket=bucket, Key="k", Body=b"kept")["VersionId"]
    out = s3.delete_object(Bucket=bucket, Key="k")
    assert out.get("DeleteMarker") is True, out
    marker = out["VersionId"]
    status, code, headers = failure(lambda: s3.get_object(Bucket=bucket, Key="k"))
    assert (status, code) == (404, "NoSuchKey"), (status, code)
    assert headers.get("x-amz-delete-marker") == "true", headers
    status, code, headers = failure(lambda: s3.get_object(Bucket=bucket, Key="k", VersionId=marker))
    assert (status, code) == (405, "MethodNotAllowed"), (status, code)
    assert headers.get("x-amz-delete-marker") == "true", headers
    status, _, _ = failure(lambda: s3.head_object(Bucket=bucket, Key="k", VersionId=marker))
    assert status == 405, status
    listed = s3.list_object_versions(Bucket=bucket)
    assert [(m["VersionId"], m["IsLatest"]) for m in listed["DeleteMarkers"]] == [(marker, True)], listed
    assert [(v["VersionId"], v["IsLatest"]) for v in listed["Versions"]] == [(kept, False)], listed
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)
    s3.delete_object(Bucket=bucket, Key="k", VersionId=marker)
    assert body(s3, bucket, "k") == b"kept", "removing the marker brings the object back"


def check_null_version_while_suspended(s3, _sqs):
    name = f"versions-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="k", Body=b"before")
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    enabled = s3.put_object(Bucket=name, Key="k", Body=b"enabled")["VersionId"]
    assert body(s3, name, "k", VersionId="null") == b"before"
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Suspended"})
    s3.put_object(Bucket=name, Key="k", Body=b"suspended")
    versions = s3.list_object_versions(Bucket=name)["Versions"]
    assert sorted(v["VersionId"] for v in versions) == sorted(["null", enabled]), versions
    assert body(s3, name, "k", VersionId="null") == b"suspended", "the null version was replaced"


def check_delete_objects_and_delete_bucket(s3, _sqs):
    bucket = versioned_bucket(s3)
    a1 = s3.put_object(Bucket=bucket, Key="a", Body=b"1")["VersionId"]
    a2 = s3.put_object(Bucket=bucket, Key="a", Body=b"2")["VersionId"]
    s3.put_object(Bucket=bucket, Key="b", Body=b"b")
    out = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "a", "VersionId": a2}, {"Key": "b"}]}
    )
    deleted = {d["Key"]: d for d in out["Deleted"]}
    assert deleted["a"]["VersionId"] == a2, deleted
    assert deleted["b"]["DeleteMarker"] is True and deleted["b"]["DeleteMarkerVersionId"], deleted
    assert body(s3, bucket, "a") == b"1"
    status, code, _ = failure(lambda: s3.delete_bucket(Bucket=bucket))
    assert (status, code) == (409, "BucketNotEmpty"), (status, code)
    listed = s3.list_object_versions(Bucket=bucket)
    every = [{"Key": v["Key"], "VersionId": v["VersionId"]} for v in listed.get("Versions", []) + listed.get("DeleteMarkers", [])]
    assert {"Key": "a", "VersionId": a1} in every, every
    s3.delete_objects(Bucket=bucket, Delete={"Objects": every})
    s3.delete_bucket(Bucket=bucket)


def check_lifecycle_configuration(s3, _sqs):
    bucket = versioned_bucket(s3)
    status, code, _ = failure(lambda: s3.get_bucket_lifecycle_configuration(Bucket=bucket))
    assert (status, code) == (404, "NoSuchLifecycleConfiguration"), (status, code)
    rule = {"ID": "old", "Status": "Enabled", "Filter": {"Prefix": ""}, "NoncurrentVersionExpiration": {"NoncurrentDays": 30}}
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [rule]})
    rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert [(r["ID"], r["NoncurrentVersionExpiration"]["NoncurrentDays"]) for r in rules] == [("old", 30)], rules
    zero = dict(rule, NoncurrentVersionExpiration={"NoncurrentDays": 0})
    status, code, _ = failure(
        lambda: s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": [zero]})
    )
    assert (status, code) == (400, "InvalidArgument"), (status, code)


def check_events_carry_version_ids(s3, sqs):
    bucket = versioned_bucket(s3)
    queue = sqs.create_queue(QueueName=f"versions-{uuid.uuid4().hex[:8]}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}]
        },
    )
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"x")["VersionId"]
    marker = s3.delete_object(Bucket=bucket, Key="k")["VersionId"]
    records = []
    for _ in range(10):
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        records.extend(r for m in messages for r in json.loads(m["Body"]).get("Records", []))
        if len(records) >= 2:
            break
    got = sorted((r["eventName"], r["s3"]["object"].get("versionId")) for r in records)
    assert got == sorted([("ObjectCreated:Put", put), ("ObjectRemoved:DeleteMarkerCreated", marker)]), got


def check_object_and_bucket_tags(s3, _sqs):
    bucket = versioned_bucket(s3)
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="project=sos&site=Missouri%20Open%20Loop")
    tags = s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"]
    assert sorted((t["Key"], t["Value"]) for t in tags) == [("project", "sos"), ("site", "Missouri Open Loop")], tags
    assert s3.get_object(Bucket=bucket, Key="k")["TagCount"] == 2
    eleven = {"TagSet": [{"Key": f"k{i}", "Value": "v"} for i in range(11)]}
    status, code, _ = failure(lambda: s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=eleven))
    assert (status, code) == (400, "BadRequest"), (status, code)
    long_key = {"TagSet": [{"Key": "k" * 129, "Value": "v"}]}
    status, code, _ = failure(lambda: s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=long_key))
    assert (status, code) == (400, "InvalidTag"), (status, code)
    long_value = {"TagSet": [{"Key": "k", "Value": "v" * 257}]}
    status, code, _ = failure(lambda: s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=long_value))
    assert (status, code) == (400, "InvalidTag"), (status, code)
    s3.delete_object_tagging(Bucket=bucket, Key="k")
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["TagSet"] == []
    status, code, _ = failure(lambda: s3.get_bucket_tagging(Bucket=bucket))
    assert (status, code) == (404, "NoSuchTagSet"), (status, code)
    s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": [{"Key": "team", "Value": "sos"}]})
    assert s3.get_bucket_tagging(Bucket=bucket)["TagSet"] == [{"Key": "team", "Value": "sos"}]


def check_object_attributes(s3, _sqs):
    bucket = versioned_bucket(s3)
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"snow", ChecksumAlgorithm="CRC32")
    out = s3.get_object_attributes(
        Bucket=bucket, Key="k", ObjectAttributes=["ETag", "Checksum", "ObjectSize", "StorageClass", "ObjectParts"]
    )
    assert out["ETag"].strip('"') == put["ETag"].strip('"'), out
    assert out["ObjectSize"] == 4 and out["StorageClass"] == "STANDARD", out
    assert out["Checksum"]["ChecksumCRC32"] == put["ChecksumCRC32"], out
    assert out["VersionId"] == put["VersionId"], out
    assert "ObjectParts" not in out, "a single-part object has no parts"
    status, code, _ = failure(lambda: s3.get_object_attributes(Bucket=bucket, Key="none", ObjectAttributes=["ETag"]))
    assert (status, code) == (404, "NoSuchKey"), (status, code)


def check_cors_and_preflight(s3, _sqs):
    import urllib.error
    import urllib.request

    bucket = versioned_bucket(s3)
    status, code, _ = failure(lambda: s3.get_bucket_cors(Bucket=bucket))
    assert (status, code) == (404, "NoSuchCORSConfiguration"), (status, code)
    rule = {"AllowedOrigins": ["http://localhost:8080"], "AllowedMethods": ["GET"], "MaxAgeSeconds": 60}
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [rule]})
    assert s3.get_bucket_cors(Bucket=bucket)["CORSRules"][0]["AllowedMethods"] == ["GET"]
    bad = dict(rule, AllowedMethods=["PATCH"])
    status, code, _ = failure(lambda: s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [bad]}))
    assert (status, code) == (400, "InvalidRequest"), (status, code)
    endpoint = s3.meta.endpoint_url
    if "amazonaws.com" in endpoint:
        return  # moto intercepts the SDK's calls, not urllib's: the preflight is the sandbox's part

    def options(origin):
        request = urllib.request.Request(f"{endpoint}/{bucket}/k", method="OPTIONS")
        request.add_header("Origin", origin)
        request.add_header("Access-Control-Request-Method", "GET")
        try:
            with urllib.request.urlopen(request) as response:
                return response.status, {k.lower(): v for k, v in response.headers.items()}
        except urllib.error.HTTPError as err:
            return err.code, {k.lower(): v for k, v in err.headers.items()}
    status, headers = options("http://localhost:8080")
    assert status == 200 and headers.get("access-control-allow-origin") == "http://localhost:8080", (status, headers)
    status, _ = options("http://elsewhere.test")
    assert status == 403, status


CHECKS = {name: fn for name, fn in list(globals().items()) if name.startswith("check_") and callable(fn)}


def main():
    sandbox = clients(URL)
    status = checks.run({f"test_{name[6:]}": (lambda fn=fn: fn(*sandbox)) for name, fn in CHECKS.items()})
    # The same checks against moto, for the record: where it differs from S3's documentation.
    from moto import mock_aws

    with mock_aws():
        moto = clients(None)
        for name, check in CHECKS.items():
            try:
                check(*moto)
            except Exception as err:  # noqa: BLE001 - any difference is recorded
                first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
                print(f"moto differs: {name}: {first[:200]}")
    return status


if __name__ == "__main__":
    sys.exit(main())
