"""Pseudonymisation: clear identifiers become refs before an event is built.

A ref is HMAC-SHA256(key, "<namespace>:<normalised identifier>") truncated to 128 bits and
written as 32 lowercase hex characters. The same identifier gives the same ref under the same
key, so crossings of one person, vehicle or plate can be linked; without the key a ref cannot
be reversed or recomputed from a guessed identifier.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings

from schemas.settings import Secret, settings_config

NAMESPACES = frozenset({"document", "licence", "plate"})
REF_HEX_CHARS = 32

# Spaces, hyphens, dots and brackets are formatting, not part of the identifier.
_FORMATTING = re.compile(r"[\s\-.()]+")


HMAC_KEY_MIN_BYTES = 32
# CHANGE_ME, the placeholder of deploy/k8s/secret.example.yaml, in any case, spelling or repetition.
_PLACEHOLDER = re.compile(r"(change[\W_]*me[\W_]*)+", re.IGNORECASE)


class PrivacySettings(BaseSettings):
    """Pseudonymisation of document numbers, licences and plates."""

    model_config = settings_config("PRIVACY_")

    hmac_key: Secret = Field(SecretStr(""), description="key of the HMAC that turns identifiers into refs")

    @field_validator("hmac_key")
    @classmethod
    def _strong_key(cls, key: SecretStr) -> SecretStr:
        """Empty means unset (the Pseudonymiser refuses it); else 32 bytes, not a placeholder."""
        secret = key.get_secret_value()
        if not secret:
            return key
        if _PLACEHOLDER.fullmatch(secret):
            raise ValueError("is a placeholder, not a key: set a random one (`make setup` writes one into .env)")
        if len(secret.encode()) < HMAC_KEY_MIN_BYTES:
            raise ValueError(
                f"must be at least {HMAC_KEY_MIN_BYTES} bytes of random key (`make setup` writes one into .env)"
            )
        return key


def normalise_identifier(identifier: str) -> str:
    """NFKC (full-width to ASCII), formatting removed, upper case: 'ab 12-34' -> 'AB1234'."""
    normalised = _FORMATTING.sub("", unicodedata.normalize("NFKC", identifier)).upper()
    if not normalised:
        raise ValueError("identifier is empty")
    return normalised


class Pseudonymiser:
    """Turns identifiers into refs with a secret HMAC key."""

    def __init__(self, key: SecretStr) -> None:
        secret = key.get_secret_value()
        if not secret.strip():
            raise ValueError("PRIVACY_HMAC_KEY is empty: set it to a long random secret before producing events")
        self._keyed = hmac.new(secret.encode(), digestmod=hashlib.sha256)

    @classmethod
    def from_settings(cls, settings: PrivacySettings) -> Pseudonymiser:
        """A pseudonymiser keyed by PRIVACY_HMAC_KEY."""
        return cls(settings.hmac_key)

    def ref(self, namespace: str, identifier: str) -> str:
        """The ref of `identifier` in `namespace` (one of NAMESPACES)."""
        if namespace not in NAMESPACES:
            raise ValueError(f"namespace {namespace!r} is not one of {', '.join(sorted(NAMESPACES))}")
        mac = self._keyed.copy()  # the key is hashed once, in __init__
        mac.update(f"{namespace}:{normalise_identifier(identifier)}".encode())
        return mac.hexdigest()[:REF_HEX_CHARS]

    def __repr__(self) -> str:
        return "Pseudonymiser(key=SecretStr('**********'))"
