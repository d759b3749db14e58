"""One boto3 transfer with the seed's TransferConfig(use_threads=False), for bench/transfer.sh.

usage: boto3_transfer.py URL upload FILE KEY | download KEY FILE
"""
import sys
import time

import boto3
from boto3.s3.transfer import TransferConfig

BUCKET = "snow-observing-systems"


def main():
    url, op, a, b = sys.argv[1:5]
    s3 = boto3.client("s3", endpoint_url=url, aws_access_key_id="test", aws_secret_access_key="test",
                      region_name="us-east-1")
    config = TransferConfig(use_threads=False)
    start = time.monotonic()
    if op == "upload":
        s3.upload_file(a, BUCKET, b, Config=config)
        size = s3.head_object(Bucket=BUCKET, Key=b)["ContentLength"]
    else:
        s3.download_file(BUCKET, a, b, Config=config)
        size = s3.head_object(Bucket=BUCKET, Key=a)["ContentLength"]
    elapsed = time.monotonic() - start
    print(f"{op} {size} bytes in {elapsed:.3f} s, {size / 1048576 / elapsed:.1f} MiB/s")


if __name__ == "__main__":
    main()
