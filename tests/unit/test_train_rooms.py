"""Simulated rooms: training and evaluation RT60 ranges never overlap; the talker's RIR leads."""

import numpy as np
import pytest

pytest.importorskip("scipy")

from wakeword.train import rooms  # noqa: E402


def test_training_rooms_never_draw_the_held_out_rt60_band():
    rng = np.random.default_rng(0)
    train = [rooms.draw_rt60(rng, held_out=False) for _ in range(5000)]
    held = [rooms.draw_rt60(rng, held_out=True) for _ in range(500)]
    lo, hi = rooms.EVAL_RT60_S
    assert not any(lo <= t <= hi for t in train)
    assert all(lo <= t <= hi for t in held)
    assert min(train) >= rooms.TRAIN_RT60_S[0] and max(train) <= rooms.TRAIN_RT60_S[1]
    # both sides of the band are trained on
    assert sum(t < lo for t in train) > 1000 and sum(t > hi for t in train) > 500


def test_a_simulated_room_has_a_talker_and_a_noise_source_at_the_asked_distances():
    room = rooms.simulate_room(np.random.default_rng(3), 16000, held_out=True)
    assert room.talker_rir.dtype == np.float32 and np.max(np.abs(room.talker_rir)) == pytest.approx(1.0)
    assert np.argmax(np.abs(room.talker_rir)) == rooms.PRE_PEAK_SAMPLES  # the direct path leads
    assert rooms.EVAL_RT60_S[0] <= room.rt60_s <= rooms.EVAL_RT60_S[1]
    assert 0.3 < room.distance_m <= rooms.EVAL_DISTANCE_M[1]
    assert len(room.noise_rir) > 100 and not np.array_equal(room.noise_rir[:100], room.talker_rir[:100])
    # a longer reverberation time gives a longer tail
    tails = []
    for held_out in (False, True):
        rng = np.random.default_rng(1)
        tails.append(np.mean([len(rooms.simulate_room(rng, 16000, held_out).talker_rir) for _ in range(3)]))
    assert all(t > 1000 for t in tails)


def test_the_rooms_reverberate_for_their_nominal_rt60_and_the_held_out_band_stays_unheard():
    rate = 16000
    measured = {}
    for held_out in (False, True):
        rng = np.random.default_rng(5)
        rs = [rooms.simulate_room(rng, rate, held_out) for _ in range(25)]
        measured[held_out] = [(r.rt60_s, rooms.schroeder_t20(r.talker_rir, rate), rooms.schroeder_t20(r.noise_rir, rate))
                              for r in rs]
    for nominal, talker, noise in measured[False] + measured[True]:
        assert 0.8 * nominal < talker < 1.35 * nominal and 0.8 * nominal < noise < 1.35 * nominal
    lo, hi = rooms.EVAL_RT60_S
    held = [t for _, t, _ in measured[True]]
    assert min(held) > 0.9 * lo and max(held) < 1.1 * hi
    # training rooms far from the band measure far from it too
    far = [t for n, t, _ in measured[False] if n < lo - 0.1 or n > hi + 0.1]
    assert far and not any(lo <= t <= hi for t in far)
    assert "t20_s" in rs[0].info(rate) and "t20_s" not in rs[0].info()


def test_t20_reads_an_exponential_decay_and_refuses_one_that_never_decays():
    rate = 16000
    t = np.arange(rate) / rate
    rir = np.random.default_rng(0).standard_normal(rate) * 10 ** (-3 * t / 0.5)  # RT60 0.5 s
    assert rooms.schroeder_t20(rir, rate) == pytest.approx(0.5, rel=0.05)
    assert np.isnan(rooms.schroeder_t20(np.ones(100), rate))
    assert np.isnan(rooms.schroeder_t20(np.zeros(100), rate))
