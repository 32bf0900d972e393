#include "runtime/radix_cache.h"

#include <gtest/gtest.h>

#include "model/weights.h"
#include "test_paths.h"

namespace cpm {
namespace {

class RadixCacheTest : public ::testing::Test {
 protected:
  RadixCacheTest()
      : pool_(1),
        model_(ModelWeights::load(test::test_data_dir() + "/golden/tiny-a"), ModelOptions{}, pool_),
        kv_(model_, 64, DType::kF32),
        cache_(kv_) {}

  std::vector<int32_t> take(int64_t count) {
    std::vector<int32_t> slots;
    EXPECT_TRUE(kv_.allocate(count, &slots));
    return slots;
  }

  ThreadPool pool_;
  MiniCPM3 model_;
  KvPool kv_;
  RadixCache cache_;
};

TEST_F(RadixCacheTest, MatchesLongestPrefixAndSplits) {
  const std::vector<int32_t> slots = take(5);
  cache_.insert({1, 2, 3, 4, 5}, slots);
  RadixCache::Match match = cache_.match_prefix({1, 2, 3, 9});
  EXPECT_EQ(match.slots, std::vector<int32_t>(slots.begin(), slots.begin() + 3));
  EXPECT_EQ(cache_.match_prefix({1, 2, 3, 4, 5, 6}).slots, slots);
  EXPECT_TRUE(cache_.match_prefix({7}).slots.empty());
  EXPECT_EQ(cache_.cached_tokens(), 5);
}

TEST_F(RadixCacheTest, InsertFreesDuplicateSlots) {
  cache_.insert({1, 2, 3}, take(3));
  const int64_t free_before = kv_.num_free();
  std::vector<int32_t> second = take(4);
  cache_.insert({1, 2, 3, 4}, second);
  // The three duplicated rows went back; only token 4's slot is new in the cache.
  EXPECT_EQ(kv_.num_free(), free_before - 1);
  EXPECT_EQ(cache_.cached_tokens(), 4);
}

TEST_F(RadixCacheTest, LockedEntriesSurviveEvictionAndLruGoesFirst) {
  cache_.insert({1, 2, 3}, take(3));
  cache_.insert({5, 6}, take(2));
  cache_.insert({8, 9, 10, 11}, take(4));
  RadixCache::Match locked = cache_.match_prefix({1, 2, 3});
  cache_.lock(locked.node);
  cache_.match_prefix({8, 9, 10, 11});  // now more recent than {5, 6}
  EXPECT_EQ(cache_.evictable_tokens(), 6);
  EXPECT_EQ(cache_.evict(1), 2);  // {5, 6}, least recently used
  EXPECT_TRUE(cache_.match_prefix({5, 6}).slots.empty());
  EXPECT_EQ(cache_.match_prefix({8, 9, 10, 11}).slots.size(), 4u);
  EXPECT_EQ(cache_.evict(100), 4);
  EXPECT_EQ(cache_.match_prefix({1, 2, 3}).slots.size(), 3u);
  cache_.unlock(locked.node);
  cache_.clear();
  EXPECT_EQ(cache_.cached_tokens(), 0);
  EXPECT_EQ(kv_.num_free(), kv_.capacity());
}

TEST_F(RadixCacheTest, SplitKeepsLocksConsistent) {
  cache_.insert({1, 2, 3, 4}, take(4));
  RadixCache::Match whole = cache_.match_prefix({1, 2, 3, 4});
  cache_.lock(whole.node);
  cache_.match_prefix({1, 2, 7});  // splits the locked node
  EXPECT_EQ(cache_.evict(100), 0);
  cache_.unlock(whole.node);
  EXPECT_EQ(cache_.evict(100), 4);
  EXPECT_EQ(kv_.num_free(), kv_.capacity());
}

TEST(KvPoolTest, AllocateReleaseAndRefuseWhenFull) {
  ThreadPool pool(1);
  MiniCPM3 model(ModelWeights::load(test::test_data_dir() + "/golden/tiny-c"), ModelOptions{}, pool);
  KvPool kv(model, 10, DType::kBF16);
  std::vector<int32_t> slots;
  EXPECT_TRUE(kv.allocate(7, &slots));
  EXPECT_FALSE(kv.allocate(4, &slots));
  EXPECT_EQ(slots.size(), 7u);
  kv.release(slots);
  EXPECT_EQ(kv.num_free(), 10);
  // tiny-c: 2 layers x (32 + 16) numbers x 2 bytes.
  EXPECT_EQ(kv.cache().bytes_per_token(), 2 * 48 * 2);
  EXPECT_EQ(KvPool::slots_for_budget(model, 1920, DType::kBF16), 10);
}

}  // namespace
}  // namespace cpm
