// Every elementwise, normalisation, gather and GEMM op of kernels/cuda
// against the CPU reference kernels (kernels/cpu) on fresh random inputs,
// for F32, BF16 and F16 storage, at odd sizes. The reference computes in
// fp32 on the values the storage dtype holds and rounds its result to the
// output dtype, as the CPU backend's precision emulation does. Attention has
// its own file (attention_parity_test.cpp).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/cpu/add.h"
#include "kernels/cpu/embedding.h"
#include "kernels/cpu/gather_rows.h"
#include "kernels/cpu/gelu.h"
#include "kernels/cpu/layer_norm.h"
#include "kernels/cpu/linear.h"
#include "kernels/cuda/add.cuh"
#include "kernels/cuda/add_layer_norm.cuh"
#include "kernels/cuda/argmax.cuh"
#include "kernels/cuda/cast.cuh"
#include "kernels/cuda/embedding.cuh"
#include "kernels/cuda/gather_rows.cuh"
#include "kernels/cuda/gelu.cuh"
#include "kernels/cuda/gemm.cuh"
#include "kernels/cuda/gemv.cuh"
#include "kernels/cuda/layer_norm.cuh"
#include "test/gpu/gpu_test_util.h"

namespace bloom::gpu_test {
namespace {

class OpParity : public ::testing::TestWithParam<DType> {
 protected:
  void SetUp() override { BLOOM_SKIP_WITHOUT_GPU(); }
  void CheckAddLayerNorm(DType d, int64_t rows, int64_t cols);
  std::mt19937 rng_{std::random_device{}()};
};

TEST_P(OpParity, EmbeddingGatherIncludingAVocabShard) {
  const DType d = GetParam();
  const int64_t rows = 400, hidden = 67, vocab_begin = 300, tokens = 13;
  std::vector<float> table = Rounded(RandomFloats(rows * hidden, rng_), d);
  std::vector<int32_t> ids(tokens);
  std::uniform_int_distribution<int32_t> id(0, 999);
  for (int32_t& v : ids) v = id(rng_);
  ids[0] = vocab_begin;             // first row of the shard
  ids[1] = vocab_begin + rows - 1;  // last row
  ids[2] = vocab_begin - 1;         // just outside: a zero row
  // Reference: rows inside the shard copied, others zero.
  std::vector<float> ref(tokens * hidden, 0.0f);
  for (int64_t t = 0; t < tokens; ++t) {
    const int64_t r = ids[t] - vocab_begin;
    if (r >= 0 && r < rows) std::copy_n(&table[r * hidden], hidden, &ref[t * hidden]);
  }
  DeviceTensorF device_table(d, table.size()), out(d, ref.size());
  device_table.Set(table);
  GuardedBuffer device_ids(ids.size() * sizeof(int32_t));
  device_ids.Upload(ids.data(), ids.size() * sizeof(int32_t));
  BLOOM_CUDA_OK(cuda::LaunchEmbeddingGather(static_cast<const int32_t*>(device_ids.data()), tokens,
                                            device_table.data(), d, rows, vocab_begin, hidden,
                                            out.data(), d, nullptr));
  ExpectClose(out, ref, 0.0, "embedding gather (a copy: exact)");

  // Whole table, the CPU kernel as reference.
  for (int32_t& v : ids) v = std::uniform_int_distribution<int32_t>(0, rows - 1)(rng_);
  device_ids.Upload(ids.data(), ids.size() * sizeof(int32_t));
  cpu::EmbeddingGather(ids.data(), tokens, table.data(), rows, hidden, ref.data());
  BLOOM_CUDA_OK(cuda::LaunchEmbeddingGather(static_cast<const int32_t*>(device_ids.data()), tokens,
                                            device_table.data(), d, rows, 0, hidden, out.data(), d,
                                            nullptr));
  ExpectClose(out, ref, 0.0, "embedding gather vs cpu::EmbeddingGather");
}

TEST_P(OpParity, LayerNormOddAndModelWidths) {
  const DType d = GetParam();
  for (auto [rows, cols] : {std::pair<int64_t, int64_t>{7, 1000}, {3, 4096}, {1, 14336}, {5, 33}}) {
    // An offset mean, so a one-pass variance would lose digits.
    std::vector<float> x = RandomFloats(rows * cols, rng_, 2.0f, 4.0f);
    x = Rounded(x, d);
    std::vector<float> gamma = Rounded(RandomFloats(cols, rng_, 0.5f, 1.5f), d);
    std::vector<float> beta = Rounded(RandomFloats(cols, rng_), d);
    std::vector<float> ref(x.size());
    cpu::LayerNorm(x.data(), gamma.data(), beta.data(), rows, cols, 1e-5f, ref.data());
    ref = Rounded(ref, d);
    DeviceTensorF dx(d, x.size()), dg(d, cols), db(d, cols), dy(d, x.size());
    dx.Set(x);
    dg.Set(gamma);
    db.Set(beta);
    BLOOM_CUDA_OK(cuda::LaunchLayerNorm(dx.data(), d, dg.data(), d, db.data(), d, rows, cols, 1e-5f,
                                        dy.data(), d, nullptr));
    ExpectClose(dy, ref, Tolerance(d),
                "layer norm " + std::to_string(rows) + "x" + std::to_string(cols));
  }
  EXPECT_EQ(cuda::LaunchLayerNorm(nullptr, d, nullptr, d, nullptr, d, 1, 16385, 1e-5f, nullptr, d,
                                  nullptr),
            cudaErrorInvalidValue);
}

TEST_P(OpParity, AddLayerNormTwoOutputs) {
  const DType d = GetParam();
  // 1031: the generic kernel; 4096 (one vector per thread), 14336 (two)
  // and 8008 (a partial second vector): the 16-bit vectorised path.
  for (auto [rows, cols] :
       {std::pair<int64_t, int64_t>{9, 1031}, {1, 4096}, {128, 4096}, {3, 14336}, {2, 8008}}) {
    CheckAddLayerNorm(d, rows, cols);
  }
}

void OpParity::CheckAddLayerNorm(DType d, int64_t rows, int64_t cols) {
  const std::string shape = " " + std::to_string(rows) + "x" + std::to_string(cols);
  std::vector<float> a = Rounded(RandomFloats(rows * cols, rng_, -3.0f, 5.0f), d);
  std::vector<float> b = Rounded(RandomFloats(rows * cols, rng_), d);
  std::vector<float> gamma = Rounded(RandomFloats(cols, rng_, 0.5f, 1.5f), d);
  std::vector<float> beta = Rounded(RandomFloats(cols, rng_), d);
  std::vector<float> sum(a.size()), normed(a.size());
  cpu::Add(a.data(), b.data(), sum.size(), sum.data());
  // Statistics of the fp32 sum, before it is rounded to storage.
  cpu::LayerNorm(sum.data(), gamma.data(), beta.data(), rows, cols, 1e-5f, normed.data());
  DeviceTensorF da(d, a.size()), dbb(d, b.size()), dg(d, cols), dbeta(d, cols), dsum(d, a.size()),
      dnormed(d, a.size());
  da.Set(a);
  dbb.Set(b);
  dg.Set(gamma);
  dbeta.Set(beta);
  BLOOM_CUDA_OK(cuda::LaunchAddLayerNorm(da.data(), d, dbb.data(), d, dg.data(), d, dbeta.data(), d,
                                         rows, cols, 1e-5f, dsum.data(), d, dnormed.data(), d,
                                         nullptr));
  ExpectClose(dsum, Rounded(sum, d), Tolerance(d), "add+layer norm: sum" + shape);
  ExpectClose(dnormed, Rounded(normed, d), Tolerance(d), "add+layer norm: normed" + shape);
}

TEST_P(OpParity, AddGeluGatherRows) {
  const DType d = GetParam();
  const int64_t count = 4099;
  std::vector<float> a = Rounded(RandomFloats(count, rng_, -5.0f, 5.0f), d);
  std::vector<float> b = RandomFloats(count, rng_);  // F32: a mixed-dtype add
  std::vector<float> ref(count);
  cpu::Add(a.data(), b.data(), count, ref.data());
  DeviceTensorF da(d, count), db(DType::kF32, count), out(d, count);
  da.Set(a);
  db.Set(b);
  BLOOM_CUDA_OK(
      cuda::LaunchAdd(da.data(), d, db.data(), DType::kF32, count, out.data(), d, nullptr));
  ExpectClose(out, Rounded(ref, d), Tolerance(d), "add");

  cpu::GeluTanh(a.data(), count, ref.data());
  DeviceTensorF gelu(d, count);
  BLOOM_CUDA_OK(cuda::LaunchGelu(da.data(), d, count, gelu.data(), d, nullptr));
  ExpectClose(gelu, Rounded(ref, d), Tolerance(d), "gelu");

  const int64_t rows = 11, cols = 77;
  std::vector<float> x = Rounded(RandomFloats(rows * cols, rng_), d);
  const std::vector<int32_t> indices = {10, 0, 4, 4, 7};
  std::vector<float> gathered(indices.size() * cols);
  cpu::GatherRows(x.data(), cols, indices.data(), indices.size(), gathered.data());
  DeviceTensorF dx(d, x.size()), dy(d, gathered.size());
  dx.Set(x);
  GuardedBuffer di(indices.size() * sizeof(int32_t));
  di.Upload(indices.data(), indices.size() * sizeof(int32_t));
  BLOOM_CUDA_OK(cuda::LaunchGatherRows(dx.data(), d, cols, static_cast<const int32_t*>(di.data()),
                                       indices.size(), dy.data(), d, nullptr));
  ExpectClose(dy, gathered, 0.0, "gather rows (a copy: exact)");
}

TEST_P(OpParity, CastToEveryDtype) {
  const DType from = GetParam();
  const int64_t count = 1237;
  std::vector<float> x = Rounded(RandomFloats(count, rng_, -100.0f, 100.0f), from);
  DeviceTensorF dx(from, count);
  dx.Set(x);
  for (DType to : {DType::kF32, DType::kBF16, DType::kF16}) {
    DeviceTensorF dy(to, count);
    BLOOM_CUDA_OK(cuda::LaunchCast(dx.data(), from, count, dy.data(), to, nullptr));
    // Round to nearest even on both sides: bit-exact.
    ExpectClose(dy, Rounded(x, to), 0.0, "cast " + DTypeLabel(from) + " -> " + DTypeLabel(to));
  }
}

struct LinearCase {
  int64_t rows, in, out;
  bool bias, gelu;
  bool expect_gemv = false;  // 16-bit operands take the GEMV kernel (rows <= 8, K % 8 == 0)
};

// Runs one Linear through LinearGemm and checks it against cpu::Linear.
void CheckLinear(cuda::LinearGemm& gemm, std::mt19937& rng, DType ab, DType y_dtype,
                 const LinearCase& c, bool gemv_on) {
  const std::string what = "linear " + DTypeLabel(ab) + "->" + DTypeLabel(y_dtype) + " [" +
                           std::to_string(c.rows) + "x" + std::to_string(c.in) + "]x[" +
                           std::to_string(c.out) + "]" + (c.bias ? " +bias" : "") +
                           (c.gelu ? " +gelu" : "");
  std::vector<float> x = Rounded(RandomFloats(c.rows * c.in, rng), ab);
  std::vector<float> w = Rounded(RandomFloats(c.out * c.in, rng, -0.2f, 0.2f), ab);
  std::vector<float> bias = Rounded(RandomFloats(c.out, rng), y_dtype);
  std::vector<float> ref(c.rows * c.out);
  cpu::Linear(x.data(), w.data(), c.bias ? bias.data() : nullptr, c.rows, c.in, c.out, ref.data());
  if (c.gelu) cpu::GeluTanh(ref.data(), ref.size(), ref.data());
  DeviceTensorF dx(ab, x.size()), dw(ab, w.size()), db(y_dtype, bias.size()),
      dy(y_dtype, ref.size());
  dx.Set(x);
  dw.Set(w);
  db.Set(bias);
  cuda::GemmProblem problem{c.rows, c.in, c.out, ab, ab, y_dtype, c.bias, c.gelu};
  ASSERT_EQ(
      gemm.Run(problem, dx.data(), dw.data(), c.bias ? db.data() : nullptr, dy.data(), nullptr),
      CUBLAS_STATUS_SUCCESS)
      << what;
  // Products of 16-bit operands are exact in fp32; the accumulation order
  // differs from the CPU's, so F32 outputs of long dot products get 1e-5.
  ExpectClose(dy, Rounded(ref, y_dtype), Tolerance(y_dtype), what);
  // The decode shapes must reach the GEMV kernel when it is on, not fall
  // back silently, and never when it is off.
  EXPECT_EQ(gemm.UsesGemv(problem, dx.data(), dw.data()), gemv_on && c.expect_gemv) << what;
  ::testing::Test::RecordProperty(
      what, gemm.FusedEpilogue(problem, dx.data(), dw.data(), db.data(), dy.data())
                ? "fused epilogue"
                : "separate epilogue");
}

TEST_P(OpParity, LinearWithBiasAndGeluEpilogues) {
  const DType d = GetParam();
  void* workspace = nullptr;
  BLOOM_CUDA_OK(cudaMalloc(&workspace, 32 << 20));
  {
    // Every case through the GEMV kernel where it applies (at any row count
    // up to its limit), then every case through cuBLASLt.
    for (const bool gemv_on : {true, false}) {
      cuda::LinearGemm gemm;
      ASSERT_EQ(gemm.Init(workspace, 32 << 20), CUBLAS_STATUS_SUCCESS);
      gemm.set_gemv_max_rows(gemv_on ? cuda::kGemvMaxRows : 0);
      const bool half = d != DType::kF32;
      for (const LinearCase& c :
           {LinearCase{1, 64, 96, true, false, half}, LinearCase{37, 200, 129, true, true},
            LinearCase{128, 256, 512, false, false}, LinearCase{5, 4096, 48, true, true, half},
            LinearCase{3, 96, 40, false, true, half},
            // GEMV: every row count 1..8, M not a multiple of the rows per
            // block, K with a partial last stride (1032 = 8 * 129), K = 16384
            // (several strides), K not a multiple of 8 (cuBLASLt).
            LinearCase{2, 1032, 131, true, false, half}, LinearCase{4, 2056, 67, true, true, half},
            LinearCase{6, 16384, 45, true, false, half},
            LinearCase{7, 520, 1001, false, true, half}, LinearCase{8, 4096, 258, true, true, half},
            LinearCase{4, 100, 33, true, false},
            // A BLOOM-7b1 decode shape at batch 1.
            LinearCase{1, 4096, 12288, true, false, half},
            // GEMV's persistent grid (4 blocks per SM at N = 3: 528 on 132
            // SMs): 1058 row groups of 4 rows, so some blocks take 3 and
            // reuse their reduction buffer, and a last group of one row; K
            // of 3 tiles with a partial last one (641 = 2 * 256 + 129
            // vectors), so blocks run 6 or 9 tiles and end on either of
            // the two tile buffers.
            LinearCase{3, 5128, 4229, true, true, half},
            // GEMV's short-rows grid (a block per row group: K of at most
            // two tiles, over 4 groups per persistent block): 2251 groups,
            // the last of one row, a partial second tile (500 = 256 + 244
            // vectors).
            LinearCase{3, 4000, 9001, true, true, half}}) {
        CheckLinear(gemm, rng_, d, d, c, gemv_on);
        // The LM head's form: 16-bit operands, F32 logits.
        if (half) CheckLinear(gemm, rng_, d, DType::kF32, c, gemv_on);
      }
    }
    EXPECT_FALSE(cuda::LinearGemm::Supports(DType::kF32, DType::kBF16, DType::kF32));
    EXPECT_FALSE(cuda::LinearGemm::Supports(DType::kBF16, DType::kBF16, DType::kF16));
    EXPECT_FALSE(cuda::LinearGemm::Supports(DType::kF32, DType::kF32, DType::kBF16));
  }
  cudaFree(workspace);
}

INSTANTIATE_TEST_SUITE_P(Storage, OpParity,
                         ::testing::Values(DType::kF32, DType::kBF16, DType::kF16),
                         [](const auto& info) { return DTypeLabel(info.param); });

TEST(OpParityArgMax, FirstIndexOnTiesAndSkipsNan) {
  BLOOM_SKIP_WITHOUT_GPU();
  std::mt19937 rng{std::random_device{}()};
  const int64_t rows = 4, cols = 250880;
  std::vector<float> logits = RandomFloats(rows * cols, rng, -10.0f, 10.0f);
  logits[1 * cols + 777] = 50.0f;  // a tie: the first index wins
  logits[1 * cols + 99999] = 50.0f;
  logits[2 * cols + 5] = std::numeric_limits<float>::quiet_NaN();
  logits[3 * cols + cols - 1] = 60.0f;  // the last column
  std::vector<int32_t> expected(rows);
  for (int64_t r = 0; r < rows; ++r) {
    int64_t best = -1;
    for (int64_t c = 0; c < cols; ++c) {
      const float v = logits[r * cols + c];
      if (!std::isnan(v) && (best < 0 || v > logits[r * cols + best])) best = c;
    }
    expected[r] = static_cast<int32_t>(best);
  }
  EXPECT_EQ(expected[1], 777);
  DeviceTensorF dl(DType::kF32, logits.size());
  dl.Set(logits);
  GuardedBuffer out(rows * sizeof(int32_t));
  BLOOM_CUDA_OK(cuda::LaunchArgMax(static_cast<const float*>(dl.data()), rows, cols,
                                   static_cast<int32_t*>(out.data()), nullptr));
  std::vector<uint8_t> bytes = out.Download();
  std::vector<int32_t> got(rows);
  std::memcpy(got.data(), bytes.data(), bytes.size());
  EXPECT_EQ(got, expected);
  EXPECT_TRUE(out.GuardsIntact());
}

}  // namespace
}  // namespace bloom::gpu_test
