"""The sentinelhub-py client, configured from :class:`~imagery.sources.config.Settings`.

* :func:`sh_config` builds an ``SHConfig`` from our settings alone
  (``use_defaults=True``), so sentinelhub-py neither reads nor writes its own
  ``~/.config/sentinelhub/config.toml``.
* :func:`open_session` fetches the OAuth token once, up front: wrong credentials end
  the run with one line before any search or download.
* :func:`make_client` gives a ``SentinelHubDownloadClient`` bound to that session, with
  a rate limiter that honours ``Retry-After`` with a cap.
* :func:`collection` re-points ``DataCollection.SENTINEL1_IW`` / ``SENTINEL2_L2A`` at the
  configured base URL (``define_from(..., service_url=...)``); without it sentinelhub-py
  would send CDSE users' requests to the commercial endpoint.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Mapping
from typing import Any

from oauthlib.oauth2.rfc6749.errors import InsecureTransportError, OAuth2Error
from sentinelhub import DataCollection, SentinelHubDownloadClient, SentinelHubSession, SHConfig
from sentinelhub.download.rate_limit import SentinelHubRateLimit
from sentinelhub.exceptions import DownloadFailedException

from imagery.errors import ConfigError, InputError
from imagery.sources.config import Settings
from imagery.sources.retry import backoff_s, call_with_retries, retry_after_s, server_message

__all__ = [
    "CappedRateLimit",
    "DownloadClient",
    "collection",
    "make_client",
    "open_session",
    "sh_config",
]

log = logging.getLogger(__name__)

#: Loggers that print OAuth request bodies (with the client secret) and tokens at DEBUG.
_CREDENTIAL_LOGGERS = ("requests_oauthlib", "oauthlib")

_BASE_COLLECTIONS = {
    "s1": DataCollection.SENTINEL1_IW,
    "s2": DataCollection.SENTINEL2_L2A,
}


def sh_config(settings: Settings) -> SHConfig:
    """An ``SHConfig`` holding our endpoints, credentials and retry bounds only.

    ``max_download_attempts=1`` hands 5xx/timeout retries to
    :func:`~imagery.sources.retry.call_with_retries`; ``max_retries`` bounds the client's
    own 429 loop.
    """
    return SHConfig(
        use_defaults=True,
        sh_client_id=settings.client_id,
        sh_client_secret=settings.client_secret,
        sh_base_url=settings.base_url,
        sh_token_url=settings.token_url,
        max_download_attempts=1,
        download_sleep_time=0.0,
        download_timeout_seconds=settings.timeout_s,
        max_retries=settings.rate_limit_attempts,
    )


def _quiet_credential_loggers() -> None:
    # requests_oauthlib logs the token request body (client_secret included) and the
    # token at DEBUG. Raise them to INFO unless someone chose a level for them.
    for name in _CREDENTIAL_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)


def open_session(settings: Settings) -> SentinelHubSession:
    """Authenticate against ``settings.token_url`` and return the session.

    Raises
    ------
    ConfigError
        Credentials missing, or refused by the token endpoint (one line, no secret).
    DownloadError
        The token endpoint kept failing (5xx, timeouts) after the configured attempts.
    """
    settings.require_credentials()
    _quiet_credential_loggers()
    config = sh_config(settings)

    def authenticate() -> SentinelHubSession:
        try:
            return SentinelHubSession(config=config)
        except InsecureTransportError as exc:
            raise ConfigError(
                f"token URL {settings.token_url} is not https; OAuth refuses to send credentials over it"
            ) from exc
        except OAuth2Error as exc:
            raise _refused(settings, f"{exc.error}: {exc.description}") from exc
        except DownloadFailedException as exc:
            response = getattr(exc.request_exception, "response", None)
            if (
                response is not None
                and 400 <= response.status_code < 500
                and response.status_code != 429
            ):
                raise _refused(settings, server_message(response)) from exc
            raise

    return call_with_retries(
        authenticate, settings=settings, what=f"token request to {settings.token_url}"
    )


def _refused(settings: Settings, detail: str) -> ConfigError:
    detail = settings.redact(" ".join(detail.split()))
    return ConfigError(
        f"Sentinel Hub token endpoint {settings.token_url} refused the credentials ({detail}); "
        "check SH_CLIENT_ID and SH_CLIENT_SECRET"
    )


class CappedRateLimit(SentinelHubRateLimit):
    """sentinelhub-py's rate limiter, with every 429 wait read from ``Retry-After`` and capped.

    The client calls :meth:`update` after each HTTP 429 and sleeps until
    ``next_download_time``. Without a ``Retry-After`` header the wait backs off
    exponentially (``backoff_s``, doubling, capped at ``backoff_max_s``).
    """

    def __init__(self, settings: Settings) -> None:
        super().__init__(num_processes=1)
        self.settings = settings
        self.strikes = 0

    def succeeded(self) -> None:
        """A request went through: the next 429 starts the backoff from ``backoff_s`` again."""
        self.strikes = 0

    def update(self, headers: Mapping[str, str], *, default: float) -> None:
        self.strikes += 1
        wait = retry_after_s(headers.get("Retry-After"), self.settings)
        if wait is None:
            wait = backoff_s(self.strikes, self.settings)
        log.warning(
            "Sentinel Hub rate limit (HTTP 429): waiting %.2f s before the next request", wait
        )
        self.next_download_time = max(time.monotonic() + wait, self.next_download_time)


class DownloadClient(SentinelHubDownloadClient):
    """sentinelhub-py's client, telling the rate limiter when a download went through.

    Without it the 429 strikes of a whole run add up: a lone 429 late in a long fetch
    waited ``backoff_max_s`` although the previous requests had all succeeded.
    """

    def download(self, *args: Any, **kwargs: Any) -> Any:
        result = super().download(*args, **kwargs)
        if isinstance(self.rate_limit, CappedRateLimit):
            self.rate_limit.succeeded()
        return result


def make_client(
    settings: Settings,
    session: SentinelHubSession,
    *,
    cls: type[DownloadClient] = DownloadClient,
) -> SentinelHubDownloadClient:
    """A download client (of class ``cls``) bound to ``session``, with the capped rate limiter."""
    client = cls(config=sh_config(settings), session=session, default_retry_time=settings.backoff_s)
    client.rate_limit = CappedRateLimit(settings)
    return client


def collection(sensor: str, settings: Settings) -> DataCollection:
    """The sensor's data collection, pointed at ``settings.base_url``.

    ``s1`` is ``SENTINEL1_IW`` (IW mode, VV+VH, high resolution GRD); ``s2`` is
    ``SENTINEL2_L2A``. The derived collection's name hashes the URL, so defining it again
    for the same URL returns the same enum member.
    """
    try:
        base = _BASE_COLLECTIONS[sensor]
    except KeyError:
        raise InputError(f"sensor must be 's1' or 's2', got {sensor!r}") from None
    url = settings.base_url.rstrip("/")
    digest = hashlib.sha1(url.encode(), usedforsecurity=False).hexdigest()[:10]
    return base.define_from(f"PORTWATCH_{base.name}_{digest}", service_url=url)
