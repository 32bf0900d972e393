// A radix tree of token sequences whose KV rows are in the pool, as in sglang: a new request reuses
// the longest cached prefix of its tokens. Nodes in use are locked (reference-counted up to the
// root); unlocked leaves are evicted least recently used first when the pool runs low.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "runtime/kv_pool.h"

namespace cpm {

class RadixCache {
 public:
  struct Node;

  struct Match {
    std::vector<int32_t> slots;  // KV slots of the matched prefix
    Node* node = nullptr;        // deepest node of the match (the root when nothing matched)
  };

  explicit RadixCache(KvPool& pool);
  ~RadixCache();

  // The longest cached prefix of `tokens`. Splits a node when the match ends inside it.
  Match match_prefix(const std::vector<int32_t>& tokens);
  // Caches tokens[0, n) with their slots (n = slots.size()). Slots of a prefix that was already
  // cached are duplicates: they go back to the pool. Returns the node of the whole sequence.
  Node* insert(const std::vector<int32_t>& tokens, const std::vector<int32_t>& slots);

  // Locked nodes (and their ancestors) are never evicted.
  void lock(Node* node);
  void unlock(Node* node);

  // Frees up to `num_tokens` slots from unlocked leaves, least recently used first. Returns how many.
  int64_t evict(int64_t num_tokens);
  // Drops every unlocked entry.
  void clear();

  int64_t cached_tokens() const { return cached_tokens_; }
  int64_t evictable_tokens() const { return cached_tokens_ - locked_tokens_; }
  Node* root() { return root_.get(); }

 private:
  Node* split(Node* node, size_t length);
  void touch(Node* node);
  void collect_leaves(Node* node, std::vector<Node*>* leaves);
  void remove_leaf(Node* leaf);

  KvPool& pool_;
  std::unique_ptr<Node> root_;
  int64_t cached_tokens_ = 0;
  int64_t locked_tokens_ = 0;
  uint64_t clock_ = 0;
};

struct RadixCache::Node {
  std::vector<int32_t> tokens;  // the edge label from the parent
  std::vector<int32_t> slots;   // one per token
  Node* parent = nullptr;
  std::map<int32_t, std::unique_ptr<Node>> children;  // by first token
  int64_t lock_count = 0;
  uint64_t last_access = 0;
};

}  // namespace cpm
