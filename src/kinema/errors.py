"""Project error types. Every error a user can cause is a ``KinemaError`` (a ``ValueError``)
with a message that names the bad input and says what to do about it."""


class KinemaError(ValueError):
    """Base class for errors caused by user input (files, configs, arguments)."""


class ConfigError(KinemaError):
    """A config file or override is malformed: unknown key, wrong type, invalid value."""


class VideoError(KinemaError):
    """A video file is missing, empty, truncated, corrupt or cannot be written."""
