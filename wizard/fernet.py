"""The Fernet key Airflow encrypts connections and variables with.

Keys are returned, never written anywhere: the secrets step stores them in an SSM SecureString.
"""

from __future__ import annotations

import base64
import binascii
import secrets

from wizard.errors import BadInput

KEY_BYTES = 32


def generate_key() -> str:
    """A new key: 32 random bytes from the OS, url-safe base64, which is all
    `Fernet.generate_key()` does; without importing cryptography, ~7 MiB the wizard's process
    would keep for the rest of the walk (the secrets step's preview makes a key)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def validate_key(key: str) -> str:
    """Check a key a user brings, or a rotation pair `new,old`; return it stripped.

    Raises:
        BadInput: a part is not 32 url-safe base64-encoded bytes.
    """
    parts = [part.strip() for part in key.strip().split(",")]
    for index, part in enumerate(parts):
        try:
            decoded = base64.urlsafe_b64decode(part.encode("ascii"))
        except (binascii.Error, UnicodeEncodeError, ValueError):
            decoded = b""
        if len(decoded) != KEY_BYTES or len(part) != 44:
            which = "the key" if len(parts) == 1 else f"key {index + 1} of {len(parts)}"
            raise BadInput(
                f"{which} is not a Fernet key: it must be 32 bytes in url-safe base64 "
                "(44 characters ending in =)",
                title="Invalid Fernet key",
                hint="Generate one with: python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'",
            )
    return ",".join(parts)


def rotate(current: str) -> str:
    """The value for Airflow's rotation: `new,old`.

    Set it on every component, run `airflow rotate-fernet-key`, then keep only the new key.
    A value already mid-rotation (`a,b`) rotates from its newest key `a`.
    """
    newest = validate_key(current).split(",")[0]
    return f"{generate_key()},{newest}"
