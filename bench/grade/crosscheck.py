#!/usr/bin/env python3
"""Cross-check hypatia-grade against HF math-verify on (gold, candidate) pairs built
from the shared data.

    # once: a venv with math-verify (a bench tool only; Hypatia never runs Python)
    python3 -m venv bench/grade/.venv && bench/grade/.venv/bin/pip install math-verify==0.9.0
    cargo build --release -p hypatia-grade --example grade_pairs
    bench/grade/.venv/bin/python bench/grade/crosscheck.py --data ../shared/data \
        --ours target/release/examples/grade_pairs --out bench/grade/out

Pairs: each sampled MATH answer (every 5th of math_test_minus500.jsonl) against the
rewrites and near-misses of gen_cases.py plus the answer of another problem of the
same subject; CollegeMath and Gaokao answers against themselves re-wrapped and against
another problem's answer. Writes OUT/pairs.jsonl, OUT/verdicts.jsonl and
OUT/disagreements.jsonl, and prints agreement figures.
"""
import argparse
import json
import os
import random
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_cases import cases  # noqa: E402


def strip_dollars(s):
    s = s.strip()
    while s.startswith("$") and s.endswith("$") and len(s) >= 2:
        s = s[1:-1].strip()
    return s


def build_pairs(data):
    rng = random.Random(4)
    pairs = []
    math = [json.loads(l) for l in open(os.path.join(data, "math_test_minus500.jsonl"))]
    by_subject = {}
    for r in math:
        by_subject.setdefault(r["subject"], []).append(r["answer"].strip())
    for i, r in enumerate(math):
        if i % 5 != 0:
            continue
        gold = r["answer"].strip()
        for pred, eq, why in cases(gold):
            pairs.append({"src": r["unique_id"], "gold": gold, "pred": pred, "label": eq, "why": why})
        other = rng.choice(by_subject[r["subject"]])
        pairs.append({"src": r["unique_id"], "gold": gold, "pred": other, "label": None, "why": "other problem"})
    for name, field in (("college_math_test.jsonl", "answer"), ("gaokao2023en_test.jsonl", "answer")):
        rows = [json.loads(l) for l in open(os.path.join(data, name))]
        answers = [strip_dollars(str(r[field])) for r in rows]
        for i, a in enumerate(answers):
            if i % 4 != 0 or not a:
                continue
            if "$" not in a:
                # Prose answers with inner math spans cannot be wrapped in one more.
                pairs.append({"src": f"{name}:{i}", "gold": a, "pred": f"${a}$", "label": True, "why": "re-wrapped"})
            pairs.append({"src": f"{name}:{i}", "gold": a, "pred": rng.choice(answers), "label": None, "why": "other problem"})
    # The adversarial suite (crates/grade/tests/data/adversarial_cases.jsonl): messy
    # answers with hand-given verdicts. Rows whose verdict depends on the question are
    # left out: math-verify never sees the question.
    here = os.path.dirname(os.path.abspath(__file__))
    suite = os.path.join(here, "..", "..", "crates", "grade", "tests", "data", "adversarial_cases.jsonl")
    for line in open(suite, encoding="utf-8"):
        r = json.loads(line)
        if r.get("question"):
            continue
        pairs.append({"src": "adversarial", "gold": r["gold"], "pred": r["pred"], "label": r["equal"], "why": r["class"]})
    return pairs


def math_verify_verdicts(pairs):
    from math_verify import parse, verify

    out = []
    for p in pairs:
        try:
            g = parse(f"${p['gold']}$")
            c = parse(f"${p['pred']}$")
            out.append(bool(verify(g, c)))
        except Exception:
            out.append(False)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="../shared/data")
    ap.add_argument("--ours", default="target/release/examples/grade_pairs")
    ap.add_argument("--out", default="bench/grade/out")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    pairs = build_pairs(args.data)
    with open(os.path.join(args.out, "pairs.jsonl"), "w") as f:
        for p in pairs:
            f.write(json.dumps({"gold": p["gold"], "pred": p["pred"]}) + "\n")
    t = time.time()
    with open(os.path.join(args.out, "pairs.jsonl")) as f:
        res = subprocess.run([args.ours], stdin=f, capture_output=True, text=True, check=True)
    ours_s = time.time() - t
    ours = [json.loads(l)["equal"] for l in res.stdout.splitlines()]
    assert len(ours) == len(pairs), (len(ours), len(pairs))
    t = time.time()
    mv = math_verify_verdicts(pairs)
    mv_s = time.time() - t
    agree = sum(a == b for a, b in zip(ours, mv))
    labelled = [(p, o, m) for p, o, m in zip(pairs, ours, mv) if p["label"] is not None]
    ours_right = sum(o == p["label"] for p, o, _ in labelled)
    mv_right = sum(m == p["label"] for p, _, m in labelled)
    print(f"pairs: {len(pairs)}  agreement: {agree}/{len(pairs)} = {agree / len(pairs):.4f}")
    print(f"labelled pairs: {len(labelled)}  hypatia correct: {ours_right}  math-verify correct: {mv_right}")
    adv = [(p, o, m) for p, o, m in labelled if p["src"] == "adversarial"]
    if adv:
        fm = lambda i: sum(1 for p, *v in adv if v[i] and not p["label"])
        fr = lambda i: sum(1 for p, *v in adv if not v[i] and p["label"])
        print(f"adversarial rows: {len(adv)}  false matches: hypatia {fm(0)}, math-verify {fm(1)};"
              f"  false rejections: hypatia {fr(0)}, math-verify {fr(1)}")
    print(f"time: hypatia {ours_s:.2f}s (process incl. startup), math-verify {mv_s:.1f}s")
    both = {(o, m): 0 for o in (True, False) for m in (True, False)}
    for o, m in zip(ours, mv):
        both[(o, m)] += 1
    print("ours/mv: " + ", ".join(f"{o}/{m}: {n}" for (o, m), n in both.items()))
    with open(os.path.join(args.out, "verdicts.jsonl"), "w") as f, open(
        os.path.join(args.out, "disagreements.jsonl"), "w"
    ) as d:
        for p, o, m in zip(pairs, ours, mv):
            row = dict(p, hypatia=o, math_verify=m)
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            if o != m:
                d.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
