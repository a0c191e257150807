"""Bounded retries around Sentinel Hub calls, and the server's message on failure.

What sentinelhub-py 3.12 does by itself (``sentinelhub/download/handlers.py``,
``sentinelhub_client.py``, ``rate_limit.py``):

* 5xx answers, timeouts and dropped connections are retried ``max_download_attempts``
  times, sleeping ``download_sleep_time`` and tripling it each time, with no cap and no
  look at ``Retry-After``;
* 4xx answers (except 429) raise ``DownloadFailedException`` at once, keeping the
  ``requests`` error and hence the response;
* 429 is retried inside the client, waiting ``Retry-After`` read as *milliseconds* (the
  unit Sentinel Hub documents), with no cap on one wait and, unless ``max_retries`` is
  set, no bound on the number of tries.

portwatch keeps the client's 429 loop, bounds it (``max_retries`` =
``rate_limit_attempts``) and caps each wait (a rate limiter of ours, see
:mod:`imagery.sources.client`). It turns the client's own 5xx loop off
(``max_download_attempts=1``) and runs :func:`call_with_retries` instead, so 5xx answers,
timeouts, dropped connections and corrupt payloads share one loop with exponential
backoff, a cap per wait, ``Retry-After`` honoured on 503 (in seconds, RFC 9110, as the
lower bound of the wait: the wait is the longer of it and the backoff), and a warning
per retry.
"""

from __future__ import annotations

import email.utils
import json
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

import requests
from sentinelhub.exceptions import DownloadFailedException, OutOfRequestsException

from imagery.errors import DownloadError, PortwatchError
from imagery.sources.config import Settings

__all__ = [
    "CorruptResponse",
    "ErrorBody",
    "backoff_s",
    "body_message",
    "call_with_retries",
    "retry_after_s",
    "server_message",
]

log = logging.getLogger(__name__)

T = TypeVar("T")


class CorruptResponse(Exception):
    """A 200 answer whose payload cannot be used (truncated or wrong-grid GeoTIFF).

    Internal to :mod:`imagery.sources`: :func:`call_with_retries` retries it and, once the
    attempts are spent, raises :class:`~imagery.errors.DownloadError`.
    """


class ErrorBody(Exception):
    """A 200 answer whose body is an error document (or not the document asked for).

    The server said it failed ("Evaluation of evalscript failed"); asking again gets the
    same answer, so :func:`call_with_retries` does not retry it and raises
    :class:`~imagery.errors.DownloadError` with the message, built by
    :func:`body_message`.
    """


@dataclass(frozen=True)
class _Fault:
    retryable: bool
    message: str
    wait_s: float | None = None


def backoff_s(attempt: int, settings: Settings) -> float:
    """Wait before attempt ``attempt + 1``: ``backoff_s * 2**(attempt - 1)``, capped, seconds."""
    return min(settings.backoff_s * 2.0 ** max(attempt - 1, 0), settings.backoff_max_s)


def retry_after_s(
    value: str | None, settings: Settings, *, unit: str | None = None
) -> float | None:
    """Seconds to wait for a ``Retry-After`` header value, capped; None when absent or unreadable.

    A number is read in ``unit`` (``"ms"`` or ``"s"``), by default
    ``settings.retry_after_unit``: Sentinel Hub's 429 sends milliseconds, while RFC 9110
    (10.2.3) gives seconds, as gateways send on 503. An HTTP date is read as a point in
    time.
    """
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    try:
        number = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    else:
        unit = unit or settings.retry_after_unit
        seconds = number / 1000.0 if unit == "ms" else number
    return min(max(seconds, 0.0), settings.retry_after_max_s)


def _one_line(text: str, limit: int = 300) -> str:
    text = re.sub(r"\s+", " ", text).strip()
    return text if len(text) <= limit else text[: limit - 3] + "..."


def server_message(response: requests.Response | None) -> str:
    """One line from an error response: status, reason and the server's own message.

    Understands Sentinel Hub's ``{"error": {"status", "reason", "message", "code"}}`` and
    OAuth's ``{"error": ..., "error_description": ...}``; falls back to the body text.
    """
    if response is None:
        return "no response"
    try:
        body = response.json()
    except ValueError:
        body = None
    if body is None:
        text = (response.text or "").strip()
        head = f"HTTP {response.status_code} {response.reason or ''}"
        return _one_line(head + (f": {text}" if text else ""))
    return body_message(response.status_code, response.reason, body)


def body_message(status: int | None, reason: str | None, body: object) -> str:
    """One line from a decoded JSON answer: status, reason and the server's own message.

    Sentinel Hub's ``{"error": {"status", "reason", "message", "code"}}``, OAuth's
    ``{"error": ..., "error_description": ...}``, else the JSON itself.
    """
    head = f"HTTP {status}"
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        text = f"{head} {err.get('reason') or reason or ''}: {err.get('message', '')}".rstrip(": ")
        if err.get("code"):
            text += f" [{err['code']}]"
        return _one_line(text)
    if isinstance(body, dict) and "error" in body:
        detail = body.get("error_description") or body.get("message") or ""
        return _one_line(f"{head}: {body['error']}" + (f": {detail}" if detail else ""))
    return _one_line(f"{head} {reason or ''}: {json.dumps(body)}")


def _http_fault(response: requests.Response | None, settings: Settings) -> _Fault:
    status = response.status_code if response is not None else 0
    message = server_message(response)
    wait = None
    if response is not None:
        # Only Sentinel Hub's own 429 counts in milliseconds; a 5xx (often from a
        # gateway or load balancer in front of it) follows RFC 9110: seconds.
        unit = None if status == 429 else "s"
        wait = retry_after_s(response.headers.get("Retry-After"), settings, unit=unit)
    return _Fault(retryable=status >= 500 or status == 429, message=message, wait_s=wait)


def _classify(exc: BaseException, settings: Settings) -> _Fault | None:
    if isinstance(exc, CorruptResponse):
        return _Fault(True, f"corrupt response: {exc}")
    if isinstance(exc, ErrorBody):
        return _Fault(False, str(exc))
    if isinstance(exc, OutOfRequestsException):
        return _Fault(
            False, f"still rate limited (HTTP 429) after {settings.rate_limit_attempts} requests"
        )
    cause = exc.request_exception if isinstance(exc, DownloadFailedException) else exc
    if isinstance(cause, requests.HTTPError):
        return _http_fault(cause.response, settings)
    if isinstance(cause, requests.Timeout):
        return _Fault(True, f"no answer within {settings.timeout_s:g} s (timeout)")
    if isinstance(cause, requests.RequestException):
        return _Fault(
            True, f"connection failed ({type(cause).__name__}: {_one_line(str(cause), 160)})"
        )
    if isinstance(exc, DownloadFailedException):
        return _Fault(False, _one_line(str(exc)))
    return None


def call_with_retries(
    func: Callable[[], T],
    *,
    settings: Settings,
    what: str,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Call ``func`` until it succeeds, a permanent error occurs, or attempts run out.

    Parameters
    ----------
    func : callable
        Makes the request(s); may raise sentinelhub, requests or :class:`CorruptResponse`
        errors. A :class:`~imagery.errors.PortwatchError` passes through untouched.
    settings : Settings
        ``max_attempts``, ``backoff_s``, ``backoff_max_s`` and the Retry-After rules.
    what : str
        Names the call in messages ("process request for 2024-05-01 S1A").

    Raises
    ------
    DownloadError
        One line: ``what``, the server's status and message, and the attempts made. The
        client secret never appears in it.
    """
    attempts = settings.max_attempts
    for attempt in range(1, attempts + 1):
        try:
            return func()
        except PortwatchError:
            raise
        except Exception as exc:
            fault = _classify(exc, settings)
            if fault is None:
                raise
            message = settings.redact(fault.message)
            if not fault.retryable or attempt == attempts:
                tries = f" (after {attempt} attempts)" if attempt > 1 else ""
                raise DownloadError(f"{what}: {message}{tries}") from exc
            # Retry-After is the server's lower bound, not a replacement for the backoff.
            wait = max(fault.wait_s or 0.0, backoff_s(attempt, settings))
            log.warning(
                "%s: %s; attempt %d of %d in %.2f s", what, message, attempt + 1, attempts, wait
            )
            sleep(wait)
    raise AssertionError("unreachable")  # pragma: no cover
