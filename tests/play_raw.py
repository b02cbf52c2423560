"""A --mic-command for wyoming-satellite: a 16-bit WAV's samples on stdout, in real time, looped.

    python tests/play_raw.py FILE.wav [MAX_SECONDS]

It writes the file's PCM frames in 20 ms pieces at the pace a microphone would, over and over,
and stops after MAX_SECONDS (default 120), or as soon as nobody reads its output any more.
"""

from __future__ import annotations

import sys
import time
import wave

PIECE_S = 0.02
DEFAULT_MAX_S = 120.0


def main() -> int:
    path, max_s = sys.argv[1], float(sys.argv[2]) if len(sys.argv) > 2 else DEFAULT_MAX_S
    with wave.open(path, "rb") as w:
        raw, rate, frame_bytes = w.readframes(w.getnframes()), w.getframerate(), w.getsampwidth() * w.getnchannels()
    piece = int(rate * PIECE_S) * frame_bytes
    start = time.monotonic()
    sent_s = 0.0
    out = sys.stdout.buffer
    try:
        while sent_s < max_s:
            for i in range(0, len(raw), piece):
                out.write(raw[i:i + piece])
                out.flush()
                sent_s += len(raw[i:i + piece]) / frame_bytes / rate
                ahead_s = start + sent_s - time.monotonic()
                if ahead_s > 0:
                    time.sleep(ahead_s)
    except BrokenPipeError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
