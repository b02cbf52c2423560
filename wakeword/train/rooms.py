"""Simulated living rooms: a talker and a noise source at two places in one shoebox room.

pyroomacoustics (image-source method) gives the impulse responses from the talker and from the
noise source to the microphone, so the word arrives with the room's reverberation at the
talker's distance while the noise comes from elsewhere in the same room, as a television or a
kitchen would. Without pyroomacoustics a synthetic exponential-decay pair stands in (cruder;
the [train] extra installs it).

Training and evaluation draw from disjoint nominal RT60 ranges: EVAL_RT60_S is never drawn in
training. The image sources stop at MAX_ORDER (higher orders cost far more simulation time), which
cuts the reverberant tail: on the image-source responses alone, measured as Schroeder T20, the
training rooms' RT60 was 0.19-0.41 s and the held-out rooms' 0.17-0.41 s, so the "room" condition
was not acoustically unheard and no room reached its nominal RT60. So the image sources give only
the early part (direct path and early reflections, which set the direction-dependent colouring and
the direct-to-reverberant ratio); from MIX_TIME_S on, a diffuse tail (Gaussian noise, decaying at
the nominal RT60, its level fitted to the image-source energy just before) takes over with an
equal-power crossfade. Measured the same way, the rooms' T20 then follows their nominal RT60
(tests/unit/test_train_rooms.py).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)

#: Room floor plans (m) and ceiling heights (m): living-room sized.
ROOM_SIZE_M = ((3.0, 8.0), (3.0, 8.0), (2.4, 3.2))
#: RT60 (s) of the training rooms, and the band held out for the evaluation's room condition.
TRAIN_RT60_S = (0.2, 0.9)
EVAL_RT60_S = (0.55, 0.7)
#: Talker to microphone distance (m): training, and the room condition of the evaluation.
TRAIN_DISTANCE_M = (0.5, 5.0)
EVAL_DISTANCE_M = (1.0, 5.0)
#: Nothing (talker, noise, microphone) closer to a wall than this (m).
WALL_MARGIN_M = 0.3
#: Reflection order cap: later reflections are diffuse, and this bounds the cost.
MAX_ORDER = 12
#: The diffuse tail takes over from the image sources this long after the direct path (s), with a
#: crossfade of TAIL_FADE_S; its level is fitted on the image-source energy in TAIL_FIT_S before.
#: Order 12 is complete to at least 12 x 2.4 m / 343 m/s = 84 ms in the smallest room.
MIX_TIME_S = 0.07
TAIL_FADE_S = 0.02
TAIL_FIT_S = (0.01, 0.07)
#: The direct path: the first sample of an image-source response within this fraction of its peak.
DIRECT_PATH_FRACTION = 0.1
#: An impulse response is cut where its energy has decayed by this much (dB).
RIR_DECAY_DB = 60.0
#: Samples kept before the direct path's peak: the window placement owns the timing.
PRE_PEAK_SAMPLES = 16


@dataclass(frozen=True)
class Room:
    """Impulse responses (float32, peak of the talker's RIR = 1) of one room and its parameters."""

    talker_rir: np.ndarray
    noise_rir: np.ndarray
    rt60_s: float
    distance_m: float
    size_m: tuple[float, float, float]

    def info(self, rate_hz: int | None = None) -> dict:
        """Its parameters; with rate_hz also the talker RIR's measured T20 (s)."""
        out = {"rt60_s": round(self.rt60_s, 3), "distance_m": round(self.distance_m, 2),
               "size_m": [round(v, 2) for v in self.size_m]}
        if rate_hz:
            out["t20_s"] = round(schroeder_t20(self.talker_rir, rate_hz), 3)
        return out


def schroeder_t20(rir: np.ndarray, rate_hz: int) -> float:
    """RT60 (s) as T20: the Schroeder backward-integrated decay's slope from -5 to -25 dB, extended
    to 60 dB (ISO 3382). NaN if the response never decays by 25 dB."""
    energy = np.cumsum(np.square(np.asarray(rir, np.float64))[::-1])[::-1]
    if not len(energy) or energy[0] <= 0:
        return float("nan")
    db = 10.0 * np.log10(energy / energy[0] + 1e-300)
    i5, i25 = int(np.argmax(db <= -5.0)), int(np.argmax(db <= -25.0))
    if db[-1] > -25.0 or i25 <= i5 + 1:
        return float("nan")
    slope_db_per_s = np.polyfit(np.arange(i5, i25) / rate_hz, db[i5:i25], 1)[0]
    return float(-60.0 / slope_db_per_s)


def draw_rt60(rng: np.random.Generator, held_out: bool) -> float:
    """An RT60 (s): in EVAL_RT60_S when held_out, else in TRAIN_RT60_S outside that band."""
    if held_out:
        return float(rng.uniform(*EVAL_RT60_S))
    lo, hi = TRAIN_RT60_S
    gap = EVAL_RT60_S[1] - EVAL_RT60_S[0]
    u = float(rng.uniform(lo, hi - gap))  # the training range with the band cut out, then shifted back
    return u if u < EVAL_RT60_S[0] else u + gap


def _place_talker(rng, size, distance_m):
    """(microphone, talker) positions distance_m apart, both inside the walls; distance shrinks
    if the room is too small for it."""
    size = np.asarray(size)
    lo, hi = np.full(3, WALL_MARGIN_M), size - WALL_MARGIN_M
    for _ in range(50):
        mic = rng.uniform(lo, hi)
        mic[2] = rng.uniform(0.7, min(1.5, hi[2]))  # a device on a table or a shelf
        direction = rng.normal(size=3)
        direction[2] *= 0.2  # talkers are at roughly the device's height
        direction /= np.linalg.norm(direction)
        talker = mic + distance_m * direction
        if np.all(talker > lo) and np.all(talker < hi):
            return mic, talker, distance_m
        distance_m *= 0.95
    return mic, np.clip(mic + 0.5, lo, hi), float(np.linalg.norm(np.clip(mic + 0.5, lo, hi) - mic))


def _pyroomacoustics_rirs(rng, rate_hz, size, rt60_s, mic, talker, noise):
    try:
        import pyroomacoustics as pra
    except ImportError:
        return None
    try:
        absorption, max_order = pra.inverse_sabine(rt60_s, size)
    except ValueError:  # this RT60 is impossible in this room
        return None
    room = pra.ShoeBox(size, fs=rate_hz, materials=pra.Material(absorption), max_order=min(max_order, MAX_ORDER))
    room.add_source(talker)
    room.add_source(noise)
    room.add_microphone(mic)
    room.compute_rir()
    return [with_diffuse_tail(rng, np.asarray(room.rir[0][i], dtype=np.float64), rate_hz, rt60_s) for i in range(2)]


def with_diffuse_tail(rng: np.random.Generator, rir: np.ndarray, rate_hz: int, rt60_s: float) -> np.ndarray:
    """The image-source response up to MIX_TIME_S after its direct path, then a diffuse tail
    decaying at rt60_s (-60 dB of energy in rt60_s), down to RIR_DECAY_DB below its fitted level.

    The direct path is the first sample within DIRECT_PATH_FRACTION of the peak: pyroomacoustics'
    responses start with a low-level ramp (its filters) that sits far above a fixed -60 dB floor.
    The tail's level is the image-source energy in TAIL_FIT_S, detrended by the nominal decay
    before it is averaged: a plain mean of a decaying energy assigned to the window's centre
    overstates the level there (by sinh(x)/x, about 3 dB at RT60 0.2 s), which made short rooms
    measure up to a third longer than their nominal RT60."""
    peak = float(np.max(np.abs(rir))) if len(rir) else 0.0
    if peak <= 0.0:
        return rir
    first = int(np.argmax(np.abs(rir) >= DIRECT_PATH_FRACTION * peak))
    fit = slice(first + int(TAIL_FIT_S[0] * rate_hz), first + int(TAIL_FIT_S[1] * rate_hz))
    if rir[fit].size == 0:
        return rir
    decay_per_sample = 6.0 / (rt60_s * rate_hz)  # energy: 10^(-6 t / rt60), t in s
    fit_centre = (fit.start + fit.stop) / 2.0
    t_fit = np.arange(fit.start, fit.start + rir[fit].size)
    power = float(np.mean(rir[fit] ** 2 * 10 ** (decay_per_sample * (t_fit - fit_centre))))  # level at fit_centre
    if power <= 0.0:
        return rir
    # a response that ends before the mix point (a truncated or very low-order one) hands over as it
    # ends: its crossfade finishes there, since one starting there would fade the tail in from
    # nothing, a dip of some 10 dB, and a later start would leave a gap of silence
    fade = max(1, int(TAIL_FADE_S * rate_hz))
    mix = min(first + int(MIX_TIME_S * rate_hz), max(first + 1, len(rir) - fade))
    n = int(fit_centre + rt60_s * rate_hz * RIR_DECAY_DB / 60.0) + 1
    out = np.zeros(max(n, mix + fade))
    out[: min(len(rir), len(out))] = rir[: len(out)]
    t = np.arange(mix, len(out))
    tail = rng.standard_normal(len(t)) * np.sqrt(power) * 10 ** (-decay_per_sample * (t - fit_centre) / 2.0)
    ramp = np.clip((t - mix) / fade, 0.0, 1.0) * (np.pi / 2)
    out[mix:] = out[mix:] * np.cos(ramp) + tail * np.sin(ramp)  # equal power: the two are uncorrelated
    return out


def _synthetic_rir(rng, rate_hz, rt60_s, distance_m):
    """A direct impulse plus exponentially decaying noise; the direct-to-reverberant ratio falls
    with distance as in a diffuse field (about 6 dB per doubling beyond the critical distance)."""
    n = max(2, int(rt60_s * rate_hz * RIR_DECAY_DB / 60.0))
    t = np.arange(n) / rate_hz
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60_s)  # ln(1000): -60 dB in rt60_s
    tail[0] = 0.0
    drr_db = 10.0 - 20.0 * np.log10(max(distance_m, 0.3) / 0.5)
    tail *= 1.0 / (np.sqrt(np.sum(tail**2)) + 1e-12) / 10 ** (drr_db / 20)
    tail[0] = 1.0
    return tail


def _trim(rir: np.ndarray, start: int) -> np.ndarray:
    return rir[max(0, start - PRE_PEAK_SAMPLES):]


def simulate_room(rng: np.random.Generator, rate_hz: int, held_out: bool = False) -> Room:
    """A random room (RT60 from the training or the held-out range), a talker at a random distance
    from the microphone and a noise source elsewhere in it."""
    size = tuple(float(rng.uniform(*r)) for r in ROOM_SIZE_M)
    rt60_s = draw_rt60(rng, held_out)
    mic, talker, distance_m = _place_talker(rng, size, float(rng.uniform(*(EVAL_DISTANCE_M if held_out else TRAIN_DISTANCE_M))))
    noise = rng.uniform(np.full(3, WALL_MARGIN_M), np.asarray(size) - WALL_MARGIN_M)
    rirs = _pyroomacoustics_rirs(rng, rate_hz, size, rt60_s, mic, talker, noise)
    if rirs is None:
        noise_distance = float(np.linalg.norm(noise - mic))
        rirs = [_synthetic_rir(rng, rate_hz, rt60_s, distance_m), _synthetic_rir(rng, rate_hz, rt60_s, noise_distance)]
    start = int(np.argmax(np.abs(rirs[0])))
    talker_rir, noise_rir = _trim(rirs[0], start), _trim(rirs[1], start)
    peak = float(np.max(np.abs(talker_rir))) or 1.0
    return Room((talker_rir / peak).astype(np.float32), (noise_rir / peak).astype(np.float32), rt60_s, distance_m, size)


def room_bank(rng: np.random.Generator, rate_hz: int, count: int, held_out: bool = False) -> list[Room]:
    """`count` simulated rooms (made once per run: rooms are slow to simulate)."""
    return [simulate_room(rng, rate_hz, held_out) for _ in range(count)]
