// ALiBi attention on the GPU (KV store, flash-style prefill tiles, split-K
// decode with its combine pass) against cpu::AlibiAttention, over a paged
// cache with shuffled block tables and garbage in every unwritten cache
// entry: prefill, a chunk after cached context, decode at many context
// lengths, a mixed batch, a long-context decode that uses every split, and
// many decode tokens sharing the GPU; decode with each of its two kernels.
// The cache after the step must equal the reference's exactly.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "kernels/cpu/alibi_attention.h"
#include "kernels/cuda/attention_decode.cuh"
#include "kernels/cuda/attention_prefill.cuh"
#include "kernels/cuda/kv_store.cuh"
#include "runtime/cuda/attention_work.h"
#include "test/gpu/gpu_test_util.h"

namespace bloom::gpu_test {
namespace {

struct KvRun {
  int32_t slot;
  int32_t cached;  // positions of the slot already in the cache
  int32_t count;   // tokens of this run in the batch
};

struct Scenario {
  std::string name;
  std::vector<KvRun> runs;
};

struct Shape {
  int32_t heads, head_dim, block_size;
};

class AttentionParity : public ::testing::TestWithParam<std::tuple<DType, int>> {
 protected:
  void SetUp() override { BLOOM_SKIP_WITHOUT_GPU(); }
  void Check(const Scenario& scenario, const Shape& shape, bool pad_token, int max_splits = 32,
             cuda::DecodeAttentionKernel kernel = cuda::DecodeAttentionKernel::kAuto);
  // Check with each decode kernel: kAuto (the warp-per-split kernel where
  // it applies) and the block-per-split kernel.
  void CheckBothDecodeKernels(const Scenario& scenario, const Shape& shape, bool pad_token,
                              int max_splits = 32) {
    Check(scenario, shape, pad_token, max_splits, cuda::DecodeAttentionKernel::kAuto);
    Check(scenario, shape, pad_token, max_splits, cuda::DecodeAttentionKernel::kBlockPerSplit);
  }
  std::mt19937 rng_{std::random_device{}()};
};

void AttentionParity::Check(const Scenario& scenario, const Shape& s, bool pad_token,
                            int max_splits, cuda::DecodeAttentionKernel kernel) {
  const DType d = std::get<0>(GetParam());
  const std::string what =
      scenario.name + " " + DTypeLabel(d) + " head_dim " + std::to_string(s.head_dim) +
      (kernel == cuda::DecodeAttentionKernel::kBlockPerSplit ? " (block-per-split decode)" : "");
  int32_t num_slots = 0, longest = 0;
  for (const KvRun& r : scenario.runs) {
    num_slots = std::max(num_slots, r.slot + 1);
    longest = std::max(longest, r.cached + r.count);
  }
  const int32_t blocks_per_seq = (longest + s.block_size - 1) / s.block_size;
  const int32_t num_blocks = num_slots * blocks_per_seq + 3;
  // Shuffled physical blocks, so logical order never matches memory order.
  std::vector<int32_t> pool(num_blocks);
  std::iota(pool.begin(), pool.end(), 0);
  std::shuffle(pool.begin(), pool.end(), rng_);
  std::vector<int32_t> tables(num_slots * blocks_per_seq);
  std::copy_n(pool.begin(), tables.size(), tables.begin());

  const int64_t pool_elements =
      static_cast<int64_t>(num_blocks) * s.heads * s.block_size * s.head_dim;
  // Garbage everywhere: cached positions and entries no token may read.
  std::vector<float> keys = Rounded(RandomFloats(pool_elements, rng_), d);
  std::vector<float> values = Rounded(RandomFloats(pool_elements, rng_), d);
  cpu::PagedKvLayer host_kv{keys.data(),  values.data(), s.heads,       s.head_dim,
                            s.block_size, tables.data(), blocks_per_seq};

  std::vector<int32_t> positions, slots;
  for (const KvRun& r : scenario.runs) {
    for (int32_t i = 0; i < r.count; ++i) {
      positions.push_back(r.cached + i);
      slots.push_back(r.slot);
    }
  }
  const int64_t tokens = static_cast<int64_t>(positions.size());
  const int64_t qkv_row = 3LL * s.heads * s.head_dim,
                context_row = static_cast<int64_t>(s.heads) * s.head_dim;
  std::vector<float> qkv = Rounded(RandomFloats((tokens + 1) * qkv_row, rng_, -2.0f, 2.0f), d);
  std::vector<float> slopes(s.heads);
  for (int h = 0; h < s.heads; ++h) slopes[h] = std::pow(2.0f, -8.0f * (h + 1) / s.heads);

  DeviceTensorF device_keys(d, pool_elements), device_values(d, pool_elements);
  device_keys.Set(keys);
  device_values.Set(values);
  std::vector<float> ref(tokens * context_row);
  cpu::AlibiAttention(qkv.data(), positions.data(), slots.data(), tokens, slopes.data(), host_kv,
                      ref.data());

  // A graph bucket's padding token: slot -1, must not touch the cache and
  // gets a zero row.
  int64_t gpu_tokens = tokens;
  if (pad_token) {
    positions.push_back(0);
    slots.push_back(-1);
    ref.resize((tokens + 1) * context_row, 0.0f);
    gpu_tokens = tokens + 1;
  }
  AttentionWork work = PlanAttentionWork(absl::MakeConstSpan(positions).subspan(0, tokens),
                                         absl::MakeConstSpan(slots).subspan(0, tokens),
                                         cuda::kAttentionTileQueries, static_cast<int32_t>(tokens));
  if (pad_token) work.decode_tokens.push_back(static_cast<int32_t>(tokens));

  auto upload_ints = [](const std::vector<int32_t>& v) {
    auto buffer = std::make_unique<GuardedBuffer>(std::max<size_t>(v.size(), 1) * sizeof(int32_t));
    if (!v.empty()) buffer->Upload(v.data(), v.size() * sizeof(int32_t));
    return buffer;
  };
  auto d_positions = upload_ints(positions), d_slots = upload_ints(slots),
       d_tables = upload_ints(tables), d_decode = upload_ints(work.decode_tokens);
  std::vector<int32_t> tile_ints(work.tiles.size() * 4);
  std::memcpy(tile_ints.data(), work.tiles.data(), tile_ints.size() * sizeof(int32_t));
  auto d_tiles = upload_ints(tile_ints);
  DeviceTensorF d_qkv(d, qkv.size()), d_slopes(DType::kF32, slopes.size()), context(d, ref.size());
  d_qkv.Set(qkv);
  d_slopes.Set(slopes);
  const int kSplits = max_splits;
  GuardedBuffer scratch(sizeof(float) * cuda::AttentionDecodeScratchFloats(
                                            std::max<int64_t>(work.decode_tokens.size(), 1),
                                            s.heads, s.head_dim, kSplits));

  cuda::PagedKvView kv{device_keys.data(),
                       device_values.data(),
                       d,
                       s.heads,
                       s.head_dim,
                       s.block_size,
                       static_cast<const int32_t*>(d_tables->data()),
                       blocks_per_seq};
  const auto* pos = static_cast<const int32_t*>(d_positions->data());
  const auto* slt = static_cast<const int32_t*>(d_slots->data());
  BLOOM_CUDA_OK(cuda::ClearAttentionDecodeScratch(static_cast<float*>(scratch.data()),
                                                  std::max<int64_t>(work.decode_tokens.size(), 1),
                                                  s.heads, s.head_dim, kSplits, nullptr));
  // A step of decode tokens alone lets the decode kernel store K and V (as
  // the executor does); otherwise LaunchKvStore stores every token first.
  const bool decode_stores = work.tiles.empty();
  if (!decode_stores)
    BLOOM_CUDA_OK(cuda::LaunchKvStore(d_qkv.data(), pos, slt, gpu_tokens, kv, nullptr));
  BLOOM_CUDA_OK(cuda::LaunchAttentionPrefill(
      d_qkv.data(), static_cast<const cuda::AttentionTile*>(d_tiles->data()),
      static_cast<int32_t>(work.tiles.size()), static_cast<const float*>(d_slopes.data()), kv,
      context.data(), d, nullptr));
  BLOOM_CUDA_OK(cuda::LaunchAttentionDecode(
      d_qkv.data(), static_cast<const int32_t*>(d_decode->data()),
      static_cast<int32_t>(work.decode_tokens.size()), pos, slt,
      static_cast<const float*>(d_slopes.data()), kv, kSplits, decode_stores,
      static_cast<float*>(scratch.data()), context.data(), d, nullptr, kernel));
  // fp32: __expf's approximation (a few ulp, growing with |x|) over
  // thousands of keys stays under 5e-5 of the output's norm.
  ExpectClose(context, Rounded(ref, d), Tolerance(d, 5e-5), what + ": context");
  if (!work.decode_tokens.empty()) {
    // Again into a poisoned output: the split counters must have re-armed
    // themselves, or the combine would not run (NaN rows) or run early.
    DeviceTensorF again(d, ref.size());
    BLOOM_CUDA_OK(cuda::LaunchAttentionPrefill(
        d_qkv.data(), static_cast<const cuda::AttentionTile*>(d_tiles->data()),
        static_cast<int32_t>(work.tiles.size()), static_cast<const float*>(d_slopes.data()), kv,
        again.data(), d, nullptr));
    BLOOM_CUDA_OK(cuda::LaunchAttentionDecode(
        d_qkv.data(), static_cast<const int32_t*>(d_decode->data()),
        static_cast<int32_t>(work.decode_tokens.size()), pos, slt,
        static_cast<const float*>(d_slopes.data()), kv, kSplits, decode_stores,
        static_cast<float*>(scratch.data()), again.data(), d, nullptr, kernel));
    ExpectClose(again, Rounded(ref, d), Tolerance(d, 5e-5), what + ": context, second launch");
  }
  ExpectClose(device_keys, keys, 0.0, what + ": K cache after the store");
  ExpectClose(device_values, values, 0.0, what + ": V cache after the store");
  EXPECT_TRUE(scratch.GuardsIntact()) << what << ": split-K partials overran their scratch";
}

Shape ShapeFor(int head_dim) { return Shape{head_dim == 128 ? 4 : 3, head_dim, 16}; }

TEST_P(AttentionParity, PrefillFromEmptyInSeveralTiles) {
  Check({"prefill 150 tokens", {{0, 0, 150}}}, ShapeFor(std::get<1>(GetParam())), false);
}

TEST_P(AttentionParity, ChunkAfterCachedContext) {
  Check({"chunk of 45 after 70 cached", {{0, 70, 45}}}, ShapeFor(std::get<1>(GetParam())), false);
}

TEST_P(AttentionParity, DecodeAtManyContextLengthsWithPadding) {
  CheckBothDecodeKernels({"decode", {{0, 0, 1}, {1, 16, 1}, {2, 17, 1}, {3, 300, 1}, {4, 1000, 1}}},
                         ShapeFor(std::get<1>(GetParam())), true);
}

TEST_P(AttentionParity, MixedPrefillChunksAndDecodeTokens) {
  CheckBothDecodeKernels(
      {"mixed", {{0, 0, 30}, {1, 200, 1}, {2, 5, 10}, {3, 2500, 1}, {4, 63, 65}}},
      ShapeFor(std::get<1>(GetParam())), false);
}

TEST_P(AttentionParity, LongContextDecodeUsesEverySplit) {
  CheckBothDecodeKernels({"long-context decode", {{0, 4000, 1}, {1, 2047, 1}}},
                         ShapeFor(std::get<1>(GetParam())), false);
}

TEST_P(AttentionParity, LongContextDecodeWithFewSplitsRunsManyTiles) {
  // Two splits of ~2000 keys: each split block walks many key tiles.
  CheckBothDecodeKernels(
      {"long-context decode, 2 splits", {{0, 4000, 1}, {1, 300, 1}, {2, 2047, 1}}},
      ShapeFor(std::get<1>(GetParam())), true, /*max_splits=*/2);
}

TEST_P(AttentionParity, ManyDecodeTokensShareTheGpu) {
  // Enough (token, head) pairs that the warp kernel gives each only a few
  // splits (WarpDecodeLaunchSplits), fewer than a long context wants; the
  // contexts run from 1 to 700 keys, padding included.
  Scenario many{"256 decode tokens", {}};
  for (int32_t i = 0; i < 256; ++i) many.runs.push_back({i, (i * 37) % 700, 1});
  CheckBothDecodeKernels(many, ShapeFor(std::get<1>(GetParam())), true);
}

INSTANTIATE_TEST_SUITE_P(StorageAndHeadDim, AttentionParity,
                         ::testing::Combine(::testing::Values(DType::kF32, DType::kBF16,
                                                              DType::kF16),
                                            ::testing::Values(128, 64, 40, 16)),
                         [](const auto& info) {
                           return DTypeLabel(std::get<0>(info.param)) + "_d" +
                                  std::to_string(std::get<1>(info.param));
                         });

}  // namespace
}  // namespace bloom::gpu_test
