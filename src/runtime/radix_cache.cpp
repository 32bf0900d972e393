#include "runtime/radix_cache.h"

#include <algorithm>
#include <queue>

namespace cpm {

namespace {
size_t common_length(const std::vector<int32_t>& edge, const std::vector<int32_t>& tokens, size_t start,
                     size_t end) {
  size_t k = 0;
  while (k < edge.size() && start + k < end && edge[k] == tokens[start + k]) ++k;
  return k;
}
}  // namespace

RadixCache::RadixCache(KvPool& pool) : pool_(pool), root_(std::make_unique<Node>()) {}

RadixCache::~RadixCache() = default;

void RadixCache::touch(Node* node) {
  ++clock_;
  for (; node != nullptr; node = node->parent) node->last_access = clock_;
}

RadixCache::Node* RadixCache::split(Node* node, size_t length) {
  Node* parent = node->parent;
  std::unique_ptr<Node> owned = std::move(parent->children[node->tokens[0]]);
  auto middle = std::make_unique<Node>();
  middle->tokens.assign(node->tokens.begin(), node->tokens.begin() + length);
  middle->slots.assign(node->slots.begin(), node->slots.begin() + length);
  middle->parent = parent;
  middle->lock_count = node->lock_count;
  middle->last_access = node->last_access;
  node->tokens.erase(node->tokens.begin(), node->tokens.begin() + length);
  node->slots.erase(node->slots.begin(), node->slots.begin() + length);
  node->parent = middle.get();
  Node* result = middle.get();
  middle->children[node->tokens[0]] = std::move(owned);
  parent->children[result->tokens[0]] = std::move(middle);
  return result;
}

RadixCache::Match RadixCache::match_prefix(const std::vector<int32_t>& tokens) {
  Match match;
  Node* node = root_.get();
  size_t i = 0;
  while (i < tokens.size()) {
    auto it = node->children.find(tokens[i]);
    if (it == node->children.end()) break;
    Node* child = it->second.get();
    const size_t k = common_length(child->tokens, tokens, i, tokens.size());
    if (k < child->tokens.size()) child = split(child, k);
    match.slots.insert(match.slots.end(), child->slots.begin(), child->slots.end());
    i += k;
    node = child;
  }
  touch(node);
  match.node = node;
  return match;
}

RadixCache::Node* RadixCache::insert(const std::vector<int32_t>& tokens, const std::vector<int32_t>& slots) {
  const size_t n = slots.size();
  Node* node = root_.get();
  size_t i = 0;
  while (i < n) {
    auto it = node->children.find(tokens[i]);
    if (it == node->children.end()) {
      auto leaf = std::make_unique<Node>();
      leaf->tokens.assign(tokens.begin() + i, tokens.begin() + n);
      leaf->slots.assign(slots.begin() + i, slots.begin() + n);
      leaf->parent = node;
      cached_tokens_ += static_cast<int64_t>(n - i);
      node = leaf.get();
      it = node->parent->children.emplace(tokens[i], std::move(leaf)).first;
      break;
    }
    Node* child = it->second.get();
    const size_t k = common_length(child->tokens, tokens, i, n);
    // Already cached: the caller's copies of these rows are duplicates unless they are the same slots.
    for (size_t j = 0; j < k; ++j) {
      if (slots[i + j] != child->slots[j]) pool_.release(&slots[i + j], 1);
    }
    if (k < child->tokens.size()) child = split(child, k);
    i += k;
    node = child;
  }
  touch(node);
  return node;
}

void RadixCache::lock(Node* node) {
  for (; node != nullptr && node != root_.get(); node = node->parent) {
    if (node->lock_count++ == 0) locked_tokens_ += static_cast<int64_t>(node->tokens.size());
  }
}

void RadixCache::unlock(Node* node) {
  for (; node != nullptr && node != root_.get(); node = node->parent) {
    if (--node->lock_count == 0) locked_tokens_ -= static_cast<int64_t>(node->tokens.size());
  }
}

void RadixCache::collect_leaves(Node* node, std::vector<Node*>* leaves) {
  if (node->children.empty() && node != root_.get()) leaves->push_back(node);
  for (auto& [token, child] : node->children) collect_leaves(child.get(), leaves);
}

void RadixCache::remove_leaf(Node* leaf) {
  pool_.release(leaf->slots);
  cached_tokens_ -= static_cast<int64_t>(leaf->slots.size());
  Node* parent = leaf->parent;
  parent->children.erase(leaf->tokens[0]);
}

int64_t RadixCache::evict(int64_t num_tokens) {
  auto older = [](const Node* a, const Node* b) { return a->last_access > b->last_access; };
  std::priority_queue<Node*, std::vector<Node*>, decltype(older)> leaves(older);
  std::vector<Node*> all;
  collect_leaves(root_.get(), &all);
  for (Node* leaf : all) {
    if (leaf->lock_count == 0) leaves.push(leaf);
  }
  int64_t freed = 0;
  while (freed < num_tokens && !leaves.empty()) {
    Node* leaf = leaves.top();
    leaves.pop();
    Node* parent = leaf->parent;
    freed += static_cast<int64_t>(leaf->slots.size());
    remove_leaf(leaf);
    if (parent != root_.get() && parent->children.empty() && parent->lock_count == 0) leaves.push(parent);
  }
  return freed;
}

void RadixCache::clear() {
  evict(cached_tokens_);
}

}  // namespace cpm
