"""The Fernet key helper: keys that Airflow's MultiFernet accepts, and rotation `new,old`."""

from __future__ import annotations

import pytest
from cryptography.fernet import Fernet, MultiFernet

from wizard.errors import BadInput
from wizard.fernet import generate_key, rotate, validate_key


def test_generated_keys_encrypt_and_differ() -> None:
    first, second = generate_key(), generate_key()
    assert first != second and len(first) == 44
    assert Fernet(first).decrypt(Fernet(first).encrypt(b"conn")) == b"conn"
    assert validate_key(f"  {first}\n") == first


@pytest.mark.parametrize(
    "bad",
    ["", "not-a-key", "A" * 44, Fernet.generate_key().decode()[:-2], "YWJj" * 11],
    ids=["empty", "not-a-key", "44-As", "truncated-key", "abc-repeated"],
)
def test_invalid_keys_are_refused(bad: str) -> None:
    with pytest.raises(BadInput, match="not a Fernet key"):
        validate_key(bad)


def test_rotation_puts_the_new_key_first_and_still_reads_old_tokens() -> None:
    old = generate_key()
    token = Fernet(old).encrypt(b"secret")
    pair = rotate(old)
    new, kept = pair.split(",")
    assert kept == old and new != old
    multi = MultiFernet([Fernet(k) for k in pair.split(",")])
    assert multi.decrypt(multi.rotate(token)) == b"secret"
    assert Fernet(new).decrypt(multi.rotate(token)) == b"secret"
    assert rotate(pair).split(",")[1] == new  # mid-rotation: rotate from the newest key


def test_second_key_of_a_pair_is_checked_too() -> None:
    with pytest.raises(BadInput, match="key 2 of 2"):
        validate_key(f"{generate_key()},nope")


def test_a_key_is_made_without_importing_cryptography() -> None:
    """The secrets step's preview makes a key in the wizard's process: cryptography would stay
    there, ~7 MiB, for the rest of the walk (issue 10 item 13)."""
    from tests.conftest import run_python

    key, imported = run_python(
        "import sys; from wizard.fernet import generate_key; key = generate_key(); "
        "print(key, 'cryptography' in sys.modules)"
    ).split()
    assert imported == "False"
    assert Fernet(key).decrypt(Fernet(key).encrypt(b"conn")) == b"conn"
