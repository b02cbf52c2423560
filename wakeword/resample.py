"""Streaming sample-rate conversion: the one place where device or file rates meet the model's.

A band-limited (Kaiser-windowed sinc) polyphase resampler for any rational ratio, e.g.
48000 -> 16000, 44100 -> 16000 or 8000 -> 16000. It keeps its own history, so the output
does not depend on how the input was cut into blocks, and it needs only numpy.
"""

from __future__ import annotations

import math

import numpy as np

#: Pass band edge as a fraction of the lower rate's Nyquist frequency.
ROLLOFF = 0.9
#: Sinc zero crossings on each side of the kernel centre: more is sharper and slower.
ZERO_CROSSINGS = 8
KAISER_BETA = 8.0
#: Outputs computed per vectorised chunk, bounding the temporary (chunk x taps) matrix.
CHUNK_OUTPUTS = 8192


class Resampler:
    """process(float32 1-D block at in_rate_hz) -> float32 1-D block at out_rate_hz.

    Output sample n sits at input time n * in_rate_hz / out_rate_hz; the stream starts with
    silence before the first sample, and output lags input by the kernel's half width
    (under 1 ms at the rates above), since that many future samples are needed.
    """

    def __init__(self, in_rate_hz: int, out_rate_hz: int):
        if in_rate_hz <= 0 or out_rate_hz <= 0:
            raise ValueError(f"sample rates must be positive, got {in_rate_hz} -> {out_rate_hz}")
        self.in_rate_hz, self.out_rate_hz = int(in_rate_hz), int(out_rate_hz)
        g = math.gcd(self.in_rate_hz, self.out_rate_hz)
        self._up, self._down = self.out_rate_hz // g, self.in_rate_hz // g
        self.passthrough = self._up == self._down
        if self.passthrough:
            return
        cutoff = 0.5 * ROLLOFF * min(1.0, self._up / self._down)  # cycles per input sample
        self._half = int(math.ceil(ZERO_CROSSINGS / (2 * cutoff)))
        taps = np.arange(-self._half + 1, self._half + 1, dtype=np.float64)
        phases = np.arange(self._up, dtype=np.float64) / self._up
        t = taps[None, :] - phases[:, None]  # (phase, tap) distance in input samples
        ratio = np.clip(t / self._half, -1.0, 1.0)
        window = np.i0(KAISER_BETA * np.sqrt(1.0 - ratio**2)) / np.i0(KAISER_BETA)
        kernel = 2 * cutoff * np.sinc(2 * cutoff * t) * window
        self._table = (kernel / kernel.sum(axis=1, keepdims=True)).astype(np.float32)
        # history starts with half-1 zeros so that output 0 is centred on input 0
        self._buf = np.zeros(self._half - 1, dtype=np.float32)
        self._buf_start = -(self._half - 1)  # absolute input index of _buf[0]
        self._next_out = 0

    def process(self, block: np.ndarray) -> np.ndarray:
        block = np.asarray(block, dtype=np.float32).reshape(-1)
        if self.passthrough:
            return block
        buf = np.concatenate((self._buf, block))
        buf_end = self._buf_start + len(buf)  # one past the last absolute input index
        # output n needs inputs up to floor(n*down/up) + half
        last = ((buf_end - 1 - self._half) * self._up) // self._down
        n_out = max(0, last - self._next_out + 1)
        out = np.empty(n_out, dtype=np.float32)
        offsets = np.arange(-self._half + 1, self._half + 1)
        for start in range(0, n_out, CHUNK_OUTPUTS):
            n = self._next_out + np.arange(start, min(n_out, start + CHUNK_OUTPUTS))
            centre = (n * self._down) // self._up
            phase = (n * self._down) % self._up
            idx = centre[:, None] + offsets[None, :] - self._buf_start
            out[start : start + len(n)] = np.einsum("ij,ij->i", buf[idx], self._table[phase])
        self._next_out += n_out
        keep_from = (self._next_out * self._down) // self._up - self._half + 1 - self._buf_start
        keep_from = max(0, min(keep_from, len(buf)))
        self._buf = buf[keep_from:]
        self._buf_start += keep_from
        return out


def resample_signal(x: np.ndarray, in_rate_hz: int, out_rate_hz: int) -> np.ndarray:
    """A whole signal at in_rate_hz -> float32 at out_rate_hz, of length ceil(len * out / in).

    The same filter as streaming: the signal is fed through a Resampler and flushed with the
    kernel's half width of zeros, so output n is centred on input time n * in / out.
    """
    x = np.asarray(x, dtype=np.float32).reshape(-1)
    r = Resampler(in_rate_hz, out_rate_hz)
    if r.passthrough:
        return x.copy()
    n_out = -(-len(x) * r.out_rate_hz // r.in_rate_hz)
    y = np.concatenate((r.process(x), r.process(np.zeros(r._half + 1, np.float32))))
    return y[:n_out]
