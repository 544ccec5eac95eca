"""Extract: how reading a month's file can fail, by what a retry would do about it."""

from __future__ import annotations


class SourceError(Exception):
    """The source could not be read (retryable: network, 5xx, timeouts)."""


class BadSourceFile(Exception):
    """The file is not what the spec says it is (not retryable: retrying reads the same bytes)."""


class MonthNotPublished(Exception):
    """The month does not exist at the source (HTTP 404 / missing file); not retryable."""


def unreachable(url: str, exc: BaseException) -> str:
    """'cannot reach <host> (<cause>)' for a request that got no answer at all: the cause read from
    the requests/urllib3 error (DNS, refused, timeout, proxy, TLS), the host from ``url``."""
    from urllib.parse import urlparse

    text = f"{type(exc).__name__} {exc}"
    causes = (
        (("NameResolutionError", "Name or service not known", "Temporary failure in name resolution",
          "nodename nor servname", "Failed to resolve", "No address associated"), "DNS lookup failed"),
        (("ProxyError", "Unable to connect to proxy"), "the proxy failed"),
        (("Connection refused",), "connection refused"),
        (("SSLError", "CERTIFICATE_VERIFY_FAILED"), "TLS handshake failed"),
        (("ConnectTimeout", "timed out"), "connection timed out"),
    )
    cause = next((why for marks, why in causes if any(mark in text for mark in marks)), type(exc).__name__)
    parsed = urlparse(url)
    host = f"{parsed.hostname}:{parsed.port}" if parsed.port else parsed.hostname
    return f"cannot reach {host} ({cause})"
