#include "server/minicpm3_reply.h"

#include <algorithm>
#include <initializer_list>

namespace cpm {

namespace {

bool is_blank(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// The length of the longest end of `text` that is the beginning of one of `markers` (not all of it).
size_t partial_marker_length(std::string_view text, std::initializer_list<std::string_view> markers) {
  size_t longest = 0;
  for (std::string_view marker : markers) {
    if (marker.empty()) continue;
    for (size_t length = std::min(text.size(), marker.size() - 1); length > longest; --length) {
      if (text.ends_with(marker.substr(0, length))) {
        longest = length;
        break;
      }
    }
  }
  return longest;
}

}  // namespace

AssistantReply MiniCpm3ReplyParser::feed(std::string_view text, bool end_of_reply) {
  AssistantReply out;
  pending_.append(text);
  drain(end_of_reply, &out);
  return out;
}

// Shows `text` as content or thought: blanks at the start of either are dropped and blanks at its
// end held until something follows them, which trims both as the whole reply would be.
void MiniCpm3ReplyParser::emit(std::string_view text, bool reasoning, AssistantReply* out) {
  std::string& held = held_blanks_[reasoning];
  if (!shown_[reasoning]) {
    while (!text.empty() && is_blank(text.front())) text.remove_prefix(1);
    if (text.empty()) return;
  }
  size_t end = text.size();
  while (end > 0 && is_blank(text[end - 1])) --end;
  if (end == 0) {
    held.append(text);
    return;
  }
  std::string& to = reasoning ? out->reasoning : out->content;
  to.append(held).append(text.substr(0, end));
  held.assign(text.substr(end));
  shown_[reasoning] = true;
}

void MiniCpm3ReplyParser::drain(bool at_end, AssistantReply* out) {
  while (true) {
    if (mode_ == Mode::kCalls) {
      const size_t end = pending_.find(kCallEnd);
      if (end == std::string::npos && !at_end) return;  // a block is read whole
      const std::string_view block = std::string_view(pending_).substr(0, end);
      if (auto calls = parse_tool_call_block(block)) {
        for (ToolCall& call : *calls) out->tool_calls.push_back(std::move(call));
      } else {
        std::string raw(kCallStart);
        raw.append(block).append(end == std::string::npos ? "" : kCallEnd);
        emit(raw, false, out);
      }
      pending_.erase(0, end == std::string::npos ? std::string::npos : end + kCallEnd.size());
      mode_ = Mode::kContent;
      continue;
    }
    const bool thought = mode_ == Mode::kThought;
    // The markers that would end this part of the reply: only the first thought and the first call
    // block are read, later ones are content.
    std::string_view first = thought ? kThoughtEnd : (thought_seen_ ? "" : kThoughtStart);
    std::string_view second = thought || calls_seen_ ? "" : kCallStart;
    size_t at = std::string::npos;
    std::string_view found;
    for (std::string_view marker : {first, second}) {
      if (marker.empty()) continue;
      const size_t position = pending_.find(marker);
      if (position < at) at = position, found = marker;
    }
    if (at == std::string::npos) {
      size_t keep = 0;
      if (!at_end) {
        keep = partial_marker_length(pending_, {first, second});
      }
      emit(std::string_view(pending_).substr(0, pending_.size() - keep), thought, out);
      pending_.erase(0, pending_.size() - keep);
      return;
    }
    emit(std::string_view(pending_).substr(0, at), thought, out);
    pending_.erase(0, at + found.size());
    if (found == kThoughtStart) {
      mode_ = Mode::kThought;
      thought_seen_ = true;
    } else if (found == kCallStart) {
      mode_ = Mode::kCalls;
      calls_seen_ = true;
    } else {
      mode_ = Mode::kContent;  // the thought's trailing blanks are dropped with it
      held_blanks_[1].clear();
    }
  }
}

AssistantReply parse_minicpm3_reply(std::string_view text) {
  return MiniCpm3ReplyParser().feed(text, true);
}

}  // namespace cpm
