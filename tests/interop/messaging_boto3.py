"""boto3 builds the pipelines users grow from the original's, and gets the outcomes AWS documents.

usage: messaging_boto3.py SANDBOX_URL

Ordered data per site (FIFO queues), a queue per application that takes only the files it wants
(SNS filter policies), a way back from the dead-letter queue (message move tasks), and the
everyday calls around them.

Each check runs against the sandbox (and must pass) and, for comparison, against moto's
in-process mock (`moto.mock_aws`, pinned in requirements.txt); where moto's answer differs from
AWS's documented one the line says so, without failing. Each check prints `ok` or `FAIL`; the
last line is `N passed, M failed`, and the exit status is 1 if any failed.

The checks follow the SQS and SNS API references and developer guides: FIFO queue names and
attributes (CreateQueue), MessageGroupId required on FIFO sends (SendMessage), filter policies and
their scope (SNS developer guide, "Amazon SNS message filtering"), ListDeadLetterSourceQueues and
StartMessageMoveTask, ChangeMessageVisibilityBatch, queue tags, the 1 MiB message size (since
August 2025), and queue URLs of another account (AWS.SimpleQueueService.NonExistentQueue).
"""

import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

import checks  # clears the AWS_* environment: import it before boto3 makes a client
from botocore.exceptions import ClientError  # noqa: E402
from checks import ACCOUNT  # noqa: E402

(URL,) = checks.arguments(__doc__, 1)
URL = URL.rstrip("/")


class Target:
    """Clients for one service provider: the sandbox, or moto's mock."""

    def __init__(self, endpoint_url):
        # No endpoint: AWS's own, which moto's mock intercepts (its account is 123456789012).
        self.sqs, self.sns = (checks.client(s, endpoint_url, attempts=1) for s in ("sqs", "sns"))
        self.account = ACCOUNT if endpoint_url else "123456789012"

    def queue(self, name, **attributes):
        return self.sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]

    def arn(self, name):
        return f"arn:aws:sqs:us-east-1:{self.account}:{name}"

    def drain(self, url):
        bodies = []
        while True:
            got = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300)
            if not got.get("Messages"):
                return bodies
            bodies.extend(m["Body"] for m in got["Messages"])


def error_code(call):
    """The AWS error code `call` fails with, or None when it succeeds."""
    try:
        call()
    except ClientError as err:
        return err.response["Error"]["Code"]
    return None


def fifo_queues(t):
    name = f"sites-{uuid.uuid4().hex[:6]}"
    url = t.queue(f"{name}.fifo", FifoQueue="true")
    assert url.endswith(f"/{name}.fifo"), url
    no_suffix = error_code(lambda: t.queue(name, FifoQueue="true"))
    assert no_suffix == "InvalidParameterValue", f"FifoQueue=true on a name without .fifo: {no_suffix}"
    missing = error_code(lambda: t.sqs.send_message(QueueUrl=url, MessageBody="x", MessageDeduplicationId="d"))
    assert missing == "MissingParameter", f"a FIFO send without MessageGroupId: {missing}"
    for i in range(3):
        t.sqs.send_message(QueueUrl=url, MessageBody=f"m{i}", MessageGroupId="site-a", MessageDeduplicationId=f"d{i}")
    got = t.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"])["Messages"]
    assert [m["Body"] for m in got] == ["m0", "m1", "m2"], got
    assert all("SequenceNumber" in m["Attributes"] for m in got), got


def subscribed(t, topic, name, **attributes):
    url = t.queue(name)
    attributes = {"RawMessageDelivery": "true", **attributes}
    t.sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=t.arn(name), Attributes=attributes)
    return url


def wait_for(t, url, count):
    """The bodies in `url` once `count` arrived (or 10 s went by)."""
    bodies, deadline = [], time.monotonic() + 10
    while len(bodies) < count and time.monotonic() < deadline:
        got = t.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=300)
        bodies.extend(m["Body"] for m in got.get("Messages", []))
    return bodies


def filter_policies(t):
    topic = t.sns.create_topic(Name=f"data-{uuid.uuid4().hex[:6]}")["TopicArn"]
    geojson = subscribed(t, topic, f"geojson-{uuid.uuid4().hex[:6]}", FilterPolicy=json.dumps({"kind": ["geojson"]}))
    ohio = subscribed(
        t, topic, f"ohio-{uuid.uuid4().hex[:6]}",
        FilterPolicy=json.dumps({"site": {"name": [{"prefix": "Ohio"}]}}), FilterPolicyScope="MessageBody",
    )
    everything = subscribed(t, topic, f"all-{uuid.uuid4().hex[:6]}")
    attribute = lambda kind: {"kind": {"DataType": "String", "StringValue": kind}}  # noqa: E731
    t.sns.publish(TopicArn=topic, Message=json.dumps({"n": 1, "site": {"name": "Missouri"}}), MessageAttributes=attribute("csv"))
    t.sns.publish(TopicArn=topic, Message=json.dumps({"n": 2, "site": {"name": "Ohio"}}))
    t.sns.publish(TopicArn=topic, Message=json.dumps({"n": 3, "site": {"name": "Missouri"}}), MessageAttributes=attribute("geojson"))
    wait_for(t, everything, 3)  # every delivery of the three publishes is done
    assert [json.loads(b)["n"] for b in t.drain(geojson)] == [3], "the geojson queue takes only the geojson message"
    assert [json.loads(b)["n"] for b in t.drain(ohio)] == [2], "the body-scoped queue takes only Ohio's"
    bad = error_code(lambda: subscribed(t, topic, f"bad-{uuid.uuid4().hex[:6]}", FilterPolicy="not json"))
    assert bad == "InvalidParameter", f"a FilterPolicy that is not JSON: {bad}"


def redrive(t):
    tag = uuid.uuid4().hex[:6]
    dlq = t.queue(f"dlq-{tag}")
    source = t.queue(f"src-{tag}", RedrivePolicy=json.dumps({"deadLetterTargetArn": t.arn(f"dlq-{tag}"), "maxReceiveCount": 1}))
    t.sqs.send_message(QueueUrl=source, MessageBody="poison")
    t.sqs.receive_message(QueueUrl=source, VisibilityTimeout=0)
    t.sqs.receive_message(QueueUrl=source)  # past maxReceiveCount: moved
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        counts = t.sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["ApproximateNumberOfMessages"])
        if counts["Attributes"]["ApproximateNumberOfMessages"] == "1":
            break
        time.sleep(0.1)
    assert counts["Attributes"]["ApproximateNumberOfMessages"] == "1", "in the dead-letter queue"
    sources = t.sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"]
    assert [u.rsplit("/", 1)[-1] for u in sources] == [f"src-{tag}"], sources
    t.sqs.start_message_move_task(SourceArn=t.arn(f"dlq-{tag}"))
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        tasks = t.sqs.list_message_move_tasks(SourceArn=t.arn(f"dlq-{tag}"))["Results"]
        if tasks and tasks[0]["Status"] == "COMPLETED":
            break
        time.sleep(0.1)
    assert tasks and tasks[0]["Status"] == "COMPLETED", tasks
    assert wait_for(t, source, 1) == ["poison"], "redriven back to its source queue"


def batch_visibility_and_tags(t):
    tag = uuid.uuid4().hex[:6]
    url = t.sqs.create_queue(QueueName=f"tagged-{tag}", tags={"team": "sos"})["QueueUrl"]
    t.sqs.tag_queue(QueueUrl=url, Tags={"stage": "dev"})
    t.sqs.untag_queue(QueueUrl=url, TagKeys=["team"])
    assert t.sqs.list_queue_tags(QueueUrl=url).get("Tags") == {"stage": "dev"}
    t.sqs.send_message(QueueUrl=url, MessageBody="back")
    got = t.sqs.receive_message(QueueUrl=url, VisibilityTimeout=300)["Messages"]
    out = t.sqs.change_message_visibility_batch(
        QueueUrl=url, Entries=[{"Id": "a", "ReceiptHandle": got[0]["ReceiptHandle"], "VisibilityTimeout": 0}]
    )
    assert [s["Id"] for s in out["Successful"]] == ["a"] and not out.get("Failed"), out
    assert [m["Body"] for m in t.sqs.receive_message(QueueUrl=url).get("Messages", [])] == ["back"]


def one_mebibyte(t):
    url = t.queue(f"big-{uuid.uuid4().hex[:6]}")
    body = "a" * (300 * 1024)
    t.sqs.send_message(QueueUrl=url, MessageBody=body)
    assert t.sqs.receive_message(QueueUrl=url)["Messages"][0]["Body"] == body, "a 300 KiB message"
    t.sqs.send_message(QueueUrl=url, MessageBody="b" * (1024 * 1024))
    too_big = error_code(lambda: t.sqs.send_message(QueueUrl=url, MessageBody="c" * (1024 * 1024 + 1)))
    assert too_big == "InvalidParameterValue", too_big


def another_account(t):
    name = f"mine-{uuid.uuid4().hex[:6]}"
    url = t.queue(name)
    t.sqs.send_message(QueueUrl=url, MessageBody="kept")
    other = url.replace(f"/{t.account}/", "/123456789012/" if t.account != "123456789012" else "/210987654321/")
    code = error_code(lambda: t.sqs.receive_message(QueueUrl=other))
    assert code == "AWS.SimpleQueueService.NonExistentQueue", f"a queue URL of another account: {code}"
    assert [m["Body"] for m in t.sqs.receive_message(QueueUrl=url)["Messages"]] == ["kept"]


def query_protocol(t):
    """The older query protocol (what SDKs before the JSON protocol send): the same operations,
    answered in XML, with the same error codes."""
    if t.sqs.meta.endpoint_url.startswith("https://"):
        return  # moto's mock answers only what boto3 sends, which is JSON
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    def call(**params):
        body = urllib.parse.urlencode({"Version": "2012-11-05", **params})
        request = AWSRequest(method="POST", url=URL + "/", data=body,
                             headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        SigV4Auth(Credentials(checks.ACCESS_KEY, checks.SECRET_KEY), "sqs", checks.REGION).add_auth(request)
        prepared = urllib.request.Request(URL + "/", data=body.encode(), headers=dict(request.headers), method="POST")
        try:
            with urllib.request.urlopen(prepared) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.read().decode()

    status, xml = call(Action="GetQueueUrl", QueueName=f"absent-{uuid.uuid4().hex[:6]}")
    assert status == 400 and "<Code>AWS.SimpleQueueService.NonExistentQueue</Code>" in xml, (status, xml)
    name = f"query-{uuid.uuid4().hex[:6]}.fifo"
    status, xml = call(Action="CreateQueue", QueueName=name, **{"Attribute.1.Name": "FifoQueue", "Attribute.1.Value": "true"})
    assert status == 200 and f"/{name}</QueueUrl>" in xml, (status, xml)
    url = xml.split("<QueueUrl>")[1].split("</QueueUrl>")[0]
    status, xml = call(Action="SendMessage", QueueUrl=url, MessageBody="x", MessageDeduplicationId="d")
    assert status == 400 and "<Code>MissingParameter</Code>" in xml, (status, xml)
    status, xml = call(Action="SendMessage", QueueUrl=url, MessageBody="over query", MessageGroupId="g",
                       MessageDeduplicationId="d", **{"MessageAttribute.1.Name": "kind",
                       "MessageAttribute.1.Value.DataType": "String", "MessageAttribute.1.Value.StringValue": "csv"})
    assert status == 200 and "<MessageId>" in xml and "<SequenceNumber>" in xml, (status, xml)
    status, xml = call(Action="ReceiveMessage", QueueUrl=url, **{"AttributeName.1": "All", "MessageAttributeName.1": "All"})
    assert status == 200 and "<Body>over query</Body>" in xml and "<Name>MessageGroupId</Name><Value>g</Value>" in xml, xml
    assert "<MessageAttribute><Name>kind</Name><Value><StringValue>csv</StringValue><DataType>String</DataType>" in xml, xml
    # The same message over JSON: one queue, two protocols.
    assert t.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessagesNotVisible"])[
        "Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "1"


CASES = [fifo_queues, filter_policies, redrive, batch_visibility_and_tags, one_mebibyte, another_account, query_protocol]
SANDBOX = Target(URL)


def moto_says(case):
    """What moto's mock answers to `case`: `agrees`, or what it does differently."""
    if case is query_protocol:
        return "not compared (moto's mock takes what boto3 sends, which is JSON)"
    try:
        from moto import mock_aws
    except ImportError:
        return "not installed"
    try:
        with mock_aws():
            case(Target(None))
    except Exception as err:  # noqa: BLE001 - any difference is reported, not failed
        return f"differs ({type(err).__name__}: {str(err).splitlines()[0][:160]})"
    return "agrees"


def make_test(case):
    def test():
        case(SANDBOX)
        print(f"     moto on {case.__name__}: {moto_says(case)}")
    return test


for _case in CASES:
    globals()[f"test_{_case.__name__}"] = make_test(_case)

if __name__ == "__main__":
    sys.exit(checks.run(globals()))
