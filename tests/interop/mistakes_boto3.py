"""Interop test: boto3 makes the mistakes people make, and the sandbox answers with AWS's codes.

Usage: mistakes_boto3.py SANDBOX_URL

Also checks SQS's MD5OfMessageAttributes, on send and on receive, against moto's implementation
of the same digest (written independently of the sandbox's). Each check prints `ok` or `FAIL`;
the last line is `N passed, M failed`, and the exit status is 1 if any failed.
"""

import base64
import sys
import uuid

import checks
from botocore.exceptions import ClientError
from checks import BUCKET, run
from moto.sqs.models import Message as MotoMessage

(URL,) = (url.rstrip("/") for url in checks.arguments(__doc__, 1))
RUN = uuid.uuid4().hex[:8]


def client(service, secret=checks.SECRET_KEY, key=checks.ACCESS_KEY):
    # Two attempts per call: one retry, as boto3's `retries={"max_attempts": 1}` makes.
    return checks.client(service, URL, key=key, secret=secret, attempts=2, path_style=True)


s3, sqs, sns, sts = client("s3"), client("sqs"), client("sns"), client("sts")


def expect(code, call, status=None):
    """Runs `call`, which must fail with AWS error `code` (and HTTP `status`, when given)."""
    try:
        call()
    except ClientError as err:
        got = err.response["Error"]["Code"]
        assert got == code, f"expected {code}, got {got}: {err}"
        if status is not None:
            assert err.response["ResponseMetadata"]["HTTPStatusCode"] == status, err.response["ResponseMetadata"]
        message = err.response["Error"].get("Message")
        if status is None or status != 404 or code != "404":
            assert message, f"{code} came without a message"
        return err
    raise AssertionError(f"expected {code}, but the call succeeded")


def test_get_object_from_a_missing_bucket():
    expect("NoSuchBucket", lambda: s3.get_object(Bucket="no-such-bucket", Key="k"), 404)


def test_put_object_into_a_missing_bucket_creates_nothing():
    expect("NoSuchBucket", lambda: s3.put_object(Bucket="no-such-bucket", Key="k", Body=b"x"), 404)
    names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert "no-such-bucket" not in names, names


def test_list_a_missing_bucket():
    expect("NoSuchBucket", lambda: s3.list_objects_v2(Bucket="no-such-bucket"), 404)


def test_get_a_missing_key():
    err = expect("NoSuchKey", lambda: s3.get_object(Bucket=BUCKET, Key=f"{RUN}/missing"), 404)
    assert err.response["Error"]["Message"] == "The specified key does not exist."


def test_head_a_missing_key_and_bucket():
    expect("404", lambda: s3.head_object(Bucket=BUCKET, Key=f"{RUN}/missing"), 404)
    expect("404", lambda: s3.head_bucket(Bucket="no-such-bucket"), 404)


def test_create_a_bucket_with_an_invalid_name():
    err = expect("InvalidBucketName", lambda: s3.create_bucket(Bucket="My_Bucket"), 400)
    assert "3 to 63 characters" in err.response["Error"]["Message"], err.response["Error"]


def test_delete_a_bucket_that_holds_objects():
    expect("BucketNotEmpty", lambda: s3.delete_bucket(Bucket=BUCKET), 409)
    assert s3.get_object(Bucket=BUCKET, Key="Optimization_result.geojson")["Body"].read(), "the data is still there"


def test_copy_from_a_missing_key():
    expect("NoSuchKey", lambda: s3.copy_object(Bucket=BUCKET, Key=f"{RUN}/copy", CopySource=f"{BUCKET}/{RUN}/missing"))


def test_upload_a_part_of_an_unknown_upload():
    expect("NoSuchUpload", lambda: s3.upload_part(Bucket=BUCKET, Key=f"{RUN}/p", UploadId="nope", PartNumber=1, Body=b"x"))


def test_sign_with_the_wrong_secret():
    expect("SignatureDoesNotMatch", lambda: client("s3", secret="wrong").list_buckets(), 403)
    expect("SignatureDoesNotMatch", lambda: client("sqs", secret="wrong").list_queues(), 403)


def test_sign_with_an_unknown_key():
    expect("InvalidAccessKeyId", lambda: client("s3", key="AKIAUNKNOWN").list_buckets(), 403)
    expect("InvalidClientTokenId", lambda: client("sns", key="AKIAUNKNOWN").list_topics(), 403)


def test_send_to_a_missing_queue():
    url = f"{URL}/000000000000/no-such-queue"
    err = expect("AWS.SimpleQueueService.NonExistentQueue", lambda: sqs.send_message(QueueUrl=url, MessageBody="x"))
    assert isinstance(err, sqs.exceptions.QueueDoesNotExist), type(err)


def test_delete_with_a_made_up_receipt_handle():
    url = sqs.create_queue(QueueName=f"mistakes-{RUN}")["QueueUrl"]
    expect("ReceiptHandleIsInvalid", lambda: sqs.delete_message(QueueUrl=url, ReceiptHandle="made-up"))


def test_create_a_queue_with_an_invalid_name():
    expect("InvalidParameterValue", lambda: sqs.create_queue(QueueName="bad name!"))


def test_publish_to_a_missing_topic():
    arn = "arn:aws:sns:us-east-1:000000000000:no-such-topic"
    expect("NotFound", lambda: sns.publish(TopicArn=arn, Message="x"), 404)


def test_an_mfa_code_that_is_not_six_digits():
    serial = "arn:aws:iam::000000000000:mfa/sandbox"
    expect("ValidationError", lambda: sts.get_session_token(SerialNumber=serial, TokenCode="12345a"), 400)


def moto_md5(attributes):
    """moto's MD5 of message attributes, given them as boto3 sends them."""
    message = MotoMessage("id", "body")
    message.message_attributes = {
        name: {**value, "BinaryValue": value["BinaryValue"]} if "BinaryValue" in value else value
        for name, value in attributes.items()
    }
    return message.attribute_md5


def test_message_attribute_md5_matches_an_independent_implementation():
    url = sqs.create_queue(QueueName=f"md5-{RUN}")["QueueUrl"]
    attributes = {
        "bucket": {"DataType": "String", "StringValue": BUCKET},
        "size": {"DataType": "Number", "StringValue": "1234"},
        "payload": {"DataType": "Binary", "BinaryValue": b"\x00\x01binary\xff"},
        "note": {"DataType": "String.custom", "StringValue": "ünïcode ✓"},
    }
    sent = sqs.send_message(QueueUrl=url, MessageBody="with attributes", MessageAttributes=attributes)
    expected = moto_md5(attributes)
    assert sent["MD5OfMessageAttributes"] == expected, (sent["MD5OfMessageAttributes"], expected)
    got = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"], WaitTimeSeconds=1)["Messages"][0]
    assert got["MD5OfMessageAttributes"] == expected, (got["MD5OfMessageAttributes"], expected)
    assert got["MessageAttributes"]["payload"]["BinaryValue"] == b"\x00\x01binary\xff"
    # Asking for some attributes gives the digest of those.
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=got["ReceiptHandle"], VisibilityTimeout=0)
    some = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["size"], WaitTimeSeconds=1)["Messages"][0]
    assert some["MD5OfMessageAttributes"] == moto_md5({"size": attributes["size"]})
    assert base64.b64encode(b"\x00\x01binary\xff")  # the binary value travels base64-encoded in JSON


sys.exit(run(dict(globals())))
