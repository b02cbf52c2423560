"""A small folder-layout corpus of tones and noise, for training smoke tests: enough for every
step of the pipeline (folds, noise classes, banks, mining, cross-validation), not for a useful model."""

from __future__ import annotations

from pathlib import Path

import numpy as np

RATE = 16000
NOISES = ("white_noise", "doing_the_dishes", "running_tap", "esc10/rain/1-1-A", "esc10/dog_bark/1-2-A", "music/tune")


def make_synthetic_corpus(root: Path, speakers: int = 40) -> Path:
    import soundfile as sf

    rng = np.random.default_rng(0)
    t = np.arange(int(0.5 * RATE)) / RATE

    def word(f0):
        x = np.zeros(RATE, np.float32)
        x[4000 : 4000 + len(t)] = 0.3 * np.sin(2 * np.pi * f0 * t) * np.hanning(len(t))
        return x + 0.003 * rng.standard_normal(RATE).astype(np.float32)

    def write(rel, x):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, x, RATE)

    for s in range(speakers):
        spk = f"{s:08x}"
        for label, f0 in (("stop", 300 + 5 * s), ("go", 600 + 5 * s), ("no", 900 + 3 * s)):
            write(f"{label}/{spk}_nohash_0.wav", word(f0))
        write(f"_silence_/{spk}_nohash_0.wav", 0.01 * rng.standard_normal(RATE).astype(np.float32))
        write(f"sentences/librispeech/{100 + s}-1-0.wav", np.concatenate([word(400 + 40 * k) for k in range(4)]))
    for name in NOISES:
        write(f"noise/{name}.wav", 0.05 * rng.standard_normal(6 * RATE).astype(np.float32))
    return root
