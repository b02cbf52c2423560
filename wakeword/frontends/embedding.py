"""Speech-embedding front end: Google's speech_embedding (arXiv:2002.01322) as openWakeWord ships it.

Two TFLite feature models run before the keyword head:

1. the mel model turns 16 kHz audio at int16 scale into 32-band log-mel frames: a 512-sample
   STFT frame every 160 samples (10 ms);
2. the frames are scaled `x * mel_scale + mel_offset` (x/10 + 2, which brings the model's dB
   values to the range Google's original TF-Hub front end produced);
3. every 8 mel frames (80 ms) the last 76 frames go through the embedding model, which gives one
   96-d vector; the head reads the last `window_frames` (16) of them, about 2 s of audio.

The weights are not in this repository: they are loaded from the installed `openwakeword`
package (the [embedding] extra pins the version that still ships them), found with
importlib's spec lookup so that openwakeword's own heavy __init__ is never imported.

Why the mel model is called once per 80 ms and never on a long block
--------------------------------------------------------------------
The mel model ends with a top-dB clamp: `max(db, max(db over the whole input tensor) - 80)`,
a REDUCE_MAX over every axis, batch included. A frame's value therefore depends on the loudest
frame in the same call. Calling it on whatever block arrived would make the features depend on
the block sizes (by up to ~20 dB on quiet frames next to a loud word, far beyond round-off),
and batching several calls in one tensor has the same problem. So the mel frames are defined
in fixed groups of `embedding_step_mel_frames` (8) frames, each group computed by its own call
on exactly the 1632 samples its frames span - what openWakeWord's streaming path does with
1280-sample pushes. Every frame is then computed once, in the same call, whatever the block
sizes, and streaming equals the whole-signal path exactly. The cost is one small call per
80 ms (about 0.13 ms, ~6 CPU-s per audio hour).

Why the embedding model runs on several embeddings' frames at once
-----------------------------------------------------------------
The embedding model is fully convolutional in time: 3x1 and 1x3 convolutions without time
padding and three max-pools that halve time, a total time stride of 8 mel frames, which is
exactly the step between embeddings. Given 76 + 8 (k - 1) frames instead of 76 it returns k
embeddings, each bit for bit the one a separate 76-frame call gives on x86 (checked for each call size
the first time it is needed, which drops a size that differs by more than EMBED_BATCH_ATOL,
as ARM's kernels do by about 1e-5; and by the tests), while the convolutions over the frames the
k windows share are done once. Per embedding, one alone costs about 1.27 ms here, 2 at once 0.74 ms, 4 at once 0.42 ms,
32 at once 0.18 ms. Calls use the sizes in EMBED_SPANS, largest first, one interpreter per size
made when first needed (each holds its own packed weights and buffers, about 4-6 MB). Live
capture completes as many embeddings per block as the block spans (audio.block_ms): 100 ms
blocks give 1 or 2, 160 ms blocks 2, 320 ms blocks 4, so larger blocks cost less CPU for a
little more latency; a 10 s file block (125 embeddings) is 3 x 32 + 7 x 4 + 1.

Alignment: mel frame j is the STFT frame of samples [160 j, 160 j + 512), whose centred
400-sample Hann window weights only [160 j + 56, 160 j + 456); group g is frames [8 g, 8 g + 8).
Embedding e reads mel frames [8 e + 4, 8 e + 80), so that every window ends on a group boundary
and no embedding waits for a group it only half uses (the first 4 frames are never used).
"""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import asdict, dataclass, fields
from importlib import metadata
from pathlib import Path
from typing import ClassVar

import numpy as np

from ..errors import DependencyError, ModelError
from ..interpreter import first_line, open_interpreter
from . import EMBEDDING_INSTALL_HINT as INSTALL_HINT
from . import MAX_WINDOW_FRAMES, check_field_types

log = logging.getLogger(__name__)

#: The package whose resource files hold the two feature models, and where inside it.
OPENWAKEWORD_PACKAGE = "openwakeword"
RESOURCE_DIR = ("resources", "models")
MEL_MODEL_FILE = "melspectrogram.tflite"
EMBEDDING_MODEL_FILE = "embedding_model.tflite"

#: Shapes fixed by the two pretrained models.
MODEL_MEL_BANDS = 32
MODEL_EMBEDDING_DIM = 96
#: The band the pretrained mel model's 32 filters cover, in Hz (fixed by its weights). Measured
#: with pure tones through the model: the top band peaks between 3.5 and 3.8 kHz and is down
#: by half its level (in dB) at 4 kHz; below 60 Hz only the first band responds.
MODEL_MEL_BAND_HZ = (60.0, 3800.0)
#: Embeddings computed by one call of the embedding model (sliding over 76 + 8 (span - 1) frames),
#: tried largest first. Four sizes keep the interpreters' memory down; 4, 2 and 1 are what live
#: blocks of up to 320 ms complete.
EMBED_SPANS = (32, 4, 2, 1)
#: The largest |batched - single| embedding difference (absolute; embedding values are of order
#: 10) at which a call size is still used. On x86 the batched calls are bit-exact; on ARM the
#: kernels tile the longer input differently and differ by about 1e-5, which dropped every size
#: (losing the batching's CPU saving, with a warning per size at every start). A change of 1e-4
#: in every value of every embedding moves the shipped head's scores by at most 2e-5 (uniform
#: noise on the tests/data windows), so a detection could only change for a smoothed score
#: already within that of its threshold.
EMBED_BATCH_ATOL = 1e-4


@dataclass(frozen=True)
class EmbeddingParams:
    """Everything needed to turn audio at `sample_rate_hz` into the head's input window.

    window_frames embeddings of feature_dim values each make one window (the head sees
    window_frames x feature_dim). Sample counts are at sample_rate_hz.
    """

    sample_rate_hz: int = 16000
    window_frames: int = 16
    feature_dim: int = MODEL_EMBEDDING_DIM
    mel_bands: int = MODEL_MEL_BANDS
    #: STFT frame and hop of the mel model, in samples (fixed by its weights; recorded to check)
    mel_frame_samples: int = 512
    mel_hop_samples: int = 160
    #: one past the last sample of a 512-sample STFT frame that its analysis window weights: the
    #: model centres a 400-sample Hann window in the frame, so samples 456..511 never count
    mel_window_end_samples: int = 456
    #: mel frames read by one embedding, and mel frames between successive embeddings
    mel_frames_per_embedding: int = 76
    embedding_step_mel_frames: int = 8
    #: mel frames skipped at the stream start so that windows end on mel-group boundaries
    first_mel_frame: int = 4
    #: the mel model expects int16-scale values; our audio is float in [-1, 1]
    input_scale: float = 32768.0
    #: mel frames are scaled as mel * mel_scale + mel_offset before the embedding model
    mel_scale: float = 0.1
    mel_offset: float = 2.0
    #: the openwakeword release whose resource files were used in training
    openwakeword_version: str = "0.5.0"

    frontend_type: ClassVar[str] = "speech_embedding"
    #: two 80 ms embeddings per capture block, computed in one call: about a quarter less CPU than
    #: 100 ms blocks for at most 60 ms more latency (README, "Accuracy and cost")
    default_block_ms: ClassVar[int] = 160

    def __post_init__(self) -> None:
        check_field_types(self, "speech embedding parameters")
        problems = []
        if self.sample_rate_hz != 16000:
            problems.append(f"sample_rate_hz must be 16000 (the speech embedding's rate), got {self.sample_rate_hz}")
        if self.feature_dim != MODEL_EMBEDDING_DIM:
            problems.append(f"feature_dim must be {MODEL_EMBEDDING_DIM}, got {self.feature_dim}")
        if self.mel_bands != MODEL_MEL_BANDS:
            problems.append(f"mel_bands must be {MODEL_MEL_BANDS}, got {self.mel_bands}")
        if not 1 <= self.window_frames <= MAX_WINDOW_FRAMES:
            problems.append(f"window_frames must be 1-{MAX_WINDOW_FRAMES}, got {self.window_frames}")
        sizes = (self.mel_frame_samples, self.mel_hop_samples, self.mel_frames_per_embedding, self.embedding_step_mel_frames)
        if min(sizes) < 1 or max(sizes) > 4096 or self.first_mel_frame > 4096:
            problems.append("mel frame, hop, embedding sizes and first_mel_frame must be 1-4096")
        elif (self.first_mel_frame + self.mel_frames_per_embedding) % self.embedding_step_mel_frames:
            problems.append(
                "first_mel_frame + mel_frames_per_embedding must be a multiple of embedding_step_mel_frames "
                "(windows end on mel-group boundaries)"
            )
        if not 0 < self.mel_window_end_samples <= self.mel_frame_samples:
            problems.append(f"mel_window_end_samples must be in 1..mel_frame_samples, got {self.mel_window_end_samples}")
        if self.first_mel_frame < 0:
            problems.append(f"first_mel_frame must be >= 0, got {self.first_mel_frame}")
        if self.input_scale <= 0:
            problems.append(f"input_scale must be positive, got {self.input_scale}")
        if problems:
            raise ModelError("speech embedding parameters: " + "; ".join(problems))

    @property
    def frame_step_samples(self) -> int:
        """Samples between successive embeddings (1280 = 80 ms)."""
        return self.embedding_step_mel_frames * self.mel_hop_samples

    @property
    def frame_step_s(self) -> float:
        return self.frame_step_samples / self.sample_rate_hz

    @property
    def mel_call_samples(self) -> int:
        """Samples one mel-model call reads: exactly the span of one group of mel frames (1632)."""
        return self.mel_frame_samples + (self.embedding_step_mel_frames - 1) * self.mel_hop_samples

    def frame_end_samples(self, ends: np.ndarray) -> np.ndarray:
        """Exclusive embedding indices -> one past the last sample that embedding ends-1 depends on.

        Embedding e's last mel frame is the last of its mel group (whose call the whole group
        shares), so it depends on samples up to the end of that frame's analysis window:
        1280 e + 13096 for the default parameters. The group's call itself reads 56 samples more
        (the rest of the 512-sample STFT frame, weighted zero), so a stream emits the embedding
        once sample 1280 e + 13152 has arrived.
        """
        ends = np.asarray(ends, dtype=np.int64)
        last_group = (ends - 1) + (self.first_mel_frame + self.mel_frames_per_embedding) // self.embedding_step_mel_frames - 1
        last_frame_start = last_group * self.frame_step_samples + (self.embedding_step_mel_frames - 1) * self.mel_hop_samples
        return last_frame_start + self.mel_window_end_samples

    @property
    def window_samples(self) -> int:
        """Samples from the start of a window's first mel frame to the end of its last embedding's
        audio (31656, 1.98 s; conservative by the 56 leading samples the first window weights zero)."""
        first_start = self.first_mel_frame * self.mel_hop_samples
        return int(self.frame_end_samples(np.asarray([self.window_frames]))[0]) - first_start

    @property
    def band_hz(self) -> tuple[float, float]:
        return MODEL_MEL_BAND_HZ

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "EmbeddingParams":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ModelError(f"unknown speech embedding parameter(s): {', '.join(unknown)}")
        return cls(**data)

    def check_available(self) -> None:
        """DependencyError naming the install command if openwakeword's feature models are missing."""
        resource_paths()

    def open_stream(self) -> "EmbeddingStream":
        return EmbeddingStream(self)


def resource_paths() -> tuple[Path, Path]:
    """(mel model, embedding model) paths inside the installed openwakeword package.

    Does not import openwakeword (its __init__ pulls in onnxruntime and more). Raises
    DependencyError naming the install command when the package or its files are missing.
    """
    try:
        spec = importlib.util.find_spec(OPENWAKEWORD_PACKAGE)
    except (ImportError, ValueError):
        spec = None
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        folder = Path(location).joinpath(*RESOURCE_DIR)
        mel, emb = folder / MEL_MODEL_FILE, folder / EMBEDDING_MODEL_FILE
        if mel.is_file() and emb.is_file():
            return mel, emb
    if locations:
        raise DependencyError(
            f"the installed openwakeword package has no {MEL_MODEL_FILE}/{EMBEDDING_MODEL_FILE} "
            f"(only 0.5.0 ships them); {INSTALL_HINT}"
        )
    raise DependencyError(f"the speech_embedding front end needs the openwakeword package; {INSTALL_HINT}")


def installed_openwakeword_version() -> str | None:
    try:
        return metadata.version(OPENWAKEWORD_PACKAGE)
    except metadata.PackageNotFoundError:
        return None


class FeatureModels:
    """The two pretrained feature models behind one interpreter each (LiteRT preferred).

    mel_group(float32 (mel_call_samples,) at int16 scale) -> float32 (8, 32) scaled mel frames;
    embed_frames(float32 (frames, 32) scaled mel frames) -> float32 (n, 96) embeddings.
    """

    def __init__(self, params: EmbeddingParams, num_threads: int = 1):
        self.params = params
        mel_path, emb_path = resource_paths()
        installed = installed_openwakeword_version()
        if installed is not None and installed != params.openwakeword_version:
            log.warning(
                "openwakeword %s is installed but this model was trained with %s's feature models; "
                "scores may differ (%s)", installed, params.openwakeword_version, INSTALL_HINT,
            )
        what = "cannot load the speech embedding models"
        self._mel, self.backend = open_interpreter(mel_path, num_threads, what)
        try:
            # The mel model's input is [batch, samples] with both dynamic; it cannot even be
            # allocated at its nominal [1, 1], so size it to one group's call before allocating.
            self._mel.resize_tensor_input(self._mel.get_input_details()[0]["index"], [1, params.mel_call_samples], strict=True)
            self._mel.allocate_tensors()
            self._emb_path, self._num_threads = emb_path, num_threads
            self._emb_by_span: dict[int, tuple] = {}
            self._emb_interpreter(1)
        except Exception as exc:  # noqa: BLE001 - a broken backend's errors vary (SystemError...); all mean "unusable"
            raise ModelError(f"{mel_path.parent}: {what} ({first_line(exc)})") from None
        self._mel_in = self._mel.get_input_details()[0]["index"]
        self._mel_out = self._mel.get_output_details()[0]["index"]
        self._check_shapes()
        self.spans: tuple[int, ...] = EMBED_SPANS
        self._checked_spans = {1}
        #: call size -> the largest |batched - single| difference its check measured
        self.span_max_diff: dict[int, float] = {1: 0.0}

    def _check_shapes(self) -> None:
        p = self.params
        probe = self.mel_group(np.zeros(p.mel_call_samples, np.float32))
        if probe.shape != (p.embedding_step_mel_frames, p.mel_bands):
            raise ModelError(
                f"the mel model gives {probe.shape} frames for {p.mel_call_samples} samples, "
                f"expected ({p.embedding_step_mel_frames}, {p.mel_bands}): parameters and models disagree"
            )
        shape = [int(v) for v in self._emb_by_span[1][0].get_input_details()[0]["shape"]][1:]
        if shape != [p.mel_frames_per_embedding, p.mel_bands, 1]:
            raise ModelError(f"the embedding model reads {shape}, expected [{p.mel_frames_per_embedding}, {p.mel_bands}, 1]")

    def mel_group(self, samples: np.ndarray) -> np.ndarray:
        """One group's call: float32 (mel_call_samples,) int16-scale audio -> (8, 32) scaled frames."""
        p = self.params
        self._mel.set_tensor(self._mel_in, samples.reshape(1, -1).astype(np.float32, copy=False))
        self._mel.invoke()
        out = self._mel.get_tensor(self._mel_out).reshape(-1, p.mel_bands)
        return (out * np.float32(p.mel_scale) + np.float32(p.mel_offset)).astype(np.float32)

    def _emb_interpreter(self, span: int) -> tuple:
        """(interpreter, input index, output index) of the embedding model sized for `span`
        embeddings: input [1, 76 + 8 (span - 1), 32, 1]."""
        if span not in self._emb_by_span:
            p = self.params
            it, _ = open_interpreter(self._emb_path, self._num_threads, "cannot load the speech embedding model")
            index = it.get_input_details()[0]["index"]
            if span > 1:
                frames = p.mel_frames_per_embedding + p.embedding_step_mel_frames * (span - 1)
                it.resize_tensor_input(index, [1, frames, p.mel_bands, 1], strict=False)
            it.allocate_tensors()
            self._emb_by_span[span] = (it, index, it.get_output_details()[0]["index"])
        return self._emb_by_span[span]

    def _embed_span(self, frames: np.ndarray, span: int) -> np.ndarray:
        """float32 (76 + 8 (span - 1), 32) frames -> (span, 96): one call of the embedding model."""
        it, index, out = self._emb_interpreter(span)
        it.set_tensor(index, np.ascontiguousarray(frames, dtype=np.float32)[None, :, :, None])
        it.invoke()
        return it.get_tensor(out).reshape(span, -1).copy()

    def _span_matches(self, span: int) -> bool:
        """Does one call over `span` embeddings' frames give the separate calls' embeddings, to
        within EMBED_BATCH_ATOL? Checked once per size before it is used (the kernels may tile
        a longer input differently on another CPU); a size that does not is never used."""
        p = self.params
        frames = p.mel_frames_per_embedding + p.embedding_step_mel_frames * (span - 1)
        probe = np.random.default_rng(span).uniform(-1.0, 3.0, (frames, p.mel_bands)).astype(np.float32)
        try:
            joint = self._embed_span(probe, span)
        except Exception as exc:  # noqa: BLE001 - whatever the backend raises, the size is unusable
            log.warning("the embedding model cannot run %d embeddings in one call (%s); using smaller calls",
                        span, first_line(exc))
            self._emb_by_span.pop(span, None)
            return False
        diff = float(np.abs(joint - self.embed(_mel_windows(probe, p))).max())
        self.span_max_diff[span] = diff
        if not diff <= EMBED_BATCH_ATOL:
            log.warning("the embedding model's %d-embedding calls differ from single calls by %.1e (more than %.0e); "
                        "using smaller calls", span, diff, EMBED_BATCH_ATOL)
            self._emb_by_span.pop(span, None)
            return False
        if diff:
            log.debug("the embedding model's %d-embedding calls differ from single calls by %.1e: within %.0e, used",
                      span, diff, EMBED_BATCH_ATOL)
        return True

    def _span_for(self, left: int) -> int:
        """The largest usable call size for `left` embeddings; a size is checked (_span_matches)
        the first time it would be used and dropped for good if it does not match."""
        while True:
            span = next(k for k in self.spans if k <= left)
            if span in self._checked_spans:
                return span
            if self._span_matches(span):
                self._checked_spans.add(span)
                return span
            self.spans = tuple(k for k in self.spans if k != span)

    def embed_frames(self, mel: np.ndarray) -> np.ndarray:
        """Scaled mel frames starting at an embedding's first frame, float32 (frames, 32) ->
        float32 (n, 96), n = 1 + (frames - 76) // 8 (0 if fewer than 76 frames): every complete
        embedding, computed in calls of the sizes in self.spans, largest first."""
        p = self.params
        w, step = p.mel_frames_per_embedding, p.embedding_step_mel_frames
        n = 0 if len(mel) < w else 1 + (len(mel) - w) // step
        if n == 0:
            return np.zeros((0, p.feature_dim), np.float32)
        out, done = [], 0
        while done < n:
            left = n - done
            span = self._span_for(left)
            start = done * step
            out.append(self._embed_span(mel[start : start + w + step * (span - 1)], span))
            done += span
        return np.concatenate(out)

    def embed(self, windows: np.ndarray) -> np.ndarray:
        """float32 (n, 76, 32) separate scaled mel windows -> float32 (n, 96), one call each
        (the reference the sliding path is tested against)."""
        windows = np.asarray(windows, dtype=np.float32)
        if len(windows) == 0:
            return np.zeros((0, self.params.feature_dim), np.float32)
        return np.concatenate([self._embed_span(x, 1) for x in windows])


def _mel_windows(mel: np.ndarray, params: EmbeddingParams) -> np.ndarray:
    """(frames, 32) scaled mel frames starting at an embedding's first frame -> (n, 76, 32) windows."""
    w, step = params.mel_frames_per_embedding, params.embedding_step_mel_frames
    if len(mel) < w:
        return np.zeros((0, w, params.mel_bands), np.float32)
    views = np.lib.stride_tricks.sliding_window_view(mel, w, axis=0)[::step]  # (n, 32, 76)
    return np.ascontiguousarray(views.transpose(0, 2, 1))


def complete_embeddings(n_samples: int, params: EmbeddingParams) -> int:
    """Number of embeddings computable from the first n_samples samples (each needs its last
    mel group's whole call: 13152 samples for the first, then one more every 1280)."""
    step, span = params.frame_step_samples, params.mel_call_samples
    groups = 0 if n_samples < span else 1 + (n_samples - span) // step
    groups_per_window = (params.first_mel_frame + params.mel_frames_per_embedding) // params.embedding_step_mel_frames
    return max(0, groups - groups_per_window + 1)


def mel_frames_of(signal: np.ndarray, params: EmbeddingParams, models: FeatureModels) -> np.ndarray:
    """Whole-signal scaled mel frames: float audio in [-1, 1] -> float32 (8 * groups, 32).

    Group g (frames 8g..8g+7) is one mel-model call on samples [1280 g, 1280 g + 1632).
    """
    x = np.asarray(signal, dtype=np.float32).reshape(-1) * np.float32(params.input_scale)
    step, span = params.frame_step_samples, params.mel_call_samples
    n_groups = 0 if len(x) < span else 1 + (len(x) - span) // step
    if n_groups == 0:
        return np.zeros((0, params.mel_bands), np.float32)
    return np.concatenate([models.mel_group(x[g * step : g * step + span]) for g in range(n_groups)])


def embeddings_of(signal: np.ndarray, params: EmbeddingParams, models: FeatureModels | None = None) -> np.ndarray:
    """Whole-signal embeddings: float audio in [-1, 1] at 16 kHz -> float32 (n, 96).

    Row e depends on samples [1280 e, params.frame_end_samples(e + 1)); n = complete_embeddings.
    This is what training uses; EmbeddingStream gives the same rows incrementally.
    """
    models = models or FeatureModels(params)
    mel = mel_frames_of(signal, params, models)[params.first_mel_frame :]
    return models.embed_frames(mel)


class EmbeddingStream:
    """Incremental embeddings: push samples of any block length, get the embeddings they complete.

    push(float32 samples in [-1, 1] at 16 kHz) -> float32 (new_embeddings, 96). Each mel group is
    computed once when its last sample arrives, each embedding once when its last group is
    there, so the output equals embeddings_of() on the concatenated signal, whatever the blocks.
    """

    def __init__(self, params: EmbeddingParams, models: FeatureModels | None = None):
        self.params = params
        self.models = models or FeatureModels(params)
        self.reset()

    def reset(self) -> None:
        p = self.params
        self._pending = np.zeros(0, np.float32)  # int16-scale samples from the next group's start
        # scaled mel frames from the next embedding's first frame on (that frame is at absolute
        # index first_mel_frame + step * frames_emitted)
        self._mel = np.zeros((0, p.mel_bands), np.float32)
        self._skip_mel = p.first_mel_frame  # stream-start frames no embedding reads
        self.frames_emitted = 0

    def push(self, samples: np.ndarray) -> np.ndarray:
        p = self.params
        x = np.asarray(samples, dtype=np.float32).reshape(-1) * np.float32(p.input_scale)
        pending = np.concatenate((self._pending, x)) if len(self._pending) else x
        step, span = p.frame_step_samples, p.mel_call_samples
        n_groups = 0 if len(pending) < span else 1 + (len(pending) - span) // step
        if n_groups:
            groups = [self.models.mel_group(pending[g * step : g * step + span]) for g in range(n_groups)]
            new_mel = np.concatenate(groups)
            if self._skip_mel:
                skip = min(self._skip_mel, len(new_mel))
                new_mel, self._skip_mel = new_mel[skip:], self._skip_mel - skip
            self._mel = np.concatenate((self._mel, new_mel)) if len(self._mel) else new_mel
            pending = pending[n_groups * step :]
        self._pending = np.array(pending, dtype=np.float32, copy=True)  # do not pin the caller's block
        out = self.models.embed_frames(self._mel)
        if len(out) == 0:
            return out
        self._mel = self._mel[len(out) * p.embedding_step_mel_frames :]
        self.frames_emitted += len(out)
        return out


PARAMS = EmbeddingParams
