// The decode attention launch's split rules (host arithmetic only: needs no
// GPU, so it always runs): how many splits a plan's decode scratch holds
// (AttentionDecodeMaxSplits) and how many of them a launch gives each
// (token, head) pair (WarpDecodeLaunchSplits), against figures worked out
// by hand from the rules their headers state, at an H200's 132 SMs holding
// four 4-warp blocks of the warp kernel each (2112 resident warps).
#include "gtest/gtest.h"
#include "kernels/cuda/attention_decode.cuh"
#include "kernels/cuda/attention_decode_warp.cuh"

namespace bloom {
namespace {

constexpr int64_t kResidentWarps = 132 * 4 * 4;

TEST(DecodeSplits, APlanHoldsOneSplitPer32KeysForTheWarpKernelAnd128ForTheBlockKernel) {
  using cuda::DecodeAttentionKernel;
  // ceil(100 / 32) = 4; ceil(100 / 128) = 1.
  EXPECT_EQ(cuda::AttentionDecodeMaxSplits(100, DecodeAttentionKernel::kAuto), 4);
  EXPECT_EQ(cuda::AttentionDecodeMaxSplits(100, DecodeAttentionKernel::kBlockPerSplit), 1);
  // 2048 keys: 64 wanted, capped at 32; 16 for the block kernel.
  EXPECT_EQ(cuda::AttentionDecodeMaxSplits(2048, DecodeAttentionKernel::kAuto), 32);
  EXPECT_EQ(cuda::AttentionDecodeMaxSplits(2048, DecodeAttentionKernel::kBlockPerSplit), 16);
  EXPECT_EQ(cuda::AttentionDecodeMaxSplits(1, DecodeAttentionKernel::kAuto), 1);
  EXPECT_EQ(cuda::AttentionDecodeMaxSplits(1 << 20, DecodeAttentionKernel::kBlockPerSplit),
            cuda::kMaxDecodeSplits);
}

TEST(DecodeSplits, ALaunchStaysWithinOneWaveOfResidentWarps) {
  // BLOOM-7b1's 32 heads: batch 1 is 32 pairs, 2112 / 32 = 66 splits
  // wanted, the plan's 32 given; batch 8, 256 pairs: 8; batch 32: 2;
  // batch 64 (2048 pairs) and 128 (4096): one, whatever the plan holds.
  EXPECT_EQ(cuda::WarpDecodeLaunchSplits(1, 32, 32, kResidentWarps), 32);
  EXPECT_EQ(cuda::WarpDecodeLaunchSplits(8, 32, 32, kResidentWarps), 8);
  EXPECT_EQ(cuda::WarpDecodeLaunchSplits(32, 32, 32, kResidentWarps), 2);
  EXPECT_EQ(cuda::WarpDecodeLaunchSplits(64, 32, 32, kResidentWarps), 1);
  EXPECT_EQ(cuda::WarpDecodeLaunchSplits(128, 32, 32, kResidentWarps), 1);
  // The plan's bound wins over the wave: 16 splits held, 66 wanted.
  EXPECT_EQ(cuda::WarpDecodeLaunchSplits(1, 32, 16, kResidentWarps), 16);
  // BLOOM-176B's 112 heads at batch 1: 2112 / 112 = 18.
  EXPECT_EQ(cuda::WarpDecodeLaunchSplits(1, 112, 32, kResidentWarps), 18);
  // No tokens: one split, never zero.
  EXPECT_EQ(cuda::WarpDecodeLaunchSplits(0, 32, 32, kResidentWarps), 1);
}

}  // namespace
}  // namespace bloom
