"""Three-valued string matching over texts that may contain symbols.

``True`` means "matches whatever the unknown values are", ``False`` means
"never matches", ``None`` means "depends on a value the code does not fix".

IAM semantics implemented here (IAM User Guide, "IAM JSON policy elements:
Condition operators", https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html):

* ``*`` matches any run of characters and ``?`` exactly one, in ``StringLike``,
  ``StringNotLike`` and the ARN operators only; ``StringEquals`` compares
  literally, so a ``*`` in its value only matches a literal ``*``.
* ARN operators compare each of the six colon-separated components separately.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Optional

from . import limits
from .values import Part, Symbol, Text, make_text, parts_of, split_text

Tri = Optional[bool]


def t_and(values) -> Tri:
    result: Tri = True
    for v in values:
        if v is False:
            return False
        if v is None:
            result = None
    return result


def t_or(values) -> Tri:
    result: Tri = False
    for v in values:
        if v is True:
            return True
        if v is None:
            result = None
    return result


def t_not(v: Tri) -> Tri:
    return None if v is None else (not v)


def _tokens(parts: tuple[Part, ...], wildcards: bool, fold: bool) -> tuple:
    out = []
    for p in parts:
        if isinstance(p, Symbol):
            out.append(("sym", p.name))
            continue
        for ch in p:
            if wildcards and ch == "*":
                out.append(("star",))
            elif wildcards and ch == "?":
                out.append(("one",))
            else:
                out.append(("lit", ch.lower() if fold else ch))
    return tuple(out)


@lru_cache(maxsize=4096)
def _match_tokens(pat: tuple, val: tuple) -> Tri:
    # Iterative DP over (i, j) from the end; each cell holds the best outcome
    # over all alignments (True beats None beats False).
    n, m = len(pat), len(val)
    rank = {True: 2, None: 1, False: 0}
    best = lambda a, b: a if rank[a] >= rank[b] else b  # noqa: E731
    nxt: list = [False] * (m + 1)
    # row for i == n: pattern exhausted
    nxt[m] = True
    # below[j]: best outcome over every row under the current one (pattern suffixes) at value
    # position j. A value symbol has unknown length: it may absorb any number of pattern
    # tokens, so it can continue from any of them (and then the outcome is only "maybe").
    below: list = list(nxt)
    weaken = lambda r: None if r is not False else False  # noqa: E731
    for i in range(n - 1, -1, -1):
        limits.tick(m + 1)
        cur: list = [False] * (m + 1)
        tok = pat[i]
        for j in range(m, -1, -1):
            if tok[0] == "star":
                r = nxt[j]
                if j < m:
                    r = best(r, cur[j + 1])
                cur[j] = r
                continue
            if j == m:
                cur[j] = False
                continue
            v = val[j]
            if v[0] == "sym":
                # the symbol absorbs zero tokens (cur[j + 1]) or this and later ones (below[j + 1])
                maybe = weaken(best(cur[j + 1], best(nxt[j + 1], below[j + 1])))
                if tok[0] == "sym" and tok[1] == v[1]:
                    cur[j] = best(nxt[j + 1], maybe)
                else:
                    cur[j] = maybe
            elif tok[0] == "one":
                cur[j] = nxt[j + 1]
            elif tok[0] == "lit":
                cur[j] = nxt[j + 1] if v[1] == tok[1] else False
            else:  # a symbol in the pattern against a literal: unknown content
                cur[j] = None if _could_continue(nxt) or _could_continue(below) else False
        below = [best(x, y) for x, y in zip(below, cur)]
        nxt = cur
    return nxt[0]


def _could_continue(row: list) -> bool:
    return any(x is not False for x in row)


def match(pattern: Text, value: Text, *, wildcards: bool, ignore_case: bool = False) -> Tri:
    """Does ``value`` match ``pattern``?"""
    if isinstance(pattern, Symbol) or isinstance(value, Symbol):
        if isinstance(pattern, Symbol) and isinstance(value, Symbol) and pattern.name == value.name:
            return True
        if wildcards and isinstance(pattern, str) and pattern and set(pattern) == {"*"}:
            return True
        return None
    if isinstance(pattern, str) and isinstance(value, str):
        return _match_plain(pattern, value, wildcards, ignore_case)
    if _length(pattern) * (_length(value) + 1) > limits.MAX_MATCH_CELLS:
        return None  # too long to compare with unknown values inside: not decided (never a guess)
    p = _tokens(parts_of(pattern), wildcards, ignore_case)
    v = _tokens(parts_of(value), False, ignore_case)
    return _match_tokens(p, v)


def _length(text: Text) -> int:
    return sum(len(p) if isinstance(p, str) else 1 for p in parts_of(text))


def _fold(text: str) -> str:
    return "".join(ch.lower() for ch in text)  # per character, as _tokens does


@lru_cache(maxsize=4096)
def _match_plain(pattern: str, value: str, wildcards: bool, fold: bool) -> bool:
    """Literal texts (no unknown values): glob matching in linear time, whatever the length."""
    if fold:
        pattern, value = _fold(pattern), _fold(value)
    if not wildcards or ("*" not in pattern and "?" not in pattern):
        return pattern == value
    segments = pattern.split("*")
    if len(segments) == 1:
        return len(pattern) == len(value) and _segment_at(pattern, value, 0)
    first, last = segments[0], segments[-1]
    if len(first) + len(last) > len(value):
        return False
    if not _segment_at(first, value, 0) or not _segment_at(last, value, len(value) - len(last)):
        return False
    pos, end = len(first), len(value) - len(last)
    for seg in segments[1:-1]:
        if not seg:
            continue
        limits.tick()
        i = _segment_find(seg, value, pos, end)
        if i < 0:
            return False
        pos = i + len(seg)  # the leftmost match leaves the most room for the rest: greedy is exact here
    return True


def _segment_at(seg: str, value: str, start: int) -> bool:
    """Does ``seg`` (literals and ``?``) match ``value`` at ``start``?"""
    if "?" not in seg:
        return value.startswith(seg, start)
    if start + len(seg) > len(value):
        return False
    return all(c == "?" or c == value[start + k] for k, c in enumerate(seg))


def _segment_find(seg: str, value: str, start: int, end: int) -> int:
    """Leftmost index >= start where ``seg`` matches, ending by ``end``; -1 if none."""
    if "?" not in seg:
        return value.find(seg, start, end)
    rx = re.compile("".join("." if c == "?" else re.escape(c) for c in seg), re.DOTALL)
    m = rx.search(value, start, end)
    return m.start() if m else -1


def arn_match(pattern: Text, value: Text) -> Tri:
    """ArnLike / ArnEquals: six components, each a wildcard match."""
    if isinstance(pattern, str) and pattern == "*":
        return True
    pf = split_text(pattern, ":")
    vf = split_text(value, ":")
    if len(pf) < 6 or len(vf) < 6:
        # not an ARN: AWS compares it as a whole string
        return match(pattern, value, wildcards=True)
    pf = pf[:5] + [_rejoin(pf[5:])]
    vf = vf[:5] + [_rejoin(vf[5:])]
    return t_and(match(p, v, wildcards=True) for p, v in zip(pf, vf))


def _rejoin(fields: list[Text]) -> Text:
    parts: list[Part] = []
    for i, f in enumerate(fields):
        if i:
            parts.append(":")
        parts.extend(parts_of(f))
    return make_text(parts)


def has_wildcard(text: Text) -> bool:
    return any(isinstance(p, str) and ("*" in p or "?" in p) for p in parts_of(text))
