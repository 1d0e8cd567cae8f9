"""The pseudonymiser: deterministic, keyed refs that never reveal the identifier."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr, TypeAdapter, ValidationError

from schemas.events import Ref
from schemas.privacy import NAMESPACES, PrivacySettings, Pseudonymiser, normalise_identifier

KEY = SecretStr("c0c95ced7b4961de94cdc7d7762e5adba7b56f18fae5d6a596c2c3ecb74f9d6c")  # 32 bytes, hex
REF = TypeAdapter(Ref)

# Realistic identifiers: documents start with a letter, plates carry a province character or
# Hong Kong letters; at least one character is not a hex digit, as in real identifiers.
documents = st.from_regex(r"[A-Z]{1,2}[0-9]{7,9}", fullmatch=True)
plates = st.from_regex(r"(粤[A-Z][0-9A-Z]{5}|[A-Z]{2}[0-9]{1,4})", fullmatch=True)
texts = st.text(st.characters(categories=("L", "N")), min_size=10, max_size=40).filter(
    lambda s: len(normalise_identifier(s)) >= 10
)


@pytest.fixture
def pseudonymiser() -> Pseudonymiser:
    return Pseudonymiser(KEY)


def test_ref_is_deterministic_and_a_valid_ref(pseudonymiser: Pseudonymiser) -> None:
    ref = pseudonymiser.ref("document", "H12345678")
    assert ref == pseudonymiser.ref("document", "H12345678")
    assert ref == Pseudonymiser(KEY).ref("document", "H12345678")
    assert REF.validate_python(ref) == ref


def test_ref_depends_on_the_key() -> None:
    other = Pseudonymiser(SecretStr(KEY.get_secret_value()[::-1]))
    assert other.ref("plate", "粤B12345") != Pseudonymiser(KEY).ref("plate", "粤B12345")


def test_ref_depends_on_the_namespace(pseudonymiser: Pseudonymiser) -> None:
    refs = {pseudonymiser.ref(namespace, "AB1234") for namespace in NAMESPACES}
    assert len(refs) == len(NAMESPACES)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("粤B 12345", "粤b12345"),
        ("h1234567-8", "H12345678"),
        ("Ｈ１２３４５６７８", "H12345678"),  # full-width
        ("A123456(7)", "A1234567"),
        (" ab 1234 ", "AB1234"),
    ],
)
def test_formatting_does_not_change_the_ref(pseudonymiser: Pseudonymiser, a: str, b: str) -> None:
    assert normalise_identifier(a) == normalise_identifier(b)
    assert pseudonymiser.ref("plate", a) == pseudonymiser.ref("plate", b)


@pytest.mark.parametrize("key", ["", "   "])
def test_an_empty_key_is_refused(key: str) -> None:
    with pytest.raises(ValueError, match="PRIVACY_HMAC_KEY is empty"):
        Pseudonymiser(SecretStr(key))


def test_from_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env here
    monkeypatch.setenv("PRIVACY_HMAC_KEY", KEY.get_secret_value())
    assert Pseudonymiser.from_settings(PrivacySettings()).ref("licence", "D1234567") == Pseudonymiser(KEY).ref(
        "licence", "D1234567"
    )
    with pytest.raises(ValueError, match="PRIVACY_HMAC_KEY is empty"):
        Pseudonymiser.from_settings(PrivacySettings(hmac_key=SecretStr("")))


def test_unknown_namespace_and_empty_identifier_are_refused(pseudonymiser: Pseudonymiser) -> None:
    with pytest.raises(ValueError, match="namespace 'passport' is not one of document, licence"):
        pseudonymiser.ref("passport", "H12345678")
    with pytest.raises(ValueError, match="identifier is empty"):
        pseudonymiser.ref("plate", " - ")


def test_repr_hides_the_key(pseudonymiser: Pseudonymiser) -> None:
    assert KEY.get_secret_value() not in repr(pseudonymiser)


@given(namespace=st.sampled_from(sorted(NAMESPACES)), identifier=documents | plates | texts)
def test_a_ref_never_equals_or_contains_the_identifier(namespace: str, identifier: str) -> None:
    ref = Pseudonymiser(KEY).ref(namespace, identifier)
    assert REF.validate_python(ref) == ref
    for clear in (identifier, normalise_identifier(identifier), identifier.lower()):
        assert clear != ref
        assert clear not in ref


@given(identifier=documents | plates)
def test_a_clear_identifier_never_validates_as_a_ref(identifier: str) -> None:
    for clear in (identifier, identifier.lower()):
        with pytest.raises(ValidationError, match="not a ref"):
            REF.validate_python(clear)
