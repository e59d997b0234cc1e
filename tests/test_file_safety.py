"""Never a false pass, never a lost byte: files that cannot be read or written, symbolic links,
races, temporary files of killed runs, and the metadata a fix must keep."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

import migrator.runner as runner_module
from migrator.cli import main

REF = "vllm:prompt_tokens_recomputed_total"
SAFE_EXPR = (
    'sum(rate(vllm:prompt_tokens_by_source_total{source=\\"local_cache_hit\\"}[5m])) + '
    'sum(rate(vllm:prompt_tokens_by_source_total{source=\\"external_kv_transfer\\"}[5m])) - '
    f"sum(rate({REF}[5m]))"
)
MIGRATED_EXPR = (
    'sum(rate(vllm:prompt_tokens_by_source_total{source=\\"local_cache_hit\\"}[5m])) + '
    'sum(rate(vllm:prompt_tokens_by_source_total{source=\\"external_kv_transfer\\"}[5m]))'
)


def dashboard(expr: str) -> str:
    return f'{{"title": "vLLM", "uid": "v", "panels": [{{"id": 1, "type": "stat", "targets": [{{"refId": "A", "expr": "{expr}"}}]}}]}}\n'


BEFORE, AFTER = dashboard(SAFE_EXPR), dashboard(MIGRATED_EXPR)


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


@pytest.fixture
def tree(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


# --- reading -----------------------------------------------------------------------------------


def _without_capabilities(*capabilities: str) -> list[str]:
    """A command prefix that runs without the given capabilities: root reads and writes past
    file permissions (CAP_DAC_OVERRIDE...), so as root those are dropped with setpriv."""
    if os.geteuid() != 0:
        return []
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("running as root without setpriv: cannot drop capabilities")
    return [setpriv, "--bounding-set", ",".join(f"-{c}" for c in capabilities)]


def test_a_file_that_cannot_be_read_fails_the_run(tree):
    (tree / "ok.md").write_text("nothing to see\n")
    secret = tree / "secret.md"
    secret.write_text(f"{REF}\n")
    os.chmod(secret, 0)
    prefix = _without_capabilities("dac_override", "dac_read_search")
    done = subprocess.run([*prefix, sys.executable, "-m", "migrator", "check", "--exit-zero", "."], cwd=tree,
                          capture_output=True, text=True)
    assert "secret.md: cannot read: Permission denied" in done.stderr
    assert done.returncode == 1, done.stdout + done.stderr  # even with --exit-zero
    assert "All checks passed!" not in done.stdout
    assert "1 file could not be checked or written" in done.stdout


def test_a_file_deleted_between_discovery_and_reading_fails_the_run(tree, monkeypatch):
    (tree / "a.md").write_text("nothing\n")
    (tree / "gone.md").write_text(f"{REF}\n")
    real_discover = runner_module.discover

    def racing_discover(*args, **kwargs):  # type: ignore[no-untyped-def]
        for path in real_discover(*args, **kwargs):
            if path.endswith("gone.md"):
                os.unlink(path)
            yield path

    monkeypatch.setattr(runner_module, "discover", racing_discover)
    result = invoke("check", ".")
    assert result.exit_code == 1
    assert "error: gone.md: cannot read: No such file or directory" in result.output


def test_a_file_replaced_by_a_symlink_before_reading_is_not_followed(tree, tmp_path_factory, monkeypatch):
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "private.md"
    elsewhere.write_text(f"secret {REF}\n")
    (tree / "swapped.md").write_text("nothing\n")
    real_discover = runner_module.discover

    def racing_discover(*args, **kwargs):  # type: ignore[no-untyped-def]
        for path in real_discover(*args, **kwargs):
            os.unlink(path)
            os.symlink(elsewhere, path)
            yield path

    monkeypatch.setattr(runner_module, "discover", racing_discover)
    result = invoke("check", ".")
    assert result.exit_code == 1
    assert "swapped.md: cannot read:" in result.output and "symbolic link" in result.output
    assert "secret" not in result.output


def test_a_fifo_swapped_in_does_not_hang_the_run(tree, monkeypatch):
    (tree / "pipe.md").write_text("nothing\n")
    real_discover = runner_module.discover

    def racing_discover(*args, **kwargs):  # type: ignore[no-untyped-def]
        for path in real_discover(*args, **kwargs):
            os.unlink(path)
            os.mkfifo(path)
            yield path

    monkeypatch.setattr(runner_module, "discover", racing_discover)
    result = invoke("check", ".")
    assert result.exit_code == 1 and "pipe.md: cannot read: not a regular file" in result.output


# --- symbolic links named on the command line ---------------------------------------------------


def test_a_symlink_named_on_the_command_line_is_checked_but_never_written_through(tree, tmp_path_factory):
    target = tmp_path_factory.mktemp("elsewhere") / "dash.json"
    target.write_text(BEFORE)
    (tree / "link.json").symlink_to(target)
    checked = invoke("check", "link.json")
    assert checked.exit_code == 1 and "link.json:1:" in checked.output and "VMM001" in checked.output
    fixed = invoke("check", "--fix", "link.json")
    assert fixed.exit_code == 1
    assert "error: link.json: not written: a symbolic link" in fixed.output
    assert target.read_text() == BEFORE
    assert (tree / "link.json").is_symlink()
    assert "0 fixed" not in fixed.output and "[*]" in fixed.output  # still reported as fixable


def test_a_dangling_symlink_named_on_the_command_line_is_an_error(tree):
    (tree / "dangling.yaml").symlink_to(tree / "missing.yaml")
    result = invoke("check", "dangling.yaml")
    assert result.exit_code == 2
    assert "dangling.yaml: dangling symbolic link" in result.output


@pytest.mark.parametrize("command", [("check", "--fix"), ("migrate",)])
def test_no_write_through_a_symlinked_folder(tree, tmp_path_factory, command):
    outside = tmp_path_factory.mktemp("outside")
    (outside / "sub").mkdir()
    (outside / "sub" / "dash.json").write_text(BEFORE)
    (tree / "link").symlink_to(outside)
    result = invoke(*command, "link/sub")
    assert result.exit_code == 1, result.output
    assert "link/sub/dash.json: not written: reached through the symbolic link" in result.output
    assert (outside / "sub" / "dash.json").read_text() == BEFORE
    # The real path can be fixed.
    real = invoke(*command, str(outside / "sub"))
    assert (outside / "sub" / "dash.json").read_text() == AFTER, real.output


# --- a fix is only counted once written ---------------------------------------------------------


def test_a_fix_that_cannot_be_written_is_not_counted_as_fixed(tree):
    (tree / "dash.json").write_text(BEFORE)
    os.chmod(tree / "dash.json", 0o444)
    result = invoke("check", "--fix", ".")
    assert result.exit_code == 1
    assert "error: dash.json: not written: the file is read-only" in result.output
    assert "fixed" not in result.output.split("error:")[0]
    assert "dash.json:1:" in result.output and "VMM001 [*]" in result.output  # the finding is still there
    assert (tree / "dash.json").read_text() == BEFORE
    assert stat.S_IMODE((tree / "dash.json").stat().st_mode) == 0o444


def test_migrate_counts_only_written_files(tree):
    (tree / "a.json").write_text(BEFORE)
    (tree / "b.json").write_text(BEFORE)
    os.chmod(tree / "b.json", 0o444)
    result = invoke("migrate", "--report", "report.json")
    assert result.exit_code == 1
    assert "1 file changed, 1 finding fixed, 1 finding left" in result.output
    assert "b.json: not written: the file is read-only" in result.output
    import json

    report = json.loads((tree / "report.json").read_text())
    assert [c["path"] for c in report["changed_files"]] == ["a.json"]
    assert [r["path"] for r in report["remaining"]] == ["b.json"]
    assert report["errors"] == ["b.json: not written: the file is read-only"]


def test_a_file_changed_on_disk_after_reading_is_not_overwritten(tree, monkeypatch):
    (tree / "dash.json").write_text(BEFORE)
    real_write = runner_module.write_result

    def editor_saves_first(path, result):  # type: ignore[no-untyped-def]
        Path(path).write_text(BEFORE + " ")
        real_write(path, result)

    monkeypatch.setattr(runner_module, "write_result", editor_saves_first)
    result = invoke("check", "--fix", ".")
    assert result.exit_code == 1
    assert "dash.json: not written: it changed on disk while it was being checked" in result.output
    assert (tree / "dash.json").read_text() == BEFORE + " "


# --- temporary files of a killed run ------------------------------------------------------------


def test_stale_temporary_files_are_never_findings_and_are_cleaned_up(tree):
    (tree / "dash.json").write_text(AFTER)
    stale = tree / f".dash.json.{dead_pid()}-0123abcd.vmm-tmp"
    stale.write_text(BEFORE)  # the half-written state of a run killed with -9
    checked = invoke("check", ".")
    assert checked.exit_code == 0, checked.output
    assert "VMM001" not in checked.output
    assert f"{stale.name}: stale temporary file of an interrupted run" in checked.output
    assert stale.exists()  # check never deletes
    migrated = invoke("migrate")
    assert f"{stale.name}: removed: stale temporary file" in migrated.output
    assert not stale.exists()


def test_a_live_runs_temporary_file_is_left_alone(tree):
    (tree / "dash.json").write_text(AFTER)
    live = tree / f".dash.json.{os.getppid()}-0123abcd.vmm-tmp"
    live.write_text(BEFORE)
    result = invoke("check", "--fix", ".")
    assert result.exit_code == 0 and "vmm-tmp" not in result.output
    assert live.exists()


def test_a_killed_migrate_leaves_whole_files(tree):
    """kill -9 while migrate writes: every file is old or new, never torn, and the next run
    neither reports nor trips over what the killed one left."""
    names = [tree / f"d{i:03}.json" for i in range(150)]
    for name in names:
        name.write_text(BEFORE)
    child = subprocess.Popen([sys.executable, "-m", "migrator", "migrate", "-q", "."], cwd=tree,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # Kill it as soon as the write phase has begun (the first file is migrated).
        while child.poll() is None and not any(n.read_text() == AFTER for n in names[:5]):
            time.sleep(0.001)
        child.kill()
    finally:
        child.wait()
    assert all(name.read_text() in (BEFORE, AFTER) for name in names)
    again = invoke("migrate", ".")
    assert again.exit_code == 0, again.output
    assert "vmm-tmp" not in again.output or "removed: stale temporary file" in again.output
    assert all(name.read_text() == AFTER for name in names)
    assert not [p for p in tree.iterdir() if p.name.endswith(".vmm-tmp")]


# --- metadata -----------------------------------------------------------------------------------


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another owner")
def test_a_fix_keeps_owner_and_group(tree):
    (tree / "dash.json").write_text(BEFORE)
    os.chown(tree / "dash.json", 65534, 65534)
    result = invoke("check", "--fix", ".")
    assert (tree / "dash.json").read_text() == AFTER, result.output
    info = (tree / "dash.json").stat()
    assert (info.st_uid, info.st_gid) == (65534, 65534)


def test_a_fix_that_would_change_the_owner_is_refused(tree):
    """Someone else's file the runner may write but cannot give back to its owner (an ordinary
    user; root without CAP_CHOWN): a rewrite would make it the runner's, so it is refused."""
    (tree / "dash.json").write_text(BEFORE)
    if os.geteuid() == 0:
        os.chown(tree / "dash.json", 65534, 65534)
        prefix = _without_capabilities("chown")
    else:
        pytest.skip("needs root to set up a file owned by someone else")
    done = subprocess.run([*prefix, sys.executable, "-m", "migrator", "check", "--fix", "."], cwd=tree,
                          capture_output=True, text=True)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "dash.json: not written: it belongs to uid 65534, gid 65534" in done.stderr
    assert (tree / "dash.json").read_text() == BEFORE and (tree / "dash.json").stat().st_uid == 65534


def test_a_fix_keeps_mode_and_extended_attributes(tree):
    target = tree / "dash.json"
    target.write_text(BEFORE)
    os.chmod(target, 0o640)
    try:
        os.setxattr(target, "user.origin", b"grafana-export")
    except OSError:
        pytest.skip("no user extended attributes on this file system")
    invoke("check", "--fix", ".")
    assert target.read_text() == AFTER
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert os.getxattr(target, "user.origin") == b"grafana-export"


def test_a_hard_linked_file_is_refused_not_split(tree):
    (tree / "dash.json").write_text(BEFORE)
    os.link(tree / "dash.json", tree / "copy.json")
    result = invoke("check", "--fix", "dash.json")
    assert result.exit_code == 1
    assert "dash.json: not written: it has 2 hard links" in result.output
    assert (tree / "dash.json").read_text() == BEFORE
    assert os.path.samefile(tree / "dash.json", tree / "copy.json")


# --- a file CPython rejects is never written ------------------------------------------------------


def test_python_with_a_nul_byte_past_the_binary_sniff_is_a_parse_error_and_never_written(tree):
    source = (
        "# " + "padding " * 1200 + "\n"  # past the 8 KB the binary sniff looks at
        "def record(self, stats):\n"
        "    self.cached += stats.local_cache_hit + stats.external_kv_transfer - stats.recomputed_tokens\n"
        'MARKER = "\0"\n'
    )
    (tree / "logger.py").write_text(source)
    result = invoke("check", "--fix", "logger.py")
    assert result.exit_code == 1
    assert "logger.py:4:11: VMM000" in result.output  # positioned at the NUL
    assert (tree / "logger.py").read_text() == source
    # The same file without the NUL is fixed.
    (tree / "logger.py").write_text(source.replace("\0", "x"))
    invoke("check", "--fix", "logger.py")
    assert "- stats.recomputed_tokens" not in (tree / "logger.py").read_text()


def test_a_fix_that_cpython_would_reject_is_not_written():
    """`validate` (run on every fixed text before writing) asks CPython as well as libcst."""
    from migrator.formats.base import ParseError
    from migrator.formats.python_format import PythonHandler

    for bad in ('x = b"é"\n', "f(**a, *b)\n", 'x = "\0"\n'):
        with pytest.raises(ParseError):
            PythonHandler().validate(bad)
    PythonHandler().validate('x = f"{"nested"}"\n')  # PEP 701: newer than 3.11, libcst parses it
