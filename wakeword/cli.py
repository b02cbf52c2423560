"""The `wakeword` command: run the daemon, dry-run WAV files, list devices, check a config.

A WakewordError (bad file, config, model or device) becomes one line on stderr and exit
status 2; a traceback means a bug.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import math
import os
import signal
import sys
from pathlib import Path

from . import __version__
from .checks import decimal_index
from .errors import AudioFormatError, WakewordError

log = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
#: Bounds on the parts of the daemon's shutdown after the capture thread's (daemon.JOIN_TIMEOUT_S):
#: hooks still running get this long before they are killed, and PortAudio's teardown this long
#: before the process exits without it. Together under 10 s, inside the unit's TimeoutStopSec.
ACTIONS_CLOSE_TIMEOUT_S = 3.0
PORTAUDIO_RELEASE_TIMEOUT_S = 1.0
#: Column width of the dry-run table's file column, at least.
FILE_COLUMN_MIN_CHARS = 40


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (and exit status 2), like every other
    error of this program: the full usage is one `wakeword --help` away."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"wakeword: {message} (see {self.prog} --help)\n")


def _finite(kind):
    """An argparse type: a finite number (float, or int when kind is int), named in errors."""

    def parse(text: str):
        try:
            value = float(text) if kind is float else int(text, 10)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"must be {'a number' if kind is float else 'a whole number'}, got {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
        return value

    parse.__name__ = kind.__name__  # argparse names the type in some messages
    return parse


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="wakeword",
        description='On-device wake-word detector: listens for "stop" and drives GPIO pins or hook commands.',
        epilog="`wakeword record --help`: record takes of your own wake phrase, for `wakeword-train custom`.",
    )
    p.add_argument("--config", type=Path, metavar="FILE", help="config.yaml to use (default: built-in defaults)")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--dry-run", nargs="+", type=Path, metavar="FILE",
                      help="run WAV file(s) through the detector and print detections; - reads a WAV stream from "
                           "standard input (arecord -f S16_LE -r 16000 -t wav | wakeword --dry-run -)")
    mode.add_argument("--list-devices", action="store_true", help="list audio input devices and exit")
    mode.add_argument("--check-config", action="store_true",
                      help="check that the daemon would start: the config, the model, the hook's program, "
                           "and (unless --no-probe) the audio device and the GPIO pins; then exit")
    mode.add_argument("--wyoming-uri", metavar="URI",
                      help="serve the Wyoming wake-word protocol at tcp://HOST:PORT or unix://PATH, "
                           "without opening the microphone (tcp://:PORT listens on 127.0.0.1)")
    p.add_argument("--json", action="store_true", help="with --dry-run: one JSON object per detection")
    p.add_argument("--with-actions", action="store_true", help="with --dry-run: also fire the configured actions")
    p.add_argument("--no-probe", action="store_true",
                   help="with --check-config: do not open the audio device or claim the GPIO pins "
                        "(for checks made off the target machine, e.g. in CI)")
    p.add_argument("--no-gpio", action="store_true",
                   help="run without the LED and output pins (actions.led.pin and actions.output.pin null), "
                        "e.g. on a first try off the Pi")
    p.add_argument("--debug", action="store_true", help="log every window's score (to stderr)")
    p.add_argument("--version", action="version", version=f"wakeword {__version__}")
    over = p.add_argument_group("overrides (take precedence over the config file)")
    over.add_argument("--model", metavar="PATH", help="model .tflite (its .json sidecar must sit beside it)")
    over.add_argument("--device", metavar="NAME|INDEX", help="input device, by index or part of its name")
    over.add_argument("--sample-rate", type=_finite(int), metavar="HZ", help="capture rate (default: the device's)")
    over.add_argument("--threshold", type=_finite(float), metavar="P", help="detection threshold for every keyword, 0-1")
    over.add_argument("--hop-ms", type=_finite(int), metavar="MS", help="window hop in milliseconds")
    over.add_argument("--num-threads", type=_finite(int), metavar="N", help="interpreter threads")
    return p


def _device_arg(text: str) -> int | str:
    """--device 3 is an index; anything else part of a name."""
    index = decimal_index(text)
    return text if index is None else index


def _overrides(args) -> dict:
    found = {}
    if args.model is not None:
        found["model.path"] = args.model
    if args.device is not None:
        found["audio.device"] = _device_arg(args.device)
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
    if args.no_gpio:
        found["actions.led.pin"] = found["actions.output.pin"] = None
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
    from .detector import load_setups

    config = apply_overrides(load_config(args.config), _overrides(args))
    return config, load_setups(config)


def _debug_scores(path_label: str, lead_s: float):
    """on_scores for --debug: every window's scores, with times relative to the file (the
    dry-run's leading pad, lead_s, taken off)."""
    from .detector import format_scores

    def on_scores(ends, scores, setup):
        for line in format_scores(ends, scores, setup, offset_s=lead_s):
            log.debug("%s %s", path_label, line)

    return on_scores


def _out_line(text: str) -> None:
    """One line to stdout in one write, flushed: with --with-actions the action worker writes its
    event lines from its own thread, and print()'s separate newline could let one land mid-row."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def dry_run(args) -> int:
    """Run each file through the same pipeline as the daemon; print detections."""
    from .detector import Pipeline, band_warning, detect_in_file, keywords_of, pad_span_s
    from .wavfile import STDIN_NAME, WavFileSource, WavStreamSource

    config, setups = _load(args)
    # every header is checked before any work (standard input's as soon as it arrives)
    if STDIN_NAME in map(str, args.dry_run) and sys.stdin.isatty():  # reading would wait for typing
        raise AudioFormatError("standard input: is a terminal, not a WAV stream; pipe one in "
                               "(arecord -f S16_LE -r 16000 -t wav | wakeword --dry-run -)")
    sources = [WavStreamSource(sys.stdin.buffer) if str(path) == STDIN_NAME else WavFileSource(path)
               for path in args.dry_run]
    width = max(FILE_COLUMN_MIN_CHARS, *(len(str(path)) for path in args.dry_run))
    runner = None
    if args.with_actions:
        from .actions import ActionRunner

        runner = ActionRunner(config.actions, keywords=keywords_of(setups))
        runner.start()
    total = 0
    try:
        if not args.json:
            for s in setups:
                _out_line(f"model {s.model.path.name} ({s.model.backend}), thresholds "
                          + ", ".join(f"{k}={v:.3f}" for k, v in s.thresholds.items()))
            _out_line(f"{'file':<{width}} {'time_s':>8}  {'keyword':<10} {'score':>6}")
        for path, source in zip(args.dry_run, sources):
            pipeline = Pipeline(setups, source.sample_rate_hz)
            warning = band_warning(source.sample_rate_hz, setups)
            if warning:
                log.warning("%s: %s", path, warning)
            if args.debug:
                pipeline.on_scores = _debug_scores(str(path), pad_span_s(pipeline))
            def report(det, path=path):  # as each is found: a stream from a recorder may go on for hours
                if args.json:
                    _out_line(json.dumps({"file": str(path), **det.to_dict()}))
                else:
                    _out_line(f"{str(path):<{width}} {det.time_s:>8.2f}  {det.keyword:<10} {det.score:>6.3f}"
                              + (f"  ({det.model})" if det.model else ""))
                if runner is not None:
                    runner.submit(det)

            found = detect_in_file(pipeline, source.blocks(), report)
            total += len(found)
            if not args.json:
                _out_line(f"{str(path):<{width}} {len(found)} detection(s) in {source.duration_s:.1f} s of audio "
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
    """Check what the daemon's start needs, each failure a WakewordError (one line, exit 2): the
    config and the models (in _load), the hook's program, and unless --no-probe the audio device
    (opened at the configured rate and block, until one block arrives) and the GPIO pins
    (claimed and released)."""
    config, setups = _load(args)
    from .actions import probe_pins, resolve_hooks
    from .daemon import capture_block_ms, probe_source
    from .detector import keywords_of

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
    keywords = keywords_of(setups)
    shared = [kw for kw in keywords if sum(kw in s.keywords for s in setups) > 1]
    if shared:
        tr = config.trigger
        how = (f"only when all its models fire within {tr.coincidence_s * 1000:.0f} ms (trigger.combine: all)"
               if tr.combine == "all" else "when any of its models fires (trigger.combine: any)")
        print(f"shared: {', '.join(shared)} fires {how}")
    a = config.actions
    hooks = resolve_hooks(a)
    for prefix, acts in a.sections():
        hook = hooks.get(f"{prefix}.hook.command")
        label = "actions" if prefix == "actions" else f"actions for {prefix[len('actions.keywords.'):]}"
        print(f"{label}: led pin {acts.led.pin}, output pin {acts.output.pin}, "
              f"hook {list(acts.hook.command) or 'none'}{f' ({hook})' if hook else ''}"
              + (f", json log {'on' if a.log_json else 'off'}" if prefix == "actions" else ""))
    c = config.capture
    if c.enabled:
        from .capture import check_folder

        check_folder(c.dir)
        print(f"capture: {c.dir}: writable; {c.before_s:g} s before and {c.after_s:g} s after each detection, "
              f"at most {c.max_mb:g} MB")
    else:
        print("capture: off")
    from .integrations import describe_services

    for line in describe_services(config):
        print(line)
    if args.no_probe:
        print("probe: skipped (--no-probe): the audio device and the GPIO pins were not opened")
        return EXIT_OK
    print(f"probe: {probe_source(config, setups)}")
    pins = probe_pins(a, keywords=keywords)
    print(f"probe: claimed and released {', '.join(pins)}" if pins else "probe: no GPIO pins configured")
    return EXIT_OK


def serve_wyoming(args) -> int:
    """--wyoming-uri: the Wyoming service alone, no microphone and no actions."""
    from .integrations import serve_wyoming_alone

    config, setups = _load(args)
    serve_wyoming_alone(config, setups)
    return EXIT_OK


def run_daemon(args) -> int:
    from .actions import ActionRunner, resolve_hook
    from .daemon import Daemon
    from .detector import keywords_of
    from .errors import ActionError
    from .integrations import start_wyoming_beside

    config, setups = _load(args)
    capture = None
    if config.capture.enabled:  # checked (and the folder made) before any device or pin is opened
        from .capture import CaptureWriter

        capture = CaptureWriter(config.capture)
        capture.start()
    for prefix, acts in config.actions.sections():
        try:
            resolve_hook(acts.hook, key=f"{prefix}.hook.command")
        except ActionError as exc:  # the hook may appear later; each detection that misses it is counted
            log.warning("%s: detections will not run the hook until it exists", exc)
    wyoming = start_wyoming_beside(config)  # None unless wyoming.uri is set; before any pin is opened
    actions = ActionRunner(config.actions, keywords=keywords_of(setups))
    try:
        actions.start()
    except BaseException:
        if wyoming is not None:
            wyoming.stop()
        if capture is not None:
            capture.close()
        raise
    daemon = Daemon(config, setups, actions, capture=capture)
    if wyoming is not None:
        def wyoming_failed(exc):  # a dead service must not go unnoticed: exit 1, systemd restarts us
            daemon.error = exc
            daemon.stop()

        wyoming.on_failure = wyoming_failed

    def request_stop(signum, _frame):
        # no logging or locks in a signal handler: wait() logs once it wakes
        daemon.request_stop()
        stop_signals.append(signum)

    stop_signals: list[int] = []
    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    ended = True
    try:
        daemon.start()
        ended = daemon.wait(on_stop=lambda: log.info("received %s, stopping", _signal_names(stop_signals)))
    finally:
        actions.close(timeout_s=ACTIONS_CLOSE_TIMEOUT_S)
        if wyoming is not None:
            wyoming.stop()
        if capture is not None and ended:  # a stuck capture thread may still hand it captures
            capture.close()
    s = daemon.stats
    log.info("stopped: %d detection(s), %d window(s), %d overflow(s), %d device loss(es), %d reconnect(s)",
             s.detections, s.windows, s.overflows, s.device_losses, s.reconnects)
    status = EXIT_FAILURE if daemon.error is not None or not ended else EXIT_OK
    if not ended:
        _exit_now(status, "not closing the audio device: PortAudio would wait for the stuck capture thread")
    return status


def _signal_names(signums: list[int]) -> str:
    return ", ".join(signal.Signals(n).name for n in signums) or "a stop request"


def _exit_now(status: int, why: str) -> None:
    """Flush what we wrote and end the process without running exit handlers: sounddevice's
    would call Pa_Terminate, which waits for streams that a frozen sound server never lets go."""
    log.warning("exiting now, %s", why)
    if _native_stderr is not None:
        _native_stderr.restore()
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)


def _release_portaudio_or_exit(status: int) -> None:
    """PortAudio's teardown, bounded: if it does not finish in time, exit without it."""
    if "sounddevice" not in sys.modules:
        return
    from .microphone import release_portaudio

    if not release_portaudio(PORTAUDIO_RELEASE_TIMEOUT_S):
        _exit_now(status, f"PortAudio's teardown did not finish within {PORTAUDIO_RELEASE_TIMEOUT_S:.0f} s")


def build_record_parser() -> argparse.ArgumentParser:
    p = OneLineParser(
        prog="wakeword record",
        description="Record takes of your own wake phrase from the microphone (through the daemon's capture "
                    "path), for `wakeword-train custom`.",
    )
    p.add_argument("--out", dest="record", type=Path, required=True, metavar="DIR",
                   help="folder for the takes (created; existing takes are kept, numbering goes on after them)")
    p.add_argument("--phrase", required=True, metavar="TEXT", help="what to say in each take")
    p.add_argument("--takes", type=_finite(int), default=20, metavar="N", help="takes to record (default 20)")
    p.add_argument("--background-s", type=_finite(float), default=0.0, metavar="S",
                   help="then record S seconds of the room and of other talk, as negatives (default 0: none)")
    p.add_argument("--speaker", default="", metavar="NAME", help="who is speaking, for the manifest")
    p.add_argument("--config", type=Path, metavar="FILE", help="config.yaml whose audio section to use")
    p.add_argument("--device", metavar="NAME|INDEX", help="input device, by index or part of its name")
    p.add_argument("--sample-rate", type=_finite(int), metavar="HZ", help="capture rate (default: the device's)")
    p.add_argument("--debug", action="store_true", help="log more (to stderr)")
    return p


def record_main(argv) -> int:
    """`wakeword record ...`: the guided recording (record.py)."""
    args = build_record_parser().parse_args(argv)
    _setup_logging(args.debug, daemon=False)
    try:
        from .config import apply_overrides, load_config
        from .record import run

        found = {}
        if args.device is not None:
            found["audio.device"] = _device_arg(args.device)
        if args.sample_rate is not None:
            found["audio.sample_rate_hz"] = args.sample_rate
        config = apply_overrides(load_config(args.config), found)
        return run(args, config.audio)
    except WakewordError as exc:
        print(f"wakeword: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\nwakeword: stopped; the takes kept so far are in the folder", file=sys.stderr)
        return EXIT_INTERRUPTED


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "record":
        return record_main(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if (args.json or args.with_actions) and not args.dry_run:
        parser.error("--json and --with-actions go with --dry-run")
    if args.dry_run and sum(str(p) == "-" for p in args.dry_run) > 1:
        parser.error("--dry-run reads standard input (-) once; give a file named - as ./-")
    if args.no_probe and not args.check_config:
        parser.error("--no-probe goes with --check-config")
    _setup_logging(args.debug, daemon=not (args.dry_run or args.list_devices or args.check_config))
    if args.wyoming_uri is not None and args.device is not None:
        parser.error("--device goes with the daemon; --wyoming-uri opens no microphone")
    return _run(args)


#: The process's native-stderr filter, installed by run() (not by main(), which tests call in-process).
_native_stderr = None


def run() -> None:
    """The `wakeword` command and `python -m wakeword`: main() with native libraries' stderr
    routed through logging (nativelog.py), then PortAudio's teardown with a bound (main() alone
    leaves PortAudio initialised and fd 2 alone, for callers in the same process)."""
    global _native_stderr
    from .nativelog import NativeStderr

    _native_stderr = NativeStderr()
    _native_stderr.install()
    try:
        status = main()
    except SystemExit:  # a usage error: argparse has printed its line
        _native_stderr.restore()
        raise
    _release_portaudio_or_exit(status)
    _native_stderr.restore()
    sys.exit(status)


def _run(args) -> int:
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
    except OSError as exc:
        if exc.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG):
            raise
        # stdout (or a file given to write) is full or gone: one line, and no second traceback
        # from the interpreter flushing the same stdout on exit
        _silence_stdout()
        what = "input/output error" if exc.errno == errno.EIO else "cannot write the output"  # EIO: a read, too
        print(f"wakeword: {what}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass
