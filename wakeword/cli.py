"""The `wakeword` command: run the daemon, dry-run WAV files, list devices, check a config.

A WakewordError (bad file, config, model or device) becomes one line on stderr and exit
status 2; a traceback means a bug.
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
from pathlib import Path

from . import __version__
from .errors import WakewordError

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="wakeword",
        description='On-device wake-word detector: listens for "stop" and drives GPIO pins or hook commands.',
    )
    p.add_argument("--config", type=Path, metavar="FILE", help="config.yaml to use (default: built-in defaults)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", nargs="+", type=Path, metavar="FILE", help="run WAV file(s) through the detector and print detections")
    mode.add_argument("--list-devices", action="store_true", help="list audio input devices and exit")
    mode.add_argument("--check-config", action="store_true", help="validate the config and the model, then exit")
    mode.add_argument("--wyoming-uri", metavar="URI",
                      help="serve the Wyoming wake-word protocol at tcp://HOST:PORT or unix://PATH, "
                           "without opening the microphone (tcp://:PORT listens on 127.0.0.1)")
    p.add_argument("--json", action="store_true", help="with --dry-run: one JSON object per detection")
    p.add_argument("--with-actions", action="store_true", help="with --dry-run: also fire the configured actions")
    p.add_argument("--debug", action="store_true", help="log every window's score (to stderr)")
    p.add_argument("--version", action="version", version=f"wakeword {__version__}")
    over = p.add_argument_group("overrides (take precedence over the config file)")
    over.add_argument("--model", metavar="PATH", help="model .tflite (its .json sidecar must sit beside it)")
    over.add_argument("--device", metavar="NAME|INDEX", help="input device, by index or part of its name")
    over.add_argument("--sample-rate", type=int, metavar="HZ", help="capture rate (default: the device's)")
    over.add_argument("--threshold", type=float, metavar="P", help="detection threshold for every keyword, 0-1")
    over.add_argument("--hop-ms", type=int, metavar="MS", help="window hop in milliseconds")
    over.add_argument("--num-threads", type=int, metavar="N", help="interpreter threads")
    return p


def _overrides(args) -> dict:
    found = {}
    if args.model is not None:
        found["model.path"] = args.model
    if args.device is not None:
        found["audio.device"] = int(args.device) if args.device.isdigit() else args.device
    if args.sample_rate is not None:
        found["audio.sample_rate_hz"] = args.sample_rate
    if args.threshold is not None:
        found["trigger.threshold"] = args.threshold
    if args.hop_ms is not None:
        found["trigger.hop_ms"] = args.hop_ms
    if args.num_threads is not None:
        found["model.num_threads"] = args.num_threads
    if args.wyoming_uri is not None:
        found["wyoming.uri"] = args.wyoming_uri
    return found


def _setup_logging(debug: bool, daemon: bool) -> None:
    # The daemon's INFO lines are for journalctl; one-shot commands stay quiet unless --debug.
    logging.basicConfig(
        level=logging.DEBUG if debug else (logging.INFO if daemon else logging.WARNING),
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _load(args):
    """Config with overrides, and the models set up as the config says (ModelSetup list)."""
    from .config import apply_overrides, load_config
    from .detector import ModelSetup
    from .model import load_model

    config = apply_overrides(load_config(args.config), _overrides(args))
    model = load_model(config.model.path, num_threads=config.model.num_threads)
    model.spec.frontend.check_available()  # a missing [embedding] extra fails before any audio is read
    return config, [ModelSetup.configured(model, config.trigger, where=config.source)]


def _debug_scores(path_label: str, lead_s: float):
    """on_scores for --debug: every window's scores, with times relative to the file (the
    dry-run's leading pad, lead_s, taken off)."""

    def on_scores(ends, scores, setup):
        rate = setup.model.spec.sample_rate_hz
        for end, row in zip(ends, scores):
            values = " ".join(f"{kw}={s:.3f}" for kw, s in zip(setup.keywords, row))
            log.debug("%s t=%.2fs %s", path_label, end / rate - lead_s, values)

    return on_scores


def dry_run(args) -> int:
    """Run each file through the same pipeline as the daemon; print detections."""
    from .detector import Pipeline, detect_in_file, pad_span_s
    from .wavfile import WavFileSource

    config, setups = _load(args)
    sources = [WavFileSource(path) for path in args.dry_run]  # every header is checked before any work
    runner = None
    if args.with_actions:
        from .actions import ActionRunner

        runner = ActionRunner(config.actions, keywords=[kw for s in setups for kw in s.keywords])
        runner.start()
    total = 0
    try:
        if not args.json:
            for s in setups:
                print(f"model {s.model.path.name} ({s.model.backend}), thresholds "
                      + ", ".join(f"{k}={v:.3f}" for k, v in s.thresholds.items()))
            print(f"{'file':<40} {'time_s':>8}  {'keyword':<10} {'score':>6}")
        for path, source in zip(args.dry_run, sources):
            pipeline = Pipeline(setups, source.sample_rate_hz)
            if args.debug:
                pipeline.on_scores = _debug_scores(str(path), pad_span_s(pipeline))
            found = detect_in_file(pipeline, source.blocks(), runner.submit if runner is not None else None)
            total += len(found)
            for det in found:
                if args.json:
                    print(json.dumps({"file": str(path), **det.to_dict()}), flush=True)
                else:
                    print(f"{str(path):<40} {det.time_s:>8.2f}  {det.keyword:<10} {det.score:>6.3f}")
            if not args.json:
                print(f"{str(path):<40} {len(found)} detection(s) in {source.duration_s:.1f} s of audio "
                      f"({source.sample_rate_hz} Hz, {source.channels} ch, {source.encoding})")
    finally:
        if runner is not None:
            runner.wait_idle(timeout_s=30)
            runner.close()
    return EXIT_OK


def list_devices() -> int:
    from .microphone import format_device_list, list_devices as devices

    print(format_device_list(devices()))
    return EXIT_OK


def check_config(args) -> int:
    config, setups = _load(args)
    from .daemon import capture_block_ms

    model = setups[0].model

    print(f"config: {config.source}: OK")
    dev = config.audio
    device = "default" if dev.device is None else dev.device
    rate = f"{dev.sample_rate_hz} Hz" if dev.sample_rate_hz else "the device's rate"
    block = "" if dev.block_ms is not None else " (the model's default)"
    print(f"audio: device {device}, {rate}, {capture_block_ms(config, model)} ms blocks{block}")
    for s in setups:
        m, t = s.model, s.trigger
        print(f"model: {m.path} ({m.backend}, input {list(m.spec.input_shape)} {m.input_dtype}, "
              f"{m.spec.sample_rate_hz} Hz)")
        print("trigger: " + ", ".join(f"{k}={v:.3f}" for k, v in s.thresholds.items())
              + f", hop {t.hop_s * 1000:.0f} ms, smoothing {t.smoothing_windows}, "
              f"patience {t.patience_windows}, refractory {t.refractory_s * 1000:.0f} ms")
    a = config.actions
    print(f"actions: led pin {a.led.pin}, output pin {a.output.pin}, hook {list(a.hook.command) or 'none'}, "
          f"json log {'on' if a.log_json else 'off'}")
    from .integrations import describe_services

    for line in describe_services(config):
        print(line)
    return EXIT_OK


def serve_wyoming(args) -> int:
    """--wyoming-uri: the Wyoming service alone, no microphone and no actions."""
    from .integrations import serve_wyoming_alone

    config, setups = _load(args)
    serve_wyoming_alone(config, setups)
    return EXIT_OK


def run_daemon(args) -> int:
    from .actions import ActionRunner
    from .daemon import Daemon
    from .integrations import start_wyoming_beside

    config, setups = _load(args)
    wyoming = start_wyoming_beside(config)  # None unless wyoming.uri is set; before any pin is opened
    actions = ActionRunner(config.actions, keywords=[kw for s in setups for kw in s.keywords])
    try:
        actions.start()
    except BaseException:
        if wyoming is not None:
            wyoming.stop()
        raise
    daemon = Daemon(config, setups, actions)
    if wyoming is not None:
        def wyoming_failed(exc):  # a dead service must not go unnoticed: exit 1, systemd restarts us
            daemon.error = exc
            daemon.stop()

        wyoming.on_failure = wyoming_failed

    def request_stop(signum, _frame):
        log.info("received %s, stopping", signal.Signals(signum).name)
        daemon.stop()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    try:
        daemon.start()
        daemon.wait()
    finally:
        actions.close()
        if wyoming is not None:
            wyoming.stop()
    s = daemon.stats
    log.info("stopped: %d detection(s), %d window(s), %d overflow(s), %d device loss(es), %d reconnect(s)",
             s.detections, s.windows, s.overflows, s.device_losses, s.reconnects)
    return EXIT_FAILURE if daemon.error is not None else EXIT_OK


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.json or args.with_actions) and not args.dry_run:
        parser.error("--json and --with-actions go with --dry-run")
    _setup_logging(args.debug, daemon=not (args.dry_run or args.list_devices or args.check_config))
    if args.wyoming_uri is not None and args.device is not None:
        parser.error("--device goes with the daemon; --wyoming-uri opens no microphone")
    try:
        if args.list_devices:
            return list_devices()
        if args.check_config:
            return check_config(args)
        if args.dry_run:
            return dry_run(args)
        if args.wyoming_uri is not None:
            return serve_wyoming(args)
        return run_daemon(args)
    except WakewordError as exc:
        print(f"wakeword: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
