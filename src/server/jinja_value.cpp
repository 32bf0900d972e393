#include "server/jinja_value.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "server/jinja_text.h"

namespace cpm::jinja {

size_t ValueMap::position(std::string_view key) const {
  if (!index_.empty()) {
    auto found = index_.find(key);
    return found == index_.end() ? entries_.size() : found->second;
  }
  for (size_t i = 0; i < entries_.size(); ++i) {
    if (entries_[i].first == key) return i;
  }
  return entries_.size();
}

const Value* ValueMap::find(std::string_view key) const {
  size_t at = position(key);
  return at == entries_.size() ? nullptr : &entries_[at].second;
}

void ValueMap::set(const std::string& key, Value value) {
  size_t at = position(key);
  if (at < entries_.size()) {
    entries_[at].second = std::move(value);
    return;
  }
  entries_.emplace_back(key, std::move(value));
  if (entries_.size() == kIndexedSize) {
    for (size_t i = 0; i < entries_.size(); ++i) index_[entries_[i].first] = i;
  } else if (entries_.size() > kIndexedSize) {
    index_[key] = entries_.size() - 1;
  }
}

bool ValueMap::erase(const std::string& key) {
  size_t at = position(key);
  if (at == entries_.size()) return false;
  entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(at));
  index_.clear();
  if (entries_.size() >= kIndexedSize) {
    for (size_t i = 0; i < entries_.size(); ++i) index_[entries_[i].first] = i;
  }
  return true;
}

void ValueMap::clear() {
  // Move the entries out first: destroying them may drop the last reference to this very map.
  auto entries = std::move(entries_);
  entries_.clear();
  index_.clear();
}

Value Value::none() {
  Value value;
  value.kind_ = Kind::kNone;
  return value;
}

Value Value::boolean(bool b) {
  Value value;
  value.kind_ = Kind::kBool;
  value.data_ = b;
  return value;
}

Value Value::integer(int64_t i) {
  Value value;
  value.kind_ = Kind::kInt;
  value.data_ = i;
  return value;
}

Value Value::number(double d) {
  Value value;
  value.kind_ = Kind::kFloat;
  value.data_ = d;
  return value;
}

Value Value::string(std::string s) {
  WorkBudget::charge(WorkBudget::kStringCost + s.size());
  Value value;
  value.kind_ = Kind::kString;
  value.data_ = std::make_shared<const std::string>(std::move(s));
  return value;
}

Value Value::array(ValueList items) {
  WorkBudget::charge_items(items.size());
  Value value;
  value.kind_ = Kind::kArray;
  value.data_ = std::make_shared<const ValueList>(std::move(items));
  return value;
}

Value Value::tuple(ValueList items) {
  Value value = array(std::move(items));
  value.kind_ = Kind::kTuple;
  return value;
}

Value Value::object(ValueMap entries) {
  WorkBudget::charge_items(entries.size());
  Value value;
  value.kind_ = Kind::kObject;
  value.data_ = std::make_shared<ValueMap>(std::move(entries));
  return value;
}

Value Value::make_namespace(ValueMap entries) {
  Value value = object(std::move(entries));
  value.kind_ = Kind::kNamespace;
  return value;
}

Value Value::function(std::string name, std::function<Value(CallArgs&, Scope&)> call) {
  Value value;
  value.kind_ = Kind::kFunction;
  value.data_ = std::make_shared<const Function>(Function{std::move(name), std::move(call)});
  return value;
}

double Value::as_double() const {
  switch (kind_) {
    case Kind::kInt:
      return static_cast<double>(as_int());
    case Kind::kFloat:
      return as_float();
    case Kind::kBool:
      return as_bool() ? 1 : 0;
    default:
      fail("expected a number, got ", type_name());
  }
}

bool Value::truthy() const {
  switch (kind_) {
    case Kind::kUndefined:
    case Kind::kNone:
      return false;
    case Kind::kBool:
      return as_bool();
    case Kind::kInt:
      return as_int() != 0;
    case Kind::kFloat:
      return as_float() != 0 && !std::isnan(as_float());
    case Kind::kString:
      return !as_string().empty();
    case Kind::kArray:
    case Kind::kTuple:
      return !as_list().empty();
    case Kind::kObject:
      return !as_map().empty();
    case Kind::kNamespace:
    case Kind::kFunction:
      return true;
  }
  return false;
}

const void* Value::identity() const {
  if (is_list()) return &as_list();
  if (is_attribute_container()) return &as_map();
  if (is_function()) return &as_function();
  return nullptr;
}

const char* Value::type_name() const {
  switch (kind_) {
    case Kind::kUndefined:
      return "UndefinedValue";
    case Kind::kNone:
      return "NullValue";
    case Kind::kBool:
      return "BooleanValue";
    case Kind::kInt:
      return "IntegerValue";
    case Kind::kFloat:
      return "FloatValue";
    case Kind::kString:
      return "StringValue";
    case Kind::kArray:
      return "ArrayValue";
    case Kind::kTuple:
      return "TupleValue";
    case Kind::kObject:
      return "ObjectValue";
    case Kind::kNamespace:
      return "NamespaceValue";
    case Kind::kFunction:
      return "FunctionValue";
  }
  return "Value";
}

namespace {
thread_local WorkBudget* current_budget = nullptr;
}  // namespace

WorkBudget::WorkBudget() : previous_(current_budget) {
  current_budget = this;
}

WorkBudget::~WorkBudget() {
  current_budget = previous_;
}

void WorkBudget::charge(uint64_t units) {
  WorkBudget* budget = current_budget;
  if (budget == nullptr) return;
  budget->used_ += units;
  if (budget->used_ > kLimit) fail("the template runs too long (it used up its work budget)");
}

void check_string_size(size_t bytes) {
  if (bytes > kMaxStringBytes) fail("a string would exceed ", kMaxStringBytes >> 20, " MiB");
}

Value from_json(const nlohmann::ordered_json& json, int depth) {
  if (depth > kMaxDataDepth) fail("context data is nested deeper than ", kMaxDataDepth, " levels");
  using Type = nlohmann::ordered_json::value_t;
  switch (json.type()) {
    case Type::null:
      return Value::none();
    case Type::boolean:
      return Value::boolean(json.get<bool>());
    case Type::number_integer:
      return Value::integer(json.get<int64_t>());
    case Type::number_unsigned: {
      uint64_t u = json.get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return Value::number(double(u));
      return Value::integer(static_cast<int64_t>(u));
    }
    case Type::number_float:
      return Value::number(json.get<double>());
    case Type::string:
      check_string_size(json.get_ref<const std::string&>().size());
      return Value::string(json.get<std::string>());
    case Type::array: {
      ValueList items;
      items.reserve(json.size());
      for (const auto& item : json) items.push_back(from_json(item, depth + 1));
      return Value::array(std::move(items));
    }
    case Type::object: {
      ValueMap entries;
      for (const auto& [key, item] : json.items()) entries.set(key, from_json(item, depth + 1));
      return Value::object(std::move(entries));
    }
    case Type::binary:
      fail("binary data cannot be used in a chat template");
    case Type::discarded:
      return Value();
  }
  return Value();
}

namespace {

void append_json(std::string& out, const Value& value, const JsonOptions& options, bool undefined_as_null,
                 int depth);

void append_padding(std::string& out, const JsonOptions& options, int depth) {
  out += '\n';
  out.append(static_cast<size_t>(options.indent) * static_cast<size_t>(depth), ' ');
}

void append_json_list(std::string& out, const ValueList& items, const JsonOptions& options,
                      bool undefined_as_null, int depth) {
  const char* item_separator = options.indent ? "," : ", ";
  bool pretty = options.indent > 0 && !items.empty();
  out += '[';
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += options.has_separators ? options.item_separator : item_separator;
    if (pretty) append_padding(out, options, depth + 1);
    append_json(out, items[i], options, undefined_as_null, depth + 1);
  }
  if (pretty) append_padding(out, options, depth);
  out += ']';
}

void append_json_map(std::string& out, const ValueMap& map, const JsonOptions& options,
                     bool undefined_as_null, int depth) {
  std::vector<const std::pair<std::string, Value>*> entries;
  for (const auto& entry : map.entries()) entries.push_back(&entry);
  if (options.sort_keys) {
    WorkBudget::charge(entries.size() * 20 * WorkBudget::kComparisonCost);
    std::stable_sort(entries.begin(), entries.end(),
                     [](auto* a, auto* b) { return locale_compare(a->first, b->first) < 0; });
  }
  const char* item_separator = options.indent ? "," : ", ";
  bool pretty = options.indent > 0 && !entries.empty();
  out += '{';
  for (size_t i = 0; i < entries.size(); ++i) {
    if (i > 0) out += options.has_separators ? options.item_separator : item_separator;
    if (pretty) append_padding(out, options, depth + 1);
    out += json_quote(entries[i]->first, options.ensure_ascii);
    out += options.has_separators ? options.key_separator : ": ";
    append_json(out, entries[i]->second, options, undefined_as_null, depth + 1);
  }
  if (pretty) append_padding(out, options, depth);
  out += '}';
}

void append_json(std::string& out, const Value& value, const JsonOptions& options, bool undefined_as_null,
                 int depth) {
  if (depth > 2 * kMaxDataDepth) fail("a value is nested too deeply (or contains itself) for tojson");
  check_string_size(out.size());
  switch (value.kind()) {
    case Kind::kUndefined:
      out += undefined_as_null ? "null" : "undefined";
      return;
    case Kind::kNone:
      out += "null";
      return;
    case Kind::kBool:
      out += value.as_bool() ? "true" : "false";
      return;
    case Kind::kInt:
      out += std::to_string(value.as_int());
      return;
    case Kind::kFloat:
      out += std::isfinite(value.as_float()) ? js_number_string(value.as_float()) : "null";
      return;
    case Kind::kString:
      WorkBudget::charge_bytes(value.as_string().size());
      out += json_quote(value.as_string(), options.ensure_ascii);
      return;
    case Kind::kArray:
    case Kind::kTuple:
      return append_json_list(out, value.as_list(), options, undefined_as_null, depth);
    case Kind::kObject:
    case Kind::kNamespace:
      return append_json_map(out, value.as_map(), options, undefined_as_null, depth);
    case Kind::kFunction:
      fail("cannot convert a callable (", value.as_function().name, ") to JSON");
  }
}

}  // namespace

std::string to_json(const Value& value, const JsonOptions& options, bool undefined_as_null) {
  std::string out;
  append_json(out, value, options, undefined_as_null, 0);
  check_string_size(out.size());
  return out;
}

std::string display_string(const Value& value) {
  switch (value.kind()) {
    case Kind::kUndefined:
      return "undefined";
    case Kind::kNone:
      return "null";
    case Kind::kBool:
      return value.as_bool() ? "true" : "false";
    case Kind::kInt:
      return std::to_string(value.as_int());
    case Kind::kFloat:
      return float_display_string(value.as_float());
    case Kind::kString:
      return value.as_string();
    case Kind::kFunction:
      fail("cannot print the callable '", value.as_function().name, "' (a call without parentheses?)");
    default:
      return to_json(value, JsonOptions{}, false);
  }
}

std::string raw_string(const Value& value) {
  switch (value.kind()) {
    case Kind::kFloat:
      return js_number_string(value.as_float());
    case Kind::kArray:
    case Kind::kTuple: {
      std::string out;
      const ValueList& items = value.as_list();
      for (size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out += ',';
        out += display_string(items[i]);
      }
      return out;
    }
    case Kind::kObject:
    case Kind::kNamespace:
      return "[object Map]";
    default:
      return display_string(value);
  }
}

namespace {

bool is_reference(const Value& value) {
  return value.is_list() || value.is_attribute_container() || value.is_function();
}

// The primitive JS converts an array or map to when it is compared with a string or number.
Value to_primitive(const Value& value) {
  return Value::string(value.is_function() ? value.as_function().name : raw_string(value));
}

}  // namespace

bool loose_equals(const Value& a, const Value& b) {
  bool a_nullish = a.is_undefined() || a.is_none();
  bool b_nullish = b.is_undefined() || b.is_none();
  if (a_nullish || b_nullish) return a_nullish && b_nullish;
  if (is_reference(a) && is_reference(b)) return a.identity() == b.identity();
  if (is_reference(a)) return loose_equals(to_primitive(a), b);
  if (is_reference(b)) return loose_equals(a, to_primitive(b));
  if (a.is_string() && b.is_string()) {
    WorkBudget::charge_scan(std::min(a.as_string().size(), b.as_string().size()));
    return a.as_string() == b.as_string();
  }
  if (a.kind() == Kind::kBool && b.kind() == Kind::kBool) return a.as_bool() == b.as_bool();
  // Mixed primitives compare as numbers, as JS does: true == 1, "1" == 1, "" == 0.
  double x = 0;
  double y = 0;
  if (a.is_string()) {
    WorkBudget::charge_bytes(a.as_string().size());
    if (!js_string_to_number(a.as_string(), x)) return false;
  } else {
    x = a.as_double();
  }
  if (b.is_string()) {
    WorkBudget::charge_bytes(b.as_string().size());
    if (!js_string_to_number(b.as_string(), y)) return false;
  } else {
    y = b.as_double();
  }
  return x == y;
}

bool strict_equals(const Value& a, const Value& b) {
  if (a.is_number() && b.is_number()) return a.as_double() == b.as_double();
  if (a.kind() != b.kind()) {
    bool both_lists = a.is_list() && b.is_list();
    bool both_maps = a.is_attribute_container() && b.is_attribute_container();
    if (!both_lists && !both_maps) return false;
  }
  switch (a.kind()) {
    case Kind::kUndefined:
    case Kind::kNone:
      return true;
    case Kind::kBool:
      return a.as_bool() == b.as_bool();
    case Kind::kString:
      WorkBudget::charge_scan(std::min(a.as_string().size(), b.as_string().size()));
      return a.as_string() == b.as_string();
    default:
      return a.identity() == b.identity();
  }
}

int compare_values(const Value& a, const Value& b, bool case_sensitive) {
  auto numeric_like = [](const Value& v) { return v.is_number() || v.kind() == Kind::kBool; };
  if (a.is_none() && b.is_none()) return 0;
  if (a.is_undefined() && b.is_undefined()) return 0;
  if (a.is_none() || b.is_none() || a.is_undefined() || b.is_undefined()) {
    fail("Cannot compare ", a.type_name(), " with ", b.type_name());
  }
  if (numeric_like(a) && numeric_like(b)) {
    double x = a.as_double();
    double y = b.as_double();
    return x < y ? -1 : x > y ? 1 : 0;
  }
  if (a.kind() != b.kind()) fail("Cannot compare different types: ", a.type_name(), " and ", b.type_name());
  if (!a.is_string()) fail("Cannot compare type: ", a.type_name());
  WorkBudget::charge_bytes(a.as_string().size() + b.as_string().size());
  std::string x = case_sensitive ? a.as_string() : to_lower(a.as_string());
  std::string y = case_sensitive ? b.as_string() : to_lower(b.as_string());
  return x < y ? -1 : x > y ? 1 : 0;
}

}  // namespace cpm::jinja
