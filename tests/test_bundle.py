import json
import os
import shutil

import pytest

from tui.cli import demo_bundle_path, main
from tui.collect.bundle import BundleError, load_bundle


def test_demo_bundle_tells_the_story():
    s = load_bundle(demo_bundle_path())
    kinds = {(c.name, b.key) for c in s.containers for b in c.ports}
    assert any(b.loopback_only for c in s.containers for b in c.ports)
    assert any(b.proto == "udp" and b.published for c in s.containers for b in c.ports)
    assert any(b.publish_all for c in s.containers for b in c.ports)
    assert any(not b.published for c in s.containers for b in c.ports)
    assert len([n for n in s.networks if n.driver == "bridge"]) >= 3
    assert s.proxies and s.rulesets[4].rule_count > 10
    assert kinds and not s.missing


def test_missing_files_are_not_captured_not_empty(tmp_path):
    (tmp_path / "meta.json").write_text(json.dumps({"format": "dockport-bundle/1"}))
    s = load_bundle(tmp_path)
    assert {"docker", "links", "rules", "proxies", "sysctls"} <= s.missing
    assert any("not captured" in w.message for w in s.warnings)


def test_broken_json_names_file_and_line(tmp_path):
    shutil.copytree(demo_bundle_path(), tmp_path / "b")
    (tmp_path / "b" / "docker-inspect.json").write_text("[\n{\n oops")
    s = load_bundle(tmp_path / "b")
    assert any("docker-inspect.json: line 3" in w.message for w in s.warnings)
    assert "docker" in s.missing


def test_not_a_directory_is_one_clear_error(tmp_path, capsys):
    with pytest.raises(BundleError):
        load_bundle(tmp_path / "nope")
    assert main(["trace", "80", "--bundle", str(tmp_path / "nope")]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_trace_cli_exit_codes_and_json(capsys):
    assert main(["trace", "80", "--demo", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["verdict"] == "delivered" and out["via"] == "nat"
    assert out["mapping"]["container"] == "demo-web"
    assert [h["kind"] for h in out["hops"]][0] == "interface"
    assert main(["trace", "6379", "--demo"]) == 1  # bound to 127.0.0.1 only
    assert main(["trace", "80/sctp", "--demo"]) == 2
    assert main(["trace", "80", "--demo", "--from", "container:nope"]) == 2


_GC_DURING = """
import gc, sys
from tui import cli
def report(*_args):
    print("collector on" if gc.isenabled() else "collector off", flush=True)
    return 0
cli.run_trace = cli.run_capture = cli.run_app = report
sys.argv = ["dockport-tui", *sys.argv[1:]]
cli.entry()
"""


@pytest.mark.parametrize(("argv", "expected"), [(["trace", "80", "--demo"], "collector off"),
                                                (["capture", "/nonexistent"], "collector on"),
                                                (["--demo"], "collector off")])
def test_only_one_shot_commands_run_without_the_cyclic_collector(argv, expected):
    """The `dockport-tui` command turns the collector off before its imports (they were 10-20 ms
    of a `trace`); a one-shot answer frees nothing before it ends, so it stays off there, and
    every longer-lived command (here `capture`) gets it back before it runs. The TUI gets it back
    once its first frame is drawn (see `test_the_tui_turns_the_collector_on_after_its_first_frame`)."""
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _GC_DURING, *argv], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == expected, done.stderr


async def test_the_tui_turns_the_collector_on_after_its_first_frame():
    """Its passes over Textual's and the app's new objects were ~35 ms of CPU before the first frame."""
    import gc

    from tui.cli import demo_bundle_path
    from tui.ui.app import DockportApp

    app = DockportApp(source=("demo", str(demo_bundle_path())), state=load_bundle(demo_bundle_path()))
    gc.disable()
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.pause()
            assert gc.isenabled()
    finally:
        gc.enable()


def test_reading_a_bundle_file_whole_or_not_at_all(tmp_path, monkeypatch):
    """A file is read whole even when its size says otherwise (a /proc file says 0); a file over
    the limit, or one that is not a file, is skipped with a warning that names it; a missing one is
    simply absent."""
    from tui.collect import bundle

    warnings: list = []
    with open("/proc/self/mountinfo") as fh:
        expected = fh.read()
    assert os.stat("/proc/self/mountinfo").st_size == 0 and expected
    assert bundle._read_text("/proc/self/mountinfo", warnings) == expected
    small = tmp_path / "small.txt"
    small.write_bytes(b"caf\xc3\xa9\r\nbad \xff\n")
    assert bundle._read_text(small, warnings) == "café\r\nbad \ufffd\n" and not warnings
    assert bundle._read_text(tmp_path / "absent.txt", warnings) is None and not warnings
    assert bundle._read_text(tmp_path, warnings) is None
    assert len(warnings) == 1 and "cannot read (Is a directory)" in warnings[0].message
    warnings.clear()

    monkeypatch.setattr(bundle, "MAX_FILE_BYTES", 8)
    assert bundle._read_text(small, warnings) is None
    assert [w.message for w in warnings] == ["small.txt: 13 bytes is too large, skipped"]
