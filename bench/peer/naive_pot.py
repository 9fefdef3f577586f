"""The peer of the peer benchmark: llama-cpp-python and a naive program-of-thought loop.

This is what a competent first attempt looks like without Hypatia: load the GGUF with
llama-cpp-python, ask the model for a Python program per problem, one problem at a time,
run the program in a subprocess and take the last line it prints. It reads the problems
from a Hypatia `results.jsonl` (so both sides see exactly the same problems) and writes
one JSON line per problem: id, gold, pred, seconds, completion_tokens.

Run by bench/peer/run.sh, which installs llama-cpp-python into its own venv.
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

from llama_cpp import Llama

PROMPT = (
    "Solve the following math problem by writing a Python program. "
    "The program must print the final answer.\n\n{question}"
)


def last_python_block(text):
    blocks = re.findall(r"```(?:python|py)?\n(.*?)```", text, re.S)
    if blocks:
        return blocks[-1]
    # An unterminated block at the end of the reply.
    m = re.search(r"```(?:python|py)?\n(.*)$", text, re.S)
    return m.group(1) if m else None


NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?(?:/\d+)?")


def answer_from_output(stdout):
    """The last printed line, or the last number in it when it is a sentence
    ("The number of goats is 104"): what a careful script would take."""
    lines = [l.strip() for l in stdout.splitlines() if l.strip()]
    if not lines:
        return None
    last = lines[-1]
    if NUMBER.fullmatch(last.replace("$", "")):
        return last
    numbers = NUMBER.findall(last)
    return numbers[-1] if numbers else last


def run_program(code, timeout):
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(code)
        path = f.name
    try:
        done = subprocess.run(
            [sys.executable, path], capture_output=True, text=True, timeout=timeout
        )
        return done.stdout
    except subprocess.TimeoutExpired:
        return None
    finally:
        os.unlink(path)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--problems", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--max-tokens", type=int, default=1024)
    args = ap.parse_args()

    problems = [json.loads(l) for l in open(args.problems) if l.strip()]
    problems.sort(key=lambda r: r["id"])
    llm = Llama(
        model_path=args.model, n_ctx=4096, n_threads=args.threads, verbose=False
    )
    with open(args.out, "w") as out:
        for i, p in enumerate(problems, 1):
            start = time.monotonic()
            reply = llm.create_chat_completion(
                messages=[{"role": "user", "content": PROMPT.format(question=p["question"])}],
                max_tokens=args.max_tokens,
                temperature=0.0,
            )
            text = reply["choices"][0]["message"]["content"]
            code = last_python_block(text)
            stdout = run_program(code, 10) if code else None
            pred = answer_from_output(stdout) if stdout else None
            seconds = time.monotonic() - start
            record = {
                "id": p["id"],
                "gold": p["gold"],
                "pred": pred or "",
                "stdout": (stdout or "")[-500:],
                "seconds": seconds,
                "completion_tokens": reply["usage"]["completion_tokens"],
            }
            out.write(json.dumps(record) + "\n")
            out.flush()
            print(f"[{i}/{len(problems)}] {p['id']} pred={pred!r} {seconds:.1f}s", file=sys.stderr)


if __name__ == "__main__":
    main()
