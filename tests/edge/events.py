"""Origin-response events of the documented CloudFront shape: an S3 origin's 403 for a missing key."""

from __future__ import annotations

import copy
from typing import Any

S3_MISS = {
    "Records": [
        {
            "cf": {
                "config": {
                    "distributionDomainName": "d111111abcdef8.cloudfront.net",
                    "distributionId": "EDFDVBD6EXAMPLE",
                    "eventType": "origin-response",
                    "requestId": "4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ==",
                },
                "request": {
                    "clientIp": "203.0.113.178",
                    "headers": {
                        "x-forwarded-for": [{"key": "X-Forwarded-For", "value": "203.0.113.178"}],
                        "user-agent": [{"key": "User-Agent", "value": "Amazon CloudFront"}],
                        "via": [
                            {
                                "key": "Via",
                                "value": "2.0 8f22423015641505b8c857a37450d6c0.cloudfront.net (CloudFront)",
                            }
                        ],
                        "host": [{"key": "Host", "value": "awsexamplebucket.s3.eu-west-1.amazonaws.com"}],
                    },
                    "method": "GET",
                    "origin": {
                        "s3": {
                            "authMethod": "origin-access-identity",
                            "customHeaders": {},
                            "domainName": "awsexamplebucket.s3.eu-west-1.amazonaws.com",
                            "path": "",
                            "region": "eu-west-1",
                        }
                    },
                    "querystring": "",
                    "uri": "/images/my%20photo-2024.jpg",
                },
                "response": {
                    "headers": {
                        "x-amz-request-id": [{"key": "x-amz-request-id", "value": "EXAMPLE0REQUEST0ID"}],
                        "x-amz-id-2": [{"key": "x-amz-id-2", "value": "EXAMPLEid2"}],
                        "content-type": [{"key": "Content-Type", "value": "application/xml"}],
                        "date": [{"key": "Date", "value": "Mon, 13 Jan 2020 20:12:38 GMT"}],
                        "server": [{"key": "Server", "value": "AmazonS3"}],
                    },
                    "status": "403",
                    "statusDescription": "Forbidden",
                },
            }
        }
    ]
}


def miss(uri: str, status: str = "403", bucket: str = "awsexamplebucket", region: str | None = "eu-west-1") -> dict:
    """The documented miss for ``uri`` (already percent-encoded), on ``bucket``."""
    event: dict[str, Any] = copy.deepcopy(S3_MISS)
    cf = event["Records"][0]["cf"]
    cf["request"]["uri"] = uri
    cf["response"]["status"] = status
    cf["response"]["statusDescription"] = {"403": "Forbidden", "404": "Not Found"}.get(status, "OK")
    s3 = cf["request"]["origin"]["s3"]
    if region:
        s3["domainName"] = f"{bucket}.s3.{region}.amazonaws.com"
        s3["region"] = region
    else:  # the global form, without an origin access identity
        s3["domainName"] = f"{bucket}.s3.amazonaws.com"
        s3.pop("region")
        s3["authMethod"] = "none"
    return event


def response_of(event: dict) -> dict:
    return event["Records"][0]["cf"]["response"]


class Context:
    """What Lambda passes as ``context``: the remaining time of the invocation."""

    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms
        self.function_name = "imagevariants-edge"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms
