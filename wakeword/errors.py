"""One tree of errors. The CLI prints a WakewordError as one line and exits 2.

Each leaf also subclasses the builtin that fits, so callers that catch ValueError or
OSError still work.
"""


class WakewordError(Exception):
    """Base of every error the user can fix: bad input, config, model or device."""


class ConfigError(WakewordError, ValueError):
    """A config file or command-line value is missing, unknown or out of range."""


class AudioFormatError(WakewordError, ValueError):
    """An audio file is missing, empty, corrupt, truncated or in a format we cannot read."""


class AudioDeviceError(WakewordError, OSError):
    """An audio device does not exist, cannot be opened or went away."""


class ModelError(WakewordError, ValueError):
    """A model file or its sidecar is missing, corrupt, or they disagree."""


class DependencyError(WakewordError, ImportError):
    """An optional dependency needed for the requested feature is not installed."""


class ActionError(WakewordError, RuntimeError):
    """An action cannot start: a GPIO pin is missing, busy or not permitted."""
