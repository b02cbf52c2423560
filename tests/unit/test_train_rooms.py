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
