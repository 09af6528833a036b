// AlibiAttention over a paged cache against a dense reference: the test keeps
// every sequence's q/k/v rows by position in plain arrays and computes causal
// ALiBi softmax attention from them in double, independently of the paging.
// The pools start out filled with NaN, so a read of any entry the kernel did
// not write (wrong block, wrong offset, a position past the causal limit that
// was never stored) turns the output into NaN and fails the comparison.
#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <vector>

#include "gtest/gtest.h"
#include "kernels/cpu/alibi_attention.h"
#include "kernels/cpu/paged_kv.h"
#include "test/unit/kernels/random_fill.h"

namespace bloom::cpu {
namespace {

using testing::RandomFloats;

constexpr int32_t kNumHeads = 3;
constexpr int32_t kHeadDim = 5;
constexpr int32_t kBlockSize = 4;
constexpr int32_t kNumBlocks = 9;
constexpr int32_t kMaxSequences = 3;
constexpr int32_t kMaxBlocksPerSequence = 4;
constexpr int64_t kQkvRow = kNumHeads * 3 * kHeadDim;
constexpr int64_t kContextRow = kNumHeads * kHeadDim;

// One token of a packed batch, with its fused [heads, 3, head_dim] qkv row.
struct Token {
  int32_t slot;
  int32_t position;
  std::vector<float> qkv;
};

class AlibiAttentionTest : public ::testing::Test {
 protected:
  AlibiAttentionTest()
      : keys_(static_cast<size_t>(kNumBlocks) * kNumHeads * kBlockSize * kHeadDim,
              std::numeric_limits<float>::quiet_NaN()),
        values_(keys_.size(), std::numeric_limits<float>::quiet_NaN()),
        block_tables_(kMaxSequences * kMaxBlocksPerSequence, -1) {
    // Deliberately scattered, non-monotonic physical blocks.
    SetBlocks(0, {5, 2, 7, 0});
    SetBlocks(2, {1, 8, 3});
  }

  void SetBlocks(int32_t slot, const std::vector<int32_t>& blocks) {
    for (size_t i = 0; i < blocks.size(); ++i) {
      block_tables_[slot * kMaxBlocksPerSequence + i] = blocks[i];
    }
  }

  PagedKvLayer View() {
    return PagedKvLayer{keys_.data(),  values_.data(), kNumHeads, kHeadDim, kBlockSize,
                        block_tables_.data(), kMaxBlocksPerSequence};
  }

  Token MakeToken(int32_t slot, int32_t position) {
    return Token{slot, position, RandomFloats(kQkvRow, next_seed_++, -2.0f, 2.0f)};
  }

  // Runs the kernel on `batch`, records the tokens in the dense history, and
  // checks every output row against the dense reference.
  void RunAndCheck(const std::vector<Token>& batch) {
    std::vector<float> qkv;
    std::vector<int32_t> positions, slots;
    for (const Token& token : batch) {
      qkv.insert(qkv.end(), token.qkv.begin(), token.qkv.end());
      positions.push_back(token.position);
      slots.push_back(token.slot);
      history_[token.slot][token.position] = token.qkv;
    }
    const int64_t n = static_cast<int64_t>(batch.size());
    std::vector<float> context(n * kContextRow, NAN);
    AlibiAttention(qkv.data(), positions.data(), slots.data(), n, slopes_.data(), View(),
                   context.data());

    for (int64_t t = 0; t < n; ++t) {
      const std::vector<double> expected = Reference(batch[t]);
      for (int64_t i = 0; i < kContextRow; ++i) {
        // Scores are float dot products of 5 terms of size <= 4 plus a bias
        // of <= 1 * 11; their absolute error is < 1e-5, which perturbs each
        // softmax weight by that relative amount; values are <= 2 in size,
        // so 1e-4 absolute is a safe bound on the output error.
        ASSERT_NEAR(context[t * kContextRow + i], expected[i], 1e-4)
            << "token " << t << " (slot " << batch[t].slot << ", position "
            << batch[t].position << ") element " << i;
      }
      CheckStored(batch[t]);
    }
  }

  // Dense causal ALiBi attention for one token from the history.
  std::vector<double> Reference(const Token& token) {
    const std::map<int32_t, std::vector<float>>& rows = history_[token.slot];
    std::vector<double> out(kContextRow, 0.0);
    for (int32_t h = 0; h < kNumHeads; ++h) {
      const float* q = token.qkv.data() + h * 3 * kHeadDim;
      std::vector<double> scores;
      for (int32_t j = 0; j <= token.position; ++j) {
        const float* k = rows.at(j).data() + h * 3 * kHeadDim + kHeadDim;
        double dot = 0.0;
        for (int32_t d = 0; d < kHeadDim; ++d) dot += static_cast<double>(q[d]) * k[d];
        // transformers' form: -slope * (i - j); equal up to a per-row shift.
        scores.push_back(dot / std::sqrt(static_cast<double>(kHeadDim)) -
                         slopes_[h] * static_cast<double>(token.position - j));
      }
      double max_score = -INFINITY;
      for (double s : scores) max_score = std::max(max_score, s);
      double total = 0.0;
      for (double& s : scores) total += (s = std::exp(s - max_score));
      for (int32_t j = 0; j <= token.position; ++j) {
        const float* v = rows.at(j).data() + h * 3 * kHeadDim + 2 * kHeadDim;
        for (int32_t d = 0; d < kHeadDim; ++d) out[h * kHeadDim + d] += scores[j] / total * v[d];
      }
    }
    return out;
  }

  // The token's K and V sit where the documented layout says:
  // [block, head, position in block, head_dim].
  void CheckStored(const Token& token) {
    const int32_t block =
        block_tables_[token.slot * kMaxBlocksPerSequence + token.position / kBlockSize];
    for (int32_t h = 0; h < kNumHeads; ++h) {
      const size_t base =
          ((static_cast<size_t>(block) * kNumHeads + h) * kBlockSize + token.position % kBlockSize) *
          kHeadDim;
      for (int32_t d = 0; d < kHeadDim; ++d) {
        ASSERT_EQ(keys_[base + d], token.qkv[h * 3 * kHeadDim + kHeadDim + d]);
        ASSERT_EQ(values_[base + d], token.qkv[h * 3 * kHeadDim + 2 * kHeadDim + d]);
      }
    }
  }

  std::vector<float> keys_, values_;
  std::vector<int32_t> block_tables_;
  const std::vector<float> slopes_ = {0.5f, 0.25f, 1.0f / 16};
  std::map<int32_t, std::map<int32_t, std::vector<float>>> history_;  // slot -> position -> qkv
  uint32_t next_seed_ = 100;
};

TEST_F(AlibiAttentionTest, PrefillAcrossBlocksThenDecodeThenMixedBatch) {
  // (a) Prefill of 7 tokens of slot 0: spans physical blocks 5 and 2, and
  // each token must see the earlier tokens of its own chunk.
  std::vector<Token> prefill;
  for (int32_t p = 0; p < 7; ++p) prefill.push_back(MakeToken(0, p));
  RunAndCheck(prefill);

  // (b) Decode steps of the same sequence: position 7 ends block 2, position
  // 8 starts block 7.
  RunAndCheck({MakeToken(0, 7)});
  RunAndCheck({MakeToken(0, 8)});

  // (c) A packed batch: a prompt of slot 2 (blocks 1, 8) interleaved with a
  // decode token of slot 0, in no particular order.
  RunAndCheck({MakeToken(2, 0), MakeToken(2, 1), MakeToken(0, 9), MakeToken(2, 2),
               MakeToken(2, 3), MakeToken(2, 4)});

  // A chunked-prefill continuation of slot 2 together with slot 0 decoding.
  RunAndCheck({MakeToken(0, 10), MakeToken(2, 5), MakeToken(2, 6)});
}

TEST(AlibiAttentionHandTest, BiasFavoursLaterKeysBySlope) {
  // One head, head_dim 2, slope 1, two positions with v0 = (1, 0) and
  // v1 = (0, 1). Token 1 has q = 0, so only ALiBi separates the keys:
  // weights are e^(1*0) and e^(1*1), giving (1/(1+e), e/(1+e)). Token 0
  // sees only itself: context = v0.
  std::vector<float> keys(2 * 2, NAN), values(2 * 2, NAN);
  const int32_t table[] = {0};
  const PagedKvLayer kv{keys.data(), values.data(), 1, 2, 2, table, 1};
  // Rows: q(2) k(2) v(2).
  const std::vector<float> qkv = {3.0f, -1.0f, 0.5f, 0.5f, 1.0f, 0.0f,   // position 0
                                  0.0f, 0.0f,  2.0f, 7.0f, 0.0f, 1.0f};  // position 1
  const int32_t positions[] = {0, 1}, slots[] = {0, 0};
  const float slopes[] = {1.0f};
  std::vector<float> context(4, NAN);
  AlibiAttention(qkv.data(), positions, slots, 2, slopes, kv, context.data());
  const double e = std::exp(1.0);
  EXPECT_FLOAT_EQ(context[0], 1.0f);
  EXPECT_FLOAT_EQ(context[1], 0.0f);
  EXPECT_FLOAT_EQ(context[2], static_cast<float>(1.0 / (1.0 + e)));
  EXPECT_FLOAT_EQ(context[3], static_cast<float>(e / (1.0 + e)));
}

}  // namespace
}  // namespace bloom::cpu
