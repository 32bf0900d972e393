"""Trains the demo SentencePiece BPE and writes MiniCPM3-style tokenizer.json / tokenizer_config.json.

spm is trained on text already normalized the way the HF normalizer does it ("▁" before each text segment,
spaces -> "▁"), with add_dummy_prefix off and identity normalization, so tokenizer.model and tokenizer.json
agree. "\n" is a user-defined piece (spm trains on lines; MiniCPM3 also has "\n" as a piece).

Usage: /usr/bin/python3 build_tokenizer.py OUT_DIR [--vocab-size 1024] [--seed 1234]
"""
import argparse
import json
import os
import subprocess
import tempfile

import sentencepiece as spm

from problems import FIRST_STAGE, Generator, chat_turns, few_shot_block

SPACE = "\u2581"
ADDED_SPECIAL = ["<|im_end|>", "<|im_start|>"]  # appended after the spm pieces, as in MiniCPM3
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def normalized_lines(text):
    """Lines spm sees for `text`: each segment between special tokens gets the HF normalizer's treatment."""
    segments = [text]
    for token in ADDED_SPECIAL:
        segments = [piece for s in segments for piece in s.split(token)]
    lines = []
    for segment in segments:
        if not segment:
            continue
        normalized = SPACE + segment.replace(" ", SPACE)
        lines.extend(line for line in normalized.split("\n") if line)
    return lines


def corpus_lines(seed, count):
    generator = Generator(seed, FIRST_STAGE)  # the shipped tokenizer was trained on the first stage's text
    lines = []
    for i in range(count):
        p = generator.problem()
        text = chat_turns(p.question, p.answer) if i % 5 == 0 else few_shot_block(p.question, p.answer)
        lines.extend(normalized_lines(text))
    lines.extend(normalized_lines("<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"))
    return lines


def train_spm(lines, vocab_size, prefix):
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as f:
        f.write("\n".join(lines) + "\n")
        corpus = f.name
    try:
        subprocess.run([
            "spm_train", f"--input={corpus}", f"--model_prefix={prefix}", "--model_type=bpe",
            f"--vocab_size={vocab_size}", "--byte_fallback=true", "--split_digits=true",
            "--add_dummy_prefix=false", "--normalization_rule_name=identity", "--remove_extra_whitespaces=false",
            "--character_coverage=1.0", "--user_defined_symbols=\n", "--input_sentence_size=1000000",
            "--shuffle_input_sentence=false", "--num_threads=1", "--minloglevel=1",
        ], check=True)
    finally:
        os.unlink(corpus)


def merges_from_spm(processor):
    """HF's SentencePieceExtractor: every split of a piece into two pieces, ordered by the piece's score."""
    vocab = {processor.id_to_piece(i): i for i in range(processor.get_piece_size())}
    scores = {processor.id_to_piece(i): processor.get_score(i) for i in range(processor.get_piece_size())}
    merges = []
    for piece, score in scores.items():
        local = [(piece[:k], piece[k:], score) for k in range(1, len(piece))
                 if piece[:k] in vocab and piece[k:] in vocab]
        local.sort(key=lambda m: (vocab[m[0]], vocab[m[1]]))
        merges.extend(local)
    merges.sort(key=lambda m: m[2], reverse=True)  # stable: ties keep the order above
    return vocab, [f"{left} {right}" for left, right, _ in merges]


def added_token(token_id, content):
    return {"id": token_id, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": False, "special": True}


def tokenizer_json(processor):
    vocab, merges = merges_from_spm(processor)
    first_added = processor.get_piece_size()
    added = [added_token(0, "<unk>"), added_token(1, "<s>"), added_token(2, "</s>")]
    added += [added_token(first_added + i, t) for i, t in enumerate(ADDED_SPECIAL)]
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": SPACE},
            {"type": "Replace", "pattern": {"String": " "}, "content": SPACE}]},
        "pre_tokenizer": None,
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                     {"SpecialToken": {"id": "<s>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": SPACE}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"},
            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True, "ignore_merges": False,
                  "vocab": vocab, "merges": merges},
    }


def tokenizer_config(first_added):
    decoder = {str(t["id"]): {k: v for k, v in t.items() if k != "id"}
               for t in [added_token(0, "<unk>"), added_token(1, "<s>"), added_token(2, "</s>")]
               + [added_token(first_added + i, t) for i, t in enumerate(ADDED_SPECIAL)]}
    return {
        "add_bos_token": True, "add_eos_token": False, "added_tokens_decoder": decoder,
        "additional_special_tokens": ADDED_SPECIAL, "bos_token": "<s>", "clean_up_tokenization_spaces": False,
        "eos_token": "<|im_end|>", "legacy": True, "model_max_length": 2048, "pad_token": None,
        "sp_model_kwargs": {}, "spaces_between_special_tokens": False, "tokenizer_class": "LlamaTokenizer",
        "unk_token": "<unk>", "use_default_system_prompt": False, "chat_template": CHAT_TEMPLATE,
    }


def write_json(path, value):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, ensure_ascii=False, indent=2)
        f.write("\n")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("out_dir")
    parser.add_argument("--vocab-size", type=int, default=1024)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--problems", type=int, default=30000)
    args = parser.parse_args()
    os.makedirs(args.out_dir, exist_ok=True)
    prefix = os.path.join(args.out_dir, "tokenizer")
    train_spm(corpus_lines(args.seed, args.problems), args.vocab_size, prefix)
    os.remove(prefix + ".vocab")
    processor = spm.SentencePieceProcessor(model_file=prefix + ".model")
    write_json(os.path.join(args.out_dir, "tokenizer.json"), tokenizer_json(processor))
    write_json(os.path.join(args.out_dir, "tokenizer_config.json"), tokenizer_config(processor.get_piece_size()))
    print(f"{processor.get_piece_size()} spm pieces + {len(ADDED_SPECIAL)} added tokens -> {args.out_dir}")


if __name__ == "__main__":
    main()
