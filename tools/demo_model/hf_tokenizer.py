"""Encoder/decoder with Hugging Face `tokenizer.json` semantics for MiniCPM3-style (Llama-style) BPE.

Splits on added tokens, then per text segment: normalizer (prepend "▁", " " -> "▁"), BPE by merge rank with
byte fallback; BOS first when add_special_tokens. This is what the C++ engine and HF fast tokenizers do, so the
training data is tokenized exactly as prompts will be at serving time.
"""
import json
import re

SPACE = "\u2581"


class HFTokenizer:
    def __init__(self, tokenizer_json_path):
        with open(tokenizer_json_path) as f:
            spec = json.load(f)
        model = spec["model"]
        self.vocab = model["vocab"]
        self.merge_rank = {tuple(m.split(" ", 1)) if isinstance(m, str) else tuple(m): i
                           for i, m in enumerate(model["merges"])}
        self.added = {t["content"]: t["id"] for t in spec["added_tokens"]}
        self.id_to_token = {i: t for t, i in self.vocab.items()}
        self.id_to_token.update({i: t for t, i in self.added.items()})
        self.special_ids = {t["id"] for t in spec["added_tokens"] if t["special"]}
        self.bos_id = self.added["<s>"]
        # Longest first so that no added token hides a longer one starting with it.
        pattern = "|".join(re.escape(t) for t in sorted(self.added, key=len, reverse=True))
        self.added_pattern = re.compile(f"({pattern})")
        self.cache = {}
        # If no vocab piece has "▁" after its first character, no merge crosses the start of a "▁": BPE can then
        # run on each "▁"-started chunk separately (same result, and chunks cache well).
        self.split_at_space = not any(SPACE in piece[1:] for piece in self.vocab)

    def _bpe_chunk(self, chunk):
        """BPE of one chunk: repeatedly merge the lowest-ranked adjacent pair (leftmost on ties)."""
        symbols = list(chunk)
        while len(symbols) > 1:
            best, best_rank = -1, None
            for i in range(len(symbols) - 1):
                rank = self.merge_rank.get((symbols[i], symbols[i + 1]))
                if rank is not None and (best_rank is None or rank < best_rank):
                    best, best_rank = i, rank
            if best < 0:
                break
            symbols[best:best + 2] = [symbols[best] + symbols[best + 1]]
        ids = []
        for symbol in symbols:
            if symbol in self.vocab:
                ids.append(self.vocab[symbol])
            else:  # byte fallback: one <0xNN> piece per UTF-8 byte
                ids.extend(self.vocab[f"<0x{b:02X}>"] for b in symbol.encode("utf-8"))
        return ids

    def _encode_segment(self, text):
        normalized = SPACE + text.replace(" ", SPACE)
        chunks = re.split(f"(?={SPACE})", normalized) if self.split_at_space else [normalized]
        ids = []
        for chunk in chunks:
            if chunk:
                if chunk not in self.cache:
                    self.cache[chunk] = self._bpe_chunk(chunk)
                ids.extend(self.cache[chunk])
        return ids

    def encode(self, text, add_special_tokens=True):
        ids = [self.bos_id] if add_special_tokens else []
        for part in self.added_pattern.split(text):
            if part in self.added:
                ids.append(self.added[part])
            elif part:
                ids.extend(self._encode_segment(part))
        return ids

    def decode(self, ids, skip_special_tokens=False):
        """Replace("▁"," "), ByteFallback, Fuse, Strip(" ", 1, 0) as in the tokenizer.json decoder."""
        out, pending = [], bytearray()
        for i in ids:
            if skip_special_tokens and i in self.special_ids:
                continue
            token = self.id_to_token[i]
            if re.fullmatch(r"<0x[0-9A-F]{2}>", token):
                pending.append(int(token[3:5], 16))
                continue
            if pending:
                out.append(pending.decode("utf-8", errors="replace"))
                pending = bytearray()
            out.append(token.replace(SPACE, " "))
        if pending:
            out.append(pending.decode("utf-8", errors="replace"))
        text = "".join(out)
        return text[1:] if text.startswith(" ") else text
