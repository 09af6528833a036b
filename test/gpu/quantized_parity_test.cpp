// The quantized-weight kernels (kernels/cuda/quantized_gemm.cuh and
// dequantize.cuh) against a reference written here from the formula of
// docs/quantization.md, w'[o][i] = scale[o][i / g] * (q[o][i] - zero[o][i /
// g]), on fresh random weights packed by hand as the checkpoint packs them
// (packed_int4.h: element i in byte i / 2, low nibble first). w' is exact in
// fp32 (an f16 scale times an integer below 2^8); the reference dot products
// run in fp64 on the values x's dtype holds.
//
// Thresholds are on |y - ref| over the element's scale Σ_k |x_k||w'_k| +
// |bias| (as op_parity_test.cpp bounds a GEMM's error by its operands), so
// they hold whatever the cancellation in a dot product:
// - tensor-core and CUDA-core products: the weights enter exact, products
//   of bf16/f16 x and small integers are exact, the only errors are fp32
//   accumulation (far below 1e-5 of the scale here) and the one rounding to
//   y, at most half an ulp of |y| <= scale: 2^-9 for bf16, 2^-11 for f16.
//   Allowed: 2^-8 (bf16), 2^-10 (f16), 5e-5 (f32: a few hundred fp32
//   roundings of partial sums no larger than the scale, each 2^-24 of it,
//   the tensor cores' truncating adds included); GELU's slope is at most
//   1.13, inside the factor of two. A wrong index or nibble costs 1e-2 or
//   more.
// - dequantize + cuBLASLt: each weight is rounded once to x's dtype first
//   (2^-9 / 2^-11 of |w'|, so of the scale in sum), then y rounds: 2^-7
//   (bf16), 2^-9 (f16), 2^-8 (f32 y from bf16 weights).
// Dequantization and the embedding gather must be bit exact: the kernel's
// fp32 value is exact, and both round it once to the same dtype.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "kernels/cuda/dequantize.cuh"
#include "kernels/cuda/gemm.cuh"
#include "kernels/cuda/quantized_gemm.cuh"
#include "kernels/cuda/quantized_scratch_gemm.cuh"
#include "test/gpu/gpu_test_util.h"

namespace bloom::gpu_test {
namespace {

// A weight in the checkpoint's form, and w' by the formula.
struct HostWeight {
  DType format;
  int64_t m, k, g;
  bool zeros;
  std::vector<uint8_t> values;
  std::vector<float> scales;  // values an f16 holds
  std::vector<int8_t> zero_points;
  std::vector<float> dequantized;  // w' [m, k]
};

HostWeight RandomWeight(DType format, int64_t m, int64_t k, int64_t g, bool zeros, std::mt19937& rng) {
  HostWeight w{format, m, k, g, zeros, {}, {}, {}, {}};
  const int64_t groups = k / g;
  const bool int4 = format == DType::kI4;
  std::uniform_int_distribution<int> value(int4 ? -8 : -127, int4 ? 7 : 127), zero(-8, 7);
  w.scales = Rounded(RandomFloats(m * groups, rng, 1.0f / 1024, 1.0f / 64), DType::kF16);
  if (zeros) {
    w.zero_points.resize(m * groups);
    for (int8_t& z : w.zero_points) z = static_cast<int8_t>(zero(rng));
  }
  w.values.assign(int4 ? m * k / 2 : m * k, 0);
  w.dequantized.resize(m * k);
  for (int64_t o = 0; o < m; ++o) {
    for (int64_t i = 0; i < k; ++i) {
      const int q = value(rng);
      const int64_t e = o * k + i, group = o * groups + i / g;
      if (int4) {
        w.values[e / 2] |= static_cast<uint8_t>((q & 0xF) << (4 * (e % 2)));
      } else {
        w.values[e] = static_cast<uint8_t>(static_cast<int8_t>(q));
      }
      const int z = zeros ? w.zero_points[group] : 0;
      w.dequantized[e] = w.scales[group] * static_cast<float>(q - z);
    }
  }
  return w;
}

// The weight on the device, guarded, in `layout` (kTiles through the
// repack kernel).
struct DeviceWeight {
  std::unique_ptr<GuardedBuffer> values, scales, zeros, tiles;
  cuda::QuantizedWeight row_major, view;
};

std::unique_ptr<DeviceWeight> Upload(const HostWeight& h, cuda::QuantizedLayout layout) {
  auto d = std::make_unique<DeviceWeight>();
  d->values = std::make_unique<GuardedBuffer>(h.values.size());
  d->values->Upload(h.values.data(), h.values.size());
  const std::vector<uint8_t> scale_bytes = ToStorage(h.scales, DType::kF16);
  d->scales = std::make_unique<GuardedBuffer>(scale_bytes.size());
  d->scales->Upload(scale_bytes.data(), scale_bytes.size());
  if (h.zeros) {
    d->zeros = std::make_unique<GuardedBuffer>(h.zero_points.size());
    d->zeros->Upload(h.zero_points.data(), h.zero_points.size());
  }
  d->row_major = {h.format, cuda::QuantizedLayout::kRowMajor, h.m, h.k, h.g, d->values->data(),
                  d->scales->data(), h.zeros ? static_cast<const int8_t*>(d->zeros->data()) : nullptr};
  d->view = d->row_major;
  if (layout == cuda::QuantizedLayout::kTiles) {
    EXPECT_TRUE(cuda::QuantizedTilesApply(h.format, h.m, h.k, h.g, h.zeros && h.format == DType::kI8));
    d->tiles = std::make_unique<GuardedBuffer>(cuda::QuantizedTilesBytes(h.format, h.m, h.k, h.g));
    EXPECT_EQ(cuda::LaunchRepackQuantizedTiles(d->row_major, d->tiles->data(), nullptr), cudaSuccess);
    EXPECT_EQ(cudaDeviceSynchronize(), cudaSuccess);
    EXPECT_TRUE(d->tiles->GuardsIntact()) << "the repack wrote outside the tile buffer";
    d->view = cuda::TiledView(d->row_major, d->tiles->data());
  }
  return d;
}

std::string Describe(const HostWeight& h, cuda::QuantizedLayout layout) {
  std::ostringstream s;
  s << DTypeLabel(h.format) << " [" << h.m << " x " << h.k << "] g" << h.g
    << (layout == cuda::QuantizedLayout::kTiles ? " tiles" : " row-major");
  return s.str();
}

uint16_t F16Bits(float value) {
  const std::vector<uint8_t> bytes = ToStorage({value}, DType::kF16);
  return static_cast<uint16_t>(bytes[0] | bytes[1] << 8);
}

// Σ_k x[n][k] w'[o][k] in fp64, and the scale Σ_k |x||w'|, for n < tokens.
struct Reference {
  int64_t tokens, m;
  std::vector<double> sum, scale;  // [tokens, m]
};

Reference ReferenceProduct(const HostWeight& w, const std::vector<float>& x, int64_t tokens) {
  Reference r{tokens, w.m, std::vector<double>(tokens * w.m), std::vector<double>(tokens * w.m)};
  for (int64_t n = 0; n < tokens; ++n) {
    for (int64_t o = 0; o < w.m; ++o) {
      double s = 0.0, a = 0.0;
      const float* xr = &x[n * w.k];
      const float* wr = &w.dequantized[o * w.k];
      for (int64_t i = 0; i < w.k; ++i) {
        const double p = static_cast<double>(xr[i]) * wr[i];
        s += p;
        a += std::fabs(p);
      }
      r.sum[n * w.m + o] = s;
      r.scale[n * w.m + o] = a;
    }
  }
  return r;
}

double Gelu(double v) { return 0.5 * v * (1.0 + std::tanh(0.7978845608028654 * (v + 0.044715 * v * v * v))); }

// y [n, m] from the device against the reference's first n tokens: guards,
// every element written and finite, and the worst normalised error within
// `tolerance`; the message names the worst element.
void ExpectProduct(const DeviceTensorF& y, const Reference& ref, int64_t n, const std::vector<float>& bias,
                   bool has_bias, bool gelu, double tolerance, const std::string& what) {
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess) << what << ": " << cudaGetErrorString(cudaGetLastError());
  EXPECT_TRUE(y.buffer.GuardsIntact()) << what << ": a write landed outside y";
  const std::vector<float> got = y.Get();
  double worst = -1.0;
  int64_t worst_at = 0;
  double worst_ref = 0.0;
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t o = 0; o < ref.m; ++o) {
      const int64_t i = t * ref.m + o;
      double v = ref.sum[i] + (has_bias ? bias[o] : 0.0);
      if (gelu) v = Gelu(v);
      const double scale = ref.scale[i] + (has_bias ? std::fabs(bias[o]) : 0.0);
      const double error = std::isfinite(got[i]) ? std::fabs(got[i] - v) / scale : 1e30;
      if (error > worst) worst = error, worst_at = i, worst_ref = v;
    }
  }
  EXPECT_LE(worst, tolerance) << what << ": worst at token " << worst_at / ref.m << " row "
                              << worst_at % ref.m << ": got " << got[worst_at] << ", want " << worst_ref
                              << " (scale " << ref.scale[worst_at] << ")";
}

double ProductTolerance(DType y) { return y == DType::kBF16 ? 1.0 / 256 : y == DType::kF16 ? 1.0 / 1024 : 5e-5; }

struct GemmCase {
  DType format;
  int64_t m, k, g;
  cuda::QuantizedLayout layout;
  bool tensor_cores;  // the path LaunchQuantizedGemm must take
};

constexpr auto kRowMajor = cuda::QuantizedLayout::kRowMajor;
constexpr auto kTiles = cuda::QuantizedLayout::kTiles;

// Odd M everywhere (a partial 16-row tile and 256-row block); every group
// count the int4 tensor cores take (1, 2, 4 a tile, and g > 128), and
// shapes each path refuses to the CUDA cores.
const GemmCase kGemmCases[] = {
    {DType::kI8, 129, 4096, 4096, kTiles, true},
    {DType::kI8, 1001, 320, 320, kTiles, true},
    {DType::kI8, 67, 200, 200, kRowMajor, false},    // K % 64 != 0: no tiles
    {DType::kI8, 45, 256, 64, kRowMajor, false},     // not one scale a row
    {DType::kI4, 129, 4096, 128, kTiles, true},
    {DType::kI4, 300, 1024, 32, kTiles, true},
    {DType::kI4, 77, 512, 64, kTiles, true},
    {DType::kI4, 513, 2048, 256, kTiles, true},
    {DType::kI4, 45, 384, 96, kRowMajor, false},     // g neither 32, 64 nor a multiple of 128
    {DType::kI4, 33, 200, 8, kRowMajor, false},      // K % 128 != 0
    {DType::kI4, 129, 1024, 128, kRowMajor, false},  // not repacked
    // More (row block, tile) units than the grid has blocks: blocks cross
    // row blocks.
    {DType::kI4, 2049, 8192, 128, kTiles, true},
};

class QuantizedParity : public ::testing::TestWithParam<DType> {
 protected:
  void SetUp() override {
    BLOOM_SKIP_WITHOUT_GPU();
    workspace_bytes_ = cuda::QuantizedGemmWorkspaceBytes(4096);
    workspace_ = std::make_unique<GuardedBuffer>(workspace_bytes_);
    ASSERT_EQ(cudaMemset(workspace_->data(), 0, workspace_bytes_), cudaSuccess);
  }
  void TearDown() override {
    if (workspace_ == nullptr) return;
    // Every launch leaves the workspace zero (its contract).
    const std::vector<uint8_t> bytes = workspace_->Download();
    EXPECT_TRUE(std::all_of(bytes.begin(), bytes.end(), [](uint8_t b) { return b == 0; }))
        << "the quantized product left its workspace non-zero";
    EXPECT_TRUE(workspace_->GuardsIntact());
  }
  // Runs the product for the first n rows of x and checks it.
  void CheckProduct(const DeviceWeight& w, const std::string& what, const DeviceTensorF& x,
                    const Reference& ref, int64_t n, DType y_dtype, bool has_bias, bool gelu,
                    const cuda::QuantizedGemmOptions& options = {});

  std::mt19937 rng_{std::random_device{}()};
  std::unique_ptr<GuardedBuffer> workspace_;
  size_t workspace_bytes_ = 0;
};

void QuantizedParity::CheckProduct(const DeviceWeight& w, const std::string& base, const DeviceTensorF& x,
                                   const Reference& ref, int64_t n, DType y_dtype, bool has_bias,
                                   bool gelu, const cuda::QuantizedGemmOptions& options) {
  const std::string what = base + " x " + DTypeLabel(x.dtype) + " -> " + DTypeLabel(y_dtype) + " N=" +
                           std::to_string(n) + (has_bias ? " +bias" : "") + (gelu ? " +gelu" : "") +
                           (options.max_blocks > 0 ? " blocks=" + std::to_string(options.max_blocks) : "");
  const int64_t m = w.view.out_features;
  const std::vector<float> bias = Rounded(RandomFloats(m, rng_, -0.5f, 0.5f), y_dtype);
  DeviceTensorF db(y_dtype, m), dy(y_dtype, n * m);
  db.Set(bias);
  const cuda::GemmProblem problem{n, w.view.in_features, m, x.dtype, w.view.format, y_dtype, has_bias, gelu};
  ASSERT_EQ(cuda::LaunchQuantizedGemm(problem, w.view, x.data(), has_bias ? db.data() : nullptr, dy.data(),
                                      workspace_->data(), workspace_bytes_, nullptr, options),
            cudaSuccess)
      << what;
  ExpectProduct(dy, ref, n, bias, has_bias, gelu, ProductTolerance(y_dtype), what);
}

TEST_P(QuantizedParity, DecodeProductMatchesTheFormula) {
  const DType xd = GetParam();
  // Up to 32 rows a launch (16 where the int4 groups are finer than a
  // tile): 33 and 65 take several.
  constexpr int64_t kTokens = 65;
  for (const GemmCase& c : kGemmCases) {
    const HostWeight h = RandomWeight(c.format, c.m, c.k, c.g, c.format == DType::kI4, rng_);
    const std::unique_ptr<DeviceWeight> w = Upload(h, c.layout);
    const std::string what = Describe(h, c.layout);
    const std::vector<float> xs = Rounded(RandomFloats(kTokens * c.k, rng_), xd);
    DeviceTensorF x(xd, xs.size());
    x.Set(xs);
    const Reference ref = ReferenceProduct(h, xs, kTokens);
    const cuda::GemmProblem probe{1, c.k, c.m, xd, c.format, xd, false, false};
    EXPECT_EQ(cuda::QuantizedGemmUsesTensorCores(probe, w->view, x.data()), c.tensor_cores) << what;
    // Every N of a launch, with the four epilogues in turn, in x's dtype and
    // F32; then several launches.
    for (int64_t n = 1; n <= 32; ++n) {
      const bool has_bias = n % 2 == 1, gelu = n % 4 >= 2;
      CheckProduct(*w, what, x, ref, n, xd, has_bias, gelu);
      CheckProduct(*w, what, x, ref, n, DType::kF32, !has_bias, gelu);
    }
    CheckProduct(*w, what, x, ref, 33, xd, true, true);
    CheckProduct(*w, what, x, ref, 65, DType::kF32, true, false);
  }
}

// A grid of a few blocks: each block walks several row blocks, chunks of
// K and partial segments, with one, two and many contributors a row block.
TEST_P(QuantizedParity, SmallGridsWalkRowBlocksAndChunks) {
  const DType xd = GetParam();
  for (const GemmCase& c : {GemmCase{DType::kI4, 700, 4096, 128, kTiles, true},
                            GemmCase{DType::kI4, 300, 2048, 32, kTiles, true},
                            GemmCase{DType::kI8, 600, 4096, 4096, kTiles, true}}) {
    const HostWeight h = RandomWeight(c.format, c.m, c.k, c.g, c.format == DType::kI4, rng_);
    const std::unique_ptr<DeviceWeight> w = Upload(h, c.layout);
    const std::vector<float> xs = Rounded(RandomFloats(32 * c.k, rng_), xd);
    DeviceTensorF x(xd, xs.size());
    x.Set(xs);
    const Reference ref = ReferenceProduct(h, xs, 32);
    for (const int64_t blocks : {1, 2, 3, 7, 50}) {
      for (const int64_t n : {3, 16, 32}) {
        CheckProduct(*w, Describe(h, c.layout), x, ref, n, xd, true, n == 16, {blocks});
      }
    }
  }
}

// The scratch path (quantized_scratch_gemm.cuh), whole and in chunks of
// output rows: a chunk of 96 is three 32-row units (the tile kernel) and
// leaves a short last chunk; 32 on the row-major weight takes the
// element-wise kernel from a row offset.
TEST_P(QuantizedParity, PrefillThroughDequantizeAndCublasLt) {
  const DType xd = GetParam();
  void* cublas_workspace = nullptr;
  BLOOM_CUDA_OK(cudaMalloc(&cublas_workspace, 32 << 20));
  cuda::LinearGemm gemm;
  ASSERT_EQ(gemm.Init(cublas_workspace, 32 << 20), CUBLAS_STATUS_SUCCESS);
  for (const GemmCase& c : {GemmCase{DType::kI4, 129, 4096, 128, kTiles, true},
                            GemmCase{DType::kI4, 77, 512, 64, kRowMajor, false},
                            GemmCase{DType::kI8, 1001, 320, 320, kTiles, true}}) {
    const HostWeight h = RandomWeight(c.format, c.m, c.k, c.g, c.format == DType::kI4, rng_);
    const std::unique_ptr<DeviceWeight> w = Upload(h, c.layout);
    constexpr int64_t kTokens = 300;
    const std::vector<float> xs = Rounded(RandomFloats(kTokens * c.k, rng_), xd);
    DeviceTensorF x(xd, xs.size()), scratch(xd, c.m * c.k);
    x.Set(xs);
    const Reference ref = ReferenceProduct(h, xs, kTokens);
    const int64_t chunk = c.layout == kTiles ? 96 : 32;
    for (const int64_t n : {17, 64, 300}) {
      for (const DType yd : {xd, DType::kF32}) {
        for (const int64_t chunk_rows : {int64_t{0}, chunk}) {
          const bool has_bias = n != 64, gelu = n == 300;
          const std::string what = Describe(h, c.layout) + " prefill x " + DTypeLabel(xd) + " -> " +
                                   DTypeLabel(yd) + " N=" + std::to_string(n) +
                                   " chunk=" + std::to_string(chunk_rows);
          const std::vector<float> bias = Rounded(RandomFloats(c.m, rng_, -0.5f, 0.5f), yd);
          DeviceTensorF db(yd, c.m), dy(yd, n * c.m);
          db.Set(bias);
          const cuda::GemmProblem problem{n, c.k, c.m, xd, xd, yd, has_bias, gelu};
          const cuda::QuantizedScratchStatus status = cuda::RunQuantizedScratchGemm(
              gemm, problem, w->view, x.data(), db.data(), dy.data(), scratch.data(), chunk_rows, nullptr);
          ASSERT_EQ(status.dequantize, cudaSuccess) << what;
          ASSERT_EQ(status.gemm, CUBLAS_STATUS_SUCCESS) << what;
          const double tolerance = yd == DType::kF32 ? (xd == DType::kBF16 ? 1.0 / 256 : 1.0 / 1024)
                                                     : (xd == DType::kBF16 ? 1.0 / 128 : 1.0 / 512);
          ExpectProduct(dy, ref, n, bias, has_bias, gelu, tolerance, what);
        }
      }
    }
  }
  cudaFree(cublas_workspace);
}

INSTANTIATE_TEST_SUITE_P(Activations, QuantizedParity, ::testing::Values(DType::kBF16, DType::kF16),
                         [](const auto& info) { return DTypeLabel(info.param); });

class QuantizedWeights : public ::testing::Test {
 protected:
  void SetUp() override { BLOOM_SKIP_WITHOUT_GPU(); }
  std::mt19937 rng_{std::random_device{}()};
};

// The repacked bytes put each value, scale and zero point where
// dequantize.cuh's description of the tile layout says (TileValueByte,
// TileScaleByte, TileZeroByte; int4 values as q + 8), and the padding rows
// of the last 32-row unit are zero.
TEST_F(QuantizedWeights, RepackFollowsTheDocumentedTileLayout) {
  for (const auto& [format, m, k, g] : {std::tuple{DType::kI4, 37, 384, 128}, std::tuple{DType::kI4, 5, 256, 32},
                                        std::tuple{DType::kI4, 33, 512, 64}, std::tuple{DType::kI4, 3, 256, 256},
                                        std::tuple{DType::kI8, 41, 192, 192}}) {
    const HostWeight h = RandomWeight(format, m, k, g, format == DType::kI4, rng_);
    const std::unique_ptr<DeviceWeight> w = Upload(h, kTiles);
    const std::string what = Describe(h, kTiles);
    const std::vector<uint8_t> tiles = w->tiles->Download();
    const cuda::QuantizedTiles t = cuda::TilesOf(format, m, k, g);
    ASSERT_EQ(tiles.size(), static_cast<size_t>(t.units * t.tiles_per_row * t.tile_bytes)) << what;
    const bool int4 = format == DType::kI4;
    int wrong = 0;
    for (int64_t o = 0; o < t.units * cuda::kTileUnitRows; ++o) {
      for (int64_t i = 0; i < k; ++i) {
        const bool real = o < m;
        const int64_t e = o * k + i;
        int want = 0, got = 0;
        if (int4) {
          want = real ? (static_cast<int8_t>(static_cast<uint8_t>(h.values[e / 2] >> (4 * (e % 2))) << 4) >> 4) + 8
                      : 0;
          got = (tiles[cuda::TileValueByte(t, o, i)] >> (4 * (cuda::Int4TileNibble(i) % 2))) & 0xF;
          uint16_t scale_bits = 0;
          std::memcpy(&scale_bits, &tiles[cuda::TileScaleByte(t, o, i)], 2);
          const uint16_t want_scale = real ? F16Bits(h.scales[o * (k / g) + i / g]) : 0;
          const int8_t zero = static_cast<int8_t>(tiles[cuda::TileZeroByte(t, o, i)]);
          if ((scale_bits != want_scale || zero != (real ? h.zero_points[o * (k / g) + i / g] : 0)) && ++wrong <= 5)
            ADD_FAILURE() << what << ": scale or zero point of row " << o << " column " << i;
        } else {
          want = real ? static_cast<int8_t>(h.values[e]) : 0;
          got = static_cast<int8_t>(tiles[cuda::TileValueByte(t, o, i)]);
        }
        if (got != want && ++wrong <= 5)
          ADD_FAILURE() << what << ": row " << o << " column " << i << " holds " << got << ", want " << want;
      }
    }
    EXPECT_EQ(wrong, 0) << what;
  }
  // What the tile layout cannot hold is refused.
  const HostWeight h = RandomWeight(DType::kI4, 5, 384, 96, true, rng_);
  const std::unique_ptr<DeviceWeight> w = Upload(h, kRowMajor);
  GuardedBuffer out(1 << 16);
  EXPECT_FALSE(cuda::QuantizedTilesApply(DType::kI4, 5, 384, 96, true));
  EXPECT_EQ(cuda::LaunchRepackQuantizedTiles(w->row_major, out.data(), nullptr), cudaErrorInvalidValue);
}

struct WeightCase {
  DType format;
  int64_t m, k, g;
  cuda::QuantizedLayout layout;
  bool zeros;
};

// Both layouts; groups that share and split an 8-value chunk (g = 6, 10);
// K not a multiple of 8; int8 per channel and grouped; symmetric int4.
const WeightCase kWeightCases[] = {
    {DType::kI8, 37, 320, 320, kRowMajor, false}, {DType::kI8, 9, 96, 32, kRowMajor, true},
    {DType::kI8, 37, 320, 320, kTiles, false},    {DType::kI4, 37, 384, 128, kTiles, true},
    {DType::kI4, 11, 256, 32, kTiles, false},     {DType::kI4, 40, 512, 64, kTiles, true},
    {DType::kI4, 9, 512, 256, kTiles, true},      {DType::kI4, 13, 384, 128, kRowMajor, true},
    {DType::kI4, 7, 120, 6, kRowMajor, true},     {DType::kI4, 5, 100, 10, kRowMajor, true},
};

// The whole weight, and row ranges (the scratch path's chunks): from a
// 32-row unit's start (the tile kernel's case) and from inside a unit.
TEST_F(QuantizedWeights, DequantizeIsExact) {
  for (const WeightCase& c : kWeightCases) {
    const HostWeight h = RandomWeight(c.format, c.m, c.k, c.g, c.zeros, rng_);
    const std::unique_ptr<DeviceWeight> w = Upload(h, c.layout);
    std::vector<std::pair<int64_t, int64_t>> ranges = {{0, c.m}, {3, c.m - 5}};
    if (c.m > 32) ranges.emplace_back(32, c.m - 32);
    for (const auto& [first, rows] : ranges) {
      for (const DType out_dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
        const std::string what = Describe(h, c.layout) + " rows [" + std::to_string(first) + ", " +
                                 std::to_string(first + rows) + ") -> " + DTypeLabel(out_dtype);
        DeviceTensorF out(out_dtype, rows * c.k);
        if (first == 0 && rows == c.m) {
          ASSERT_EQ(cuda::LaunchDequantizeWeight(w->view, out.data(), out_dtype, nullptr), cudaSuccess) << what;
        } else {
          ASSERT_EQ(cuda::LaunchDequantizeRows(w->view, first, rows, out.data(), out_dtype, nullptr), cudaSuccess)
              << what;
        }
        ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess) << what;
        EXPECT_TRUE(out.buffer.GuardsIntact()) << what;
        const std::vector<float> all = Rounded(h.dequantized, out_dtype);
        const std::vector<float> got = out.Get(), want(all.begin() + first * c.k, all.begin() + (first + rows) * c.k);
        const auto mismatch = std::mismatch(got.begin(), got.end(), want.begin());
        EXPECT_TRUE(mismatch.first == got.end())
            << what << ": element " << (mismatch.first - got.begin()) << " is " << *mismatch.first << ", want "
            << *mismatch.second;
      }
    }
  }
}

TEST_F(QuantizedWeights, EmbeddingGatherIsExactIncludingAVocabShard) {
  for (const WeightCase& c : kWeightCases) {
    const HostWeight h = RandomWeight(c.format, c.m, c.k, c.g, c.zeros, rng_);
    const std::unique_ptr<DeviceWeight> w = Upload(h, c.layout);
    const int64_t vocab_begin = 20, tokens = 9;
    std::vector<int32_t> ids(tokens);
    std::uniform_int_distribution<int32_t> id(0, static_cast<int32_t>(vocab_begin + c.m + 10));
    for (int32_t& v : ids) v = id(rng_);
    ids[0] = vocab_begin, ids[1] = static_cast<int32_t>(vocab_begin + c.m - 1);
    ids[2] = vocab_begin - 1, ids[3] = static_cast<int32_t>(vocab_begin + c.m);  // just outside: zero rows
    GuardedBuffer device_ids(ids.size() * sizeof(int32_t));
    device_ids.Upload(ids.data(), ids.size() * sizeof(int32_t));
    for (const DType out_dtype : {DType::kF32, DType::kBF16}) {
      const std::string what = Describe(h, c.layout) + " gather -> " + DTypeLabel(out_dtype);
      std::vector<float> want(tokens * c.k, 0.0f);
      for (int64_t t = 0; t < tokens; ++t) {
        const int64_t r = ids[t] - vocab_begin;
        if (r >= 0 && r < c.m) std::copy_n(&h.dequantized[r * c.k], c.k, &want[t * c.k]);
      }
      want = Rounded(want, out_dtype);
      DeviceTensorF out(out_dtype, want.size());
      ASSERT_EQ(cuda::LaunchQuantizedEmbeddingGather(static_cast<const int32_t*>(device_ids.data()), tokens,
                                                     w->view, vocab_begin, out.data(), out_dtype, nullptr),
                cudaSuccess)
          << what;
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess) << what;
      EXPECT_TRUE(out.buffer.GuardsIntact()) << what;
      EXPECT_EQ(out.Get(), want) << what;
    }
  }
}

// What neither path can run is refused, not run wrongly.
TEST_F(QuantizedWeights, RefusesWhatItCannotRun) {
  const HostWeight h = RandomWeight(DType::kI4, 20, 256, 128, true, rng_);
  const std::unique_ptr<DeviceWeight> w = Upload(h, kTiles);
  DeviceTensorF x(DType::kF32, 256), y(DType::kF32, 20);
  GuardedBuffer workspace(cuda::QuantizedGemmWorkspaceBytes(20));
  const size_t bytes = workspace.size();
  const cuda::GemmProblem f32_x{1, 256, 20, DType::kF32, DType::kI4, DType::kF32, false, false};
  EXPECT_EQ(cuda::LaunchQuantizedGemm(f32_x, w->view, x.data(), nullptr, y.data(), workspace.data(), bytes,
                                      nullptr),
            cudaErrorInvalidValue);
  DeviceTensorF xb(DType::kBF16, 256), yh(DType::kF16, 20);
  const cuda::GemmProblem f16_y{1, 256, 20, DType::kBF16, DType::kI4, DType::kF16, false, false};
  EXPECT_EQ(cuda::LaunchQuantizedGemm(f16_y, w->view, xb.data(), nullptr, yh.data(), workspace.data(), bytes,
                                      nullptr),
            cudaErrorInvalidValue);
  const cuda::GemmProblem fine{1, 256, 20, DType::kBF16, DType::kI4, DType::kF32, false, false};
  EXPECT_EQ(cuda::LaunchQuantizedGemm(fine, w->view, xb.data(), nullptr, y.data(), workspace.data(), bytes - 4,
                                      nullptr),
            cudaErrorInvalidValue);
  const cuda::GemmProblem wrong_k{1, 128, 20, DType::kBF16, DType::kI4, DType::kF32, false, false};
  EXPECT_EQ(cuda::LaunchQuantizedGemm(wrong_k, w->view, xb.data(), nullptr, y.data(), workspace.data(), bytes,
                                      nullptr),
            cudaErrorInvalidValue);
  cuda::QuantizedWeight odd_group = w->view;
  odd_group.group_size = 3;
  EXPECT_FALSE(cuda::QuantizedWeightValid(odd_group));
  EXPECT_EQ(cuda::LaunchDequantizeWeight(odd_group, y.data(), DType::kF32, nullptr), cudaErrorInvalidValue);
}

}  // namespace
}  // namespace bloom::gpu_test
