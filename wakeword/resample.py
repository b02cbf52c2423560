"""Streaming sample-rate conversion: the one place where device or file rates meet the model's.

A band-limited (Kaiser-windowed sinc) polyphase resampler for any rational ratio, e.g.
48000 -> 16000, 44100 -> 16000 or 8000 -> 16000. It keeps its own history, so the output
does not depend on how the input was cut into blocks, and it needs only numpy.

How it is computed, and why
---------------------------
With the ratio reduced to up/down, output n is the dot product of kernel phase (n * down) % up
with the 2 * half inputs around input floor(n * down / up). Every `up` outputs the pattern
repeats `down` inputs later, so the outputs are computed in frames of U (a multiple of up)
outputs, which span D inputs. A frame is split into sub-blocks of q outputs; sub-block g of
frame m reads L consecutive inputs from m * D + g * S, and a small dense matrix W[g] (L x q)
holds the q kernels at their offsets in that span. Then a strided view of the input (no copy)
copied into a fixed array, and one batched matrix product give F frames at a time.

This replaced a gather of every output's taps into a (outputs x taps) temporary, which cost
5-7 times as much (260 us against 51 us per 100 ms block of 44.1 kHz here): the live daemon
calls it ten times a second. Each product always has the same shape (F frames, padded with
zeros at the end), so a given output is computed by the same arithmetic whatever the block
sizes, and the output stays bit for bit independent of them.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

#: Pass band edge as a fraction of the lower rate's Nyquist frequency.
ROLLOFF = 0.9
#: Sinc zero crossings on each side of the kernel centre: more is sharper and slower.
ZERO_CROSSINGS = 8
KAISER_BETA = 8.0
#: At least this many outputs per frame (a frame is `up` outputs, or several frames of a small up).
MIN_FRAME_OUTPUTS = 16
#: Outputs per sub-block: its matrix is L x SUB_BLOCK_OUTPUTS, L about the kernel's length plus
#: the inputs the sub-block advances over, so few of its entries are zero.
SUB_BLOCK_OUTPUTS = 16
#: Outputs computed by one matrix product (F frames): large enough that a 100 ms block is one or
#: two products, small enough that the zero padding of the last frames costs little.
OUTPUTS_PER_PRODUCT = 2048
#: The largest up or down of the reduced ratio. The kernel table and the sub-block matrices grow
#: with them (about 34 floats per unit of the larger), so a rate that does not reduce, such as
#: 383999 -> 16000 (up 16000, down 383999: 685 MB and 2.7 s to build), is resampled at the
#: nearest ratio within this bound instead: 1/24 there, 2.6 parts per million off (60 ppm at
#: worst over 1-384 kHz), below a sound card's clock error. Every common rate reduces exactly
#: (44100 -> 16000 is 160/441).
MAX_RATIO_TERM = 8192


def reduced_ratio(in_rate_hz: int, out_rate_hz: int) -> tuple[int, int]:
    """(up, down): out/in in lowest terms, or the nearest fraction with both at most MAX_RATIO_TERM."""
    g = math.gcd(in_rate_hz, out_rate_hz)
    up, down = out_rate_hz // g, in_rate_hz // g
    if max(up, down) <= MAX_RATIO_TERM:
        return up, down
    if up <= down:  # bound the larger term, the denominator of the fraction below 1
        f = Fraction(up, down).limit_denominator(MAX_RATIO_TERM)
        return max(1, f.numerator), f.denominator
    f = Fraction(down, up).limit_denominator(MAX_RATIO_TERM)
    return f.denominator, max(1, f.numerator)


class Resampler:
    """process(float32 1-D block at in_rate_hz) -> float32 1-D block at out_rate_hz.

    Output sample n sits at input time n * in_rate_hz / out_rate_hz (the ratio as
    reduced_ratio gives it: exact for every rate that reduces); the stream starts with
    silence before the first sample, and output lags input by the kernel's half width
    (under 1 ms at the rates above), since that many future samples are needed. The returned
    array is the caller's; the input block is copied.
    """

    def __init__(self, in_rate_hz: int, out_rate_hz: int):
        if in_rate_hz <= 0 or out_rate_hz <= 0:
            raise ValueError(f"sample rates must be positive, got {in_rate_hz} -> {out_rate_hz}")
        self.in_rate_hz, self.out_rate_hz = int(in_rate_hz), int(out_rate_hz)
        self._up, self._down = reduced_ratio(self.in_rate_hz, self.out_rate_hz)
        self.passthrough = self._up == self._down
        if self.passthrough:
            return
        up, down = self._up, self._down
        cutoff = 0.5 * ROLLOFF * min(1.0, up / down)  # cycles per input sample
        self._half = half = int(math.ceil(ZERO_CROSSINGS / (2 * cutoff)))
        taps = np.arange(-half + 1, half + 1, dtype=np.float64)
        phases = np.arange(up, dtype=np.float64) / up
        t = taps[None, :] - phases[:, None]  # (phase, tap) distance in input samples
        ratio = np.clip(t / half, -1.0, 1.0)
        window = np.i0(KAISER_BETA * np.sqrt(1.0 - ratio**2)) / np.i0(KAISER_BETA)
        kernel = 2 * cutoff * np.sinc(2 * cutoff * t) * window
        table = (kernel / kernel.sum(axis=1, keepdims=True)).astype(np.float32)  # (up, 2 half)
        self._plan(table)
        # Input history from absolute input index _start on (_valid samples); it starts with
        # half - 1 zeros, so that output 0 is centred on input 0. Beyond the valid samples the
        # buffer holds zeros for the padded frames of the last product.
        self._start = -(half - 1)
        self._valid = half - 1
        self._buf = np.zeros(4 * (self._slack + self._history), np.float32)
        self._next_out = 0

    def _plan(self, table: np.ndarray) -> None:
        """The frame layout and the sub-block matrices W (G, L, q) for the kernel table."""
        up, down, n_taps = self._up, self._down, table.shape[1]
        frames_merged = max(1, -(-MIN_FRAME_OUTPUTS // up))
        self._U, self._D = up * frames_merged, down * frames_merged  # outputs, inputs per frame
        q = min(self._U, SUB_BLOCK_OUTPUTS)
        self._G = -(-self._U // q)  # sub-blocks per frame
        self._S = (q * down) // up  # input step between sub-blocks
        # output r of a frame reads its taps from offset[r] within its sub-block's span
        r = np.arange(self._U)
        offset = (r * down) // up - (r // q) * self._S
        self._L = int(offset.max()) + n_taps
        self._W = np.zeros((self._G, self._L, q), np.float32)
        for i in range(self._U):
            g, k = divmod(i, q)
            self._W[g, offset[i] : offset[i] + n_taps, k] = table[(i * down) % up]
        self._F = max(1, OUTPUTS_PER_PRODUCT // self._U)  # frames per product
        self._spans = np.empty((self._G, self._F, self._L), np.float32)
        self._product = np.empty((self._G, self._F, q), np.float32)
        # input read past the valid samples by one product's last (padded) frames
        self._slack = self._D * self._F + (self._G - 1) * self._S + self._L
        # and the history kept before the next output: the rest of its product
        self._history = self._D * self._F + self._half

    def process(self, block: np.ndarray) -> np.ndarray:
        block = np.asarray(block, dtype=np.float32).reshape(-1)
        if self.passthrough:
            return block
        buf = self._append(block)
        end = self._start + self._valid  # one past the last absolute input index
        last = ((end - 1 - self._half) * self._up) // self._down  # output n needs inputs to floor(n*down/up) + half
        n_out = max(0, last - self._next_out + 1)
        out = np.empty(n_out, dtype=np.float32)
        if n_out:
            self._compute(buf, out, last)
            self._next_out += n_out
        self._trim()
        return out

    def _append(self, block: np.ndarray) -> np.ndarray:
        needed = self._valid + len(block) + self._slack
        if needed > len(self._buf):  # a longer block than before: grow once, keep the history
            grown = np.zeros(max(needed, 2 * len(self._buf)), np.float32)
            grown[: self._valid] = self._buf[: self._valid]
            self._buf = grown
        buf = self._buf
        buf[self._valid : self._valid + len(block)] = block
        self._valid += len(block)
        buf[self._valid : self._valid + self._slack] = 0.0  # the padded frames read silence
        return buf

    def _compute(self, buf: np.ndarray, out: np.ndarray, last: int) -> None:
        """Outputs _next_out..last into out, a product of F frames at a time.

        Products cover frames [k F, (k + 1) F) for whole k, so a given frame is always the same
        row of its product: with BLAS, a row's result may depend on its place in the product.
        """
        U, D, F = self._U, self._D, self._F
        first_product = self._next_out // (U * F)
        skip = self._next_out - first_product * U * F  # outputs of the first product already given
        step = buf.itemsize
        done = 0
        for frame in range(first_product * F, last // U + 1, F):
            at = frame * D - self._half + 1 - self._start  # buffer index of the product's first input
            # copied into one contiguous array of a fixed shape: BLAS then sees the same operands'
            # layout (and alignment) for every product, so an output never depends on where in
            # the buffer its inputs happened to lie
            np.copyto(self._spans, np.ndarray((self._G, F, self._L), np.float32, buffer=buf, offset=at * step,
                                              strides=(self._S * step, D * step, step)))
            np.matmul(self._spans, self._W, out=self._product)
            # (G, F, q) -> outputs in order: frame, then sub-block, then output
            flat = self._product.transpose(1, 0, 2).reshape(F, -1)[:, :U].reshape(-1)
            take = flat[skip : skip + len(out) - done]
            out[done : done + len(take)] = take
            done += len(take)
            skip = 0

    def _trim(self) -> None:
        """Drop the inputs before the next output's product; the history moves to the front."""
        first_frame = (self._next_out // (self._U * self._F)) * self._F
        keep_from = first_frame * self._D - self._half + 1 - self._start
        keep_from = max(0, min(keep_from, self._valid))
        if keep_from:
            buf = self._buf
            buf[: self._valid - keep_from] = buf[keep_from : self._valid]
            self._valid -= keep_from
            self._start += keep_from


def resample_signal(x: np.ndarray, in_rate_hz: int, out_rate_hz: int) -> np.ndarray:
    """A whole signal at in_rate_hz -> float32 at out_rate_hz, of length ceil(len * out / in)
    (out / in as reduced_ratio gives it).

    The same filter as streaming: the signal is fed through a Resampler and flushed with the
    kernel's half width of zeros, so output n is centred on input time n * in / out.
    """
    x = np.asarray(x, dtype=np.float32).reshape(-1)
    r = Resampler(in_rate_hz, out_rate_hz)
    if r.passthrough:
        return x.copy()
    n_out = -(-len(x) * r._up // r._down)
    y = np.concatenate((r.process(x), r.process(np.zeros(r._half + 1, np.float32))))
    return y[:n_out]
