"""Model definitions: the MFCC networks with their front ends (the seed tutorial's baseline and
ours) and the small heads trained on frozen speech embeddings.

An architecture is a front end (MfccParams) plus a Keras builder whose input is one window of
normalised MFCCs shaped as `input_shape` (without the batch dimension). Both end in one sigmoid:
P(keyword in the window).

- baseline: the seed tutorial exactly: 8 kHz, 256 ms frames every 50 ms, 16 coefficients,
  16 frames (8,048 samples, about 1 s), three Conv2D(2x2) + MaxPool blocks (32, 32, 64 filters),
  Dense(64), Dropout(0.5).
- ours: 16 kHz, 25 ms frames every 20 ms (half the frames of a 10 ms step), 20 coefficients
  from 40 filters, 49 frames (0.985 s). The MFCCs are the channels of a temporal (1-D)
  convolution that strides early, followed by depthwise-separable temporal convolutions, global
  average pooling and the sigmoid. That keeps the cost near 0.3 MFLOPs per window, so an hour of
  audio at a 100 ms hop (36,000 windows) costs seconds of CPU on a Pi.
- ours_cmn: ours with cepstral mean removal inside the network: its first layer subtracts each
  cepstral coefficient's mean over the window (not the log energy's), so a fixed microphone
  or room response, which adds a constant to every frame's cepstrum, leaves the input
  unchanged. It is part of the exported graph: the runtime and sidecar are those of ours.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable

from ..frontends.mfcc import MfccParams

BASELINE_PARAMS = MfccParams(
    sample_rate_hz=8000,
    winlen_s=0.256,
    winstep_s=0.05,
    numcep=16,
    nfilt=26,
    nfft=2048,
    lowfreq_hz=0.0,
    highfreq_hz=None,
    preemph=0.97,
    ceplifter=22,
    append_energy=True,
    winfunc="rect",
    window_frames=16,
)

OURS_PARAMS = MfccParams(
    sample_rate_hz=16000,
    winlen_s=0.025,
    winstep_s=0.020,
    numcep=20,
    nfilt=40,
    nfft=512,
    lowfreq_hz=20.0,
    highfreq_hz=7600.0,
    preemph=0.97,
    ceplifter=22,
    append_energy=True,
    winfunc="hamming",
    window_frames=49,
)

#: Channels of ours' temporal convolutions (first, then each separable block).
OURS_WIDTH = 64
OURS_STRIDES = (2, 1, 2, 1)  # per separable block; each block has OURS_WIDTH (or width) channels
OURS_KERNEL = 5
OURS_INPUT_NOISE = 0.15  # std of the training-only noise, in normalised feature units
OURS_DROPOUT = 0.3


@dataclass(frozen=True)
class Architecture:
    """A front end plus a Keras model builder: build() -> uncompiled keras.Model."""

    name: str
    params: MfccParams
    input_shape: tuple[int, ...]  # without batch
    build: Callable


def _output(layers, n_outputs: int):
    """The last layer: one sigmoid (binary) or a softmax over n_outputs classes."""
    return layers.Dense(n_outputs, activation="sigmoid" if n_outputs == 1 else "softmax", name="keyword")


def build_baseline(input_shape=(16, 16, 1), width: int | None = None, n_outputs: int = 1):
    """The tutorial CNN: (batch, 16, 16, 1) normalised MFCCs -> (batch, n_outputs) probabilities (width unused)."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=input_shape, name="mfcc")
    x = inputs
    for filters in (32, 32, 64):
        x = layers.Conv2D(filters, (2, 2), activation="relu")(x)
        x = layers.MaxPooling2D(pool_size=(2, 2), padding="same")(x)
    x = layers.Flatten()(x)
    x = layers.Dense(64, activation="relu")(x)
    x = layers.Dropout(0.5)(x)
    outputs = _output(layers, n_outputs)(x)
    return keras.Model(inputs, outputs, name="baseline")


def window_mean_removal(x, keep: int = 1):
    """x (batch, frames, coefficients) minus each coefficient's mean over the frames, except
    the first `keep` coefficients (the log energy), as graph ops (MEAN, MUL, SUB in TFLite)."""
    import numpy as np
    from keras import ops

    mask = np.ones((1, 1, int(x.shape[-1])), np.float32)
    mask[..., :keep] = 0.0
    return x - ops.mean(x, axis=1, keepdims=True) * mask


def build_ours(input_shape=(49, 20), width: int = OURS_WIDTH, n_outputs: int = 1, cmn: bool = False):
    """Temporal separable CNN: (batch, frames, numcep) normalised MFCCs -> (batch, n_outputs) probabilities.

    cmn: remove each cepstral coefficient's window mean first (ours_cmn)."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=input_shape, name="mfcc")
    x = window_mean_removal(inputs) if cmn else inputs
    # Training-only input noise: smooths a decision boundary that otherwise swings between 0
    # and 1 for the same negative word at different levels (identity at inference and export).
    x = layers.GaussianNoise(OURS_INPUT_NOISE)(x)
    x = layers.Conv1D(width, OURS_KERNEL, strides=2, padding="same", use_bias=False)(x)
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    for stride in OURS_STRIDES:
        x = layers.DepthwiseConv1D(OURS_KERNEL, strides=stride, padding="same", use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
        x = layers.Conv1D(width, 1, use_bias=False)(x)
        x = layers.BatchNormalization()(x)
        x = layers.ReLU()(x)
    x = layers.GlobalAveragePooling1D()(x)
    x = layers.Dropout(OURS_DROPOUT)(x)
    outputs = _output(layers, n_outputs)(x)
    return keras.Model(inputs, outputs, name="ours")


ARCHITECTURES = {
    "baseline": Architecture("baseline", BASELINE_PARAMS, (16, 16, 1), build_baseline),
    "ours": Architecture("ours", OURS_PARAMS, (49, 20), build_ours),
    "ours_cmn": Architecture("ours_cmn", OURS_PARAMS, (49, 20), functools.partial(build_ours, cmn=True)),
}


#: Embedding heads. Dense: two layers on the flattened window. Conv: temporal convolutions over
#: the embeddings, then the max over time and one dense layer, so the word may sit anywhere in
#: the 2 s window without the head learning each position separately.
HEAD_HIDDEN_UNITS = (128, 64)
HEAD_DROPOUT = (0.5, 0.3)
HEAD_CONV_CHANNELS = (64, 64)
HEAD_CONV_KERNEL = 3
HEAD_CONV_DENSE_UNITS = 64
HEADS = ("conv", "dense")


def build_head(input_shape: tuple[int, int], kind: str = "conv", name: str | None = None, n_outputs: int = 1):
    """(batch, 16, 96) normalised embeddings -> (batch, n_outputs) logits (no activation)."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=input_shape, name="embeddings")
    if kind == "dense":
        x = layers.Flatten()(inputs)
        for units, drop in zip(HEAD_HIDDEN_UNITS, HEAD_DROPOUT):
            x = layers.Dense(units)(x)
            x = layers.LayerNormalization()(x)
            x = layers.ReLU()(x)
            x = layers.Dropout(drop)(x)
    elif kind == "conv":
        x = layers.Dropout(0.1)(inputs)
        for channels in HEAD_CONV_CHANNELS:
            x = layers.Conv1D(channels, HEAD_CONV_KERNEL)(x)
            x = layers.LayerNormalization()(x)
            x = layers.ReLU()(x)
        x = layers.GlobalMaxPooling1D()(x)
        x = layers.Dropout(0.3)(x)
        x = layers.Dense(HEAD_CONV_DENSE_UNITS, activation="relu")(x)
    else:
        raise ValueError(f"unknown head {kind!r} (expected one of {', '.join(HEADS)})")
    outputs = layers.Dense(n_outputs, name="keyword_logit")(x)
    return keras.Model(inputs, outputs, name=f"embedding_head_{name or kind}")


def macs_per_window(model) -> int:
    """Multiply-accumulates of one window through the Conv/Dense layers (a cost estimate, batch 1);
    models nested inside (ensemble members) are counted too."""
    total = 0
    for layer in model.layers:
        if hasattr(layer, "layers"):
            total += macs_per_window(layer)
            continue
        kind = type(layer).__name__
        weights = layer.get_weights()
        if not weights or kind not in ("Conv1D", "Conv2D", "DepthwiseConv1D", "DepthwiseConv2D", "Dense"):
            continue
        kernel = weights[0]
        out_shape = layer.output.shape
        positions = 1
        if kind != "Dense" or len(out_shape) > 2:
            for d in out_shape[1:-1]:
                positions *= int(d)
        total += positions * int(kernel.size)
    return total


def logit_model(model):
    """The same network with its final sigmoid removed: (batch, *input) -> (batch, 1) logits.

    This is what gets exported: an int8 sigmoid output has steps of 1/256 and tops out at
    0.9961, too coarse for low false-accept thresholds, while an int8 logit keeps its own scale
    and the runtime applies the sigmoid in float (sidecar output.activation = "logit").
    """
    import keras

    last = model.layers[-1]
    kernel, bias = last.get_weights()
    dense = keras.layers.Dense(int(kernel.shape[-1]), activation=None, name="logit")
    out = dense(last.input)
    dense.set_weights([kernel, bias])
    return keras.Model(model.inputs, out, name=f"{model.name}_logit")


def average_logits(heads: list, input_name: str, name: str):
    """One model whose logit is the mean of the heads' logits: one input, one output, one TFLite
    file (the embedding head trainer's ensemble and wakeword-train --ensemble)."""
    import keras

    inputs = keras.Input(shape=heads[0].input_shape[1:], name=input_name)
    outputs = keras.layers.Average(name="keyword_logit_mean")([h(inputs) for h in heads])
    return keras.Model(inputs, outputs, name=name)


def ensemble_models(members: list):
    """(probability model, logit model) averaging the members' logits.

    The logit model is what gets exported (see logit_model); the probability model, its sigmoid
    (or softmax, for several outputs), is what mining and validation call."""
    import keras

    heads = []
    for j, member in enumerate(members):
        head = logit_model(member)
        head.name = f"member{j}_logit"
        heads.append(head)
    exported = average_logits(heads, "features", "ensemble_logit")
    activation = "sigmoid" if exported.outputs[0].shape[-1] == 1 else "softmax"
    probability = keras.Model(exported.inputs, keras.layers.Activation(activation, name="probability")(exported.outputs[0]),
                              name="ensemble")
    return probability, exported
