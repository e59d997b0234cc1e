"""Output formats CI systems read: GitHub workflow commands, GitLab Code Quality, SARIF, JUnit.

Importing this module registers the renderers in `migrator.output.RENDERERS` (done lazily by
`output.output_formats()`, so a plain `check` never pays for it).

Every format names files by their path relative to the project root (the git work tree), because
that is how GitHub and GitLab resolve them, whatever folder the tool ran from. Fingerprints hash
the repository path, the rule code, the locator and the matched text (plus an occurrence number
for identical findings), never absolute paths or line numbers: a finding keeps its identity when
lines are inserted above it or the repository is checked out elsewhere, so code scanning and
merge-request widgets do not report it as fixed-and-new.
"""

from __future__ import annotations

import hashlib
import json
import re
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from pathlib import Path

from migrator import __version__
from migrator.filenames import printable, uri_path
from migrator.model import Applicability, Severity
from migrator.output import RENDERERS, Located, project_root, repo_relative, short_locator
from migrator.rule import rule_by_code

TOOL_NAME = "vllm-metrics-migrator"
TOOL_URI = "https://github.com/vllm-metrics-migrator/vllm-metrics-migrator"
SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def _described(item: Located) -> str:
    f = item.finding
    return f"{f.message} ({short_locator(f.locator)})" if f.locator else f.message


def _shown_path(path: str, root: str) -> str:
    """The repository path as text: undecodable bytes and control characters escaped."""
    return printable(repo_relative(path, root)[0])


def fingerprints(items: list[Located], root: str | None = None) -> list[str]:
    """A stable identity per finding: sha256 of repo path, code, locator, matched text and the
    occurrence number among findings that share all four (two identical references in one
    file must not collapse into one)."""
    root = root or project_root()
    seen: Counter[tuple[str, ...]] = Counter()
    out = []
    for item in items:
        f = item.finding
        key = (repo_relative(f.path, root)[0], f.code, f.locator, f.matched)
        occurrence = seen[key]
        seen[key] += 1
        joined = "\0".join((*key, str(occurrence)))
        try:  # surrogateescape: an undecodable file name hashes as its own bytes.
            data = joined.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:  # a lone surrogate from a JSON `\ud800` escape in the locator
            data = joined.encode("utf-8", "surrogatepass")
        out.append(hashlib.sha256(data).hexdigest())
    return out


# --- GitHub workflow commands ------------------------------------------------------------------
# https://docs.github.com/actions/reference/workflow-commands-for-github-actions: data escapes
# %, CR, LF; property values additionally escape ':' and ','.

_GITHUB_COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def _gh_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _gh_property(text: str) -> str:
    return _gh_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(items: list[Located], unsafe: bool, *, fail_on: Severity = Severity.WARNING) -> str:
    root = project_root()
    lines = []
    for item in items:
        f = item.finding
        props = {
            "file": _shown_path(f.path, root),
            "line": item.row,
            "col": item.column,
            "endLine": item.end_row,
            "endColumn": item.end_column,
            "title": f.code,
        }
        prop_text = ",".join(f"{k}={_gh_property(str(v))}" for k, v in props.items())
        lines.append(f"::{_GITHUB_COMMAND[f.severity]} {prop_text}::{_gh_data(_described(item))}\n")
    return "".join(lines)


# --- GitLab Code Quality -----------------------------------------------------------------------
# https://docs.gitlab.com/ci/testing/code_quality/#code-quality-report-format

GITLAB_SEVERITY = {Severity.INFO: "info", Severity.WARNING: "major", Severity.ERROR: "critical"}


def render_gitlab(items: list[Located], unsafe: bool, *, fail_on: Severity = Severity.WARNING) -> str:
    root = project_root()
    issues = [
        {
            "description": f"{item.finding.code} {_described(item)}",
            "check_name": item.finding.code,
            "fingerprint": fingerprint,
            "severity": GITLAB_SEVERITY[item.finding.severity],
            "location": {"path": _shown_path(item.finding.path, root), "lines": {"begin": item.row}},
        }
        for item, fingerprint in zip(items, fingerprints(items, root))
    ]
    return json.dumps(issues, indent=2, ensure_ascii=False) + "\n"


# --- SARIF 2.1.0 -------------------------------------------------------------------------------
# What GitHub code scanning reads: https://docs.github.com/code-security/code-scanning/
# integrating-with-code-scanning/sarif-support-for-code-scanning

SARIF_LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}


def _section(docs: str, heading: str) -> str:
    match = re.search(rf"^## {re.escape(heading)}\s*\n(.*?)(?=^## |\Z)", docs, re.M | re.S)
    # Descriptions are plain text shown in one box: unwrap the docstring's hard line breaks.
    return re.sub(r"(?<!\n)\n(?!\n)", " ", match.group(1).strip()) if match else ""


def _sarif_rule(code: str) -> dict:
    rule = rule_by_code(code)
    if rule is None:  # a code without a rule class; never expected, but never crash a CI run
        return {"id": code, "shortDescription": {"text": code}}
    docs = rule.docs()
    summary = rule.summary()
    return {
        "id": rule.code,
        "name": rule.name,
        "shortDescription": {"text": summary},
        "fullDescription": {"text": _section(docs, "What it does") or summary},
        "help": {"text": docs, "markdown": docs},
        "helpUri": rule.url(),
        "defaultConfiguration": {"level": SARIF_LEVEL[rule.severity]},
        "properties": {"tags": ["vllm", "prometheus", "metrics"], "precision": "very-high"},
    }


def _artifact(path: str, root: str) -> dict:
    # URIs carry the name's bytes percent-encoded (RFC 3986), whatever the name holds.
    rel, inside = repo_relative(path, root)
    if inside:
        return {"uri": uri_path(rel), "uriBaseId": "%SRCROOT%"}
    return {"uri": Path(rel).as_uri()}


def _region(item: Located, start: int, end: int) -> dict:
    row, col = item.index.position(start)
    end_row, end_col = item.index.position(end)
    return {"startLine": row, "startColumn": col, "endLine": end_row, "endColumn": end_col}


def _sarif_fix(item: Located, artifact: dict) -> dict | None:
    fix = item.finding.fix
    if fix is None or not fix.edits or fix.applicability is Applicability.DISPLAY_ONLY:
        return None
    return {
        "description": {"text": f"{fix.message} ({fix.applicability.value} fix)"},
        "artifactChanges": [
            {
                "artifactLocation": artifact,
                "replacements": [
                    {"deletedRegion": _region(item, e.span.start, e.span.end), "insertedContent": {"text": e.content}}
                    for e in fix.edits
                ],
            }
        ],
    }


def render_sarif(items: list[Located], unsafe: bool, *, fail_on: Severity = Severity.WARNING) -> str:
    root = project_root()
    codes = sorted({item.finding.code for item in items})
    rule_index = {code: i for i, code in enumerate(codes)}
    results = []
    for item, fingerprint in zip(items, fingerprints(items, root)):
        f = item.finding
        artifact = _artifact(f.path, root)
        result = {
            "ruleId": f.code,
            "ruleIndex": rule_index[f.code],
            "level": SARIF_LEVEL[f.severity],
            "message": {"text": _described(item)},
            "locations": [
                {"physicalLocation": {"artifactLocation": artifact, "region": _region(item, f.span.start, f.span.end)}}
            ],
            "partialFingerprints": {"primaryLocationLineHash": fingerprint},
        }
        if f.locator:
            result["locations"][0]["logicalLocations"] = [{"fullyQualifiedName": short_locator(f.locator)}]
        sarif_fix = _sarif_fix(item, artifact)
        if sarif_fix is not None:
            result["fixes"] = [sarif_fix]
        results.append(result)
    log = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": TOOL_NAME,
                        "version": __version__,
                        "semanticVersion": __version__,
                        "informationUri": TOOL_URI,
                        "rules": [_sarif_rule(code) for code in codes],
                    }
                },
                # Our columns count characters (code points); SARIF's default is UTF-16 units.
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"


# --- JUnit XML ---------------------------------------------------------------------------------

# XML 1.0 cannot carry most control characters, even escaped; a stray one in a source line
# would make the whole report unreadable to the CI system.
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _xml(text: str) -> str:
    return _XML_INVALID.sub("\ufffd", text)


def render_junit(items: list[Located], unsafe: bool, *, fail_on: Severity = Severity.WARNING) -> str:
    """One testsuite per file, one testcase per finding. Only findings at or above `fail-on`
    are `<failure>`s, so the CI's test view agrees with the exit code; the others are passing
    testcases whose `<system-out>` holds the finding (CI test views show it with the case)."""
    root = project_root()
    by_file: dict[str, list[Located]] = defaultdict(list)
    for item in items:
        by_file[_shown_path(item.finding.path, root)].append(item)
    failures = sum(1 for item in items if item.finding.severity >= fail_on)
    suites = ET.Element("testsuites", name=TOOL_NAME, tests=str(max(1, len(items))), failures=str(failures), errors="0")
    if not items:
        suite = ET.SubElement(suites, "testsuite", name=TOOL_NAME, tests="1", failures="0", errors="0", skipped="0")
        ET.SubElement(suite, "testcase", name="no findings", classname=TOOL_NAME)
    for path, file_items in by_file.items():
        file_failures = sum(1 for item in file_items if item.finding.severity >= fail_on)
        suite = ET.SubElement(
            suites, "testsuite", name=_xml(path), tests=str(len(file_items)), failures=str(file_failures),
            errors="0", skipped="0",
        )
        for item in file_items:
            f = item.finding
            case = ET.SubElement(suite, "testcase", name=f"{f.code} {item.row}:{item.column}", classname=_xml(path))
            line, _, _ = item.source_window()
            body = [f"{path}:{item.row}:{item.column}: {f.code} [{f.severity.label}] {_described(item)}"]
            if line:
                body.append(f"  {item.row} | {line}")
            if f.fix is not None:
                body.append(f"  = {f.fix.applicability.value} fix: {f.fix.message}")
            if f.severity >= fail_on:
                failure = ET.SubElement(case, "failure", message=_xml(_described(item)), type=f.code)
                failure.text = _xml("\n".join(body))
            else:
                below = f"(severity {f.severity.label}, below fail-on = {fail_on.label}: reported, does not fail)"
                ET.SubElement(case, "system-out").text = _xml("\n".join([*body, below]))
    ET.indent(suites)
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"


RENDERERS.update(github=render_github, gitlab=render_gitlab, sarif=render_sarif, junit=render_junit)
