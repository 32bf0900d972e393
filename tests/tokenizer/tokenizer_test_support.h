// Shared helpers for the tokenizer tests: small hand-written tokenizer.json files in MiniCPM3's style,
// loaded from a TempDir, and streaming decoding with a UTF-8 check on every chunk.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "temp_dir.h"
#include "tokenizer/tokenizer.h"

namespace cpm::test {

// The MiniCPM3 pipeline (normalizer Prepend "▁" + Replace " " -> "▁", BPE with byte fallback, <s>
// template, Replace / ByteFallback / Fuse / Strip decoder) over ids 0 <unk>, 1 <s>, 2 </s>, the 256
// byte tokens, then `pieces`, then the added tokens <|im_end|> and <|im_start|>.
nlohmann::json minicpm3_style_tokenizer(const std::vector<std::string>& pieces,
                                        const std::vector<std::string>& merges);
// The id minicpm3_style_tokenizer gives pieces[i].
inline int32_t piece_id(size_t i) {
  return static_cast<int32_t>(259 + i);
}

// Loads a tokenizer from the given tokenizer.json (and tokenizer_config.json unless null).
Tokenizer load_from_json(const TempDir& dir, const nlohmann::json& tokenizer,
                         const nlohmann::json& config = nullptr);

// Decodes `ids` one at a time with IncrementalDecoder; sets *all_chunks_valid to false when some
// chunk is not valid UTF-8.
std::string decode_incrementally(const Tokenizer& tokenizer, const std::vector<int32_t>& ids,
                                 bool skip_special_tokens, bool* all_chunks_valid);

// The MiniCPM3-4B tokenizer from ../shared (loaded once); call CPM_REQUIRE_SHARED() first.
const Tokenizer& minicpm3_tokenizer();

}  // namespace cpm::test
