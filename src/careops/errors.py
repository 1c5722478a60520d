"""One exception tree for CareOps. Data problems inside a batch are results, not exceptions."""


class CareOpsError(Exception):
    """Base of every error CareOps raises on purpose; the CLI prints its message, no traceback."""

    exit_code = 2


class ConfigError(CareOpsError):
    """Configuration or command-line arguments are wrong."""


class WarehouseError(CareOpsError):
    """The warehouse cannot be reached or refused an operation."""


class InputError(CareOpsError):
    """An input file or record cannot be read at all (unreadable, unknown kind, bad encoding)."""


class RejectedError(CareOpsError):
    """A whole batch was rejected (for example too many bad rows)."""

    exit_code = 1
