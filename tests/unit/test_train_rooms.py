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


def test_the_rooms_reverberate_for_their_nominal_rt60_and_the_held_out_band_stays_unheard():
    pytest.importorskip("pyroomacoustics")  # the synthetic fallback decays at its RT60 by construction
    rate = 16000
    measured = {}
    for held_out in (False, True):
        rng = np.random.default_rng(5)
        rs = [rooms.simulate_room(rng, rate, held_out) for _ in range(25)]
        measured[held_out] = [(r.rt60_s, rooms.schroeder_t20(r.talker_rir, rate), rooms.schroeder_t20(r.noise_rir, rate))
                              for r in rs]
    for nominal, talker, noise in measured[False] + measured[True]:
        assert 0.85 * nominal < talker < 1.15 * nominal and 0.85 * nominal < noise < 1.15 * nominal
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


def test_t20_fits_down_to_minus_25_db_only():
    """An early fast decay, an RT60 0.5 s decay, then a slow floor about 32 dB down (a noise floor):
    the fit from -5 to -25 dB reads 0.5 s; one down to -35 dB would read about 0.65 s."""
    rate = 16000
    t = np.arange(3 * rate) / rate
    rng = np.random.default_rng(2)

    def decay(rt60_s, energy):
        x = rng.standard_normal(len(t)) * 10 ** (-3 * t / rt60_s)
        return x * np.sqrt(energy / np.sum(x**2))

    rir = decay(0.03, 0.75) + decay(0.5, 0.25) + decay(6.0, 10 ** (-32 / 10))
    assert rooms.schroeder_t20(rir, rate) == pytest.approx(0.5, rel=0.05)


def test_the_diffuse_tail_continues_the_image_sources_at_the_nominal_decay():
    pytest.importorskip("pyroomacoustics")
    import pyroomacoustics as pra

    rate = 16000
    for rt60, distance in ((0.25, 1.0), (0.8, 4.0)):
        size = np.array([5.0, 4.0, 2.6])
        absorption, max_order = pra.inverse_sabine(rt60, size)
        room = pra.ShoeBox(size, fs=rate, materials=pra.Material(absorption), max_order=min(max_order, rooms.MAX_ORDER))
        mic = np.array([1.0, 2.0, 1.2])
        room.add_source(mic + np.array([distance, 0.0, 0.0]))
        room.add_microphone(mic)
        room.compute_rir()
        ism = np.asarray(room.rir[0][0], np.float64)
        out = rooms.with_diffuse_tail(np.random.default_rng(0), ism, rate, rt60)
        first = int(np.argmax(np.abs(ism) >= rooms.DIRECT_PATH_FRACTION * np.max(np.abs(ism))))
        # the direct path sits where the geometry puts it (pyroomacoustics delays every arrival by half
        # its fractional-delay filter), not at the filters' low-level ramp nor at a stronger reflection
        expected = distance / pra.constants.get("c") * rate + pra.constants.get("frac_delay_length") // 2
        assert abs(first - expected) <= 5  # the filter's main lobe crosses 0.1 of the peak a few samples early
        mix = first + int(rooms.MIX_TIME_S * rate)
        np.testing.assert_array_equal(out[:mix], ism[:mix])  # the image sources are kept up to the mix
        # no step in level across the crossfade: 10 ms before the mix against 10 ms after the fade,
        # allowing for the nominal decay in between
        before = np.mean(out[mix - rate // 100:mix] ** 2)
        after_at = mix + int(rooms.TAIL_FADE_S * rate)
        after = np.mean(out[after_at:after_at + rate // 100] ** 2)
        step_db = 10 * np.log10(after / before) + 60 * (after_at - mix + rate // 100) / (rt60 * rate)
        assert abs(step_db) < 4.0, (rt60, step_db)
        assert rooms.schroeder_t20(out, rate) == pytest.approx(rt60, rel=0.12)
        # the response ends RIR_DECAY_DB (60 dB) below the tail's fitted level: rt60 after the fit's centre
        assert abs(len(out) - first - (rt60 + np.mean(rooms.TAIL_FIT_S)) * rate) <= 2


def test_a_response_that_ends_before_the_mix_point_hands_over_to_the_tail_without_a_gap():
    rate, rt60 = 16000, 0.4
    t = np.arange(int(0.05 * rate))  # ends 50 ms after its direct path, before MIX_TIME_S (70 ms)
    rir = np.random.default_rng(1).standard_normal(len(t)) * 10 ** (-3 * t / (rt60 * rate))
    rir[0] = 4.0
    out = rooms.with_diffuse_tail(np.random.default_rng(0), rir, rate, rt60)
    fade = int(rooms.TAIL_FADE_S * rate)
    np.testing.assert_array_equal(out[:len(rir) - fade], rir[:len(rir) - fade])  # untouched up to the crossfade
    # every 5 ms from the end of the image sources to the end of the tail carries energy
    blocks = out[len(rir):len(rir) + int(0.2 * rate)].reshape(-1, rate // 200)
    assert np.all(np.mean(blocks ** 2, axis=1) > 0.0)
    assert rooms.schroeder_t20(out, rate) == pytest.approx(rt60, rel=0.15)


def test_a_response_that_ends_before_the_mix_point_keeps_its_level_through_the_handover():
    rate, rt60 = 16000, 0.4
    t = np.arange(int(0.05 * rate))  # ends before MIX_TIME_S: the fade must end where it ends, not start there
    rir = np.random.default_rng(1).standard_normal(len(t)) * 10 ** (-3 * t / (rt60 * rate))
    rir[0] = 4.0
    fade, block = int(rooms.TAIL_FADE_S * rate), rate // 200
    levels = []
    for seed in range(8):
        out = rooms.with_diffuse_tail(np.random.default_rng(seed), rir, rate, rt60)
        span = np.arange(len(rir) - fade, len(rir) + 2 * fade)
        envelope = 10 ** (-6 * span / (rt60 * rate))  # the energy decay the response itself follows
        levels.append(np.mean((out[span] ** 2 / envelope).reshape(-1, block), axis=1))
    db = 10 * np.log10(np.mean(levels, axis=0))  # every 5 ms block, averaged over tails
    assert np.all(np.abs(db) < 2.0), db
