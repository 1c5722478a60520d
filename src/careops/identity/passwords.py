"""Staff passwords, hashed with Argon2id (argon2-cffi's defaults, RFC 9106 low-memory profile)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from careops.errors import InvalidInput

_HASHER = PasswordHasher()
MIN_LENGTH = 10
MAX_LENGTH = 256  # a megabyte "password" would make every login hash a megabyte


def check_strength(password: str, username: str = "") -> None:
    """Refuse passwords a hospital's staff account must not have: short, huge, a handful of
    distinct characters, control characters, or the account's own name in it."""
    if not isinstance(password, str):
        raise InvalidInput("密码须为文本 / a password is text")
    if len(password) < MIN_LENGTH:
        raise InvalidInput(
            f"密码至少 {MIN_LENGTH} 个字符 / a password needs {MIN_LENGTH}+ characters"
        )
    if len(password) > MAX_LENGTH:
        raise InvalidInput(f"密码最多 {MAX_LENGTH} 个字符 / a password has at most {MAX_LENGTH}")
    if len(set(password)) < 4:
        raise InvalidInput("密码过于简单 / the password is too simple")
    if any(ord(c) < 32 or ord(c) == 127 for c in password):
        raise InvalidInput("密码不能含控制字符 / a password cannot hold control characters")
    if username and username.lower() in password.lower():
        raise InvalidInput("密码不能包含用户名 / a password cannot contain the username")


def hash_password(password: str) -> str:
    """The Argon2id hash to store (salted; the password itself is never stored)."""
    return _HASHER.hash(password)


def verify_password(stored: str, password: str) -> bool:
    """Whether `password` matches the stored hash (constant-time inside Argon2)."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return _HASHER.verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether a stored hash used weaker parameters than today's and should be replaced."""
    return _HASHER.check_needs_rehash(stored)


#: a hash to verify against when the username is unknown, so that an unknown name and a wrong
#: password take the same time (no user enumeration by timing)
DUMMY_HASH = _HASHER.hash("careops-no-such-user")
