"""Vector selectors and label lists: ``name{matchers}``, ``by (labels)``, ``on (labels)``.

Prometheus 3 lets names be quoted strings (UTF-8 names): ``{"my.metric"}`` names the
metric, ``{"my.label"="v"}`` matches a label, ``by ("my.label")`` groups by it.  A
quoted metric name reads exactly like an unquoted one (``VectorSelector.name``), with
``name_span`` on the characters between the quotes.
"""

from __future__ import annotations

import re

from .ast import LabelMatcher, Span, VectorSelector
from .durations import DurationParser, is_templated_text
from .lexer import Token
from .literals import decode_string

__all__ = ["SelectorParser"]

_MATCH_OPS = frozenset({"=", "!=", "=~", "!~"})


def _matches_empty(m: LabelMatcher) -> bool:
    """Whether matcher *m* matches the empty label value (for the
    'at least one non-empty matcher' rule)."""
    if is_templated_text(m.value):
        return False
    if m.op == "=":
        return m.value == ""
    if m.op == "!=":
        return m.value != ""
    try:
        hit = re.fullmatch(m.value, "") is not None
    except re.error:
        return False
    return hit if m.op == "=~" else not hit


class SelectorParser(DurationParser):
    __slots__ = ()

    def parse_label_list(self, what: str) -> tuple[tuple[str, ...], tuple[Span, ...], int, int]:
        """``(a, "b.c", $var)`` after by/without/on/ignoring/group_*; labels are decoded,
        spans cover the source (with quotes)."""
        lp = self.peek()
        if lp.kind != "(":
            raise self.unexpected(lp, f"expected '(' after {what}")
        self.i += 1
        labels: list[str] = []
        spans: list[Span] = []
        while True:
            t = self.peek()
            k = t.kind
            if k == ")":
                break
            if k in ("IDENT", "TVAR", "TEMPLATE"):
                labels.append(t.text)
            elif k == "STRING":
                labels.append(decode_string(t.text, t.start, self.text))
            elif k == "EOF":
                raise self.error("unclosed left parenthesis", lp.start)
            else:
                raise self.unexpected(t, f"expected label name in {what} list")
            spans.append((t.start, t.end))
            self.i += 1
            t = self.peek()
            if t.kind == ",":
                self.i += 1
                continue
            if t.kind == ")":
                break
            if t.kind == "EOF":
                raise self.error("unclosed left parenthesis", lp.start)
            raise self.unexpected(t, f"expected ',' or ')' in {what} list")
        rp = self.peek()
        self.i += 1
        return tuple(labels), tuple(spans), lp.start, rp.start

    def _absorb_templates(self, end: int, spans: list[Span]) -> int:
        toks = self.toks
        while True:
            t = toks[self.i]
            if t.kind != "TEMPLATE" or t.start != end:
                return end
            spans.append((t.start, t.end))
            end = t.end
            self.i += 1

    def parse_selector(self, name_tok: Token | None, templated: bool) -> VectorSelector:
        toks = self.toks
        template_spans: list[Span] = []
        quoted_span: Span | None = None
        if name_tok is not None:
            name: str | None = name_tok.text
            name_span: Span | None = (name_tok.start, name_tok.end)
            start = name_tok.start
            end = self._absorb_templates(name_tok.end, template_spans)
        else:
            name = name_span = None
            start = end = toks[self.i].start
        matchers: tuple[LabelMatcher, ...] = ()
        braces: Span | None = None
        if toks[self.i].kind == "{":
            qname, quoted_span, matchers, braces, tspans = self.parse_braces()
            if qname is not None and quoted_span is not None:
                if name is not None:
                    raise self.error("metric name must not be set twice", quoted_span[0])
                name, name_span = qname, (quoted_span[0] + 1, quoted_span[1] - 1)
            template_spans.extend(tspans)
            end = self._absorb_templates(braces[1], template_spans)
        if not name and not template_spans and all(_matches_empty(m) for m in matchers):
            raise self.error("vector selector must contain at least one non-empty matcher", start)
        return VectorSelector(
            name=name,
            name_span=name_span,
            matchers=matchers,
            braces_span=braces,
            templated=templated,
            template_spans=tuple(template_spans),
            quoted_name_span=quoted_span,
            start=start,
            end=end,
        )

    def parse_braces(self):  # type: ignore[no-untyped-def]
        """``{...}``: (quoted metric name, its literal span, matchers, braces span, template spans)."""
        toks = self.toks
        text = self.text
        lb = toks[self.i]
        self.i += 1
        matchers: list[LabelMatcher] = []
        tspans: list[Span] = []
        qname = qspan = None
        last = "start"
        while True:
            t = toks[self.i]
            k = t.kind
            if k == "}":
                self.i += 1
                break
            if k == "EOF":
                raise self.error("unclosed left brace", lb.start)
            if k == "TEMPLATE":
                tspans.append((t.start, t.end))
                self.i += 1
                last = "template"
                continue
            if k == ",":
                if last not in ("matcher", "template"):
                    raise self.unexpected(t, "expected a label matcher")
                self.i += 1
                last = "comma"
                continue
            if last == "matcher":
                raise self.unexpected(t, "expected ',' or '}' in label matchers")
            if k == "IDENT" or k == "TVAR":
                label = t.text
            elif k == "STRING":
                if toks[self.i + 1].kind not in _MATCH_OPS:
                    if qname is not None:
                        raise self.error("metric name must not be set twice", t.start)
                    qname = decode_string(t.text, t.start, text)
                    qspan = (t.start, t.end)
                    self.i += 1
                    last = "matcher"
                    continue
                label = decode_string(t.text, t.start, text)
            else:
                raise self.unexpected(t, "expected a label name")
            self.i += 1
            op = toks[self.i]
            if op.kind not in _MATCH_OPS:
                raise self.unexpected(op, "expected a label matching operator (=, !=, =~, !~)")
            self.i += 1
            v = toks[self.i]
            if v.kind != "STRING":
                raise self.unexpected(v, "expected a quoted label value")
            self.i += 1
            matchers.append(
                LabelMatcher(
                    label=label,
                    op=op.kind,
                    value=decode_string(v.text, v.start, text),
                    label_span=(t.start, t.end),
                    op_span=(op.start, op.end),
                    value_span=(v.start, v.end),
                    start=t.start,
                    end=v.end,
                )
            )
            last = "matcher"
        return qname, qspan, tuple(matchers), (lb.start, t.end), tuple(tspans)
