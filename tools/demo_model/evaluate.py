"""Greedy accuracy on the held-out problems with the GSM8K few-shot protocol (/work/shared/docs/gsm8k-protocol.md).

Shots = the first k records of the test file; query i = shots + "Question: " + q_i + "\nAnswer:"; greedy, stop
strings "Question", "Assistant:", "<|separator|>" (and the EOS ids); score = last run of digits after removing
commas. The shot block's keys/values are computed once and shared by every query.

Usage: /usr/bin/python3 evaluate.py --model-dir ../../models/demo [--checkpoint /tmp/demo_run/last.pt]
"""
import argparse
import os
import re
import time

import torch

from data import read_jsonl
from hf_tokenizer import HFTokenizer
from minicpm3 import Config, MiniCPM3, load_checkpoint
from per_kind import format_per_kind, per_kind

STOP_STRINGS = ["Question", "Assistant:", "<|separator|>"]


def extract_number(text):
    runs = re.findall(r"[0-9]+", text.replace(",", ""))
    return int(runs[-1]) if runs else None


def load_model(args):
    if not args.checkpoint:
        return load_checkpoint(args.model_dir, torch.float32)
    config_dir = os.path.dirname(args.checkpoint)
    model = MiniCPM3(Config.load(os.path.join(config_dir, "config.json"))).float()
    model.load_state_dict(torch.load(args.checkpoint)["model"])
    return model.eval()


@torch.no_grad()
def complete(model, tokenizer, prefix_caches, prompt_ids, prefix_len, max_new_tokens, eos_ids):
    """Greedy completion of prompt_ids, whose first prefix_len tokens are already in prefix_caches."""
    caches = [c.copy() for c in prefix_caches]
    logits = model(torch.tensor([prompt_ids[prefix_len:]]), caches)[0, -1]
    generated = []
    for _ in range(max_new_tokens):
        token = int(logits.argmax())
        if token in eos_ids:
            break
        generated.append(token)
        text = tokenizer.decode(generated)
        stops = [text.index(s) for s in STOP_STRINGS if s in text]
        if stops:
            return text[:min(stops)], len(generated)
        logits = model(torch.tensor([[token]]), caches)[0, -1]
    return tokenizer.decode(generated), len(generated)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model-dir", required=True, help="tokenizer.json, eval/test.jsonl (and weights)")
    parser.add_argument("--checkpoint", help="a train.py checkpoint to use instead of the folder's weights")
    parser.add_argument("--num-shots", type=int, default=5)
    parser.add_argument("--num-questions", type=int, default=None, help="default: the whole file")
    parser.add_argument("--skip-shots", action="store_true")
    parser.add_argument("--max-new-tokens", type=int, default=512)
    parser.add_argument("--show", type=int, default=3, help="print this many completions")
    args = parser.parse_args()
    torch.set_num_threads(2)

    tokenizer = HFTokenizer(os.path.join(args.model_dir, "tokenizer.json"))
    records = read_jsonl(os.path.join(args.model_dir, "eval", "test.jsonl"))
    model = load_model(args)
    eos_ids = {tokenizer.added["</s>"], tokenizer.added["<|im_end|>"]}
    shots = "".join("Question: " + r["question"] + "\nAnswer: " + r["answer"] + "\n\n"
                    for r in records[:args.num_shots])
    first = args.num_shots if args.skip_shots else 0
    count = args.num_questions or len(records) - first
    queries = records[first:first + count]

    prefix_ids = tokenizer.encode(shots)
    prefix_caches = model.new_caches()
    with torch.no_grad():
        model(torch.tensor([prefix_ids]), prefix_caches)
    started, correct, invalid, tokens = time.time(), 0, 0, 0
    correct_by_index = {}
    for i, record in enumerate(queries):
        prompt_ids = tokenizer.encode(shots + "Question: " + record["question"] + "\nAnswer:")
        assert prompt_ids[:len(prefix_ids)] == prefix_ids, "shot block does not tokenize as a prefix"
        output, n = complete(model, tokenizer, prefix_caches, prompt_ids, len(prefix_ids), args.max_new_tokens, eos_ids)
        tokens += n
        predicted, label = extract_number(output), extract_number(record["answer"])
        correct += predicted == label
        correct_by_index[first + i] = predicted == label
        invalid += predicted is None
        if i < args.show:
            print(f"--- {record['question']}\n{output!r} -> {predicted} (label {label})")
    elapsed = time.time() - started
    print(f"accuracy {correct / len(queries):.4f} ({correct}/{len(queries)}), invalid {invalid / len(queries):.4f}, "
          f"{elapsed:.0f}s, {tokens / elapsed:.1f} tokens/s")
    print("by kind: " + format_per_kind(per_kind(records, correct_by_index)))


if __name__ == "__main__":
    main()
