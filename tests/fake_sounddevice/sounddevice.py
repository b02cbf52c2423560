"""A stand-in for the sounddevice module, for running `python -m wakeword` under faults that a
real sound server cannot be made to produce on demand. Put this directory first on PYTHONPATH.

One input device, "fake mic" (index 0, 16 kHz default, 2 inputs). InputStream delivers blocks of
faint noise in real time from its own thread, as PortAudio's callback thread would.
FAKE_SOUNDDEVICE (comma-separated) picks the faults:
  abort-blocks      stream.abort() never returns (PortAudio waiting on a frozen server); so
                    does _terminate() while that stream is open, as Pa_Terminate closes it
  terminate-blocks  _terminate() (Pa_Terminate) never returns
Like the real module it calls _terminate() from an atexit handler.
  native-noise      the audio thread writes an "ALSA lib" line to fd 2 with every block
"""

from __future__ import annotations

import atexit
import os
import threading
import time

import numpy as np

MODES = set(filter(None, os.environ.get("FAKE_SOUNDDEVICE", "").split(",")))
_DEVICES = [{"name": "fake mic", "index": 0, "hostapi": 0, "max_input_channels": 2, "max_output_channels": 0,
             "default_samplerate": 16000.0}]
_initialized = 1
_never = threading.Event()  # what a blocking call waits on
_open_streams: set = set()


class PortAudioError(Exception):
    pass


class CallbackFlags:
    input_overflow = False


def query_devices(device=None, kind=None):
    if kind == "input":
        return dict(_DEVICES[0])
    return [dict(d) for d in _DEVICES]


def query_hostapis():
    return [{"name": "Fake"}]


def check_input_settings(device=None, channels=None, dtype=None, samplerate=None):
    if not 1000 <= samplerate <= 384000:
        raise PortAudioError(f"Invalid sample rate [PaErrorCode -9997]: {samplerate}")


def _terminate():
    global _initialized
    if "terminate-blocks" in MODES:
        _never.wait()
    for stream in list(_open_streams):
        stream.abort()
        stream.close()
    _initialized = 0


def _exit_handler():
    while _initialized:
        _terminate()


atexit.register(_exit_handler)


def _initialize():
    global _initialized
    _initialized += 1


class InputStream:
    def __init__(self, device, samplerate, blocksize, channels, dtype, callback, finished_callback):
        self._rate, self._block, self._channels = samplerate, blocksize, channels
        self._callback, self._finished = callback, finished_callback
        self._running = threading.Event()
        self._thread = None
        _open_streams.add(self)

    @property
    def active(self):
        return self._running.is_set()

    def start(self):
        self._running.set()
        self._thread = threading.Thread(target=self._deliver, daemon=True)
        self._thread.start()

    def _deliver(self):
        rng = np.random.default_rng(0)
        period_s = self._block / self._rate
        next_s = time.monotonic()
        while self._running.is_set():
            block = (rng.standard_normal((self._block, self._channels)) * 1e-3).astype(np.float32)
            self._callback(block, self._block, None, CallbackFlags())
            if "native-noise" in MODES:
                try:
                    os.write(2, b"ALSA lib fake_pcm.c:42:(fake_read) native noise\n")
                except BlockingIOError:
                    pass
            next_s += period_s
            time.sleep(max(0.0, next_s - time.monotonic()))

    def abort(self):
        if "abort-blocks" in MODES:
            _never.wait()
        self._running.clear()

    def close(self):
        self._running.clear()
        _open_streams.discard(self)
        self._finished()
