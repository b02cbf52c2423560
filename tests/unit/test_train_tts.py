"""The synthetic voice grid: deterministic, and loud about voices it has to skip.

A festival without its voice packages once trained a model on 180 instead of 189 voices with
nothing but an info line to show for it; the shipped embedding model depends on the full grid.
"""

from __future__ import annotations

import logging

import numpy as np
import pytest

pytest.importorskip("soundfile")

from wakeword.train import tts  # noqa: E402


def grid(monkeypatch, engines, festival_voices):
    monkeypatch.setattr(tts, "available_engines", lambda: list(engines))
    monkeypatch.setattr(tts, "_festival_voice_installed", lambda name: name in festival_voices)
    return tts.voice_grid(np.random.default_rng(0), n_espeak=10)


def test_full_grid_is_deterministic_and_quiet(monkeypatch, caplog):
    everything = ("espeak-ng", "flite", "festival")
    with caplog.at_level(logging.WARNING, logger=tts.__name__):
        a = grid(monkeypatch, everything, tts.FESTIVAL_VOICES)
    b = grid(monkeypatch, everything, tts.FESTIVAL_VOICES)
    assert a == b
    n_flite = len(tts.FLITE_VOICES) * len(tts.FLITE_STRETCHES) * len(tts.FLITE_F0_MEANS_HZ)
    n_festival = len(tts.FESTIVAL_VOICES) * len(tts.FESTIVAL_STRETCHES)
    assert len(a) == 10 + n_flite + n_festival
    assert not caplog.records


def test_missing_festival_voice_is_a_warning_naming_its_package(monkeypatch, caplog):
    installed = [v for v in tts.FESTIVAL_VOICES if v != "ked_diphone"]
    with caplog.at_level(logging.WARNING, logger=tts.__name__):
        voices = grid(monkeypatch, ("espeak-ng", "flite", "festival"), installed)
    assert not any(v.voice == "ked_diphone" for v in voices)
    assert any(v.voice == "kal_diphone" for v in voices)
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    skipped = record.getMessage().split(" not installed")[0]
    assert skipped == "text-to-speech: festvox-kdlpc16k"
    assert "apt-get install " + " ".join(tts.DEBIAN_PACKAGES) in record.getMessage()


def test_missing_engine_is_named(monkeypatch, caplog):
    with caplog.at_level(logging.WARNING, logger=tts.__name__):
        voices = grid(monkeypatch, ("espeak-ng",), ())
    assert voices and all(v.engine == "espeak-ng" for v in voices)
    (record,) = caplog.records
    assert record.getMessage().startswith("text-to-speech: festival, flite not installed")


def test_every_festival_voice_has_a_package():
    assert set(tts.FESTIVAL_VOICE_PACKAGES) == set(tts.FESTIVAL_VOICES)
