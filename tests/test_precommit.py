"""The shipped `.pre-commit-hooks.yaml`, exercised with the real `pre-commit`.

pre-commit installs hooks from a git repository at a revision. To test the working tree (not only
committed code), the session fixture copies this repository's tracked and untracked files into a
temporary folder, commits them there, and points `repo:` at that commit. pre-commit then builds
one virtualenv for it (pip-installing this project from PyPI dependencies) in a temporary
`PRE_COMMIT_HOME`, shared by every test here.

When the environment cannot be built (no network, no git), the tests skip locally but FAIL when
`CI=true`: in CI a hook that cannot install is exactly the bug this file exists to catch.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
REF = "vllm:prompt_tokens_recomputed_total"
SAFE_EXPR = (
    'sum(rate(vllm:prompt_tokens_by_source_total{source="local_cache_hit"}[5m])) + '
    'sum(rate(vllm:prompt_tokens_by_source_total{source="external_kv_transfer"}[5m])) - '
    f"sum(rate({REF}[5m]))"
)
MIGRATED_EXPR = (
    'sum(rate(vllm:prompt_tokens_by_source_total{source="local_cache_hit"}[5m])) + '
    'sum(rate(vllm:prompt_tokens_by_source_total{source="external_kv_transfer"}[5m]))'
)
RULES_YAML = f"""groups:
  - name: vllm
    rules:
      - alert: VllmServedPromptTokensLow
        expr: {SAFE_EXPR} < 10
        for: 10m
"""
DASHBOARD = json.dumps(
    {
        "title": "vLLM",
        "uid": "vllm",
        "panels": [
            {"id": 1, "type": "stat", "title": "Served prompt tokens", "targets": [{"refId": "A", "expr": SAFE_EXPR}]}
        ],
        "schemaVersion": 39,
    },
    indent=2,
) + "\n"
PYTHON = f'SCRAPED = [\n    "vllm:prompt_tokens_total",\n    "{REF}",\n]\n'
CLEAN = {
    "dashboards/vllm.json": DASHBOARD.replace(SAFE_EXPR.replace('"', '\\"'), MIGRATED_EXPR.replace('"', '\\"')),
    "rules/vllm.yaml": RULES_YAML.replace(SAFE_EXPR, MIGRATED_EXPR),
    "scrape.py": 'SCRAPED = ["vllm:prompt_tokens_total"]\n',
}
IN_CI = os.environ.get("CI", "").lower() in ("true", "1", "yes")


def _cannot(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true and the pre-commit environment cannot be built: {reason}")
    pytest.skip(f"pre-commit environment unavailable (set CI=true to make this a failure): {reason}")


def _environment(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") and k != "PRE_COMMIT_HOME"}
    empty = tmp / "empty.gitconfig"
    empty.touch()
    # The user's git configuration (hooksPath, signing, templates) must not leak into the test.
    env.update(GIT_CONFIG_GLOBAL=str(empty), GIT_CONFIG_NOSYSTEM="1", PRE_COMMIT_HOME=str(tmp / "home"))
    env.pop("SKIP", None)  # pre-commit's SKIP=hook-id would silently skip ours
    return env


def git(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=True)


def git_init(path: Path, env: dict[str, str]) -> None:
    git(path, env, "init", "-q")
    git(path, env, "config", "user.name", "Test")
    git(path, env, "config", "user.email", "test@example.com")
    git(path, env, "config", "commit.gpgsign", "false")


def pre_commit(cwd: Path, env: dict[str, str], *args: str, timeout: int = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def _working_tree_files() -> list[str]:
    try:
        listed = subprocess.run(
            ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
            cwd=REPO, capture_output=True, check=True,
        ).stdout.decode("utf-8").split("\0")
    except (OSError, subprocess.CalledProcessError):
        listed = [
            str(p.relative_to(REPO)) for p in REPO.rglob("*")
            if p.is_file() and not {".git", "__pycache__", ".pytest_cache"} & set(p.relative_to(REPO).parts)
        ]
    return [name for name in listed if name and (REPO / name).is_file()]


@pytest.fixture(scope="session")
def hooks(tmp_path_factory):  # type: ignore[no-untyped-def]
    """(environment, hook repository path, revision) with the hook environment already built."""
    if shutil.which("git") is None:
        _cannot("git is not installed")
    tmp = tmp_path_factory.mktemp("pre-commit")
    env = _environment(tmp)
    clone = tmp / "hook-repo"
    for name in _working_tree_files():
        target = clone / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / name, target)
    git_init(clone, env)
    git(clone, env, "add", "-A")
    git(clone, env, "commit", "-q", "-m", "working tree under test")
    rev = git(clone, env, "rev-parse", "HEAD").stdout.strip()

    scratch = tmp / "scratch"
    scratch.mkdir()
    git_init(scratch, env)
    _write_config(scratch, clone, rev)
    built = pre_commit(scratch, env, "install-hooks")
    if built.returncode != 0:
        _cannot(f"`pre-commit install-hooks` failed:\n{built.stdout[-3000:]}\n{built.stderr[-3000:]}")
    return env, clone, rev


def _write_config(project: Path, clone: Path, rev: str) -> None:
    config = {
        "repos": [
            {"repo": str(clone), "rev": rev, "hooks": [{"id": "vllm-metrics-check"}, {"id": "vllm-metrics-fix"}]}
        ]
    }
    (project / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


@pytest.fixture
def project(hooks, tmp_path):  # type: ignore[no-untyped-def]
    env, clone, rev = hooks
    root = tmp_path / "project"
    root.mkdir()
    git_init(root, env)
    _write_config(root, clone, rev)
    return root, env


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)


def test_hooks_file_matches_the_contract():
    hooks = {h["id"]: h for h in yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())}
    assert hooks["vllm-metrics-check"]["entry"] == "vllm-metrics-migrator check --force-exclude"
    assert hooks["vllm-metrics-fix"]["entry"] == (
        "vllm-metrics-migrator check --fix --exit-non-zero-on-fix --force-exclude"
    )
    for hook in hooks.values():
        assert hook["language"] == "python"
        assert hook["types_or"] == ["json", "yaml", "python"]
        # Cross-file rules need every file in one process (see the batching test below).
        assert hook["require_serial"] is True


def test_check_hook_fails_and_prints_findings(project):
    root, env = project
    write(root, {
        "dashboards/vllm.json": DASHBOARD,
        "rules/vllm.yaml": RULES_YAML,
        "scrape.py": PYTHON,
        "docs/runbook.md": f"`{REF}`\n",  # Markdown is not among the hook's types
    })
    git(root, env, "add", "-A")
    before = {name: (root / name).read_text() for name in ("dashboards/vllm.json", "rules/vllm.yaml", "scrape.py")}
    result = pre_commit(root, env, "run", "vllm-metrics-check")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "dashboards/vllm.json:" in output and "VMM001" in output
    assert "rules/vllm.yaml:" in output
    assert "scrape.py:" in output
    assert "docs/runbook.md" not in output
    assert {name: (root / name).read_text() for name in before} == before  # check never writes


def test_fix_hook_rewrites_staged_files_and_fails(project, monkeypatch):
    root, env = project
    write(root, {"dashboards/vllm.json": DASHBOARD, "rules/vllm.yaml": RULES_YAML})
    git(root, env, "add", "-A")
    result = pre_commit(root, env, "run", "vllm-metrics-fix")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "files were modified by this hook" in output
    assert (root / "dashboards/vllm.json").read_text() == CLEAN["dashboards/vllm.json"]
    assert git(root, env, "diff", "--name-only").stdout.split() != []  # the fix is left unstaged for review

    if (root / "rules/vllm.yaml").read_text() == RULES_YAML:
        # The rules-YAML handler may still be in progress; only then is an unchanged file acceptable.
        from click.testing import CliRunner

        from migrator.cli import main

        monkeypatch.chdir(root)
        diff = CliRunner().invoke(main, ["check", "--diff", "rules/vllm.yaml"]).output
        assert "+++ b/rules/vllm.yaml" not in diff, "check --diff fixes the rule file but the hook did not"
        pytest.skip("the YAML handler does not produce the safe fix for rules YAML yet (check --diff shows none)")
    assert (root / "rules/vllm.yaml").read_text() == CLEAN["rules/vllm.yaml"]


def test_clean_commit_passes_and_a_dirty_one_is_refused(project):
    root, env = project
    installed = pre_commit(root, env, "install")
    assert installed.returncode == 0, installed.stdout + installed.stderr
    write(root, CLEAN)
    git(root, env, "add", "-A")
    commit = subprocess.run(["git", "commit", "-m", "clean"], cwd=root, env=env, capture_output=True, text=True)
    assert commit.returncode == 0, commit.stdout + commit.stderr
    assert "vllm-metrics-migrator check" in commit.stdout + commit.stderr  # the hooks did run

    write(root, {"scrape.py": PYTHON})
    git(root, env, "add", "-A")
    refused = subprocess.run(["git", "commit", "-m", "dirty"], cwd=root, env=env, capture_output=True, text=True)
    assert refused.returncode != 0
    assert "VMM" in refused.stdout + refused.stderr


RECORDING = """groups:
  - name: vllm-recording
    rules:
      - record: job:vllm_recomputed_tokens:rate5m
        expr: sum by (job) (rate(vllm:prompt_tokens_recomputed_total[5m]))
"""
ALERT_ON_RECORDED = """groups:
  - name: vllm-alerts
    rules:
      - alert: VllmRecomputeSpike
        expr: job:vllm_recomputed_tokens:rate5m > 100
"""


def _findings(output: str) -> set[tuple[str, str]]:
    """(file, code) of every finding line `path:row:col: CODE ...`."""
    found = set()
    for line in output.splitlines():
        parts = line.split(":")
        if len(parts) > 3 and parts[1].isdigit() and parts[3].strip().startswith("VMM"):
            found.add((parts[0], parts[3].split()[0]))
    return found


def test_findings_do_not_depend_on_how_files_are_batched(project, monkeypatch):
    """The alert uses a series recorded from the removed metric in another file (VMM004). With
    `require_serial: false`, pre-commit splits the files between processes (one per CPU) and the
    alert's process never sees the recording rule; with `true`, the hook reports what `check`
    on all the files reports."""
    root, env = project
    files = {"a-recording.yaml": RECORDING, "b-alerts.yaml": ALERT_ON_RECORDED}
    files.update({f"c-clean-{i}.yaml": "groups: []\n" for i in range(6)})
    write(root, files)
    git(root, env, "add", "-A")
    hook = pre_commit(root, env, "run", "vllm-metrics-check", "--all-files")
    from click.testing import CliRunner

    from migrator.cli import main

    monkeypatch.chdir(root)
    direct = CliRunner().invoke(main, ["check", "--output-format", "concise", *files])
    assert ("b-alerts.yaml", "VMM004") in _findings(direct.output)
    assert _findings(hook.stdout + hook.stderr) == _findings(direct.output), hook.stdout + hook.stderr


def _readme_snippet() -> str:
    readme = (REPO / "README.md").read_text()
    block = readme[readme.index("<!-- pre-commit-local:start -->"):readme.index("<!-- pre-commit-local:end -->")]
    return block[block.index("```yaml\n") + len("```yaml\n"):block.rindex("```")]


def test_the_readme_snippet_works_as_copied(tmp_path):
    """The README's pre-commit snippet, pasted as it is, runs the installed tool; its commented
    fix hook, uncommented, fixes."""
    if shutil.which("git") is None:
        _cannot("git is not installed")
    env = _environment(tmp_path)
    scripts = Path(sys.executable).parent
    if not (scripts / "vllm-metrics-migrator").exists():
        pytest.skip("the console script is not installed next to this interpreter")
    env["PATH"] = f"{scripts}{os.pathsep}{env.get('PATH', '')}"
    root = tmp_path / "project"
    root.mkdir()
    git_init(root, env)
    (root / ".pre-commit-config.yaml").write_text(_readme_snippet())
    write(root, {"dashboards/vllm.json": DASHBOARD, "docs/runbook.md": f"`{REF}`\n"})
    git(root, env, "add", "-A")
    checked = pre_commit(root, env, "run", "--all-files")
    output = checked.stdout + checked.stderr
    assert checked.returncode == 1, output
    assert "dashboards/vllm.json:" in output and "VMM001" in output
    assert "docs/runbook.md" not in output  # Markdown is not among the hook's types

    uncommented = _readme_snippet().replace("      # - id", "      - id").replace("      #   ", "        ")
    (root / ".pre-commit-config.yaml").write_text(uncommented)
    fixed = pre_commit(root, env, "run", "vllm-metrics-fix", "--all-files")
    assert fixed.returncode == 1, fixed.stdout + fixed.stderr
    assert (root / "dashboards/vllm.json").read_text() == CLEAN["dashboards/vllm.json"]
