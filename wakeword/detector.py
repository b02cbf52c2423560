"""The streaming detector and the one audio path shared by the daemon, --dry-run and benchmarks.

StreamingDetector turns front-end frames into window scores. It keeps the last window's worth of
normalised frames and scores every window the new frames complete in one batched interpreter
call: a 100 ms block gives one window, a 10 s block a hundred, with identical scores.

Pipeline adds what sits around it: int16/float conversion, resampling from the source's rate
(the one place that happens), the front ends and the triggers. It runs one or several models
on one source: models at the same rate share a resampler, models with equal front-end
parameters share the front end, so two speech-embedding heads compute each embedding once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace

import numpy as np

from .errors import ConfigError
from .model import TfliteModel, load_model
from .resample import Resampler
from .settings import INT16_FULL_SCALE, TriggerConfig, TriggerSettings
from .trigger import Detection, build_trigger

log = logging.getLogger(__name__)

#: RMS of the dither a dry-run pads files with (about -100 dBFS): as quiet as a still room,
#: without the log(0) energies of digital silence that no microphone produces.
PAD_DITHER_RMS = 1e-5
#: The pad is fed in blocks of this length, so its memory does not grow with the file's rate.
PAD_BLOCK_S = 0.5
#: A keyword that needs all its models keeps each model's detections for this long beyond the
#: agreement window, and at most this many: a trigger holds a detection back by at most
#: trigger.contest_ms (2 s) and one block, so a detection this late is never paired.
AGREE_HISTORY_S = 5.0
AGREE_HISTORY_MAX = 32


def hop_frames_for(hop_s: float, frame_step_s: float) -> int:
    """Window hop in front-end frames; the hop must be a whole number of frames."""
    frames = hop_s / frame_step_s
    rounded = int(round(frames))
    if rounded < 1 or abs(frames - rounded) > 1e-6:
        raise ConfigError(
            f"trigger.hop_ms must be a positive multiple of the model's frame step "
            f"({frame_step_s * 1000:g} ms), got {hop_s * 1000:g} ms"
        )
    return rounded


class StreamingDetector:
    """Window scores of one model from its front end's frames.

    process(float32 samples at the model rate, any length) -> (ends, scores), through its own
    front-end stream; process_frames(new frames, frames emitted so far) does the same for frames
    from a stream shared with other detectors. ends: int64 (n,) sample index (from the stream
    start, model rate) one past each completed window's last sample. scores: float32
    (n, n_keywords) probabilities.
    """

    def __init__(self, model: TfliteModel, hop_s: float):
        self.model = model
        self.spec = model.spec
        self.params = model.spec.frontend
        self.hop_frames = hop_frames_for(hop_s, self.params.frame_step_s)
        self.window_frames = self.params.window_frames
        self._stream = None  # made on first process(): a shared stream's detectors never need one
        self._tail = np.zeros((0, self.params.feature_dim), dtype=np.float32)  # last window-1 frames
        self._empty = (np.zeros(0, np.int64), np.zeros((0, len(self.spec.keywords)), np.float32))

    def reset(self) -> None:
        if self._stream is not None:
            self._stream.reset()
        self._tail = np.zeros((0, self.params.feature_dim), dtype=np.float32)

    def process(self, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if self._stream is None:
            self._stream = self.params.open_stream()
        new = self._stream.push(samples)
        return self.process_frames(new, self._stream.frames_emitted)

    def process_frames(self, new: np.ndarray, total: int) -> tuple[np.ndarray, np.ndarray]:
        """new: float32 (k, feature_dim) raw frames, the last k of the `total` emitted so far."""
        if len(new) == 0:
            return self._empty
        frames = np.concatenate((self._tail, self.spec.normalise(new)))
        first_index = total - len(frames)  # absolute index of frames[0]
        w, h = self.window_frames, self.hop_frames
        # window ends e (exclusive frame index) completed by the new frames: e >= w, (e - w) % h == 0
        lo = max(total - len(new) + 1, w)
        first_end = lo + (-(lo - w)) % h
        ends = np.arange(first_end, total + 1, h, dtype=np.int64)
        keep = w - 1
        self._tail = frames[-keep:] if keep > 0 else frames[:0]
        if len(ends) == 0:
            return self._empty
        # windows[i] = frames[i : i + w], as a view; fancy indexing copies the wanted ones out
        row = frames.strides[0]
        windows = np.ndarray((len(frames) - w + 1, w, frames.shape[1]), frames.dtype, buffer=frames,
                             strides=(row, row, frames.strides[1]))
        batch = windows[ends - w - first_index]
        scores = self.model.predict(batch)
        return self.params.frame_end_samples(ends), scores


@dataclass(frozen=True)
class ModelSetup:
    """A loaded model with what it runs with: thresholds {keyword: float} and trigger settings."""

    model: TfliteModel
    thresholds: dict
    trigger: TriggerSettings
    #: a keyword this model shares with others fires only when all of them have fired within this
    #: many seconds of each other (config.yaml's trigger.combine: all); None: when any fires
    agree_within_s: float | None = None

    @classmethod
    def recommended(cls, model: TfliteModel) -> "ModelSetup":
        """The model as its sidecar recommends (thresholds and trigger settings)."""
        return cls(model, dict(model.spec.thresholds), model.spec.trigger)

    @classmethod
    def configured(cls, model: TfliteModel, trigger: TriggerConfig, where: str = "config") -> "ModelSetup":
        """The sidecar's recommendations overridden by config.yaml's trigger section; ConfigError
        naming `where` for a keyword the model lacks or a hop that is not a whole number of frames."""
        setup = cls(model, trigger.thresholds(model.spec.thresholds, where), trigger.apply(model.spec.trigger),
                    trigger.coincidence_s if trigger.combine == "all" else None)
        try:
            hop_frames_for(setup.trigger.hop_s, model.spec.frontend.frame_step_s)
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        return setup

    @property
    def keywords(self) -> tuple[str, ...]:
        return self.model.spec.keywords

    def with_threshold(self, keyword: str, threshold: float) -> "ModelSetup":
        return replace(self, thresholds={**self.thresholds, keyword: float(threshold)})


def load_setups(config) -> list[ModelSetup]:
    """Every model config.yaml names (config.Config.models), loaded and set up, in order.

    Thresholds: a models entry's own threshold, else trigger.threshold (one number for every
    keyword, or {keyword: number} over all the models' keywords), else the sidecar's. The
    trigger section's timing applies to every model.

    Two models may detect one keyword (an MFCC and a speech-embedding model of "stop", say): the
    keyword then fires when either model fires (or, with trigger.combine: all, when both have
    fired within trigger.coincidence_ms), once per refractory period (Pipeline), and each
    model needs its own threshold for it, since their scores are not on one scale. ConfigError,
    naming config.source, for a keyword-wise trigger.threshold on such a keyword, a threshold or
    actions.keywords section naming a keyword no model has, or a front end whose extra is missing."""
    where = config.source
    setups, owner = [], {}
    shared = config.trigger.threshold
    for m in config.models:
        model = load_model(m.path, num_threads=m.num_threads)
        model.spec.frontend.check_available()  # a missing [embedding] extra fails before any audio is read
        for kw in model.spec.keywords:
            owner.setdefault(kw, []).append(f"{m.key} ({m.path.name})")
        trigger = config.trigger
        if isinstance(shared, dict):
            trigger = replace(trigger, threshold={k: v for k, v in shared.items() if k in model.spec.keywords} or None)
        if isinstance(m.threshold, dict):
            for kw in m.threshold:
                if kw not in model.spec.keywords:
                    raise ConfigError(f"{where}: {m.key}.threshold.{kw} names a keyword {m.path.name} does not have "
                                      f"(it has: {', '.join(model.spec.keywords)})")
        if m.threshold is not None:
            trigger = replace(trigger, threshold=m.threshold)
        setups.append(ModelSetup.configured(model, trigger, where=where))
    for kw, models in owner.items():
        if len(models) < 2:
            continue
        if shared is not None and not isinstance(shared, dict):
            raise ConfigError(f"{where}: trigger.threshold (or --threshold) would set one threshold for {kw!r} in "
                              f"{' and '.join(models)}, whose scores are not on one scale; give each models entry its own threshold")
        for m, entry in zip(config.models, setups):
            if kw in entry.keywords and not (isinstance(m.threshold, (int, float)) or
                                             (isinstance(m.threshold, dict) and kw in m.threshold)):
                raise ConfigError(f"{where}: {m.key} ({m.path.name}) shares {kw!r} with {' and '.join(x for x in models if not x.startswith(m.key + ' '))}: "
                                  f"give it its own threshold ({m.key}.threshold; the model card gives the pair's), "
                                  "its sidecar's is for the model alone")
    if config.trigger.combine == "all" and not any(len(m) > 1 for m in owner.values()):
        raise ConfigError(f"{where}: trigger.combine: all needs a keyword that two or more models detect "
                          f"(each of {', '.join(owner)} has one model)")
    if isinstance(shared, dict):
        for kw in shared:
            if kw not in owner:
                raise ConfigError(f"{where}: trigger.threshold.{kw} names a keyword no model has "
                                  f"(they have: {', '.join(owner)})")
            if len(owner[kw]) > 1:
                raise ConfigError(f"{where}: trigger.threshold.{kw} would set one threshold for {' and '.join(owner[kw])}, "
                                  f"whose scores are not on one scale; give each models entry its own threshold")
    try:
        config.actions.check_keywords(owner)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    return setups


def keywords_of(setups) -> list[str]:
    """The keywords of every model, each once, in the models' order."""
    if isinstance(setups, ModelSetup):
        setups = [setups]
    return list(dict.fromkeys(kw for s in setups for kw in s.keywords))


def to_float_mono(block: np.ndarray) -> np.ndarray:
    """int16 or float block, shape (n,) or (n, channels) -> float32 (n,) in [-1, 1]."""
    block = np.asarray(block)
    if block.dtype == np.int16:
        block = block.astype(np.float32) / np.float32(INT16_FULL_SCALE)
    elif block.dtype != np.float32:
        block = block.astype(np.float32)
    if block.ndim == 2:
        block = block.mean(axis=1) if block.shape[1] > 1 else block[:, 0]
    return block


class _Lane:
    """One model in a Pipeline: its detector and trigger."""

    def __init__(self, setup: ModelSetup):
        spec = setup.model.spec
        self.setup = setup
        self.detector = StreamingDetector(setup.model, setup.trigger.hop_s)
        self.trigger = build_trigger(spec.keywords, setup.thresholds, setup.trigger, spec.sample_rate_hz)


@dataclass
class Pipeline:
    """Source blocks at source_rate_hz -> detections. The path every mode goes through.

    setups: one ModelSetup, or several (models sharing the source). feed(block) -> [Detection],
    in model-rate samples from the start of the stream. Each model's window scores also go to
    on_scores(ends, scores, setup) if given (for --debug and evaluation).

    A keyword that several models detect fires when any of them fires; a detection of it less
    than the firing model's refractory period from the keyword's last detection, by whichever
    model, is dropped, so one spoken word fires once however many models hear it. If their
    setups say agree_within_s (trigger.combine: all), it fires instead when one of them fires
    with every other one having fired within agree_within_s before, at that moment and naming
    every model ("a.tflite+b.tflite"), once per refractory period; a detection that arrives
    late (held by a keyword contest) still agrees as it would have on time (_agreed).
    """

    setups: list
    source_rate_hz: int
    on_scores: object = None
    windows_scored: int = field(default=0, init=False)

    def __post_init__(self):
        if isinstance(self.setups, ModelSetup):
            self.setups = [self.setups]
        if not self.setups:
            raise ValueError("a Pipeline needs at least one model")
        self.lanes = [_Lane(s) for s in self.setups]
        # lanes grouped by model rate (one resampler each), then by front end (one stream each)
        self._groups: list[tuple[Resampler, list[tuple[object, list[_Lane]]]]] = []
        by_rate: dict[int, dict] = {}
        for lane in self.lanes:
            params = lane.setup.model.spec.frontend
            by_rate.setdefault(params.sample_rate_hz, {}).setdefault(params, []).append(lane)
        for rate, by_params in by_rate.items():
            streams = [(params.open_stream(), lanes) for params, lanes in by_params.items()]
            self._groups.append((Resampler(self.source_rate_hz, rate), streams))
        counts: dict[str, int] = {}
        for lane in self.lanes:
            for kw in lane.setup.keywords:
                counts[kw] = counts.get(kw, 0) + 1
        #: keyword -> seconds of its last detection, for the keywords several models share, and
        #: the quiet time after it: the longest refractory period of the models that share it
        self._last_s: dict[str, float] = {kw: -np.inf for kw, n in counts.items() if n > 1}
        self._shared_refractory_s = {kw: max(lane.setup.trigger.refractory_s for lane in self.lanes if kw in lane.setup.keywords)
                                     for kw in self._last_s}
        #: keyword -> the agreement window of a keyword that needs all its models, and each of
        #: its lanes' recent detections (lane index -> [Detection], in time order)
        self._agree_s: dict[str, float] = {}
        for kw in self._last_s:
            windows = {lane.setup.agree_within_s for lane in self.lanes if kw in lane.setup.keywords}
            if len(windows) > 1:
                raise ValueError(f"the models sharing {kw!r} disagree on whether all must fire ({sorted(map(str, windows))})")
            if windows != {None}:
                self._agree_s[kw] = float(windows.pop())
        self._recent: dict[str, dict[int, list[Detection]]] = {
            kw: {i: [] for i, lane in enumerate(self.lanes) if kw in lane.setup.keywords} for kw in self._agree_s}
        self._agreed_at: dict[str, list[float]] = {kw: [] for kw in self._agree_s}

    @property
    def model(self) -> TfliteModel:
        """The first (often the only) model."""
        return self.setups[0].model

    def feed(self, block: np.ndarray) -> list[Detection]:
        x = to_float_mono(block)
        found = []
        for resampler, streams in self._groups:
            samples = resampler.process(x)
            for stream, lanes in streams:
                new = stream.push(samples)
                for lane in lanes:
                    ends, scores = lane.detector.process_frames(new, stream.frames_emitted)
                    if not len(ends):
                        continue
                    self.windows_scored += len(ends)
                    if self.on_scores is not None:
                        self.on_scores(ends, scores, lane.setup)
                    for end, row in zip(ends, scores):
                        for det in lane.trigger.update(row, int(end)):
                            found.append((det, lane))
        return self._once(found)

    def flush(self) -> list[Detection]:
        """Detections still held by an open contest between keywords (trigger.Trigger), at the
        end of a stream."""
        return self._once([(det, lane) for lane in self.lanes for det in lane.trigger.flush()])

    def _once(self, found: list) -> list[Detection]:
        """[(Detection, lane)] -> [Detection]: a shared keyword's detections less those within its
        refractory period (the longest of its models') of the last one reported. Those a call
        completes go in time order; across calls the first reported wins, and a late detection
        of a moment already past (a slower model's) never moves the keyword's last time back.
        A shared keyword's detection names the model file that heard it (Detection.model)."""
        if not self._last_s or not found:
            return [det for det, _ in found]
        out = []
        for det, lane in sorted(found, key=lambda p: p[0].time_s) if len(found) > 1 else found:
            kw = det.keyword
            for det in self._agreed(det, lane) if kw in self._agree_s else (det,):
                if kw in self._last_s:
                    last = self._last_s[kw]
                    if abs(det.time_s - last) < self._shared_refractory_s[kw]:
                        continue
                    self._last_s[kw] = max(last, det.time_s)
                    if det.model is None:
                        det = replace(det, model=lane.setup.model.path.name)  # which of the sharing models heard it
                out.append(det)
        return out

    def _agreed(self, det: Detection, lane: _Lane) -> list[Detection]:
        """A keyword that needs all its models: this lane's detection added to its recent ones,
        and the agreed detections it completes, in time order (at each one's time, naming every
        model): the moments at which one sharing lane detects while every other one has detected
        within the window at or before it, as fusion.coincident_times counts them offline.

        A detection may arrive after a later one of another lane (a trigger holds one while
        keywords contest), so each lane keeps its detections of the last AGREE_HISTORY_S beyond
        the window, at most AGREE_HISTORY_MAX, and a late one can still complete an agreement
        at its own time or at another lane's later detection."""
        kw = det.keyword
        recent = self._recent[kw]
        i = self.lanes.index(lane)
        recent[i].append(det)
        recent[i].sort(key=lambda d: d.time_s)
        window = self._agree_s[kw]
        horizon = max(d.time_s for ds in recent.values() for d in ds) - window - AGREE_HISTORY_S
        for j in recent:
            recent[j] = [d for d in recent[j] if d.time_s >= horizon][-AGREE_HISTORY_MAX:]
        # the moments this detection can complete: its own, and other lanes' up to a window later
        candidates = {det.time_s: det}
        for j, ds in recent.items():
            if j != i:
                candidates.update({d.time_s: d for d in ds if det.time_s < d.time_s <= det.time_s + window})
        names = "+".join(self.lanes[j].setup.model.path.name for j in recent)  # the sharing lanes, in order
        done = self._agreed_at[kw] = [t for t in self._agreed_at[kw] if t >= horizon]
        agreed = []
        for t in sorted(candidates):
            if t not in done and all(any(t - window <= d.time_s <= t for d in ds) for ds in recent.values()):
                done.append(t)  # one agreement per moment, however many late detections complete it
                agreed.append(replace(candidates[t], model=names))
        return agreed


def band_warning(source_rate_hz: int, setups) -> str | None:
    """A warning (one line) when audio at source_rate_hz cannot carry the band a model's features
    use: 8 kHz audio (4 kHz wide) into a model whose filters reach 7.6 kHz finds little or
    nothing, silently. None when every model's band fits."""
    if isinstance(setups, ModelSetup):
        setups = [setups]
    nyquist_hz = source_rate_hz / 2
    short = [(s.model, s.model.spec.frontend.band_hz[1]) for s in setups
             if nyquist_hz < s.model.spec.frontend.band_hz[1]]
    if not short:
        return None
    names = ", ".join(f"{m.path.name} uses up to {top_hz / 1000:g} kHz" for m, top_hz in short)
    return (f"{source_rate_hz} Hz audio carries frequencies up to {nyquist_hz / 1000:g} kHz only, but {names}: "
            f"expect missed detections; record at {2 * max(t for _, t in short):.0f} Hz or more")


def format_scores(ends, scores, setup: ModelSetup, offset_s: float = 0.0) -> list[str]:
    """One line per window for --debug: 't=1.20s stop=0.013', the time being the window's end in
    seconds from the stream's start, minus offset_s."""
    rate = setup.model.spec.sample_rate_hz
    return [f"t={end / rate - offset_s:.2f}s " + " ".join(f"{kw}={v:.3f}" for kw, v in zip(setup.keywords, row))
            for end, row in zip(ends, scores)]


def window_span_s(model: TfliteModel) -> float:
    """Seconds of audio one model window spans (about 1 s for MFCC, 2 s for embeddings)."""
    p = model.spec.frontend
    return float(p.frame_end_samples(np.array([p.window_frames]))[0]) / p.sample_rate_hz


def pad_span_s(pipeline: Pipeline) -> float:
    """The near-silence detect_in_file puts on each side of a file: the longest model window."""
    return max(window_span_s(s.model) for s in pipeline.setups)


class FramedStream:
    """One stream through a Pipeline, framed the way a dry-run frames a file.

    start() feeds one window of near-silence (PAD_DITHER_RMS dither) before the first block,
    finish() the same after the last: as if the microphone had been listening to a quiet room
    before and after, so a word at either end, or a clip shorter than the window, is scored as
    the live daemon would score it. Every call returns the detections it completed, with
    t_samples counted from the first sample after the leading pad; a window that ends in the
    trailing pad is reported at the end of the audio fed (a time past it would point at audio
    that is not there). The pad is fed in PAD_BLOCK_S blocks, so memory stays bounded whatever
    the source's rate. The Wyoming service frames each client stream like this (audio-start ...
    audio-stop), so it detects what --dry-run does.
    """

    def __init__(self, pipeline: Pipeline):
        self.pipeline = pipeline
        self.pad_s = pad_span_s(pipeline)
        self._pad_samples = int(round(self.pad_s * pipeline.source_rate_hz))
        self._pad_block = max(1, int(round(PAD_BLOCK_S * pipeline.source_rate_hz)))
        self._fed = 0  # samples of the stream itself (not the pads), at the source's rate

    def start(self) -> list[Detection]:
        return self._feed_pad()

    def finish(self) -> list[Detection]:
        return self._feed_pad() + self._shift(self.pipeline.flush())

    def feed(self, block: np.ndarray) -> list[Detection]:
        """A block at the pipeline's source rate (int16 or float, mono or (n, channels))."""
        self._fed += len(block)
        return self._shift(self.pipeline.feed(block))

    def _feed_pad(self) -> list[Detection]:
        rng = np.random.default_rng(0)  # the same near-silence on both sides
        found = []
        for start in range(0, self._pad_samples, self._pad_block):
            n = min(self._pad_block, self._pad_samples - start)
            found += self._shift(self.pipeline.feed((rng.standard_normal(n) * PAD_DITHER_RMS).astype(np.float32)))
        return found

    def _shift(self, found: list[Detection]) -> list[Detection]:
        rate = self.pipeline.source_rate_hz
        out = []
        for det in found:
            t = det.t_samples - int(round(self.pad_s * det.sample_rate_hz))
            out.append(replace(det, t_samples=max(0, min(t, self._fed * det.sample_rate_hz // rate))))
        return out


def detect_in_file(pipeline: Pipeline, blocks, on_detection=None) -> list[Detection]:
    """Run one file's blocks (at pipeline.source_rate_hz) through a fresh pipeline, framed by
    one window of near-silence on each side (FramedStream). Detection times stay relative to
    the start of the file, at most its end. on_detection(det) is called as each is found.
    """
    stream = FramedStream(pipeline)
    found = []

    def keep(dets):
        for det in dets:
            found.append(det)
            if on_detection is not None:
                on_detection(det)

    keep(stream.start())
    for block in blocks:
        keep(stream.feed(block))
    keep(stream.finish())
    return found
