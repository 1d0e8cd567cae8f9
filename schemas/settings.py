"""What every settings class shares: read from the environment and `.env`, a secret type, a
URL check that never repeats the URL. Each system's class lives beside that system's code
(`connectors.kafka.settings`, `schemas.privacy`, ...); `pipeline.settings` lists them all.

Relative paths resolve against the working directory, so commands run from the checkout keep
their state under `var/`.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, SecretStr
from pydantic_settings import NoDecode, SettingsConfigDict

HTTP_SCHEMES = ("http", "https")


def settings_config(prefix: str) -> SettingsConfigDict:
    """The model_config of a settings class whose variables start with `prefix`."""
    return SettingsConfigDict(
        env_prefix=prefix, env_file=".env", env_ignore_empty=True, extra="ignore", hide_input_in_errors=True
    )  # the value may be a secret


def _printable(secret: SecretStr) -> SecretStr:
    if not secret.get_secret_value().isprintable():
        raise ValueError("must not contain line breaks or other control characters (copied with a newline?)")
    return secret


# A password, token or key: printable, as a header, a login or an HMAC key needs it.
Secret = Annotated[SecretStr, AfterValidator(_printable)]


def checked_url(url: str | None, schemes: tuple[str, ...], rule: str) -> str | None:
    """`url` if it has one of `schemes`, a host and a numeric port if any; else ValueError(rule),
    never the URL itself, which may carry a password or a token. None stays None."""
    if url is None:
        return url
    try:
        parts = urlsplit(url)
        valid = parts.scheme in schemes and bool(parts.hostname) and parts.port != 0
    except ValueError:  # a port that is not a number, a broken IPv6 address
        valid = False
    if not valid:
        raise ValueError(rule)
    return url


def _http_url(url: str) -> str:
    return checked_url(url, HTTP_SCHEMES, "must be an http(s) URL")


# An http(s) URL (it may carry a token, never repeated in an error).
HttpUrl = Annotated[str, AfterValidator(_http_url)]


def _split(value: object) -> object:
    return [url.strip() for url in value.split(",") if url.strip()] if isinstance(value, str) else value


def _http_urls(urls: list[str]) -> list[str]:
    for number, url in enumerate(urls, 1):
        checked_url(url, HTTP_SCHEMES, f"URL {number} of {len(urls)} must be an http(s) URL")
    return urls


# Comma-separated http(s) URLs (webhooks: often with a token in them, never repeated in an error).
HttpUrls = Annotated[list[str], NoDecode, BeforeValidator(_split), AfterValidator(_http_urls)]
