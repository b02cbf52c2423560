"""Rebuild the fixtures in tests/data: WAV clips from the project's audio data folder, and two
tiny quantised models.

    python tests/data/make_fixtures.py /work/shared/data     # the WAV clips (needs soundfile)
    python tests/data/make_fixtures.py --models               # tiny-int8/uint8.tflite (needs tensorflow)

Every clip is a Speech Commands recording (16 kHz mono 16-bit FLAC), copied losslessly into a
16-bit 16 kHz mono WAV. mixed_stop.wav joins four clips with pauses over a quiet pink-noise bed
(so the pauses are not digital silence, which a model can learn as a cue). The README in this
folder lists the sources; keep the two in step.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import soundfile as sf

SAMPLE_RATE_HZ = 16000
PAUSE_S = 1.5
NOISE_BED_DBFS = -55.0  # RMS of the pink-noise bed under mixed_stop.wav
NOISE_FILE = "noise/pink_noise.flac"

#: output name -> Speech Commands clip (label/speaker_nohash_n)
SINGLE_CLIPS = {
    "stop_1f653d27.wav": "stop/1f653d27_nohash_0",
    "stop_1fe4c891.wav": "stop/1fe4c891_nohash_0",
    "stop_3f170018.wav": "stop/3f170018_nohash_0",
    "go_0bac8a71.wav": "go/0bac8a71_nohash_0",
    "up_5c8af87a.wav": "up/5c8af87a_nohash_0",
    "off_5e3dde6b.wav": "off/5e3dde6b_nohash_0",
}

#: the clips of mixed_stop.wav, in order, each preceded by a pause
MIXED_CLIPS = [
    "go/837a0f64_nohash_0",
    "stop/6f689791_nohash_0",
    "up/85834399_nohash_0",
    "stop/80c45ed6_nohash_0",
]


def load_clip(data_dir: Path, clip: str) -> np.ndarray:
    """Speech Commands clip name -> int16 (n,) at 16 kHz."""
    samples, rate_hz = sf.read(data_dir / "speech_commands" / f"{clip}.flac", dtype="int16")
    assert rate_hz == SAMPLE_RATE_HZ and samples.ndim == 1, (clip, rate_hz, samples.shape)
    return samples


def main(data_dir: Path, out_dir: Path) -> None:
    for name, clip in SINGLE_CLIPS.items():
        sf.write(out_dir / name, load_clip(data_dir, clip), SAMPLE_RATE_HZ, subtype="PCM_16")

    pause = int(PAUSE_S * SAMPLE_RATE_HZ)
    parts, onsets_s = [], []
    cursor = 0
    for clip in MIXED_CLIPS:
        samples = load_clip(data_dir, clip).astype(np.float32) / 32768.0
        cursor += pause
        onsets_s.append((clip, cursor / SAMPLE_RATE_HZ, (cursor + len(samples)) / SAMPLE_RATE_HZ))
        parts += [np.zeros(pause, np.float32), samples]
        cursor += len(samples)
    parts.append(np.zeros(pause, np.float32))
    mix = np.concatenate(parts)
    noise, noise_rate_hz = sf.read(data_dir / NOISE_FILE, dtype="float32", frames=len(mix))
    assert noise_rate_hz == SAMPLE_RATE_HZ and len(noise) == len(mix)
    noise *= 10 ** (NOISE_BED_DBFS / 20) / np.sqrt(np.mean(noise**2))
    mix = np.clip(mix + noise, -1.0, 32767 / 32768)
    sf.write(out_dir / "mixed_stop.wav", np.round(mix * 32768).astype(np.int16), SAMPLE_RATE_HZ, subtype="PCM_16")
    print(f"mixed_stop.wav: {len(mix) / SAMPLE_RATE_HZ:.3f} s")
    for clip, start_s, end_s in onsets_s:
        print(f"  {clip}: {start_s:.3f} s .. {end_s:.3f} s")


#: The tiny quantised models: a flattened (4, 3) window through one dense unit to a logit. Inputs
#: live in [-1, 3] and logits around 1, so both zero points are far from 0 in int8 and in uint8,
#: and a wrapper that drops either gets the scores wrong (tests/unit/test_model.py checks both,
#: without TensorFlow).
TINY_SHAPE = (4, 3)
TINY_INPUT_RANGE = (-1.0, 3.0)
TINY_BIAS = 1.0


def tiny_weights() -> np.ndarray:
    return np.random.default_rng(7).normal(0.0, 0.3, (int(np.prod(TINY_SHAPE)), 1)).astype(np.float32)


def make_quantised_models(out_dir: Path) -> None:
    import tensorflow as tf

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from wakeword.frontends.mfcc import MfccParams
    from wakeword.sidecar import ModelSpec, save_sidecar

    kernel = tiny_weights()
    inputs = tf.keras.Input(TINY_SHAPE)
    dense = tf.keras.layers.Dense(1)
    net = tf.keras.Model(inputs, dense(tf.keras.layers.Flatten()(inputs)))
    dense.set_weights([kernel, np.array([TINY_BIAS], np.float32)])
    rng = np.random.default_rng(0)

    def representative():
        for _ in range(200):
            yield [rng.uniform(*TINY_INPUT_RANGE, size=(1, *TINY_SHAPE)).astype(np.float32)]

    params = MfccParams(window_frames=TINY_SHAPE[0], numcep=TINY_SHAPE[1])
    for dtype in ("int8", "uint8"):
        conv = tf.lite.TFLiteConverter.from_keras_model(net)
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = representative
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        conv.inference_input_type = conv.inference_output_type = getattr(tf, dtype)
        path = out_dir / f"tiny-{dtype}.tflite"
        path.write_bytes(conv.convert())
        reference = {"kernel": kernel.reshape(-1).tolist(), "bias": TINY_BIAS, "input_range": list(TINY_INPUT_RANGE),
                     "made_by": "tests/data/make_fixtures.py --models"}
        spec = ModelSpec(path.name, ("stop",), {"stop": 0.5}, params, (0.0,) * TINY_SHAPE[1], (1.0,) * TINY_SHAPE[1],
                         (1, *TINY_SHAPE), dtype, training={"reference": reference}, name=f"tiny-{dtype}",
                         output_activation="logit")
        save_sidecar(spec, path.with_suffix(".json"))
        print(f"{path.name}: {path.stat().st_size} bytes")


if __name__ == "__main__":
    if sys.argv[1:] == ["--models"]:
        make_quantised_models(Path(__file__).resolve().parent)
    else:
        main(Path(sys.argv[1]), Path(__file__).resolve().parent)
