"""Writes the cases the C++ tests read, from the shipped model folder.

- tokenizer_cases.json: strings with the ids hf_tokenizer.py gives (HF tokenizer.json semantics, checked against
  the MiniCPM3-4B golden cases) and the decoded text, in the format of tests/data/tokenizer/minicpm3-4b-cases.json.
- consistency_cases.json: float64 logits and greedy continuations of the shipped weights (as stored, so after any
  bf16 rounding), in the format of the golden cases.json.

Usage: /usr/bin/python3 write_cases.py --model-dir ../../models/demo --out-dir ../../tests/data/demo
"""
import argparse
import json
import os

import torch

from data import read_jsonl
from hf_tokenizer import HFTokenizer
from minicpm3 import greedy, load_checkpoint

MIN_MARGIN = 2e-3  # a f32 engine within 5e-4 cannot flip a greedy choice with a larger gap


def tokenizer_strings(records):
    problems = [r["question"] for r in records[:8]] + [r["answer"] for r in records[8:14]]
    few_shot = "".join(f"Question: {r['question']}\nAnswer: {r['answer']}\n\n" for r in records[:2])
    chat = (f"<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n{records[0]['question']}"
            f"<|im_end|>\n<|im_start|>assistant\n")
    return problems + [
        few_shot, few_shot + f"Question: {records[2]['question']}\nAnswer:", chat,
        f"<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n{records[1]['answer']}<|im_end|>",
        "", " ", "  ", "\n", "\n\n", "\t", "Hello world", " leading space", "trailing space ", "two  spaces",
        "line one\nline two", "tab\tseparated", "1234567890", "3,450 + 1,200 = 4,650", "-17 and 2.5",
        "<<3+4=7>>7", "#### 42", "$12.50", "Question:", "Answer: 7", "<s>", "</s>", "<unk>", "text <s> inside",
        "<|im_end|>", "<|im_start|>", "<|im_start|><|im_end|>", "<|im_start", "a<|im_end|>b",
        "café naïve", "Grüße aus Köln", "你好，世界", "日本語のテキスト", "emoji 🙂👍", "Ελληνικά", "русский текст",
        "mixed 数字 123 and ümlauts", "\u00a0non-breaking", "zero\u200bwidth", "▁already▁marked",
        "MiniCPM3 serves 4 requests", "ALL CAPS QUESTION?", "x" * 40,
    ]


def tokenizer_cases(tokenizer, records):
    cases = []
    for text in tokenizer_strings(records):
        no_special = tokenizer.encode(text, add_special_tokens=False)
        cases.append({"text": text, "ids_with_bos": tokenizer.encode(text), "ids_no_special": no_special,
                      "decoded": tokenizer.decode(no_special)})
    return {"tokenizer": "models/demo/tokenizer.json",
            "reference": "tools/demo_model/hf_tokenizer.py (tokenizer.json semantics, as Hugging Face fast tokenizers)",
            "cases": cases}


def consistency_prompts(tokenizer, records):
    shots = "".join(f"Question: {r['question']}\nAnswer: {r['answer']}\n\n" for r in records[:1])
    return [
        [tokenizer.bos_id],
        tokenizer.encode("Question: Tom has 12 apples."),
        tokenizer.encode(f"Question: {records[3]['question']}\nAnswer:"),
        tokenizer.encode(shots + f"Question: {records[4]['question']}\nAnswer:"),
        tokenizer.encode(f"<|im_start|>user\n{records[5]['question']}<|im_end|>\n<|im_start|>assistant\n"),
    ]


def consistency_cases(model, prompts):
    cases = []
    for ids in prompts:
        with torch.no_grad():
            logits = model(torch.tensor([ids]))[0, -1]
        continuation, margin = greedy(model, ids, 16)
        if margin < MIN_MARGIN:
            print(f"warning: prompt of {len(ids)} tokens has greedy margin {margin:.2e}")
        cases.append({"prompt_ids": ids, "last_logits": [float(f"{x:.8g}") for x in logits.tolist()],
                      "greedy_16": continuation, "min_greedy_margin": float(f"{margin:.6g}")})
        print(f"prompt {len(ids)} tokens: margin {margin:.3g}, greedy {continuation}")
    return cases


def write_json(path, value):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False, indent=1)
        f.write("\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--out-dir", required=True)
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    tokenizer = HFTokenizer(os.path.join(args.model_dir, "tokenizer.json"))
    records = read_jsonl(os.path.join(args.model_dir, "eval", "test.jsonl"))
    write_json(os.path.join(args.out_dir, "tokenizer_cases.json"), tokenizer_cases(tokenizer, records))
    if os.path.exists(os.path.join(args.model_dir, "model.safetensors")):
        model = load_checkpoint(args.model_dir, torch.float64)
        write_json(os.path.join(args.out_dir, "consistency_cases.json"),
                   consistency_cases(model, consistency_prompts(tokenizer, records)))


if __name__ == "__main__":
    main()
