"""One exception tree for CareOps, by meaning. Data problems inside a batch are results.

Every error CareOps raises on purpose is a `CareOpsError` of one of seven meanings, so a shell can
answer without reading message text: the CLI prints the message and exits with `exit_code`; the
API maps `status` to its HTTP status (404, 409, 422, 401, 403, 429, 503). Domain messages say
what is wrong in domain words; the shell adds which flag or field to change.
"""

from __future__ import annotations


class CareOpsError(Exception):
    """Base of every error CareOps raises on purpose; the CLI prints its message, no traceback."""

    exit_code = 2
    status = 500

    def __init__(self, *args: object, field: str | None = None) -> None:
        super().__init__(*args)
        #: the argument or field to change, in domain words (`as_of`, `limit`, `encoding`): the
        #: CLI names its flag (`careops.cliutil.FLAGS`), the API its field
        self.field = field


class InvalidInput(CareOpsError):
    """An argument, a setting, a rule or a record is not acceptable as given (HTTP 422)."""

    status = 422


class NotFound(CareOpsError):
    """The thing named does not exist: a patient, an experiment, a segment, a load (HTTP 404)."""

    status = 404


class AlreadyExists(CareOpsError):
    """Creating something whose key is taken (HTTP 409)."""

    status = 409


class Conflict(CareOpsError):
    """The request does not fit the current state: stop a stopped experiment, a second writer
    (HTTP 409)."""

    status = 409
    exit_code = 3


class Unauthorized(CareOpsError):
    """The caller is not known: no credentials, a wrong password, a forged, expired or revoked
    token, a locked account (HTTP 401)."""

    status = 401


class Forbidden(CareOpsError):
    """The caller may not do this: role, department, consent, or an analyst query that reaches
    outside the warehouse (HTTP 403)."""

    status = 403


class TooManyRequests(CareOpsError):
    """The caller has tried too often: failed logins from one address (HTTP 429); try again
    after `retry_after_s` seconds."""

    status = 429

    def __init__(self, *args: object, retry_after_s: int = 60, field: str | None = None) -> None:
        super().__init__(*args, field=field)
        self.retry_after_s = retry_after_s


class Unavailable(CareOpsError):
    """A service CareOps needs cannot be reached now: the warehouse, the state store (HTTP 503)."""

    status = 503


class ConfigError(InvalidInput):
    """Configuration or command-line arguments are wrong."""


class InputError(InvalidInput):
    """An input file or record cannot be read at all (unreadable, unknown kind, bad encoding)."""


class RejectedError(InvalidInput):
    """A whole batch was rejected (for example too many bad rows)."""

    exit_code = 1


class WarehouseError(Unavailable):
    """The warehouse cannot be reached or refused an operation."""


class WarehouseBusy(Conflict):
    """Another process holds the embedded warehouse for writing (DuckDB allows one writer)."""

    exit_code = 3


MEANINGS: tuple[type[CareOpsError], ...] = (
    InvalidInput,
    NotFound,
    AlreadyExists,
    Conflict,
    Unauthorized,
    Forbidden,
    Unavailable,
)
