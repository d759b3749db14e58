"""Interop test: the sandbox's chaos API (LocalStack's schema) as boto3 users meet it.

Usage: chaos_boto3.py SANDBOX_URL

A rule posted with plain HTTP (what `curl -X POST …/_sandbox/chaos/faults -d '[…]'` does) makes
boto3 raise the AWS error it names, classified as boto3 classifies AWS's; DELETE restores service;
`count` rules retire, `reset` closes the connection, and `effects` latency delays every answer.
Each check prints `ok` or `FAIL`; the last line is `N passed, M failed`.
"""

import json
import sys
import time
import urllib.request
import uuid

import checks
from botocore.exceptions import ClientError, ConnectionClosedError, EndpointConnectionError
from checks import BUCKET, run

(URL,) = (url.rstrip("/") for url in checks.arguments(__doc__, 1))
RUN = uuid.uuid4().hex[:8]


def client(service, attempts=1):
    return checks.client(service, URL, attempts=attempts, path_style=True)


s3, sqs = client("s3"), client("sqs")


def admin(method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{URL}/_sandbox/chaos/{path}", data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


def expect_error(code, call, status):
    try:
        call()
    except ClientError as err:
        assert err.response["Error"]["Code"] == code, err.response
        assert err.response["ResponseMetadata"]["HTTPStatusCode"] == status, err.response["ResponseMetadata"]
        return err
    raise AssertionError(f"expected {code}, but the call succeeded")


def test_slow_down_on_put_object_then_delete_restores_service():
    rule = {"service": "s3", "operation": "PutObject", "error": {"statusCode": 503, "code": "SlowDown"}}
    assert admin("POST", "faults", [rule]) == (200, [rule])
    try:
        expect_error("SlowDown", lambda: s3.put_object(Bucket=BUCKET, Key=f"{RUN}/k", Body=b"x"), 503)
        assert admin("GET", "faults") == (200, [rule])
    finally:
        assert admin("DELETE", "faults") == (200, [])
    s3.put_object(Bucket=BUCKET, Key=f"{RUN}/k", Body=b"x")


def test_boto3_retries_ride_out_slow_down():
    rule = {"service": "s3", "operation": "PutObject", "count": 2, "error": {"statusCode": 503, "code": "SlowDown"}}
    admin("POST", "faults", [rule])
    client("s3", attempts=3).put_object(Bucket=BUCKET, Key=f"{RUN}/retried", Body=b"y")
    assert admin("GET", "faults") == (200, []), "the counted rule retired"
    assert s3.get_object(Bucket=BUCKET, Key=f"{RUN}/retried")["Body"].read() == b"y"


def test_count_fails_the_first_gets_only():
    admin("POST", "faults", [{"operation": "GetObject", "count": 2}])
    for _ in range(2):
        expect_error("InternalError", lambda: s3.get_object(Bucket=BUCKET, Key=f"{RUN}/k"), 500)
    assert s3.get_object(Bucket=BUCKET, Key=f"{RUN}/k")["Body"].read() == b"x"


def test_reset_closes_the_connection():
    admin("POST", "faults", [{"service": "sqs", "operation": "ListQueues", "reset": True, "count": 1}])
    try:
        sqs.list_queues()
    except (ConnectionClosedError, EndpointConnectionError):
        pass
    else:
        raise AssertionError("expected the connection to close")
    assert "QueueUrls" in sqs.list_queues()


def test_sqs_errors_in_the_json_protocol():
    admin("POST", "faults", [{"service": "sqs", "operation": "GetQueueUrl", "count": 1,
                              "error": {"statusCode": 400, "code": "RequestThrottled"}}])
    expect_error("RequestThrottled", lambda: sqs.get_queue_url(QueueName="SnowObservingSystemsDataUpdates"), 400)


def test_latency_delays_answers():
    assert admin("POST", "effects", {"latency": 300}) == (200, {"latency": 300, "jitter": 0})
    try:
        started = time.monotonic()
        s3.list_buckets()
        assert time.monotonic() - started >= 0.3
    finally:
        admin("POST", "effects", {"latency": 0})


def test_a_mistake_is_one_line_naming_the_field():
    status, text = admin("POST", "faults", [{"service": "s3", "probability": 7}])
    assert status == 400 and text == "rule 1: probability must be between 0 and 1, got 7\n", (status, text)


sys.exit(run(dict(globals())))
