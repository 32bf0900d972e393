"""Training sequences and the held-out test set, all from fixed seeds.

Most sequences pack "Question: q\nAnswer: a\n\n" blocks (the GSM8K protocol's few-shot layout), so the model
sees a question with no shots (right after BOS) and with many shots before it; the rest are multi-turn ChatML
conversations so chat requests get the same worked answers, ended by <|im_end|>.
"""
import json
import random

from problems import Generator, chat_turns, few_shot_block

TEST_SEED = 2024
TEST_COUNT = 500
CHAT_FRACTION = 0.15
SYSTEM_TURN = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"


def write_test_set(path, seed=TEST_SEED, count=TEST_COUNT):
    generator, seen, records = Generator(seed), set(), []
    while len(records) < count:
        p = generator.problem()
        if p.question not in seen:
            seen.add(p.question)
            records.append({"question": p.question, "answer": p.answer})
    with open(path, "w") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


class SequenceSource:
    """Sequence number i of a run is a pure function of (seed, i), so a resumed run sees the same data."""

    def __init__(self, tokenizer, length, seed, excluded_questions):
        self.tokenizer = tokenizer
        self.length = length
        self.seed = seed
        self.excluded = set(excluded_questions)

    def _problems(self, generator):
        while True:
            p = generator.problem()
            if p.question not in self.excluded:  # keep the held-out set unseen
                yield p

    def sequence(self, index):
        """(ids, in_loss): length + 1 token ids starting with BOS, and per token whether it is a training target.

        Targets are the answers (plus the "Question" that follows "\n\n", so the model learns where to stop, and
        <|im_end|> in chats); question tokens are context only: predicting random names and numbers teaches nothing.
        """
        generator = Generator(self.seed * 1_000_003 + index)
        rng = random.Random(self.seed * 7_919 + index)
        chat = rng.random() < CHAT_FRACTION
        text = SYSTEM_TURN if chat and rng.random() < 0.5 else ""
        spans, estimate = [], 0  # character spans of the answers
        for p in self._problems(generator):
            if chat:
                prompt, answer = f"<|im_start|>user\n{p.question}<|im_end|>\n<|im_start|>assistant\n", p.answer + "<|im_end|>"
                block = prompt + answer + "\n"
            else:
                prompt, answer = f"Question: {p.question}\nAnswer:", f" {p.answer}\n\n"
                block = prompt + answer
            assert block == (chat_turns if chat else few_shot_block)(p.question, p.answer)
            spans.append((len(text) + len(prompt), len(text) + len(prompt) + len(answer)))
            text += block
            estimate += len(self.tokenizer.encode(block, add_special_tokens=False))
            if estimate > self.length + 8:
                break
        ids = self.tokenizer.encode(text)
        assert len(ids) > self.length
        if not chat:  # also learn to go on with the next "Question:", where the protocol's stop string cuts
            spans = [(begin, end + len("Question:")) for begin, end in spans[:-1]] + spans[-1:]
        in_loss = [False] * len(ids)
        for begin, end in spans:
            # Spans start and end just before a "▁", just after "\n" or at a special token: there the tokens of the
            # text before are a prefix of the tokens of the whole text.
            first, last = len(self.tokenizer.encode(text[:begin])), len(self.tokenizer.encode(text[:end]))
            assert ids[:last] == self.tokenizer.encode(text[:end])
            for k in range(first, min(last, len(ids))):
                in_loss[k] = True
        return ids[:self.length + 1], in_loss[:self.length + 1]

    def batch(self, step, batch_size):
        """(ids, in_loss) lists for the batch_size sequences of this step."""
        sequences = [self.sequence(step * batch_size + b) for b in range(batch_size)]
        return [ids for ids, _ in sequences], [in_loss for _, in_loss in sequences]


if __name__ == "__main__":
    import sys

    write_test_set(sys.argv[1])  # usage: data.py models/demo/eval/test.jsonl
