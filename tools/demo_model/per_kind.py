"""Accuracy by kind of problem (one-step ×, −, +; two-step ×−, + +, + −, ×+) of a `cpmserve eval gsm8k --output`
results file on the held-out set, read from the worked answers' <<a op b=c>> annotations.

Usage: /usr/bin/python3 per_kind.py --model-dir ../../models/demo --results RESULTS.jsonl
"""
import argparse
import os
import re
from collections import defaultdict

from data import read_jsonl

KIND_ORDER = ["×", "−", "+", "×−", "+ +", "+ −", "×+"]


def kind(answer):
    """The kind of a worked answer: its operations, one-step by the one, two-step by the set of both."""
    ops = [{"*": "×", "-": "−", "+": "+"}[op] for op in re.findall(r"<<\d+([-+*])\d+=", answer)]
    if len(ops) == 1:
        return ops[0]
    names = {("×", "−"): "×−", ("+",): "+ +", ("+", "−"): "+ −", ("+", "×"): "×+"}
    return names[tuple(sorted(set(ops)))]


def per_kind(records, correct_by_index):
    """{kind: (correct, total)} over the scored indices of records."""
    counts = defaultdict(lambda: [0, 0])
    for index, correct in correct_by_index.items():
        entry = counts[kind(records[index]["answer"])]
        entry[0] += bool(correct)
        entry[1] += 1
    return {k: tuple(counts[k]) for k in KIND_ORDER if k in counts}


def format_per_kind(table):
    return ", ".join(f"{k} {c / n:.0%} ({c}/{n})" for k, (c, n) in table.items())


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--results", required=True, help="cpmserve eval gsm8k --output file")
    args = parser.parse_args()
    records = read_jsonl(os.path.join(args.model_dir, "eval", "test.jsonl"))
    results = read_jsonl(args.results)
    table = per_kind(records, {r["index"]: r["correct"] for r in results})
    print(f"accuracy {sum(r['correct'] for r in results) / len(results):.4f} over {len(results)}")
    print("one-step: " + format_per_kind({k: v for k, v in table.items() if len(k) == 1}))
    print("two-step: " + format_per_kind({k: v for k, v in table.items() if len(k) > 1}))


if __name__ == "__main__":
    main()
