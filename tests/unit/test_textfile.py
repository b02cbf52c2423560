"""Small user files (config.yaml, sidecars, recording manifests) are read bounded: anything that is
not a readable UTF-8 regular file of sane size is one error naming the file, before parsing."""

import os
import threading

import pytest

from wakeword.config import load_config
from wakeword.errors import ConfigError, ModelError
from wakeword.record import _load_manifest
from wakeword.sidecar import load_sidecar
from wakeword.textfile import MAX_TEXT_FILE_BYTES, read_text_file


#: (reader, error class) for each kind of user text file.
READERS = [(load_config, ConfigError), (load_sidecar, ModelError), (lambda p: _load_manifest(p, "stop"), ConfigError)]


@pytest.mark.parametrize("which", [0, 1, 2])
def test_a_file_that_cannot_be_read_is_one_error_naming_it(tmp_path, which):
    # /proc/self/mem stats as a regular file and fails on read (EIO): the OSError path; a root-only
    # 0600 file under the unit's own user fails the same way, but root (CI) may read anything
    reader, error = READERS[which]
    link = tmp_path / "x.json"
    link.symlink_to("/proc/self/mem")
    with pytest.raises(error, match=r"x\.json: cannot read the .*\(Input/output error\)"):
        reader(link)


@pytest.mark.parametrize("which", [0, 1, 2])
def test_a_fifo_is_refused_without_blocking_on_it(tmp_path, which):
    reader, error = READERS[which]
    fifo = tmp_path / "x.json"
    os.mkfifo(fifo)
    result = {}

    def run():
        try:
            reader(fifo)
        except Exception as exc:  # noqa: BLE001 - the test reads what it was
            result["exc"] = exc

    t = threading.Thread(target=run, daemon=True)
    t.start()
    t.join(10)
    assert not t.is_alive(), "blocked opening a FIFO"
    assert isinstance(result.get("exc"), error) and "not a regular file" in str(result["exc"])


@pytest.mark.parametrize("which", [0, 1, 2])
def test_a_huge_file_is_refused_before_it_is_read(tmp_path, which):
    reader, error = READERS[which]
    big = tmp_path / "x.json"
    with open(big, "wb") as f:  # sparse: 2 GB claimed, nothing on disk
        f.truncate(2 * 10**9)
    with pytest.raises(error, match=r"x\.json: 2000000000 bytes, too large"):
        reader(big)


def test_nesting_too_deep_for_the_parser_is_one_error(tmp_path):
    deep_yaml = tmp_path / "deep.yaml"
    deep_yaml.write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match=r"deep\.yaml: nested too deeply"):
        load_config(deep_yaml)
    deep_json = tmp_path / "deep.json"
    deep_json.write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(ModelError, match=r"deep\.json: not a sidecar \(JSON nested too deeply\)"):
        load_sidecar(deep_json)
    with pytest.raises(ConfigError, match="not a recording manifest"):
        _load_manifest(deep_json, "stop")


def test_read_text_file_reads_utf8_up_to_the_limit_and_no_further(tmp_path):
    ok = tmp_path / "ok.txt"
    ok.write_bytes("stopp\u00e9\n".encode() + b"x" * (MAX_TEXT_FILE_BYTES - 8))
    assert len(read_text_file(ok, "file", ConfigError).encode()) == MAX_TEXT_FILE_BYTES
    ok.write_bytes(ok.read_bytes() + b"x")
    with pytest.raises(ConfigError, match="too large"):
        read_text_file(ok, "file", ConfigError)
    latin = tmp_path / "latin.txt"
    latin.write_bytes(b"caf\xe9")
    with pytest.raises(ConfigError, match=r"latin\.txt: not a text file"):
        read_text_file(latin, "file", ConfigError)
    with pytest.raises(ConfigError, match=r"is a directory, not a file"):
        read_text_file(tmp_path, "file", ConfigError)


@pytest.mark.parametrize("text, problem", [("[1]", "not a JSON object"), ('{"phrase": "stop", "takes": 3}', "'takes' is not a list"),
                                           ('{"phrase": "stop", "takes": [1]}', "'takes' is not a list of entries")])
def test_a_manifest_of_the_wrong_shape_is_refused_before_any_take(tmp_path, text, problem):
    (tmp_path / "manifest.json").write_text(text)
    with pytest.raises(ConfigError, match=problem):
        _load_manifest(tmp_path / "manifest.json", "stop")


def test_a_manifest_without_takes_or_background_gets_empty_lists(tmp_path):
    (tmp_path / "manifest.json").write_text('{"phrase": "hey robot"}')
    m = _load_manifest(tmp_path / "manifest.json", "hey robot")
    assert m["takes"] == [] and m["background"] == []
