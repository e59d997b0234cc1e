"""Every migrated rule-file sample still passes `promtool check rules` (Debian's prometheus)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from migrator.config import Settings
from migrator.runner import RunOptions, process_text

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def _rule_groups(text: str) -> list | None:
    """The rule groups a sample holds: a plain rule file, a PrometheusRule's spec, or a rule file
    embedded in a ConfigMap. None for files promtool cannot check (Helm templates, Grafana
    provisioning, dashboards)."""
    if "{{" in text.replace("{{ $", "").replace("{{$", ""):
        return None  # a Helm template: only its rendered output is a rule file
    groups = []
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError:
        return None  # the VMM000 samples are broken on purpose
    for doc in docs:
        if not isinstance(doc, dict):
            continue
        if doc.get("kind") == "PrometheusRule":
            groups += doc.get("spec", {}).get("groups", [])
        elif doc.get("kind") == "ConfigMap":
            for value in (doc.get("data") or {}).values():
                inner = yaml.safe_load(value) if isinstance(value, str) and "groups:" in value else None
                if isinstance(inner, dict):
                    groups += inner.get("groups", [])
        elif "groups" in doc and doc.get("apiVersion") is None:
            groups += doc["groups"]
    return groups or None


def _rule_cases() -> list[Path]:
    cases = []
    for source in sorted(SAMPLES.glob("VMM*/*/input.yaml")):
        if _rule_groups(source.read_text(encoding="utf-8")) is not None:
            cases.append(source)
    return cases


@pytest.fixture(scope="module")
def promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is missing: install Debian's `prometheus` package")
        pytest.skip("promtool is not installed (apt-get install prometheus)")
    return path


@pytest.mark.parametrize("source", _rule_cases(), ids=lambda p: f"{p.parent.parent.name}/{p.parent.name}")
@pytest.mark.parametrize("unsafe", [False, True], ids=["fix", "unsafe-fix"])
def test_migrated_rules_pass_promtool(source: Path, unsafe: bool, promtool: str, tmp_path: Path) -> None:
    text = source.read_text(encoding="utf-8")
    result = process_text(source.name, text, Settings(), RunOptions(fix=True, unsafe=unsafe, write=False))
    fixed = result.fixed if result.fixed is not None else text
    rules = tmp_path / "rules.yaml"
    rules.write_text(yaml.safe_dump({"groups": _rule_groups(fixed)}, sort_keys=False), encoding="utf-8")
    check = subprocess.run([promtool, "check", "rules", str(rules)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr


def test_there_are_rule_samples_to_check() -> None:
    assert len(_rule_cases()) >= 10
