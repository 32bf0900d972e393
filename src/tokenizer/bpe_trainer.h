// Trains a small BPE tokenizer and writes it in MiniCPM3's tokenizer.json style, for the project's
// own test and demo checkpoints (the real MiniCPM3 tokenizer cannot ship with them).
#pragma once

#include <cstdint>
#include <string>

namespace cpm {

// Writes DIR/tokenizer.json and DIR/tokenizer_config.json with exactly `vocab_size` ids: <unk> 0,
// <s> 1, </s> 2, the byte tokens <0x00>..<0xFF> at 3..258, the corpus's most frequent characters,
// the pieces of greedy pair merges (within words, never joining digits, like SentencePiece with
// split_digits), <reserved_N> fillers if the corpus runs out of pairs, then <|im_end|> and
// <|im_start|> as the last two ids. MiniCPM3's normalizer, byte fallback, BOS template and decoder,
// add_bos_token true and a ChatML chat_template. Deterministic: the same corpus and size give the
// same bytes. Throws cpm::Error when vocab_size is under 300 or the folder cannot be written.
void write_trained_tokenizer(const std::string& dir, const std::string& corpus, int32_t vocab_size);

// Some 20 KB of simple English: short texts and arithmetic word problems with worked answers.
const std::string& default_tokenizer_corpus();

}  // namespace cpm
