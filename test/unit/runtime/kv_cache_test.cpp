// KvCache: slot and block accounting, reuse after removal, and the errors
// for exhausted slots, an exhausted pool, max_seq_len and bad shapes. The
// expected block counts are worked out by hand from the shape in each test.
#include "runtime/exec/kv_cache.h"

#include <algorithm>
#include <cstdint>
#include <set>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace bloom {
namespace {

// 4 positions per block, 10 blocks, 3 slots, sequences of at most 20
// positions (so at most 5 blocks each).
KvCacheShape SmallShape() {
  KvCacheShape shape;
  shape.num_layers = 2;
  shape.num_heads = 3;
  shape.head_dim = 5;
  shape.block_size = 4;
  shape.num_blocks = 10;
  shape.max_sequences = 3;
  shape.max_seq_len = 20;
  return shape;
}

KvCache MakeCache(const KvCacheShape& shape = SmallShape()) {
  absl::StatusOr<KvCache> cache = KvCache::Create(shape);
  EXPECT_TRUE(cache.ok()) << cache.status();
  return *std::move(cache);
}

// The block ids in a slot's table, in logical order, up to the first -1.
std::vector<int32_t> BlocksOf(KvCache& cache, int32_t slot) {
  const cpu::PagedKvLayer view = cache.Layer(0);
  std::vector<int32_t> blocks;
  for (int32_t i = 0; i < view.max_blocks_per_sequence; ++i) {
    const int32_t block = view.block_tables[slot * view.max_blocks_per_sequence + i];
    if (block < 0) break;
    blocks.push_back(block);
  }
  return blocks;
}

// Every block is either free or held by exactly one slot.
void ExpectBlocksConserved(KvCache& cache) {
  std::set<int32_t> held;
  int32_t held_count = 0;
  for (int32_t slot = 0; slot < cache.shape().max_sequences; ++slot) {
    for (int32_t block : BlocksOf(cache, slot)) {
      EXPECT_GE(block, 0);
      EXPECT_LT(block, cache.shape().num_blocks);
      held.insert(block);
      ++held_count;
    }
  }
  EXPECT_EQ(static_cast<int32_t>(held.size()), held_count) << "a block is held twice";
  EXPECT_EQ(held_count + cache.FreeBlocks(), cache.shape().num_blocks);
}

TEST(KvCacheTest, CreateSizesTablesAndZeroesPools) {
  KvCache cache = MakeCache();
  EXPECT_EQ(cache.FreeBlocks(), 10);
  const cpu::PagedKvLayer layer0 = cache.Layer(0);
  const cpu::PagedKvLayer layer1 = cache.Layer(1);
  EXPECT_EQ(layer0.max_blocks_per_sequence, 5);  // ceil(20 / 4)
  EXPECT_EQ(layer0.num_heads, 3);
  EXPECT_EQ(layer0.head_dim, 5);
  EXPECT_EQ(layer0.block_size, 4);
  ASSERT_NE(layer0.keys, nullptr);
  ASSERT_NE(layer0.values, nullptr);
  EXPECT_NE(layer0.keys, layer1.keys);
  EXPECT_NE(layer0.keys, layer0.values);
  const int64_t pool = 10 * 3 * 4 * 5;
  EXPECT_TRUE(std::all_of(layer1.keys, layer1.keys + pool, [](float v) { return v == 0.0f; }));
  EXPECT_TRUE(std::all_of(layer1.values, layer1.values + pool, [](float v) { return v == 0.0f; }));
  for (int32_t i = 0; i < 3 * 5; ++i) EXPECT_EQ(layer0.block_tables[i], -1);
  EXPECT_EQ(cache.Layer(2).keys, nullptr);
  EXPECT_EQ(cache.Layer(-1).values, nullptr);
}

TEST(KvCacheTest, ReserveTakesBlocksAsPositionsCrossBlockBoundaries) {
  KvCache cache = MakeCache();
  absl::StatusOr<int32_t> slot = cache.AddSequence();
  ASSERT_TRUE(slot.ok()) << slot.status();
  EXPECT_EQ(*slot, 0);
  EXPECT_TRUE(cache.IsActive(0));
  EXPECT_EQ(cache.ReservedPositions(0), 0);
  EXPECT_TRUE(BlocksOf(cache, 0).empty());

  ASSERT_TRUE(cache.Reserve(0, 1).ok());  // 1 position: 1 block
  EXPECT_EQ(cache.FreeBlocks(), 9);
  ASSERT_TRUE(cache.Reserve(0, 4).ok());  // still fits in that block
  EXPECT_EQ(cache.FreeBlocks(), 9);
  ASSERT_TRUE(cache.Reserve(0, 5).ok());  // position 4 needs a second block
  EXPECT_EQ(cache.FreeBlocks(), 8);
  ASSERT_TRUE(cache.Reserve(0, 3).ok());  // never shrinks
  EXPECT_EQ(cache.ReservedPositions(0), 5);
  EXPECT_EQ(cache.FreeBlocks(), 8);
  ASSERT_TRUE(cache.Reserve(0, 13).ok());  // ceil(13 / 4) = 4 blocks
  EXPECT_EQ(cache.FreeBlocks(), 6);
  EXPECT_EQ(BlocksOf(cache, 0).size(), 4u);
  ExpectBlocksConserved(cache);
}

TEST(KvCacheTest, SequencesGetDistinctBlocksAndRemovalReturnsThem) {
  KvCache cache = MakeCache();
  const int32_t a = *cache.AddSequence();
  const int32_t b = *cache.AddSequence();
  EXPECT_NE(a, b);
  ASSERT_TRUE(cache.Reserve(a, 6).ok());   // 2 blocks
  ASSERT_TRUE(cache.Reserve(b, 9).ok());   // 3 blocks
  ASSERT_TRUE(cache.Reserve(a, 10).ok());  // 3 blocks, interleaved with b's
  EXPECT_EQ(cache.FreeBlocks(), 4);
  ExpectBlocksConserved(cache);

  const std::vector<int32_t> freed = BlocksOf(cache, a);
  cache.RemoveSequence(a);
  EXPECT_FALSE(cache.IsActive(a));
  EXPECT_EQ(cache.ReservedPositions(a), 0);
  EXPECT_TRUE(BlocksOf(cache, a).empty());
  EXPECT_EQ(cache.FreeBlocks(), 7);
  ExpectBlocksConserved(cache);

  // The freed slot is handed out again, empty, and reuses blocks.
  absl::StatusOr<int32_t> again = cache.AddSequence();
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, a);
  EXPECT_EQ(cache.ReservedPositions(a), 0);
  ASSERT_TRUE(cache.Reserve(a, 12).ok());  // 3 blocks: exactly the ones freed
  std::vector<int32_t> reused = BlocksOf(cache, a);
  std::vector<int32_t> expected = freed;
  std::sort(reused.begin(), reused.end());
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(reused, expected);
  ExpectBlocksConserved(cache);

  // Removing an inactive or out-of-range slot changes nothing.
  cache.RemoveSequence(2);
  cache.RemoveSequence(-1);
  cache.RemoveSequence(99);
  EXPECT_EQ(cache.FreeBlocks(), 4);
}

TEST(KvCacheTest, AllSlotsInUse) {
  KvCache cache = MakeCache();
  for (int32_t i = 0; i < 3; ++i) ASSERT_TRUE(cache.AddSequence().ok());
  absl::StatusOr<int32_t> fourth = cache.AddSequence();
  ASSERT_FALSE(fourth.ok());
  EXPECT_EQ(fourth.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(fourth.status().message().find("all 3 sequence slots are in use"),
            absl::string_view::npos)
      << fourth.status();
  cache.RemoveSequence(1);
  absl::StatusOr<int32_t> reused = cache.AddSequence();
  ASSERT_TRUE(reused.ok());
  EXPECT_EQ(*reused, 1);
}

TEST(KvCacheTest, PoolExhaustionIsAllOrNothing) {
  KvCache cache = MakeCache();
  const int32_t a = *cache.AddSequence();
  const int32_t b = *cache.AddSequence();
  ASSERT_TRUE(cache.Reserve(a, 20).ok());  // 5 blocks
  ASSERT_TRUE(cache.Reserve(b, 12).ok());  // 3 blocks, 2 left
  const absl::Status status = cache.Reserve(b, 20);  // needs 2 more: fits exactly
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(cache.FreeBlocks(), 0);

  const int32_t c = *cache.AddSequence();
  const absl::Status exhausted = cache.Reserve(c, 5);  // needs 2, 0 free
  EXPECT_EQ(exhausted.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(exhausted.message().find("needs 2 more blocks"), absl::string_view::npos)
      << exhausted;
  EXPECT_NE(exhausted.message().find("only 0 of 10 are free"), absl::string_view::npos)
      << exhausted;
  EXPECT_EQ(cache.ReservedPositions(c), 0);

  // Freed blocks serve the waiting sequence, up to the last one.
  cache.RemoveSequence(a);
  ASSERT_TRUE(cache.Reserve(c, 16).ok());  // 4 of the 5 freed
  EXPECT_EQ(cache.FreeBlocks(), 1);
  EXPECT_EQ(cache.Reserve(c, 20).code(), absl::StatusCode::kOk);  // 5th block
  EXPECT_EQ(cache.FreeBlocks(), 0);
  const int32_t d = *cache.AddSequence();
  EXPECT_EQ(d, 0);
  cache.RemoveSequence(b);  // frees 5 (a's slot 0 was handed to d)
  ASSERT_TRUE(cache.Reserve(d, 4).ok());
  EXPECT_EQ(cache.FreeBlocks(), 4);
  EXPECT_EQ(cache.Reserve(d, 20).code(), absl::StatusCode::kOk);
  const int32_t e = *cache.AddSequence();
  EXPECT_EQ(cache.Reserve(e, 1).code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(cache.FreeBlocks(), 0);
  ExpectBlocksConserved(cache);
}

TEST(KvCacheTest, PartialShortageTakesNoBlocks) {
  KvCache cache = MakeCache();
  const int32_t a = *cache.AddSequence();
  const int32_t b = *cache.AddSequence();
  ASSERT_TRUE(cache.Reserve(a, 20).ok());  // 5 blocks
  ASSERT_TRUE(cache.Reserve(b, 16).ok());  // 4 blocks, 1 left
  const int32_t c = *cache.AddSequence();
  EXPECT_EQ(cache.Reserve(c, 8).code(), absl::StatusCode::kResourceExhausted);  // needs 2
  EXPECT_EQ(cache.FreeBlocks(), 1);
  EXPECT_EQ(cache.ReservedPositions(c), 0);
  EXPECT_TRUE(BlocksOf(cache, c).empty());
}

TEST(KvCacheTest, MaxSeqLenAndBadArguments) {
  KvCache cache = MakeCache();
  const int32_t a = *cache.AddSequence();
  const absl::Status too_long = cache.Reserve(a, 21);
  EXPECT_EQ(too_long.code(), absl::StatusCode::kOutOfRange);
  EXPECT_NE(too_long.message().find("max_seq_len 20"), absl::string_view::npos) << too_long;
  EXPECT_EQ(cache.FreeBlocks(), 10);
  EXPECT_TRUE(cache.Reserve(a, 20).ok());

  EXPECT_EQ(cache.Reserve(a, -1).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cache.Reserve(1, 4).code(), absl::StatusCode::kInvalidArgument);  // not added
  EXPECT_EQ(cache.Reserve(3, 4).code(), absl::StatusCode::kInvalidArgument);  // out of range
  EXPECT_EQ(cache.Reserve(-1, 4).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(cache.IsActive(-1));
  EXPECT_FALSE(cache.IsActive(3));
  EXPECT_EQ(cache.ReservedPositions(7), 0);
}

TEST(KvCacheTest, CreateRejectsBadShapes) {
  int32_t KvCacheShape::*fields[] = {
      &KvCacheShape::num_layers, &KvCacheShape::num_heads,     &KvCacheShape::head_dim,
      &KvCacheShape::block_size, &KvCacheShape::num_blocks,    &KvCacheShape::max_sequences,
      &KvCacheShape::max_seq_len};
  for (int32_t KvCacheShape::*field : fields) {
    for (int32_t bad : {0, -3}) {
      KvCacheShape shape = SmallShape();
      shape.*field = bad;
      absl::StatusOr<KvCache> cache = KvCache::Create(shape);
      ASSERT_FALSE(cache.ok());
      EXPECT_EQ(cache.status().code(), absl::StatusCode::kInvalidArgument);
      EXPECT_NE(cache.status().message().find("must be positive"), absl::string_view::npos);
    }
  }

  // 2^31 x 2^31 x 2^31 floats per pool cannot be addressed.
  KvCacheShape huge = SmallShape();
  huge.num_blocks = huge.num_heads = huge.head_dim = 2147483647;
  absl::StatusOr<KvCache> cache = KvCache::Create(huge);
  ASSERT_FALSE(cache.ok());
  EXPECT_EQ(cache.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(cache.status().message().find("overflows"), absl::string_view::npos)
      << cache.status();
}

TEST(KvCacheTest, MovedCacheKeepsStateAndMemory) {
  KvCache cache = MakeCache();
  const int32_t a = *cache.AddSequence();
  ASSERT_TRUE(cache.Reserve(a, 7).ok());
  float* keys = cache.Layer(1).keys;
  keys[3] = 42.0f;
  KvCache moved = std::move(cache);
  EXPECT_EQ(moved.ReservedPositions(a), 7);
  EXPECT_EQ(moved.FreeBlocks(), 8);
  EXPECT_EQ(moved.Layer(1).keys, keys);
  EXPECT_EQ(moved.Layer(1).keys[3], 42.0f);
}

}  // namespace
}  // namespace bloom
