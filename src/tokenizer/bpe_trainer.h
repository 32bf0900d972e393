// Trains a small BPE tokenizer and writes it in MiniCPM3's tokenizer.json style, for the project's
// own test and demo checkpoints (the real MiniCPM3 tokenizer files cannot be shipped with them).
#pragma once

#include <cstdint>
#include <string>

namespace cpm {

// Writes DIR/tokenizer.json and DIR/tokenizer_config.json with exactly `vocab_size` ids: <unk>,
// <s>, </s>, the 256 byte tokens, the corpus's characters, learned merges, then <|im_end|> and
// <|im_start|> as the last two ids. Deterministic for a given corpus and size. Throws cpm::Error
// when vocab_size is too small (under 300) or the folder cannot be written.
void write_trained_tokenizer(const std::string& dir, const std::string& corpus, int32_t vocab_size);

// A few thousand words of simple English and arithmetic word problems, built deterministically.
const std::string& default_tokenizer_corpus();

}  // namespace cpm
