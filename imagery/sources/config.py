"""Sentinel Hub settings: from the environment or a config file, never from code.

Two kinds of account work out of the box:

``cdse`` (default)
    Copernicus Data Space Ecosystem, free. Sentinel Hub APIs at
    ``https://sh.dataspace.copernicus.eu``, OAuth tokens from the CDSE identity server.
``commercial``
    Sentinel Hub by Planet/Sinergise at ``https://services.sentinel-hub.com``.

Switch with ``SH_SERVICE=commercial`` (or ``service = "commercial"`` in the file);
``SH_BASE_URL`` / ``SH_TOKEN_URL`` (or ``base_url`` / ``token_url``) override the preset,
e.g. for another Sentinel Hub deployment.

Precedence: environment variables, then the config file, then the preset. The config
file is TOML at ``$PORTWATCH_CONFIG``, else ``$XDG_CONFIG_HOME/portwatch/config.toml``
(``~/.config/portwatch/config.toml``), with one table::

    [sentinelhub]
    service = "cdse"             # or "commercial"
    client_id = "sh-0123..."
    client_secret = "..."        # keep the file private: chmod 600
    # base_url, token_url: override the service preset
    # retry and size tuning (defaults shown):
    max_attempts = 4             # per request, for 5xx, timeouts and corrupt responses
    backoff_s = 2.0              # first wait; doubles each attempt
    backoff_max_s = 60.0         # cap on one backoff wait
    rate_limit_attempts = 10     # requests per call while the server answers 429
    retry_after_max_s = 60.0     # cap on one Retry-After wait
    retry_after_unit = "ms"      # of a 429's Retry-After (Sentinel Hub: ms); 5xx: seconds
    timeout_s = 120.0            # per HTTP request
    max_tile_px = 2500           # Process API limit per axis; larger requests are tiled

The client secret never leaves this module in clear text except to the token endpoint:
``repr(settings)`` masks it and :meth:`Settings.redact` scrubs it from any text.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import stat
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from imagery.errors import ConfigError

__all__ = ["SERVICES", "Settings", "config_path", "load_settings"]

log = logging.getLogger(__name__)

#: Endpoint presets: service name -> (base URL, OAuth token URL).
SERVICES: dict[str, tuple[str, str]] = {
    "cdse": (
        "https://sh.dataspace.copernicus.eu",
        "https://identity.dataspace.copernicus.eu/auth/realms/CDSE/protocol/openid-connect/token",
    ),
    "commercial": (
        "https://services.sentinel-hub.com",
        "https://services.sentinel-hub.com/auth/realms/main/protocol/openid-connect/token",
    ),
}

_ENV = {
    "client_id": "SH_CLIENT_ID",
    "client_secret": "SH_CLIENT_SECRET",
    "base_url": "SH_BASE_URL",
    "token_url": "SH_TOKEN_URL",
    "service": "SH_SERVICE",
}
_MASK = "***"


@dataclasses.dataclass(frozen=True, repr=False)
class Settings:
    """Where and how to reach Sentinel Hub.

    Attributes
    ----------
    client_id, client_secret : str
        OAuth client credentials (empty when not configured).
    base_url, token_url : str
        Sentinel Hub API root and OAuth token endpoint.
    service : str
        The preset the URLs came from (``cdse``, ``commercial``) or ``custom``.
    max_attempts : int
        Attempts per request for 5xx answers, timeouts, dropped connections and corrupt
        responses.
    backoff_s, backoff_max_s : float
        First wait between attempts and the cap on one wait, seconds; the wait doubles.
    rate_limit_attempts : int
        Requests sent in one call while the server keeps answering HTTP 429.
    retry_after_max_s : float
        Cap on one wait asked for by ``Retry-After``, seconds.
    retry_after_unit : {"ms", "s"}
        Unit of a numeric ``Retry-After`` on HTTP 429; Sentinel Hub documents
        milliseconds. On a 5xx it is always seconds (RFC 9110).
    timeout_s : float
        Timeout of one HTTP request, seconds.
    max_tile_px : int
        Largest request width/height in pixels; larger AOIs are split into tiles.
    source : Path or None
        The config file read, if any.
    """

    client_id: str = ""
    client_secret: str = ""
    base_url: str = SERVICES["cdse"][0]
    token_url: str = SERVICES["cdse"][1]
    service: str = "cdse"
    max_attempts: int = 4
    backoff_s: float = 2.0
    backoff_max_s: float = 60.0
    rate_limit_attempts: int = 10
    retry_after_max_s: float = 60.0
    retry_after_unit: str = "ms"
    timeout_s: float = 120.0
    max_tile_px: int = 2500
    source: Path | None = None

    def __post_init__(self) -> None:
        for name in ("max_attempts", "rate_limit_attempts", "max_tile_px"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(
                    f"{self._where()}: {name} must be a whole number >= 1, got {value!r}"
                )
        for name in ("backoff_s", "backoff_max_s", "retry_after_max_s", "timeout_s"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                raise ConfigError(f"{self._where()}: {name} must be a number >= 0, got {value!r}")
            object.__setattr__(self, name, float(value))
        if self.retry_after_unit not in ("ms", "s"):
            raise ConfigError(
                f"{self._where()}: retry_after_unit must be 'ms' or 's', got {self.retry_after_unit!r}"
            )
        for name in ("base_url", "token_url"):
            url = getattr(self, name)
            if not url.startswith(("https://", "http://")):
                raise ConfigError(f"{self._where()}: {name} must be an http(s) URL, got {url!r}")
            object.__setattr__(self, name, url.rstrip("/"))

    def _where(self) -> str:
        return str(self.source) if self.source else "Sentinel Hub settings"

    def require_credentials(self) -> Settings:
        """Return self, or raise :class:`ConfigError` naming the variable to set."""
        for name in ("client_id", "client_secret"):
            if not getattr(self, name):
                where = f" (or {name} under [sentinelhub] in {config_path()})"
                raise ConfigError(
                    f"Sentinel Hub {name.replace('_', ' ')} is not set: set {_ENV[name]}{where}"
                )
        return self

    def redact(self, text: str) -> str:
        """``text`` with the client secret replaced by ``***``."""
        if self.client_secret and len(self.client_secret) >= 4:
            text = text.replace(self.client_secret, _MASK)
        return text

    def public_dict(self) -> dict[str, Any]:
        """Settings safe to write into a sidecar or print: no credentials."""
        return {"service": self.service, "base_url": self.base_url, "token_url": self.token_url}

    def __repr__(self) -> str:
        shown = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        shown["client_secret"] = _MASK if self.client_secret else ""
        body = ", ".join(f"{k}={v!r}" for k, v in shown.items())
        return f"Settings({body})"

    __str__ = __repr__


def config_path(env: Mapping[str, str] | None = None) -> Path:
    """The config file portwatch reads (it need not exist)."""
    env = os.environ if env is None else env
    if env.get("PORTWATCH_CONFIG"):
        return Path(env["PORTWATCH_CONFIG"]).expanduser()
    base = Path(env.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "portwatch" / "config.toml"


def _read_file(path: Path, *, explicit: bool) -> dict[str, Any]:
    if not path.exists():
        if explicit:
            raise ConfigError(
                f"{path}: config file does not exist (named by PORTWATCH_CONFIG or given)"
            )
        return {}
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    table = doc.get("sentinelhub", {})
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [sentinelhub] must be a table")
    known = {f.name for f in dataclasses.fields(Settings)} - {"source"}
    unknown = sorted(set(table) - known)
    if unknown:
        raise ConfigError(
            f"{path}: unknown key(s) {', '.join(unknown)} in [sentinelhub] (known: {', '.join(sorted(known))})"
        )
    if table.get("client_secret"):
        _warn_if_readable(path)
    return table


def _warn_if_readable(path: Path) -> None:
    try:
        mode = path.stat().st_mode
    except OSError:
        return
    if mode & (stat.S_IRGRP | stat.S_IROTH):
        log.warning("%s holds a client secret and is readable by others; chmod 600 it", path)


def load_settings(
    env: Mapping[str, str] | None = None, *, path: str | os.PathLike | None = None
) -> Settings:
    """Settings from the environment and the config file.

    Parameters
    ----------
    env : mapping, optional
        Environment to read (``os.environ`` by default).
    path : path-like, optional
        Config file to read instead of the default location.

    Returns
    -------
    Settings
        Credentials may be empty; call :meth:`Settings.require_credentials` before use.

    Raises
    ------
    ConfigError
        Unreadable or invalid config file, unknown service, bad value.
    """
    env = os.environ if env is None else env
    explicit = path is not None or bool(env.get("PORTWATCH_CONFIG"))
    file_path = Path(path) if path is not None else config_path(env)
    values = dict(_read_file(file_path, explicit=explicit))
    for key, var in _ENV.items():
        if env.get(var, "").strip():
            values[key] = env[var].strip()
    service = str(values.pop("service", "cdse")).strip().lower()
    if service not in SERVICES:
        raise ConfigError(
            f"unknown Sentinel Hub service {service!r} (SH_SERVICE / service): use one of {', '.join(SERVICES)}"
        )
    preset = SERVICES[service]
    values.setdefault("base_url", preset[0])
    values.setdefault("token_url", preset[1])
    if (str(values["base_url"]).rstrip("/"), str(values["token_url"])) != preset:
        service = "custom"
    for key in ("client_id", "client_secret"):
        values[key] = str(values.get(key, "")).strip()
    return Settings(**values, service=service, source=file_path if file_path.exists() else None)
