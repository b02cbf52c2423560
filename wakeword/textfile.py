"""Reading the small text files a user gives us (config.yaml, sidecars, manifests), bounded.

One place for what can go wrong before their content is even parsed: the path is missing, a
directory, a FIFO or device (which would block or never end), unreadable (a root-only config
under the unit's own user), far too large, or not UTF-8. Each is one line naming the file, in
the error class of the caller.
"""

from __future__ import annotations

import stat
from pathlib import Path

#: config.yaml, a sidecar or a manifest is a few kilobytes; anything past this is not one.
MAX_TEXT_FILE_BYTES = 1_000_000


def read_text_file(path: Path, what: str, error: type[Exception], limit_bytes: int = MAX_TEXT_FILE_BYTES,
                   missing: str | None = None) -> str:
    """The file's text, or error("<path>: <problem>"). `what` names it ("config file"); `missing`
    replaces the "<what> not found" message."""
    path = Path(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        raise error(f"{path}: {missing or what + ' not found'}") from None
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    if stat.S_ISDIR(st.st_mode):
        raise error(f"{path}: is a directory, not a {what}")
    if not stat.S_ISREG(st.st_mode):
        raise error(f"{path}: not a regular file (a FIFO, socket or device), so not a {what}")
    if st.st_size > limit_bytes:
        raise error(f"{path}: {st.st_size} bytes, too large for a {what} (at most {limit_bytes})")
    try:
        with open(path, "rb") as f:
            data = f.read(limit_bytes + 1)
    except OSError as exc:
        raise error(f"{path}: cannot read the {what} ({exc.strerror or exc})") from None
    if len(data) > limit_bytes:  # grew since stat, or a file whose size lies (procfs)
        raise error(f"{path}: too large for a {what} (at most {limit_bytes} bytes)")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise error(f"{path}: not a text file (not UTF-8)") from None
