"""The testkit's search for a person's data finds it inside base64 too (a JWT's claims)."""

import base64
import json

import pytest

from servicekit.testkit.erasure import forms_of


@pytest.mark.parametrize("before", range(6))
def test_a_text_is_found_inside_base64_at_any_offset_in_either_alphabet(before):
    claims = json.dumps({"x": "y" * before, "email": "ada.lovelace@example.com", "z": 1}).encode()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        token = encode(claims).decode().rstrip("=")
        assert any(form in token for form in forms_of("ada.lovelace@example.com")), token


def test_other_texts_are_not_found():
    token = base64.urlsafe_b64encode(b'{"email": "grace.hopper@example.com"}').decode()
    assert not any(form in token for form in forms_of("ada.lovelace@example.com"))
