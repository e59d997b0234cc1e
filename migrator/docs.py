"""Rule documentation rendered from the registry, and the table of every vLLM metric change
rendered from the catalogue, for the README (a test keeps both in sync)."""

from __future__ import annotations

import re

from migrator.rule import all_rules

TABLE_START, TABLE_END = "<!-- rules-table:start -->", "<!-- rules-table:end -->"
DOCS_START, DOCS_END = "<!-- rules-docs:start -->", "<!-- rules-docs:end -->"
CHANGES_START, CHANGES_END = "<!-- changes-table:start -->", "<!-- changes-table:end -->"


def rules_table() -> str:
    rows = ["| Code | Name | Formats | Severity | Fix |", "|---|---|---|---|---|"]
    for rule in all_rules():
        anchor = f"{rule.code.lower()}-{rule.name}"
        rows.append(
            f"| [{rule.code}](#{anchor}) | {rule.name} | {rule.formats_label} | {rule.severity.label} | {rule.fix_availability} |"
        )
    return "\n".join(rows)


def rules_docs() -> str:
    parts = []
    for rule in all_rules():
        body = re.sub(r"^## ", "#### ", rule.docs(), flags=re.MULTILINE)
        parts.append(f"### {rule.code} {rule.name}\n\n{body}")
    return "\n\n".join(parts)


def replace_between(text: str, start: str, end: str, content: str) -> str:
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    return f"{head}{start}\n{content}\n{end}{tail}"


def render_readme(text: str) -> str:
    from migrator.reference.catalogue_view import changes_markdown

    text = replace_between(text, TABLE_START, TABLE_END, rules_table())
    text = replace_between(text, CHANGES_START, CHANGES_END, changes_markdown().rstrip("\n"))
    return replace_between(text, DOCS_START, DOCS_END, rules_docs())


if __name__ == "__main__":
    import pathlib

    path = pathlib.Path(__file__).resolve().parent.parent / "README.md"
    path.write_text(render_readme(path.read_text(encoding="utf-8")), encoding="utf-8")
