"""The capture ring buffer: written by the PortAudio callback, read by our capture thread."""

from __future__ import annotations

import numpy as np


class RingBuffer:
    """Single-producer single-consumer ring of (capacity_frames, channels) samples, preallocated.

    write() is safe to call from the PortAudio callback: it copies into the preallocated array
    and updates counters, with no locks, no logging and no I/O (Python still creates small view
    objects for slices; no sample buffers are allocated). When full it keeps the oldest data
    and drops the newest, counting the frames in dropped_frames.

    The producer only advances _written and the consumer only advances _read (plain int
    attributes, whose assignment is atomic under the GIL); the producer publishes _written
    after copying, so the consumer never sees a half-written frame.
    """

    def __init__(self, capacity_frames: int, channels: int = 1, dtype=np.float32):
        if capacity_frames < 1 or channels < 1:
            raise ValueError(f"capacity_frames and channels must be >= 1, got {capacity_frames}, {channels}")
        self.capacity_frames = int(capacity_frames)
        self.channels = int(channels)
        self.dtype = np.dtype(dtype)
        self._buf = np.zeros((self.capacity_frames, self.channels), self.dtype)
        self._written = 0  # total frames ever stored (producer-owned)
        self._read = 0  # total frames ever consumed (consumer-owned)
        self.dropped_frames = 0  # producer-owned

    @property
    def available(self) -> int:
        """Frames ready to read."""
        return self._written - self._read

    def write(self, data: np.ndarray) -> None:
        """Store data, shape (n, channels) (or (n,) when channels == 1), of the ring's dtype.

        Frames that do not fit are dropped and counted.
        """
        if data.ndim == 1:
            data = data.reshape(-1, 1)  # a view; only valid for mono, checked by the copy below
        n = data.shape[0]
        written = self._written
        free = self.capacity_frames - (written - self._read)
        if n > free:
            self.dropped_frames += n - free
            n = free
        if n <= 0:
            return
        start = written % self.capacity_frames
        first = min(n, self.capacity_frames - start)
        self._buf[start : start + first] = data[:first]
        if n > first:
            self._buf[: n - first] = data[first:n]
        self._written = written + n  # publish after the copy

    def read(self, n_frames: int, out: np.ndarray | None = None) -> np.ndarray | None:
        """Remove and return the oldest n_frames as (n_frames, channels), or None if fewer are stored.

        out: optional preallocated (n_frames, channels) array of the ring's dtype to fill.
        """
        if not 0 < n_frames <= self.capacity_frames:
            raise ValueError(f"n_frames must be in 1..{self.capacity_frames}, got {n_frames}")
        if out is not None and out.shape != (n_frames, self.channels):
            raise ValueError(f"out must have shape {(n_frames, self.channels)}, got {out.shape}")
        read = self._read
        if self._written - read < n_frames:
            return None
        if out is None:
            out = np.empty((n_frames, self.channels), self.dtype)
        start = read % self.capacity_frames
        first = min(n_frames, self.capacity_frames - start)
        out[:first] = self._buf[start : start + first]
        if n_frames > first:
            out[first:] = self._buf[: n_frames - first]
        self._read = read + n_frames  # free the space only after copying it out
        return out


