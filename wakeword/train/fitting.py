"""Fitting a Keras model in stages, and mining hard negatives from long streams of training audio.

Both trainers fit the same way: a first stage on the banks' windows, then rounds of mining (score
a long remixed negative stream of training audio, keep its highest-scoring windows as new
negatives) and fine-tuning. The stream's windows are cut by the daemon's own detector: they are
captured once through the one scorer (scoring.score_stream with a PredictorModel) and re-scored
with the current model in each round, exactly as the daemon would have scored them.
"""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np

from ..detector import ModelSetup
from ..settings import TriggerSettings
from .augment import mask_features
from .scoring import PredictorModel, score_stream

log = logging.getLogger(__name__)

BATCH = 256
#: Mined windows must score at least this (probability) to be worth adding.
MINING_MIN_SCORE = 0.05
PREDICT_BATCH = 8192


def fit(keras, model, X: np.ndarray, y: np.ndarray, epochs: int, learning_rate: float, seed: int,
        multiclass: bool = False, from_logits: bool = False, sample_weight: np.ndarray | None = None,
        masks: tuple[int, int] | None = None, label_smoothing: float = 0.0) -> list[float]:
    """Adam with cosine decay for `epochs`; returns the loss per epoch.

    y: float (n,) 0/1 labels (binary) or int (n,) class indices (multiclass). masks (widest time
    span, widest band): each epoch sees freshly masked features (augment.mask_features).
    """
    if epochs <= 0:
        return []
    steps = epochs * int(np.ceil(len(X) / BATCH))
    schedule = keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps, alpha=0.05)
    if multiclass:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)
    else:
        loss = keras.losses.BinaryCrossentropy(from_logits=from_logits, label_smoothing=label_smoothing)
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss=loss)
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng([seed, 41])
    losses = []
    for epoch in range(epochs):
        Xe = mask_features(X, rng, *masks) if masks else X
        hist = model.fit(Xe, y, sample_weight=sample_weight, batch_size=BATCH, epochs=epoch + 1,
                         initial_epoch=epoch, shuffle=True, verbose=2)
        losses.append(round(float(hist.history["loss"][-1]), 5))
    return losses


def keras_predictor(model, multiclass: bool, from_logits: bool):
    """predict(float32 (n, ...) normalised windows) -> (n, outputs) probabilities, batched."""
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def run(x):
        return model(x, training=False)

    def predict(X):
        parts = [run(np.ascontiguousarray(X[i : i + PREDICT_BATCH])).numpy() for i in range(0, len(X), PREDICT_BATCH)]
        y = np.concatenate(parts) if parts else np.zeros((0, model.outputs[0].shape[-1]), np.float32)
        y = y.reshape(len(X), -1)
        if from_logits:
            if multiclass:
                y = np.exp(y - y.max(axis=1, keepdims=True))
                y /= y.sum(axis=1, keepdims=True)
            else:
                y = 1.0 / (1.0 + np.exp(-y))
        return y.astype(np.float32)

    return predict


def capture_windows(spec, stream, hop_s: float) -> np.ndarray:
    """Every window the daemon's detector cuts from `stream` (a NegativeStream or TrialSet), as raw
    (unnormalised) features float32 (n, window_frames, feature_dim).

    spec: a ModelSpec with the front end; its normalisation is replaced by the identity so the
    captured windows are raw features."""
    dim = spec.frontend.feature_dim
    identity = replace(spec, mean=(0.0,) * dim, std=(1.0,) * dim, keywords=("capture",), labels=("capture",),
                       thresholds={"capture": 0.5})
    grabber = PredictorModel(identity, lambda x: np.ones((len(x), 1), np.float32), keep_min_score=0.0)
    score_stream(ModelSetup(grabber, {"capture": 0.5}, TriggerSettings(hop_s=hop_s)), stream.blocks(), stream.rate_hz)
    windows, _ = grabber.kept_windows()
    p = spec.frontend
    return windows.reshape(len(windows), p.window_frames, p.feature_dim)


class MiningPool:
    """Raw stream windows (n, frames, dim) to mine hard negatives from, round after round.

    mine(predict, mean, std, max_windows, columns) scores every window with the current model
    (probabilities of the keyword columns) and returns the highest-scoring ones not handed out
    before (score >= MINING_MIN_SCORE), normalised, with a summary."""

    def __init__(self, windows: np.ndarray):
        self.windows = windows
        self._taken = np.zeros(len(windows), bool)

    def mine(self, predict, mean, std, max_windows: int, columns) -> tuple[np.ndarray, dict]:
        n = len(self.windows)
        scores = np.zeros(n, np.float32)
        for i in range(0, n, PREDICT_BATCH):
            part = ((self.windows[i : i + PREDICT_BATCH] - mean) / std).astype(np.float32)
            scores[i : i + PREDICT_BATCH] = predict(part)[:, columns].max(axis=1)
        order = np.argsort(-scores, kind="stable")
        order = order[(scores[order] >= MINING_MIN_SCORE) & ~self._taken[order]][:max_windows]
        self._taken[order] = True
        summary = {"pool_windows": int(n), "over_0.05": int(np.sum(scores >= 0.05)),
                   "over_0.5": int(np.sum(scores >= 0.5)), "kept": int(len(order))}
        return ((self.windows[np.sort(order)] - mean) / std).astype(np.float32), summary
