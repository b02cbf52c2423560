"""Runtime streaming MFCCs against the training path (python_speech_features.mfcc)."""

import numpy as np
import pytest
from python_speech_features import mfcc as psf_mfcc

from tests.conftest import read_wav
from wakeword.frontends.mfcc import WINDOW_FUNCTIONS, MfccParams, MfccStream, complete_frames, mfcc_window
from wakeword.errors import ModelError

FRONT_ENDS = {
    "default": MfccParams(),
    "seed-baseline-8k": MfccParams(sample_rate_hz=8000, winlen_s=0.256, winstep_s=0.05, numcep=16, nfft=2048, window_frames=16),
    "hamming-20": MfccParams(winfunc="hamming", numcep=20, nfilt=40, winstep_s=0.02, window_frames=49),
}


def stream_in_random_blocks(x, params, seed=0):
    rng = np.random.default_rng(seed)
    s, out, i = MfccStream(params), [], 0
    while i < len(x):
        n = int(rng.integers(1, 4000))
        out.append(s.push(x[i : i + n]))
        i += n
    return np.concatenate(out)


@pytest.mark.parametrize("name", sorted(FRONT_ENDS))
def test_streaming_features_match_the_training_features_on_a_real_clip(name, stop_clips):
    params = FRONT_ENDS[name]
    x, rate = read_wav(stop_clips[0])
    assert rate == 16000
    if params.sample_rate_hz == 8000:
        from wakeword.resample import Resampler

        x = Resampler(16000, 8000).process(x)
    train = mfcc_window(x, params)
    live = stream_in_random_blocks(x, params)
    assert train.shape == live.shape == (complete_frames(len(x), params), params.numcep)
    np.testing.assert_allclose(live, train, rtol=0, atol=1e-4)


def test_training_features_are_python_speech_features_itself(stop_clips):
    # mfcc_window only drops the zero-padded tail frame that a stream could never produce
    x, _ = read_wav(stop_clips[0])
    p = FRONT_ENDS["hamming-20"]
    ref = psf_mfcc(x.astype(np.float64), 16000, p.winlen_s, p.winstep_s, p.numcep, p.nfilt, p.nfft,
                   p.lowfreq_hz, p.highfreq_hz, p.preemph, p.ceplifter, p.append_energy, np.hamming)
    got = mfcc_window(x, p)
    np.testing.assert_allclose(got, ref[: len(got)], atol=1e-4)
    assert len(ref) - len(got) <= 1


def test_window_is_a_whole_number_of_complete_frames():
    p = MfccParams()
    assert p.frame_len_samples == 400 and p.frame_step_samples == 160
    assert p.window_samples == 400 + 97 * 160
    assert complete_frames(p.window_samples, p) == 98
    assert complete_frames(p.window_samples - 1, p) == 97


def test_silence_gives_finite_features():
    feats = MfccStream(MfccParams()).push(np.zeros(16000, np.float32))
    assert np.isfinite(feats).all()


@pytest.mark.parametrize("bad", [{"winfunc": "kaiser"}, {"numcep": 30, "nfilt": 26}, {"nfft": 256}, {"window_frames": 0}])
def test_bad_parameters_are_rejected(bad):
    with pytest.raises(ModelError):
        MfccParams(**bad)


def test_every_named_window_function_has_the_frame_length():
    for fn in WINDOW_FUNCTIONS.values():
        assert len(fn(400)) == 400
