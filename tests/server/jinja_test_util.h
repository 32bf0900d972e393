// Helpers shared by the chat-template tests.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "core/error.h"
#include "server/chat_template.h"

namespace cpm::test {

inline std::string render(const std::string& source,
                          const nlohmann::ordered_json& context = nlohmann::ordered_json::object()) {
  return ChatTemplate(source).render(context);
}

// The message of the cpm::Error that parsing or rendering throws, or "" when nothing is thrown.
inline std::string render_error(const std::string& source,
                                const nlohmann::ordered_json& context = nlohmann::ordered_json::object()) {
  try {
    ChatTemplate(source).render(context);
  } catch (const Error& error) {
    return error.what();
  }
  return "";
}

}  // namespace cpm::test
