#include "tokenizer/tokenizer.h"

#include <algorithm>

namespace cpm {

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + prefix_ids_.size() + suffix_ids_.size() + 1);
  if (add_special_tokens) ids = prefix_ids_;
  std::vector<TextPiece> pieces;
  added_.split(text, /*normalized=*/false, &pieces);
  for (const TextPiece& piece : pieces) {
    if (piece.id >= 0) {
      ids.push_back(piece.id);
    } else {
      encode_piece(piece.text, &ids);
    }
  }
  if (add_special_tokens) ids.insert(ids.end(), suffix_ids_.begin(), suffix_ids_.end());
  return ids;
}

// One piece of text between raw added tokens: normalized as a whole (so MiniCPM3's Prepend adds one
// "▁" per piece), then split on normalized added tokens; the rest goes to the model as one word each,
// there being no pre-tokenizer.
void Tokenizer::encode_piece(std::string_view text, std::vector<int32_t>* ids) const {
  const std::string normalized = normalizer_.normalize(text);
  std::vector<TextPiece> parts;
  added_.split(normalized, /*normalized=*/true, &parts);
  for (const TextPiece& part : parts) {
    if (part.id >= 0) {
      ids->push_back(part.id);
    } else {
      model_.encode(part.text, ids);
    }
  }
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  IncrementalDecoder decoder(*this, skip_special_tokens);
  std::string text;
  for (int32_t id : ids) text += decoder.feed(id);
  text += decoder.finish();
  return text;
}

int32_t Tokenizer::token_to_id(std::string_view token) const {
  if (const AddedToken* added = added_.find(token)) return added->id;
  return model_.token_to_id(token);
}

const std::string& Tokenizer::id_to_token(int32_t id) const {
  static const std::string kNone;
  return id >= 0 && id < vocab_size() ? pieces_[id] : kNone;
}

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && id < vocab_size() && special_[id];
}

bool Tokenizer::add_bos_token() const {
  return bos_id_ >= 0 && !prefix_ids_.empty() && prefix_ids_.front() == bos_id_;
}

IncrementalDecoder::IncrementalDecoder(const Tokenizer& tokenizer, bool skip_special_tokens)
    : tokenizer_(&tokenizer), skip_special_tokens_(skip_special_tokens), stream_(tokenizer.decoder_) {}

std::string IncrementalDecoder::feed(int32_t id) {
  // Ids outside the vocabulary are dropped, as Hugging Face's decode drops ids it cannot name.
  if (id < 0 || id >= tokenizer_->vocab_size() || tokenizer_->pieces_[id].empty()) return "";
  if (skip_special_tokens_ && tokenizer_->special_[id]) return "";
  return stream_.push(tokenizer_->pieces_[id]);
}

std::string IncrementalDecoder::finish() {
  return stream_.finish();
}

}  // namespace cpm
