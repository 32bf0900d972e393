// Typed reads of request fields with 400 errors that name the field.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <type_traits>

#include "server/server_context.h"

namespace cpm {

template <typename T>
std::optional<T> optional_field(const nlohmann::json& body, const char* key) {
  if (!body.contains(key) || body[key].is_null()) return std::nullopt;
  const nlohmann::json& value = body[key];
  bool ok;
  const char* expected;
  if constexpr (std::is_same_v<T, bool>) {
    ok = value.is_boolean();
    expected = "a boolean";
  } else if constexpr (std::is_integral_v<T>) {
    ok = value.is_number_integer();
    expected = "an integer";
  } else if constexpr (std::is_floating_point_v<T>) {
    ok = value.is_number();
    expected = "a number";
  } else {
    ok = value.is_string();
    expected = "a string";
  }
  if (!ok)
    throw HttpError(400, std::string("'") + key + "' must be " + expected + ", got " + value.dump(),
                    "invalid_request_error", key);
  return value.get<T>();
}

}  // namespace cpm
