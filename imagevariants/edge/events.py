"""Origin-response events of the documented CloudFront shape, as Lambda@Edge passes them to the function.

The one builder of such events outside CloudFront: the local edge and warming (a miss answered in the web
process), the bundle verifier (under the Lambda runtime's Python, with only the bundle importable) and the tests.
The defaults are the values of the documented example: an S3 origin's 403 for a missing key.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

__all__ = ["origin_response_event"]

#: The documented example's distribution domain name.
DISTRIBUTION = "d111111abcdef8.cloudfront.net"
#: The documented example's viewer address.
CLIENT_IP = "203.0.113.178"


def origin_response_event(
    uri: str,
    status: str = "403",
    bucket: str = "awsexamplebucket",
    region: str | None = "eu-west-1",
    *,
    distribution: str = DISTRIBUTION,
    client_ip: str = CLIENT_IP,
) -> dict[str, Any]:
    """The origin-response event of an S3 origin (``bucket``) that answered ``status`` for ``uri`` (the request's
    path, already percent-encoded).

    With a ``region``, the origin is the regional domain behind an origin access identity; without one, the
    global domain (``bucket.s3.amazonaws.com``) without any. Every call builds a new event: callers may change it.
    """
    s3: dict[str, Any] = {"authMethod": "origin-access-identity", "customHeaders": {}, "path": ""}
    if region:
        s3.update(domainName=f"{bucket}.s3.{region}.amazonaws.com", region=region)
    else:
        s3.update(domainName=f"{bucket}.s3.amazonaws.com", authMethod="none")
    return {
        "Records": [
            {
                "cf": {
                    "config": {
                        "distributionDomainName": distribution,
                        "distributionId": "EDFDVBD6EXAMPLE",
                        "eventType": "origin-response",
                        "requestId": "4TyzHTaYWb1GX1qTfsHhEqV6HUDd_BzoBZnwfnvQc_1oF26ClkoUSEQ==",
                    },
                    "request": {
                        "clientIp": client_ip,
                        "headers": {
                            "x-forwarded-for": [{"key": "X-Forwarded-For", "value": client_ip}],
                            "user-agent": [{"key": "User-Agent", "value": "Amazon CloudFront"}],
                            "via": [
                                {
                                    "key": "Via",
                                    "value": "2.0 8f22423015641505b8c857a37450d6c0.cloudfront.net (CloudFront)",
                                }
                            ],
                            "host": [{"key": "Host", "value": s3["domainName"]}],
                        },
                        "method": "GET",
                        "origin": {"s3": s3},
                        "querystring": "",
                        "uri": uri,
                    },
                    "response": {
                        "headers": {
                            "x-amz-request-id": [{"key": "x-amz-request-id", "value": "EXAMPLE0REQUEST0ID"}],
                            "x-amz-id-2": [{"key": "x-amz-id-2", "value": "EXAMPLEid2"}],
                            "content-type": [{"key": "Content-Type", "value": "application/xml"}],
                            "date": [{"key": "Date", "value": "Mon, 13 Jan 2020 20:12:38 GMT"}],
                            "server": [{"key": "Server", "value": "AmazonS3"}],
                        },
                        "status": status,
                        "statusDescription": HTTPStatus(int(status)).phrase,
                    },
                }
            }
        ]
    }
