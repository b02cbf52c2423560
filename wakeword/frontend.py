"""Front ends: what turns audio into the feature frames a model's window is made of.

A sidecar names its front end ("mfcc", or "speech_embedding" with the [embedding] extra) and
gives its parameters. Every front end's parameters provide:
    frontend_type: str             the sidecar name
    sample_rate_hz: int            the audio rate it reads
    window_frames: int             frames in one model window
    feature_dim: int               values per frame
    frame_step_samples: int        samples between successive frames (its hop unit)
    frame_step_s: float
    frame_end_samples(i) -> array  one past the last sample that frame i-1 depends on, for
                                   int array i (exclusive frame indices)
    to_dict() / from_dict()
and its stream provides push(float32 samples) -> float32 (new_frames, feature_dim), reset()
and frames_emitted. Each frame is computed once, whatever the block sizes.
"""

from __future__ import annotations

from .errors import DependencyError, ModelError
from .features import MfccParams, MfccStream

FRONTEND_MFCC = "mfcc"
FRONTEND_SPEECH_EMBEDDING = "speech_embedding"
FRONTEND_TYPES = (FRONTEND_MFCC, FRONTEND_SPEECH_EMBEDDING)
EMBEDDING_INSTALL_HINT = "pip install 'wakeword[embedding]'"
#: Capture block when config.yaml's audio.block_ms is null. MFCC: one 100 ms hop per block. The
#: speech embedding: two 80 ms embeddings per block, computed in one call, which costs about a
#: quarter less CPU than 100 ms blocks for at most 60 ms more latency (README, "Accuracy and cost").
DEFAULT_BLOCK_MS = {FRONTEND_MFCC: 100, FRONTEND_SPEECH_EMBEDDING: 160}


def _embedding_module():
    try:
        from . import embedding
    except ImportError as exc:  # pragma: no cover - depends on what is installed
        raise DependencyError(f"the speech_embedding front end is not available ({exc}); {EMBEDDING_INSTALL_HINT}") from None
    return embedding


def params_from_dict(data: dict, where: str):
    """A sidecar's `frontend` mapping -> that front end's parameters; ModelError if malformed."""
    data = dict(data)
    ftype = data.pop("type", None)
    if ftype == FRONTEND_MFCC:
        cls = MfccParams
    elif ftype == FRONTEND_SPEECH_EMBEDDING:
        cls = _embedding_module().EmbeddingParams
    else:
        raise ModelError(f"{where}: frontend.type {ftype!r} is not supported (expected one of {', '.join(FRONTEND_TYPES)})")
    try:
        return cls.from_dict(data)
    except (TypeError, ModelError) as exc:
        raise ModelError(f"{where}: frontend: {exc}") from None


def check_available(params) -> None:
    """Raise DependencyError now if this front end needs an optional package that is missing,
    so --check-config and --dry-run fail before any audio is read."""
    if params.frontend_type == FRONTEND_SPEECH_EMBEDDING:
        _embedding_module().resource_paths()


def default_block_ms(params) -> int:
    """The capture block (ms) for a model whose front end has these parameters."""
    return DEFAULT_BLOCK_MS[params.frontend_type]


def open_stream(params):
    """A fresh streaming front end for these parameters."""
    if params.frontend_type == FRONTEND_MFCC:
        return MfccStream(params)
    return _embedding_module().EmbeddingStream(params)
