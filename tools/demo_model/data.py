"""Training sequences and the held-out test set, all from fixed seeds.

Most sequences pack "Question: q\nAnswer: a\n\n" blocks (the GSM8K protocol's few-shot layout), so the model
sees a question with no shots (right after BOS) and with many shots before it; the rest are multi-turn ChatML
conversations so chat requests get the same worked answers, ended by <|im_end|>.
"""
import json
import random

from problems import FINAL, FINAL_QUOTED, FINAL_QUOTED_WEAK, FINAL_WEAK, FIRST_STAGE, Generator, chat_turns, few_shot_block

TEST_SEED = 2024
TEST_COUNT = 500
TEST_POOL = TEST_COUNT + 50  # FINAL problems write_test_set picks from (some are dropped, see there)
CHAT_FRACTION = 0.15
SYSTEM_TURN = "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n"


STYLES = {"first": FIRST_STAGE, "final": FINAL, "final-weak": FINAL_WEAK, "final-quoted": FINAL_QUOTED,
          "final-quoted-weak": FINAL_QUOTED_WEAK}


def test_set(style, seed=TEST_SEED, count=TEST_COUNT):
    """The held-out problems of a style: the first `count` distinct ones of the seed (FINAL's are shipped)."""
    generator, seen, records = Generator(seed, style), set(), []
    while len(records) < count:
        p = generator.problem()
        if p.question not in seen:
            seen.add(p.question)
            records.append({"question": p.question, "answer": p.answer})
    return records


def held_out_questions(style_name):
    """Questions a training run of that style must never see. The first stage, as it ran, knew only its
    own style's test set; the final stage also avoids every FINAL candidate of write_test_set."""
    questions = [r["question"] for r in test_set(FIRST_STAGE)]
    if style_name != "first":
        questions += [r["question"] for r in test_set(FINAL, count=TEST_POOL)]
    return questions


# The first stage of the shipped model's training (README.md): its data, as train.py drew it.
FIRST_STAGE_RUN = {"seed": 1, "sequences": 1100 * 4, "seq_len": 512}


def first_stage_questions(tokenizer):
    run = FIRST_STAGE_RUN
    source = SequenceSource(tokenizer, run["seq_len"], run["seed"], held_out_questions("first"), 0.0, FIRST_STAGE)
    seen = set()
    for index in range(run["sequences"]):
        source.sequence(index)
        seen.update(source.last_questions)
    return seen


def write_test_set(path, tokenizer):
    """The final-style held-out set, minus questions the first stage trained on (6 of the first 500). Its
    answers (the few-shot examples of an evaluation) are quoted ones, as the shipped model's last stage
    writes them; FINAL_QUOTED draws the same questions as FINAL."""
    seen = first_stage_questions(tokenizer)
    records = [r for r in test_set(FINAL_QUOTED, count=TEST_POOL) if r["question"] not in seen][:TEST_COUNT]
    with open(path, "w") as f:
        for record in records:
            f.write(json.dumps(record) + "\n")


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


class SequenceSource:
    """Sequence number i of a run is a pure function of (seed, i), so a resumed run sees the same data."""

    def __init__(self, tokenizer, length, seed, excluded_questions, context_weight=0.25, style=FINAL,
                 number_weight=1.0):
        self.tokenizer = tokenizer
        self.number_weight = number_weight
        self.digit_ids = {i for i, token in tokenizer.id_to_token.items() if token.isdigit()}
        self.style = style
        self.context_weight = context_weight
        self.length = length
        self.seed = seed
        self.excluded = set(excluded_questions)

    def _problems(self, generator):
        while True:
            p = generator.problem()
            if p.question not in self.excluded:  # keep the held-out set unseen
                yield p

    def sequence(self, index):
        """(ids, weights): length + 1 token ids starting with BOS, and each token's weight as a training target.

        Answers (plus the "Question" that follows "\n\n", so the model learns where to stop, and <|im_end|> in
        chats) weigh 1, except their digits, which weigh number_weight (above 1 to stress the numbers an answer
        copies from its question, the usual mistake of a trained model); every other token weighs
        context_weight: 0 in the first stage (questions as context only), 0.25 in the final one, for some
        language-model signal from the questions' words.
        The questions used are left in self.last_questions.
        """
        generator = Generator(self.seed * 1_000_003 + index, self.style)
        rng = random.Random(self.seed * 7_919 + index)
        chat = rng.random() < CHAT_FRACTION
        text = SYSTEM_TURN if chat and rng.random() < 0.5 else ""
        spans, estimate = [], 0  # character spans of the answers
        self.last_questions = []
        for p in self._problems(generator):
            self.last_questions.append(p.question)
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
        weights = [self.context_weight] * len(ids)
        for begin, end in spans:
            # Spans start and end just before a "▁", just after "\n" or at a special token: there the tokens of the
            # text before are a prefix of the tokens of the whole text.
            first, last = len(self.tokenizer.encode(text[:begin])), len(self.tokenizer.encode(text[:end]))
            assert ids[:last] == self.tokenizer.encode(text[:end])
            for k in range(first, min(last, len(ids))):
                weights[k] = self.number_weight if ids[k] in self.digit_ids else 1.0
        return ids[:self.length + 1], weights[:self.length + 1]

    def batch(self, step, batch_size):
        """(ids, weights) lists for the batch_size sequences of this step."""
        sequences = [self.sequence(step * batch_size + b) for b in range(batch_size)]
        return [ids for ids, _ in sequences], [weights for _, weights in sequences]


if __name__ == "__main__":
    import sys

    from hf_tokenizer import HFTokenizer

    # usage: data.py MODEL_DIR (writes MODEL_DIR/eval/test.jsonl with MODEL_DIR's tokenizer)
    write_test_set(f"{sys.argv[1]}/eval/test.jsonl", HFTokenizer(f"{sys.argv[1]}/tokenizer.json"))
