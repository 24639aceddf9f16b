"""Salted scrypt password hashes, self-describing so the cost can be raised later.

The parameters are one of OWASP's equivalent scrypt settings (Password Storage Cheat Sheet:
N=2^17 r=8 p=1, or N=2^14 r=8 p=5, ...): N=2^14 with p=5 costs the same CPU in 16 MiB of memory
instead of 128 MiB, which matters on a two-core desk where hashing has one thread of its own.
Hashes made with older parameters still verify (each hash says its own) and are replaced by one
at the current parameters at the next successful log-in (`needs_rehash`).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

N, R, P = 2**14, 8, 5
# A decoy to verify when the name is unknown: made once, at the current parameters, so an
# unknown name costs exactly one scrypt run, like a known name with a wrong password.
_DECOY: str | None = None


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=N, r=R, p=P, dklen=32)
    return f"scrypt${N}${R}${P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    candidate = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32)
    return hmac.compare_digest(candidate.hex(), digest)


def needs_rehash(stored: str) -> bool:
    """True for a hash made with other parameters than the current ones."""
    parts = stored.split("$")
    return len(parts) != 6 or parts[:4] != ["scrypt", str(N), str(R), str(P)]


def decoy_hash() -> str:
    """The decoy hash, made on first use; `AccountService` makes it when the desk starts."""
    global _DECOY
    if _DECOY is None:
        _DECOY = hash_password(secrets.token_urlsafe(16))
    return _DECOY


def one_time_password() -> str:
    # Readable when printed on a terminal: no 0/O or 1/l look-alikes.
    alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(14))
