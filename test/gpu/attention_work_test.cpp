// The host-side cut of a step's batch into attention work (no GPU needed):
// runs of consecutive positions of one slot become tiles of at most the
// tile size, lone tokens go to the decode list while it has room.
#include "runtime/cuda/attention_work.h"

#include "gtest/gtest.h"

namespace bloom {
namespace {

bool operator==(const cuda::AttentionTile& a, const cuda::AttentionTile& b) {
  return a.first_token == b.first_token && a.num_queries == b.num_queries && a.slot == b.slot &&
         a.first_position == b.first_position;
}

TEST(AttentionWork, MixedBatchSplitsIntoTilesAndDecodeTokens) {
  // slot 0: prompt positions 0..4; slot 1: decode at 9; slot 2: 3..4;
  // slot 1 again at 10 (not adjacent to its previous token in the batch).
  const std::vector<int32_t> positions = {0, 1, 2, 3, 4, 9, 3, 4, 10};
  const std::vector<int32_t> slots = {0, 0, 0, 0, 0, 1, 2, 2, 1};
  AttentionWork work = PlanAttentionWork(positions, slots, /*max_tile_queries=*/2, /*decode_capacity=*/8);
  const std::vector<cuda::AttentionTile> expected = {
      {0, 2, 0, 0}, {2, 2, 0, 2}, {4, 1, 0, 4}, {6, 2, 2, 3}};
  ASSERT_EQ(work.tiles.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_TRUE(work.tiles[i] == expected[i]) << i;
  EXPECT_EQ(work.decode_tokens, (std::vector<int32_t>{5, 8}));
  EXPECT_FALSE(IsDecodeOnlyStep(positions, slots, 8));
}

TEST(AttentionWork, SamePositionInAnotherSlotStartsANewRun) {
  const std::vector<int32_t> positions = {7, 8, 8};
  const std::vector<int32_t> slots = {0, 1, 1};  // slot 1's 8 does not follow slot 0's 7
  AttentionWork work = PlanAttentionWork(positions, slots, 64, 8);
  EXPECT_EQ(work.decode_tokens, (std::vector<int32_t>{0, 1, 2}));
  EXPECT_TRUE(work.tiles.empty());
  EXPECT_TRUE(IsDecodeOnlyStep(positions, slots, 8));
}

TEST(AttentionWork, DecodeOverflowBecomesOneTokenTiles) {
  const std::vector<int32_t> positions = {5, 9, 2};
  const std::vector<int32_t> slots = {0, 1, 2};
  AttentionWork work = PlanAttentionWork(positions, slots, 64, 2);
  EXPECT_EQ(work.decode_tokens, (std::vector<int32_t>{0, 1}));
  ASSERT_EQ(work.tiles.size(), 1u);
  EXPECT_TRUE(work.tiles[0] == (cuda::AttentionTile{2, 1, 2, 2}));
  EXPECT_FALSE(IsDecodeOnlyStep(positions, slots, 2));
}

}  // namespace
}  // namespace bloom
