"""The one error the runner raises: a message for a person, not a stack trace."""


class ServiceError(RuntimeError):
    """A service could not be started, found or stopped; the message says why and where to look."""
