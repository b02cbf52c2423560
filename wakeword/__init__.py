"""wakeword: an on-device "stop" wake-word daemon for the Raspberry Pi."""

__version__ = "0.1.0"
