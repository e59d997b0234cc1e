"""Unified diffs that stay fast on large files.

difflib's matcher is quadratic when a file has thousands of changes among many repeated lines
(a 1.4 MB dashboard with 3,000 removed targets took 40 s). Patience diffing anchors on lines
that occur exactly once on both sides — in dashboards and rule files most lines carry an id, a
refId or an expression — and only the small gaps between anchors go to difflib.
"""

from __future__ import annotations

import difflib
from bisect import bisect_left
from collections import Counter


def _longest_increasing(pairs: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The longest chain of pairs increasing in both coordinates (pairs sorted by the first)."""
    tails: list[int] = []  # tails[k]: smallest second coordinate ending a chain of length k+1
    tail_index: list[int] = []
    previous: list[int] = [-1] * len(pairs)
    for n, (_, j) in enumerate(pairs):
        k = bisect_left(tails, j)
        if k == len(tails):
            tails.append(j)
            tail_index.append(n)
        else:
            tails[k] = j
            tail_index[k] = n
        previous[n] = tail_index[k - 1] if k else -1
    chain = []
    n = tail_index[-1] if tail_index else -1
    while n != -1:
        chain.append(pairs[n])
        n = previous[n]
    return chain[::-1]


def matching_blocks(a: list[str], b: list[str]) -> list[tuple[int, int, int]]:
    """Matching blocks in difflib's format (ending with the (len(a), len(b), 0) sentinel)."""
    matches: list[tuple[int, int]] = []
    stack = [(0, len(a), 0, len(b))]
    while stack:
        alo, ahi, blo, bhi = stack.pop()
        while alo < ahi and blo < bhi and a[alo] == b[blo]:
            matches.append((alo, blo))
            alo, blo = alo + 1, blo + 1
        while alo < ahi and blo < bhi and a[ahi - 1] == b[bhi - 1]:
            ahi, bhi = ahi - 1, bhi - 1
            matches.append((ahi, bhi))
        if alo == ahi or blo == bhi:
            continue
        count_a = Counter(a[alo:ahi])
        count_b = Counter(b[blo:bhi])
        unique_b = {b[j]: j for j in range(blo, bhi) if count_b[b[j]] == 1}
        pairs = [(i, unique_b[a[i]]) for i in range(alo, ahi) if count_a[a[i]] == 1 and a[i] in unique_b]
        anchors = _longest_increasing(pairs)
        if not anchors:
            matcher = difflib.SequenceMatcher(None, a[alo:ahi], b[blo:bhi], autojunk=False)
            for i, j, size in matcher.get_matching_blocks():
                matches.extend((alo + i + k, blo + j + k) for k in range(size))
            continue
        previous_i, previous_j = alo, blo
        for i, j in anchors:
            matches.append((i, j))
            stack.append((previous_i, i, previous_j, j))
            previous_i, previous_j = i + 1, j + 1
        stack.append((previous_i, ahi, previous_j, bhi))
    blocks: list[tuple[int, int, int]] = []
    for i, j in sorted(matches):
        if blocks and blocks[-1][0] + blocks[-1][2] == i and blocks[-1][1] + blocks[-1][2] == j:
            blocks[-1] = (blocks[-1][0], blocks[-1][1], blocks[-1][2] + 1)
        else:
            blocks.append((i, j, 1))
    blocks.append((len(a), len(b), 0))
    return blocks


class _Matcher(difflib.SequenceMatcher):
    def get_matching_blocks(self):  # type: ignore[no-untyped-def]
        if self.matching_blocks is None:
            self.matching_blocks = [difflib.Match(*m) for m in matching_blocks(self.a, self.b)]
        return self.matching_blocks


def _range(start: int, length: int) -> str:
    beginning = start + 1 if length else start
    return f"{beginning}" if length == 1 else f"{beginning},{length}"


def _lines(text: str) -> list[str]:
    # Only "\n" ends a line (str.splitlines would also split on form feeds and U+2028).
    parts = text.split("\n")
    lines = [part + "\n" for part in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def unified_diff(before: str, after: str, fromfile: str, tofile: str, context: int = 3) -> str:
    """`diff -u` of two texts; a missing final newline is marked as diff(1) does."""
    a = _lines(before)
    b = _lines(after)
    out: list[str] = []
    for group in _Matcher(None, a, b, autojunk=False).get_grouped_opcodes(context):
        if not out:
            out += [f"--- {fromfile}\n", f"+++ {tofile}\n"]
        first, last = group[0], group[-1]
        out.append(f"@@ -{_range(first[1], last[2] - first[1])} +{_range(first[3], last[4] - first[3])} @@\n")
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out += [" " + line for line in a[i1:i2]]
                continue
            out += ["-" + line for line in a[i1:i2]]
            out += ["+" + line for line in b[j1:j2]]
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in out)
