"""Staff passwords, hashed with Argon2id (by default argon2-cffi's parameters, the RFC 9106
low-memory profile: 64 MiB, 3 passes, 4 lanes; `api.argon2_*` settings change them, and a
stored hash made with other parameters is re-hashed at the next successful login)."""

from __future__ import annotations

from functools import lru_cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from careops.config import get_settings
from careops.errors import InvalidInput

MIN_LENGTH = 10
MAX_LENGTH = 256  # a megabyte "password" would make every login hash a megabyte
#: OWASP's floor for Argon2id (19 MiB, 2 passes): `careops serve` warns below it
WEAK_MEMORY_KIB, WEAK_TIME_COST = 19456, 2


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


@lru_cache(maxsize=4)
def _hasher_for(time_cost: int, memory_kib: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)


def hasher() -> PasswordHasher:
    """The Argon2id hasher of the current settings (`api.argon2_*`)."""
    api = get_settings().api
    return _hasher_for(api.argon2_time_cost, api.argon2_memory_kib, api.argon2_parallelism)


def is_weak() -> bool:
    """Whether the configured cost is below OWASP's floor for Argon2id (fine for tests only)."""
    api = get_settings().api
    return api.argon2_memory_kib < WEAK_MEMORY_KIB or api.argon2_time_cost < WEAK_TIME_COST


def hash_password(password: str) -> str:
    """The Argon2id hash to store (salted; the password itself is never stored)."""
    return hasher().hash(password)


def verify_password(stored: str, password: str) -> bool:
    """Whether `password` matches the stored hash (constant-time inside Argon2)."""
    if len(password) > MAX_LENGTH:
        return False
    try:
        return hasher().verify(stored, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored: str) -> bool:
    """Whether a stored hash used other parameters than today's and should be replaced."""
    return hasher().check_needs_rehash(stored)


@lru_cache(maxsize=4)
def _dummy_for(h: PasswordHasher) -> str:
    return h.hash("careops-no-such-user")


def dummy_hash() -> str:
    """A hash to verify against when the username is unknown, so that an unknown name and a
    wrong password take the same time (no user enumeration by timing)."""
    return _dummy_for(hasher())
