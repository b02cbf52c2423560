"""How long an MQTT event takes from the detection to a subscriber, on loopback.

(Not bench/mqtt.py, to keep bench/'s scripts from shadowing packages of the same name.)

    python bench/mqtt_latency.py [--events 200] [--gap-ms 50]

Starts Debian's mosquitto on a free loopback port with its own config in a temporary folder
(stopped by its pid at the end), a paho-mqtt subscriber on the event topic, and an ActionRunner
with actions.mqtt pointing at the broker. Each event's latency is from just before
ActionRunner.submit() (where the daemon hands over a detection: the moment it is detected) to
the subscriber's on_message, on this machine's monotonic clock: it includes the action worker's
queue, the JSON line, paho's network thread, the broker and the subscriber's thread.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.mosquitto import Broker, Subscriber  # noqa: E402
from wakeword.actions import ActionRunner  # noqa: E402
from wakeword.settings import ActionSettings, LedSettings, MqttSettings  # noqa: E402
from wakeword.trigger import Detection  # noqa: E402

CLIENT_ID = "bench"
EVENT_TOPIC = f"wakeword/{CLIENT_ID}/event/stop"
RATE_HZ = 16000
MS_PER_S = 1000
TIMEOUT_S = 10.0
PERCENTILES = (50, 90, 99)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=200)
    p.add_argument("--gap-ms", type=float, default=50.0, help="pause between detections")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory(prefix="wakeword-bench-mqtt-") as folder:
        broker = Broker(Path(folder) / "broker").start()
        received: dict[int, float] = {}
        arrived = threading.Condition()
        sub = Subscriber(broker, topics=(EVENT_TOPIC,))

        def on_message(client, userdata, msg):  # the time first, then the bookkeeping
            t = time.perf_counter()
            index = int(round(json.loads(msg.payload)["time_s"] * MS_PER_S)) - 1
            with arrived:
                received[index] = t
                arrived.notify_all()

        sub.client.on_message = on_message
        settings = ActionSettings(led=LedSettings(pin=None), log_json=True,
                                  mqtt=MqttSettings(host="127.0.0.1", port=broker.port, client_id=CLIENT_ID))
        runner = ActionRunner(settings, stdout=io.StringIO(), keywords=["stop"])
        runner.start()
        try:
            deadline = time.monotonic() + TIMEOUT_S
            while not runner.mqtt_stats["connected"]:
                if time.monotonic() > deadline:
                    raise RuntimeError("the publisher did not connect")
                time.sleep(0.01)
            sent: dict[int, float] = {}
            for i in range(args.events):
                # event i at (i + 1) ms: its time_s (3 decimals in the JSON) says which it is
                detection = Detection("stop", 0.99, (i + 1) * RATE_HZ // MS_PER_S, RATE_HZ)
                sent[i] = time.perf_counter()
                runner.submit(detection)
                with arrived:
                    if not arrived.wait_for(lambda: i in received, TIMEOUT_S):
                        raise RuntimeError(f"event {i} did not arrive within {TIMEOUT_S} s")
                time.sleep(args.gap_ms / 1000)
        finally:
            runner.close()
            sub.close()
            broker.stop()
    ms = np.array([received[i] - sent[i] for i in range(args.events)]) * 1000
    parts = ", ".join(f"p{q} {np.percentile(ms, q):.2f}" for q in PERCENTILES)
    print(f"MQTT event latency, detection -> subscriber on loopback (mosquitto, QoS 1), {args.events} events "
          f"{args.gap_ms:g} ms apart, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}:")
    print(f"  median {np.median(ms):.2f} ms; {parts}, max {ms.max():.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
