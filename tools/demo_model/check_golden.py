"""Proves minicpm3.py against the golden checkpoints: last-position logits within 5e-4, greedy_16 equal.

Usage: /usr/bin/python3 tools/demo_model/check_golden.py [/work/shared/golden]
"""
import json
import sys

import torch

from minicpm3 import greedy, load_checkpoint

TOLERANCE = 5e-4


def check_folder(folder):
    model = load_checkpoint(folder, torch.float64)
    with open(f"{folder}/cases.json") as f:
        cases = json.load(f)
    worst = 0.0
    for case in cases:
        with torch.no_grad():
            logits = model(torch.tensor([case["prompt_ids"]]))[0, -1]
        error = float((logits - torch.tensor(case["last_logits"], dtype=torch.float64)).abs().max())
        continuation, _ = greedy(model, case["prompt_ids"], len(case["greedy_16"]))
        assert error < TOLERANCE, f"{folder}: prompt length {len(case['prompt_ids'])}: max error {error}"
        assert continuation == case["greedy_16"], f"{folder}: greedy {continuation} != {case['greedy_16']}"
        worst = max(worst, error)
    print(f"{folder}: {len(cases)} cases pass, max |logit error| {worst:.2e}")


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/golden"
    for name in ("tiny-a", "tiny-c"):
        check_folder(f"{root}/{name}")


if __name__ == "__main__":
    main()
