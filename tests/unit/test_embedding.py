"""The speech_embedding front end: parameters, streaming == whole signal, block-size
independence through the detector, the missing-extra error, and the head trainer on --tiny.

Tests that run the two feature models skip when the openwakeword package ([embedding] extra) is
not installed; the missing-extra tests never skip.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import DATA, ROOT, read_wav
from wakeword.frontends import embedding
from wakeword.frontends.embedding import (
    INSTALL_HINT,
    EmbeddingParams,
    EmbeddingStream,
    FeatureModels,
    complete_embeddings,
    embeddings_of,
)
from wakeword.errors import DependencyError, ModelError
from wakeword.frontends import params_from_dict

SHIPPED_EMBEDDING_MODEL = ROOT / "models" / "stop-embedding.tflite"
#: Scores may differ by this between block sizes when the feature models' batched calls differ
#: from single calls within EMBED_BATCH_ATOL (measured: at most 2e-5 for a 1e-4 change).
SCORE_ATOL_FOR_BATCHED_FEATURES = 1e-4


def _extra_installed() -> bool:
    try:
        embedding.resource_paths()
    except DependencyError:
        return False
    return True


needs_extra = pytest.mark.skipif(not _extra_installed(), reason="openwakeword 0.5.0 ([embedding] extra) is not installed")


@pytest.fixture(scope="module")
def params() -> EmbeddingParams:
    return EmbeddingParams()


@pytest.fixture(scope="module")
def models(params):
    if not _extra_installed():
        pytest.skip("openwakeword 0.5.0 ([embedding] extra) is not installed")
    return FeatureModels(params)


@pytest.fixture(scope="module")
def mixed() -> np.ndarray:
    audio, rate = read_wav(DATA / "mixed_stop.wav")
    assert rate == 16000
    return audio


# ----------------------------------------------------------------------------- parameters (no extra needed)


def test_params_round_trip_through_sidecar_frontend_mapping(params):
    data = {"type": "speech_embedding", **params.to_dict()}
    assert params_from_dict(data, "x.json") == params
    assert params.frame_step_samples == 1280 and params.frame_step_s == pytest.approx(0.08)
    assert params.feature_dim == 96 and params.window_frames == 16


def test_unknown_frontend_key_is_a_model_error(params):
    data = {"type": "speech_embedding", **params.to_dict(), "mel_sclae": 0.1}
    with pytest.raises(ModelError, match="mel_sclae"):
        params_from_dict(data, "x.json")


def test_windows_must_end_on_mel_group_boundaries():
    with pytest.raises(ModelError, match="multiple of embedding_step_mel_frames"):
        EmbeddingParams(first_mel_frame=0)


def test_frame_end_samples_counts_whole_mel_groups(params):
    # embedding e reads mel frames [8e+4, 8e+80); its last frame (8e+79) starts at sample
    # 160(8e+79) and its analysis window ends 456 samples later; the group's call (e+9) reads
    # samples [1280(e+9), 1280(e+9) + 1632), so the stream emits it once 1280e + 13152 arrived
    ends = np.array([1, 2, 10])
    assert params.frame_end_samples(ends).tolist() == [13096, 14376, 24616]
    assert complete_embeddings(13151, params) == 0
    assert complete_embeddings(13152, params) == 1
    assert complete_embeddings(13152 + 1279, params) == 1
    assert complete_embeddings(13152 + 1280, params) == 2


# ----------------------------------------------------------------------------- the missing extra (never skipped)


def test_missing_extra_raises_dependency_error_naming_the_install_command(monkeypatch, params):
    monkeypatch.setattr(embedding.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(DependencyError) as info:
        EmbeddingStream(params)
    message = str(info.value)
    assert INSTALL_HINT in message and "\n" not in message


@pytest.mark.parametrize("mode", [["--dry-run", str(DATA / "mixed_stop.wav")], ["--check-config"]], ids=["dry-run", "check-config"])
def test_cli_without_the_extra_prints_one_line_and_exits_2(tmp_path, mode):
    """`python -m wakeword --dry-run/--check-config` on the embedding model with openwakeword
    hidden by a shim module earlier on the path (a plain module, so find_spec finds no package
    resources): one line naming the install command, exit 2, before any output."""
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "openwakeword.py").write_text("# hides the real package for this test\n")
    model = SHIPPED_EMBEDDING_MODEL
    if not model.is_file():  # the sidecar alone decides the front end; the check is before the head loads
        pytest.fail(f"{model} is missing: the project ships the speech-embedding model")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(shim), str(ROOT)]))
    proc = subprocess.run(
        [sys.executable, "-m", "wakeword", *mode, "--model", str(model)],
        capture_output=True, text=True, timeout=120, env=env, cwd=ROOT,
    )
    err_lines = [line for line in proc.stderr.splitlines() if line.strip() and "XNNPACK" not in line]
    assert proc.returncode == 2, proc.stderr
    assert len(err_lines) == 1, proc.stderr
    assert INSTALL_HINT in err_lines[0]
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


# ----------------------------------------------------------------------------- the feature models


@needs_extra
def test_streaming_equals_whole_signal_for_any_block_sizes(params, models, mixed):
    whole = embeddings_of(mixed, params, models)
    assert whole.shape == (complete_embeddings(len(mixed), params), 96)
    rng = np.random.default_rng(0)
    for blocks in ("random", 1, 1600, 16000, len(mixed)):
        stream = EmbeddingStream(params, models)
        out, i = [], 0
        while i < len(mixed):
            if blocks == "random":
                n = int(rng.integers(1, 6000))
            elif blocks == 1:
                n = 1 if i < 20000 else 3000  # sample-by-sample through the first mel groups
            else:
                n = blocks
            out.append(stream.push(mixed[i : i + n]))
            i += n
        got = np.concatenate(out)
        assert stream.frames_emitted == len(whole)
        # exact: every mel group is one call on the same 1632 samples, whatever the blocks
        np.testing.assert_array_equal(got, whole, err_msg=f"blocks={blocks}")


@needs_extra
def test_sliding_calls_equal_one_call_per_embedding(params, models, mixed):
    mel = embedding.mel_frames_of(mixed, params, models)[params.first_mel_frame :]
    sliding = models.embed_frames(mel)
    assert models.spans == embedding.EMBED_SPANS  # every size matched single calls: the cheap path is on
    one_each = models.embed(embedding._mel_windows(mel, params))
    assert len(sliding) == len(one_each) > 2 * sum(embedding.EMBED_SPANS)
    assert_embeddings_equal(models, sliding, one_each)
    every_size = sum(embedding.EMBED_SPANS)  # one call of each size
    frames = params.mel_frames_per_embedding + params.embedding_step_mel_frames * (every_size - 1)
    assert_embeddings_equal(models, models.embed_frames(mel[3 * 8 : 3 * 8 + frames]), one_each[3 : 3 + every_size])
    # frames short of a whole embedding give none; the partial tail is not read
    assert models.embed_frames(mel[: params.mel_frames_per_embedding - 1]).shape == (0, 96)
    assert_embeddings_equal(models, models.embed_frames(mel[: params.mel_frames_per_embedding + 11]), one_each[:2])


def assert_embeddings_equal(models, got, expected):
    """Bit for bit where the call sizes' checks measured no difference (x86); within the
    tolerance that keeps a size otherwise (ARM's kernels differ by about 1e-5)."""
    if all(d == 0 for d in models.span_max_diff.values()):
        np.testing.assert_array_equal(got, expected)
    else:
        np.testing.assert_allclose(got, expected, rtol=0, atol=embedding.EMBED_BATCH_ATOL)


def _offset_span(fresh, span, offset, monkeypatch):
    """Make `span`-embedding calls differ from single calls by `offset`, as another CPU's might."""
    real = fresh._embed_span

    def shifted(frames, n):
        out = real(frames, n)
        return out + np.float32(offset) if n == span else out

    monkeypatch.setattr(fresh, "_embed_span", shifted)


@needs_extra
def test_a_call_size_that_differs_from_single_calls_beyond_the_tolerance_is_dropped(params, mixed, monkeypatch, caplog):
    fresh = FeatureModels(params)
    _offset_span(fresh, 4, 10 * embedding.EMBED_BATCH_ATOL, monkeypatch)
    mel = embedding.mel_frames_of(mixed[:64000], params, fresh)[params.first_mel_frame :]
    got = fresh.embed_frames(mel)
    assert 4 not in fresh.spans and 2 in fresh.spans
    assert "4-embedding calls differ from single calls by 1.0e-03" in caplog.text
    np.testing.assert_array_equal(got, fresh.embed(embedding._mel_windows(mel, params)))


@needs_extra
def test_a_call_size_within_the_tolerance_is_kept_without_a_warning(params, mixed, monkeypatch, caplog):
    """ARM's batched calls differ by about 1e-5: the batching (and its CPU saving) must stay."""
    fresh = FeatureModels(params)
    _offset_span(fresh, 4, 1e-5, monkeypatch)
    mel = embedding.mel_frames_of(mixed[:64000], params, fresh)[params.first_mel_frame :]
    with caplog.at_level(logging.WARNING, logger="wakeword.frontends.embedding"):
        got = fresh.embed_frames(mel)
    assert 4 in fresh.spans and 5e-6 < fresh.span_max_diff[4] < embedding.EMBED_BATCH_ATOL  # float32 rounding of +1e-5
    assert "differ" not in caplog.text
    np.testing.assert_allclose(got, fresh.embed(embedding._mel_windows(mel, params)), rtol=0,
                               atol=embedding.EMBED_BATCH_ATOL)


@needs_extra
def test_reset_starts_a_new_stream(params, models, mixed):
    stream = EmbeddingStream(params, models)
    first = stream.push(mixed[:40000])
    stream.reset()
    assert stream.frames_emitted == 0
    np.testing.assert_array_equal(stream.push(mixed[:40000]), first)


@needs_extra
def test_embedding_depends_on_samples_up_to_frame_end_only(params, models, mixed):
    e = 20
    end = int(params.frame_end_samples(np.array([e + 1]))[0])
    x = mixed[: end + 5000].copy()
    base = embeddings_of(x, params, models)[e]
    later = x.copy()
    later[end:] += 0.5  # everything after the dependency end: embedding e must not move
    np.testing.assert_array_equal(embeddings_of(later, params, models)[e], base)
    last = x.copy()
    last[end - 1] += 0.5  # the last sample it depends on (the Hann tail weights it little): it must move
    assert not np.array_equal(embeddings_of(last, params, models)[e], base)


@needs_extra
def test_detector_scores_do_not_depend_on_block_size(mixed):
    from wakeword.detector import StreamingDetector
    from wakeword.model import load_model

    if not SHIPPED_EMBEDDING_MODEL.is_file():
        pytest.fail(f"{SHIPPED_EMBEDDING_MODEL} is missing: the project ships the speech-embedding model")
    model = load_model(SHIPPED_EMBEDDING_MODEL)
    assert model.spec.output_activation == "logit"
    results = {}
    for block in (1280, 1600, 7000, 160000):
        det = StreamingDetector(model, hop_s=model.spec.trigger.hop_s)
        ends, scores = [], []
        for i in range(0, len(mixed), block):
            e, s = det.process(mixed[i : i + block])
            ends.append(e)
            scores.append(s)
        results[block] = (np.concatenate(ends), np.concatenate(scores))
    ref_ends, ref_scores = results[160000]
    assert len(ref_ends) == complete_embeddings(len(mixed), model.spec.frontend) - 15
    assert np.all(np.diff(ref_ends) == 1280)
    # the head is called with different batch sizes: allow float32 round-off there only, unless
    # the feature models' call sizes differ from single calls (within EMBED_BATCH_ATOL, as on
    # ARM): then scores may move by what that moves them, at most 2e-5 measured; 1e-4 allowed
    exact_features = all(d == 0 for d in det._stream.models.span_max_diff.values())
    atol = 1e-6 if exact_features else SCORE_ATOL_FOR_BATCHED_FEATURES
    for block, (e, s) in results.items():
        np.testing.assert_array_equal(e, ref_ends)
        np.testing.assert_allclose(s, ref_scores, rtol=0, atol=atol, err_msg=f"block={block}")


#: The "stop" clips in mixed_stop.wav (start, end) in seconds, from tests/data/README.md.
MIXED_STOPS_S = ((4.0, 5.0), (9.0, 10.0))


@needs_extra
def test_shipped_model_detects_each_stop_in_mixed_stop_wav_once(mixed):
    from wakeword.detector import ModelSetup, Pipeline
    from wakeword.model import load_model

    model = load_model(SHIPPED_EMBEDDING_MODEL)
    pipe = Pipeline(ModelSetup.recommended(model), 16000)
    found = []
    for i in range(0, len(mixed), 16000):
        found += pipe.feed(mixed[i : i + 16000])
    window_s = model.spec.frontend.window_samples / 16000
    # a detection belongs to a clip while a window that ends at it still overlaps the clip
    owners = [[k for k, (a, b) in enumerate(MIXED_STOPS_S) if a <= d.time_s <= b + window_s] for d in found]
    assert all(len(o) == 1 for o in owners), found  # nothing fires on "go" or "up" alone
    assert sorted(o[0] for o in owners) == list(range(len(MIXED_STOPS_S))), found


