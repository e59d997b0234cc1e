"""Baselines: accept today's findings, fail only on new ones.

`check --write-baseline FILE` records every current finding; `check --baseline FILE` (or
`baseline = "FILE"` in the configuration) hides findings that match a recorded entry.

An entry is keyed by the file's path relative to the project root (git work tree, else the
working folder), the locator, the rule code and the matched text — never line numbers — so
edits elsewhere in a file do not resurrect accepted findings. Matching is a multiset: an entry
with `count: 2` hides two identical findings, and a third identical one is new.

The baseline file names the removed metric (in `matched`), so it carries the file-level
suppression directive: checking a repository that contains its own baseline stays clean.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Iterable

from migrator import __version__
from migrator.filenames import printable
from migrator.model import FileResult, Finding
from migrator.output import project_root, repo_relative
from migrator.safe_write import atomic_write_text

BASELINE_VERSION = 1
_COMMENT = (
    "Findings accepted by `vllm-metrics-migrator check --write-baseline`; "
    "`check --baseline` hides them. vllm-metrics-migrator: ignore-file"
)

Key = tuple[str, str, str, str]  # path, code, locator, matched


class BaselineError(Exception):
    """The baseline file is missing, unreadable or not a baseline; a usage error (exit 2)."""


def finding_key(finding: Finding, root: str | None = None) -> Key:
    # The path as text (undecodable bytes escaped): a baseline is JSON, read back as text.
    return (printable(repo_relative(finding.path, root)[0]), finding.code, finding.locator, finding.matched)


def build_baseline(findings: Iterable[Finding], root: str | None = None) -> dict:
    root = root or project_root()
    counts: Counter[Key] = Counter()
    messages: dict[Key, str] = {}
    for finding in findings:
        key = finding_key(finding, root)
        counts[key] += 1
        messages.setdefault(key, finding.message)
    entries = [
        # `message` is for the humans reviewing the baseline in a pull request; not matched on.
        {"path": p, "code": c, "locator": loc, "matched": m, "count": n, "message": messages[(p, c, loc, m)]}
        for (p, c, loc, m), n in sorted(counts.items())
    ]
    return {"comment": _COMMENT, "version": BASELINE_VERSION, "tool_version": __version__, "entries": entries}


def write_baseline(path: str | Path, findings: Iterable[Finding]) -> int:
    """Write the baseline; returns how many findings it records."""
    data = build_baseline(findings)
    atomic_write_text(str(path), json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return sum(e["count"] for e in data["entries"])


def load_baseline(path: str | Path) -> Counter[Key]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BaselineError(f"baseline {path}: no such file (create it with `check --write-baseline {path}`)") from None
    except (OSError, UnicodeDecodeError) as err:
        raise BaselineError(f"baseline {path}: cannot read: {err}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise BaselineError(f"baseline {path}: not valid JSON: {err}") from None
    if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
        raise BaselineError(f"baseline {path}: not a vllm-metrics-migrator baseline (no `entries` list)")
    if data.get("version") != BASELINE_VERSION:
        raise BaselineError(
            f"baseline {path}: unsupported version {data.get('version')!r} (this tool reads version "
            f"{BASELINE_VERSION}); regenerate it with `check --write-baseline {path}`"
        )
    counts: Counter[Key] = Counter()
    for number, entry in enumerate(data["entries"]):
        if not isinstance(entry, dict):
            raise BaselineError(f"baseline {path}: entry {number} is not an object")
        fields = [entry.get(k, "" if k == "locator" else None) for k in ("path", "code", "locator", "matched")]
        if not all(isinstance(v, str) for v in fields):
            raise BaselineError(f"baseline {path}: entry {number} needs string `path`, `code`, `locator`, `matched`")
        count = entry.get("count", 1)
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise BaselineError(f"baseline {path}: entry {number} has a bad `count` {count!r}")
        counts[tuple(fields)] += count  # type: ignore[index]
    return counts


def apply_baseline(results: list[FileResult], baseline: Counter[Key], root: str | None = None) -> int:
    """Drop baselined findings from `results` in place; returns how many were hidden."""
    root = root or project_root()
    remaining = Counter(baseline)
    hidden = 0
    for result in results:
        kept = []
        for finding in result.findings:
            key = finding_key(finding, root)
            if remaining[key] > 0:
                remaining[key] -= 1
                hidden += 1
            else:
                kept.append(finding)
        result.findings = kept
    return hidden
