// The values a chat template computes with: the JSON data of the render context plus Jinja's
// undefined, tuples, mutable namespaces and callables (macros, caller(), bound methods, globals).
// Arrays and objects are immutable and shared; only namespaces change after creation.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <variant>
#include <vector>

#include "core/error.h"

namespace cpm::jinja {

class Value;
class Scope;
using ValueList = std::vector<Value>;

// String keys in insertion order, like Python dicts and JS Maps; re-setting a key keeps its place.
class ValueMap {
 public:
  const Value* find(std::string_view key) const;
  void set(const std::string& key, Value value);
  bool erase(const std::string& key);
  void clear();
  void reserve(size_t size) { entries_.reserve(size); }
  size_t size() const { return entries_.size(); }
  bool empty() const { return entries_.empty(); }
  const std::vector<std::pair<std::string, Value>>& entries() const { return entries_; }

 private:
  // Small maps (most dicts of a conversation) are searched linearly; larger ones get a hash index.
  static constexpr size_t kIndexedSize = 12;
  size_t position(std::string_view key) const;  // entries_.size() when absent
  struct KeyHash {
    using is_transparent = void;
    size_t operator()(std::string_view key) const { return std::hash<std::string_view>{}(key); }
  };
  std::vector<std::pair<std::string, Value>> entries_;
  std::unordered_map<std::string, size_t, KeyHash, std::equal_to<>> index_;
};

struct CallArgs {
  ValueList positional;
  ValueMap keyword;

  // The argument at `position`, else the keyword argument `name`, else null.
  const Value* get(size_t position, std::string_view name) const {
    return position < positional.size() ? &positional[position] : keyword.find(name);
  }
};

// Something a template can call; `scope` is the caller's scope (macros see their caller's variables).
struct Function {
  std::string name;
  std::function<Value(CallArgs& args, Scope& scope)> call;
};

enum class Kind {
  kUndefined,
  kNone,
  kBool,
  kInt,
  kFloat,
  kString,
  kArray,
  kTuple,
  kObject,
  kNamespace,
  kFunction
};

class Value {
 public:
  Value() = default;  // undefined
  static Value none();
  static Value boolean(bool value);
  static Value integer(int64_t value);
  static Value number(double value);
  static Value string(std::string value);
  static Value array(ValueList items);
  static Value tuple(ValueList items);
  static Value object(ValueMap entries);
  static Value make_namespace(ValueMap entries);
  static Value function(std::string name, std::function<Value(CallArgs&, Scope&)> call);

  Kind kind() const { return kind_; }
  bool is_undefined() const { return kind_ == Kind::kUndefined; }
  bool is_none() const { return kind_ == Kind::kNone; }
  bool is_string() const { return kind_ == Kind::kString; }
  bool is_number() const { return kind_ == Kind::kInt || kind_ == Kind::kFloat; }
  bool is_list() const { return kind_ == Kind::kArray || kind_ == Kind::kTuple; }
  bool is_object() const { return kind_ == Kind::kObject; }
  bool is_attribute_container() const { return kind_ == Kind::kObject || kind_ == Kind::kNamespace; }
  bool is_function() const { return kind_ == Kind::kFunction; }

  bool as_bool() const { return std::get<bool>(data_); }
  int64_t as_int() const { return std::get<int64_t>(data_); }
  double as_float() const { return std::get<double>(data_); }
  double as_double() const;  // an int, float or bool as a number
  const std::string& as_string() const { return *std::get<std::shared_ptr<const std::string>>(data_); }
  const ValueList& as_list() const { return *std::get<std::shared_ptr<const ValueList>>(data_); }
  const ValueMap& as_map() const { return *std::get<std::shared_ptr<ValueMap>>(data_); }
  ValueMap& namespace_map() const { return *std::get<std::shared_ptr<ValueMap>>(data_); }
  const Function& as_function() const { return *std::get<std::shared_ptr<const Function>>(data_); }

  // Python truthiness: empty strings, lists and dicts and zero are false; namespaces are true.
  bool truthy() const;
  // The shared storage behind a list, map or function: equal for the same object.
  const void* identity() const;
  // The name @huggingface/jinja gives this kind of value in its messages ("StringValue", ...).
  const char* type_name() const;

 private:
  Kind kind_ = Kind::kUndefined;
  // Strings are shared like lists: copying a value (a variable lookup, say) never copies text.
  std::variant<std::monostate, bool, int64_t, double, std::shared_ptr<const std::string>,
               std::shared_ptr<const ValueList>, std::shared_ptr<ValueMap>, std::shared_ptr<const Function>>
      data_;
};

// Limits that keep a hostile template or context from exhausting the stack, memory or time.
inline constexpr size_t kMaxStringBytes = 16u << 20;
inline constexpr int kMaxDataDepth = 256;

// Fails when a string the template builds would pass kMaxStringBytes.
void check_string_size(size_t bytes);

// The work a render may do, in units of roughly a nanosecond or a byte allocated: statements, loop
// iterations and calls, the items and bytes of every list, dict and string created, and the items
// scanned by `in`, sorts and unique are charged (operations on long strings up front), so that no
// template runs for much more than half a second or allocates more than a few hundred MiB. The
// interpreter installs one budget for its thread while it renders; values made outside a render
// are not charged.
class WorkBudget {
 public:
  static constexpr uint64_t kLimit = 400'000'000;
  static constexpr uint64_t kStatementCost = 200;
  static constexpr uint64_t kItemCost = 10;
  static constexpr uint64_t kStringCost = 100;  // plus one per byte
  static constexpr uint64_t kComparisonCost = 100;

  WorkBudget();
  ~WorkBudget();
  WorkBudget(const WorkBudget&) = delete;
  WorkBudget& operator=(const WorkBudget&) = delete;

  // Charges the budget of the render running on this thread; fails once it is spent.
  static void charge(uint64_t units);
  static void charge_items(size_t items) { charge(items * kItemCost); }
  // Work on each character of a string, or allocating it.
  static void charge_bytes(size_t bytes) { charge(bytes); }
  // Comparing, hashing or searching bytes (memcmp-like).
  static void charge_scan(size_t bytes) { charge(bytes / 8); }

 private:
  uint64_t used_ = 0;
  WorkBudget* previous_;
};

Value from_json(const nlohmann::ordered_json& json, int depth = 0);

struct JsonOptions {
  int indent = 0;  // 0: one line
  bool ensure_ascii = false;
  bool sort_keys = false;
  bool has_separators = false;
  std::string item_separator;
  std::string key_separator;
};
// @huggingface/jinja's toJSON (its `tojson` and the way it prints lists and dicts).
std::string to_json(const Value& value, const JsonOptions& options, bool undefined_as_null);

// How a value prints in `{{ }}` and with `|string` (JS RuntimeValue.toString()).
std::string display_string(const Value& value);
// JS String() of the raw value, used by `~`, string `+` and `join`: floats lose ".0", lists join with ",".
std::string raw_string(const Value& value);

// JS `==` between the raw values (what @huggingface/jinja's == does); lists and maps by identity.
bool loose_equals(const Value& a, const Value& b);
// JS `===` between the raw values (used by `in` on lists and by `unique`).
bool strict_equals(const Value& a, const Value& b);
// Ordering for sort and dictsort: numbers (and booleans) by value, strings optionally ignoring case.
int compare_values(const Value& a, const Value& b, bool case_sensitive);

}  // namespace cpm::jinja
