"""Discovery skips what git ignores, decided by git's own rules: nested `.gitignore` files and
their negations, `.git/info/exclude`, `core.excludesFile`, and tracked files that a pattern
matches (git never ignores those). Without git, the `.gitignore` files alone, last match wins."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

import migrator.git_ignores as git_ignores
from migrator.config import Settings
from migrator.files import discover

REF = "vllm:prompt_tokens_recomputed_total\n"


def git(root, *args: str) -> None:  # type: ignore[no-untyped-def]
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")
    subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path, monkeypatch):
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", os.devnull)
    files = {
        ".gitignore": "*.yaml\nbuild/\n",
        "rules.yaml": REF,  # ignored by the root pattern
        "keep/.gitignore": "!keep.yaml\n",
        "keep/keep.yaml": REF,  # re-included by the nested negation
        "keep/other.yaml": REF,  # still ignored
        "secret.md": REF,  # ignored by .git/info/exclude
        "personal.md": REF,  # ignored by core.excludesFile
        "build/generated.md": REF,  # ignored folder ...
        "build/tracked.md": REF,  # ... except a file that was force-added
        "docs/runbook.md": REF,
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    git(tmp_path, "init", "-q")
    (tmp_path / ".git" / "info").mkdir(exist_ok=True)
    (tmp_path / ".git" / "info" / "exclude").write_text("secret.md\n")
    (tmp_path / "excludes").write_text("personal.md\nexcludes\n")
    git(tmp_path, "config", "core.excludesFile", str(tmp_path / "excludes"))
    git(tmp_path, "add", "-f", "build/tracked.md")
    return tmp_path


EXPECTED = ["build/tracked.md", "docs/runbook.md", "keep/keep.yaml"]


def found(root, *paths: str, force_exclude: bool = False) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(
        os.path.relpath(p, root).replace(os.sep, "/")
        for p in discover(list(paths) or ["."], Settings(root=root), force_exclude=force_exclude)
        if not os.path.basename(p).startswith(".") and os.path.basename(p) != "excludes"
    )


def test_discovery_follows_gits_own_rules(repo):
    assert found(repo) == EXPECTED


def test_one_git_call_per_repository(repo, monkeypatch):
    calls = []
    real = git_ignores._git

    def counting(root, *args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(args[0])
        return real(root, *args, **kwargs)

    monkeypatch.setattr(git_ignores, "_git", counting)
    found(repo)
    assert calls == ["ls-files"]


def test_named_files_with_force_exclude_ask_git_check_ignore(repo):
    named = ["rules.yaml", "keep/keep.yaml", "secret.md", "build/tracked.md", "build/generated.md"]
    assert found(repo, *named, force_exclude=True) == ["build/tracked.md", "keep/keep.yaml"]
    assert found(repo, *named) == sorted(named)  # named without --force-exclude: always checked


def test_without_git_the_gitignore_files_still_apply_with_negation(repo, monkeypatch):
    monkeypatch.setattr("shutil.which", lambda name: None)
    result = found(repo)
    # No index to know what is tracked, nor the user's excludes file: those two differ.
    assert "keep/keep.yaml" in result and "docs/runbook.md" in result
    assert "rules.yaml" not in result and "keep/other.yaml" not in result and "secret.md" not in result
    assert "build/generated.md" not in result


def test_a_nested_repository_has_its_own_rules(repo):
    inner = repo / "vendor" / "inner"
    inner.mkdir(parents=True)
    git(inner, "init", "-q")
    (inner / ".gitignore").write_text("*.md\n")
    (inner / "ignored.md").write_text(REF)
    (inner / "kept.yaml").write_text(REF)
    (repo / ".gitignore").write_text("build/\n")  # the outer repository no longer ignores YAML
    result = found(repo)
    assert "vendor/inner/kept.yaml" in result and "vendor/inner/ignored.md" not in result
