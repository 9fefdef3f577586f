#!/usr/bin/env python3
"""Builds crates/grade/tests/data/math_answer_cases.jsonl from the `answer` fields of
../shared/data/math_test_minus500.jsonl: each sampled answer against rewritten
equivalents (equal=true) and near-misses (equal=false).

Run once from the repository root; the output is committed so that CI, which has
no guarantee of ../shared, runs the same cases:

    python3 bench/grade/gen_cases.py ../shared/data/math_test_minus500.jsonl \
        > crates/grade/tests/data/math_answer_cases.jsonl
"""
import json
import re
import sys

INT = re.compile(r"^-?\d+$")
FRAC = re.compile(r"^(-?)\\[dt]?frac\{(\d+)\}\{(\d+)\}$")
TUPLE = re.compile(r"^\((.*)\)$")


def cases(ans):
    """Yield (pred, equal, why) for one gold answer."""
    yield f"${ans}$", True, "math delimiters"
    if "\\frac" in ans:
        yield ans.replace("\\frac", "\\dfrac"), True, "dfrac"
    if "\\left" not in ans and "(" in ans and "\\" not in ans.replace("\\infty", ""):
        yield ans.replace("(", "\\left(").replace(")", "\\right)"), True, "left/right"
    if "," in ans and "\\!" not in ans:
        yield ans.replace(", ", ",").replace(",", ", "), True, "comma spacing"
    if "^\\circ" in ans:
        yield ans.replace("^\\circ", ""), True, "degrees dropped"
    m = re.fullmatch(r"\\text\{\(?([A-E])\)?\}", ans)
    if m:
        yield m.group(1), True, "choice letter"
        other = "A" if m.group(1) != "A" else "B"
        yield other, False, "other choice"
    if INT.match(ans):
        n = int(ans)
        yield f"{n}.0", True, "trailing .0"
        yield str(n + 1), False, "off by one"
        if n != 0:
            yield str(-n), False, "sign"
        if n != 0:
            yield f"{n}0", False, "times ten"
        if abs(n) >= 1000:
            s = f"{n:,}"
            yield s, True, "thousands separators"
            yield s.replace(",", ",\\!"), True, "thousands with \\!"
            digits = str(abs(n))
            yield ("-" if n < 0 else "") + digits[:1] + "," + digits[1:], len(digits[1:]) == 3, "misplaced comma"
        if "=" not in ans:
            yield f"x = {ans}", True, "x= prefix"
    m = FRAC.match(ans)
    if m:
        sign, a, b = m.group(1), int(m.group(2)), int(m.group(3))
        yield f"{sign}{a}/{b}", True, "slash fraction"
        if b != 0 and a != b and a != 0:
            yield f"{sign}\\frac{{{b}}}{{{a}}}", False, "inverted fraction"
        if b != 0:
            yield f"{sign}\\frac{{{2 * a}}}{{{2 * b}}}", True, "unreduced fraction"
            yield f"{sign}\\frac{{{a + 1}}}{{{b}}}", False, "numerator off by one"
            # Terminating decimals only, written exactly.
            d = b
            for p in (2, 5):
                while d % p == 0:
                    d //= p
            if d == 1:
                from fractions import Fraction
                from decimal import Decimal
                v = Decimal(a) / Decimal(b)
                yield f"{sign}{v.normalize():f}", True, "exact decimal"
    m = TUPLE.match(ans)
    if m and "\\" not in ans and ans.count("(") == 1:
        parts = [p.strip() for p in m.group(1).split(",")]
        if len(parts) >= 2 and len(set(parts)) == len(parts):
            yield "(" + ", ".join(reversed(parts)) + ")", False, "tuple reversed"
            yield "\\{" + ", ".join(parts) + "\\}", False, "tuple as set"
    # A single changed digit is a near-miss for purely numeric answers.
    if re.fullmatch(r"[-\d.\\{}frac ]+", ans) and re.search(r"\d", ans):
        i = max(k for k, c in enumerate(ans) if c.isdigit())
        c = ans[i]
        repl = "1" if c != "1" else "2"
        changed = ans[:i] + repl + ans[i + 1:]
        if not re.fullmatch(r"-?0*\.?0*", changed):
            yield changed, False, "last digit changed"


def main():
    path = sys.argv[1]
    rows = [json.loads(l) for l in open(path)]
    out = []
    for i, r in enumerate(rows):
        if i % 45 != 0:
            continue
        ans = r["answer"].strip()
        for pred, eq, why in cases(ans):
            out.append({"id": r["unique_id"], "gold": ans, "pred": pred, "equal": eq, "why": why})
    for o in out:
        print(json.dumps(o, ensure_ascii=False))
    print(f"{len(out)} cases from {len(rows) // 45 + 1} answers", file=sys.stderr)


if __name__ == "__main__":
    main()
