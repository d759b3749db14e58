"""The original's subscriber logic with boto3 against the sandbox's pipeline.

usage: pubsub_boto3.py URL

boto3 uploads a file; the sandbox's S3 → notifier → SNS → SQS pipeline announces it; the original's
subscriber steps read the key from the message (receive_message → json.loads(Body) →
json.loads(Message)["key"]), download that object and delete the message.
Prints `N passed, M failed` last; exits 1 on any failure.
"""
import json
import os
import sys
import tempfile
import time

import checks
from boto3.s3.transfer import TransferConfig
from checks import BUCKET, QUEUE

(URL,) = checks.arguments(__doc__, 1)


def client(service):
    return checks.client(service, URL)


def test_seed_subscriber_reads_the_key_our_pipeline_produces():
    s3, sqs = client("s3"), client("sqs")
    queue_url = sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"]
    key = f"interop {int(time.time())}/a+b ü.geojson"
    data = b'{"type":"FeatureCollection","features":[]}'
    with tempfile.TemporaryDirectory() as work:
        src = os.path.join(work, "src.geojson")
        with open(src, "wb") as f:
            f.write(data)
        s3.upload_file(src, BUCKET, key, Config=TransferConfig(use_threads=False))
        deadline = time.monotonic() + 20
        found = None
        while found is None and time.monotonic() < deadline:
            resp = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=5)
            for message in resp.get("Messages", []):
                body = json.loads(message["Body"])            # the seed: json.loads(Body)
                announced = json.loads(body["Message"])["key"]  # the seed: json.loads(Message)["key"]
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
                if announced == key:
                    found = announced
        assert found == key, f"no announcement of {key!r}"
        dest = os.path.join(work, "downloaded.geojson")
        s3.download_file(BUCKET, found, dest, Config=TransferConfig(use_threads=False))
        with open(dest, "rb") as f:
            assert f.read() == data


if __name__ == "__main__":
    sys.exit(checks.run(globals()))
