"""Tests for wakeword.ringbuffer: the single-producer single-consumer capture ring."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from wakeword.ringbuffer import RingBuffer

WAIT_TIMEOUT_S = 5.0  # generous: only hit if something is broken




def frames(start: int, n: int, channels: int = 1) -> np.ndarray:
    """(n, channels) float32 whose values count up from start, so order is checkable."""
    return np.repeat(np.arange(start, start + n, dtype=np.float32)[:, None], channels, axis=1)


def test_ring_read_returns_none_until_enough_frames():
    ring = RingBuffer(10)
    assert ring.read(1) is None
    ring.write(frames(0, 3))
    assert ring.available == 3
    assert ring.read(4) is None
    assert ring.available == 3  # a failed read consumes nothing
    np.testing.assert_array_equal(ring.read(3), frames(0, 3))


def test_ring_wraps_around_and_keeps_order():
    ring = RingBuffer(10, channels=2)
    ring.write(frames(0, 7, 2))
    np.testing.assert_array_equal(ring.read(5), frames(0, 5, 2))
    ring.write(frames(7, 6, 2))  # wraps past the end of the storage
    assert ring.available == 8 and ring.dropped_frames == 0
    np.testing.assert_array_equal(ring.read(8), frames(5, 8, 2))
    assert ring.available == 0


def test_ring_when_full_drops_the_newest_frames_and_counts_them():
    ring = RingBuffer(8)
    ring.write(frames(0, 6))
    ring.write(frames(6, 5))  # only 2 fit
    assert ring.available == 8 and ring.dropped_frames == 3
    ring.write(frames(100, 4))  # none fit
    assert ring.dropped_frames == 7
    np.testing.assert_array_equal(ring.read(8), frames(0, 8))


def test_ring_read_into_preallocated_out_and_int16_mono_1d_writes():
    ring = RingBuffer(6, channels=1, dtype=np.int16)
    ring.write(np.array([1, 2, 3, 4], np.int16))
    out = np.zeros((3, 1), np.int16)
    assert ring.read(3, out=out) is out
    np.testing.assert_array_equal(out[:, 0], [1, 2, 3])
    with pytest.raises(ValueError):
        ring.read(2, out=np.zeros((3, 1), np.int16))
    with pytest.raises(ValueError):
        ring.read(7)


def test_ring_across_threads_delivers_every_frame_in_order():
    ring = RingBuffer(4096)
    block_frames, n_blocks = 64, 2000
    written = threading.Event()

    def produce():
        for i in range(n_blocks):
            while ring.capacity_frames - ring.available < block_frames:
                pass  # spin: this test wants no drops, only interleaving
            ring.write(frames(i * block_frames, block_frames))
        written.set()

    producer = threading.Thread(target=produce, daemon=True)
    producer.start()
    got = []
    total = block_frames * n_blocks
    n_read = 0
    while n_read < total:
        block = ring.read(100) if total - n_read >= 100 else ring.read(total - n_read)
        if block is not None:
            got.append(block)
            n_read += len(block)
        elif written.is_set() and ring.available < min(100, total - n_read):
            break
    producer.join(WAIT_TIMEOUT_S)
    assert written.wait(WAIT_TIMEOUT_S)
    np.testing.assert_array_equal(np.concatenate(got)[:, 0], np.arange(total, dtype=np.float32))
    assert ring.dropped_frames == 0


