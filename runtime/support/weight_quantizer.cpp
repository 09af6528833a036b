#include "runtime/support/weight_quantizer.h"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstring>
#include <system_error>
#include <thread>

#include "absl/strings/str_cat.h"
#include "runtime/support/packed_int4.h"
#include "runtime/support/status_macros.h"

namespace bloom {
namespace {

// Below this many values one thread quantizes the matrix: starting threads
// costs more than the work (as in runtime/checkpoint/generated_weights.cpp).
constexpr int64_t kValuesPerThread = int64_t{1} << 22;

// The inner loops below work on the floats' bit patterns as integers: GCC
// vectorises integer min, max and clamps on baseline x86-64, but not their
// float forms (it may not reorder around NaN without -ffast-math). Every
// step is exact, so the results are those of the float formula.

int32_t BitsOf(float value) {
  int32_t bits;
  std::memcpy(&bits, &value, sizeof(bits));
  return bits;
}

float FloatOf(int32_t bits) {
  float value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

// Maps a float's bits to an int32 that orders as the floats do (-0 just
// below +0; NaNs beyond the infinities), and back: the map is its own
// inverse. Negative floats order backwards as sign-magnitude integers, so
// their magnitude bits are flipped.
constexpr int32_t OrderedKey(int32_t bits) { return bits ^ (bits < 0 ? 0x7FFFFFFF : 0); }

constexpr int32_t FloatBitsConstant(uint32_t bits) { return static_cast<int32_t>(bits); }
constexpr int32_t kPositiveInfinityKey = OrderedKey(FloatBitsConstant(0x7F800000u));
constexpr int32_t kNegativeInfinityKey = OrderedKey(FloatBitsConstant(0xFF800000u));

// rint(x), half to even, clamped to [-128, 128], for any x that is not
// NaN. After the clamp (done on ordered keys), x + 1.5 * 2^23 lies in
// [2^23, 2^24), where floats are spaced exactly 1 apart, so the addition
// rounds x to an integer, half to even (1.5 * 2^23 is even), and that
// integer is the sum's bits minus the bias's bits. Clamping first never
// changes a result the callers clamp again to a range inside [-127, 127]:
// rounding is monotone and +-128 round to themselves.
constexpr float kRoundingBias = 12582912.0f;  // 1.5 * 2^23
constexpr int32_t kRoundingBiasBits = 0x4B400000;
constexpr int32_t kMinus128Key = OrderedKey(FloatBitsConstant(0xC3000000u));  // -128.0f
constexpr int32_t kPlus128Key = OrderedKey(FloatBitsConstant(0x43000000u));   // 128.0f

inline int32_t RoundHalfEvenClamped(float x) {
  const int32_t key = std::min(std::max(OrderedKey(BitsOf(x)), kMinus128Key), kPlus128Key);
  return BitsOf(FloatOf(OrderedKey(key)) + kRoundingBias) - kRoundingBiasBits;
}

absl::string_view NameOf(DType dtype) {
  const std::string_view name = DTypeName(dtype);
  return {name.data(), name.size()};
}

// The largest finite value of a floating dtype.
float LargestFinite(DType dtype) {
  switch (dtype) {
    case DType::kF16:
      return 65504.0f;
    case DType::kBF16:
      return BFloat16ToFloat(0x7F7Fu);
    case DType::kF32:
    case DType::kI32:
    case DType::kI8:
    case DType::kI4:
      break;
  }
  return FLT_MAX;
}

// Rounds the non-negative `value` to `dtype` (nearest even) into `dst`,
// saturating at the largest finite value, and returns what was stored, as
// a float. A scale is never infinite: the kernels would make inf * 0 = NaN.
float StoreScale(float value, DType dtype, uint8_t* dst) {
  ConvertFromFloat32(dtype, &value, dst, 1);
  float stored;
  ConvertToFloat32(dtype, dst, &stored, 1);
  if (std::isinf(stored)) {
    stored = LargestFinite(dtype);
    ConvertFromFloat32(dtype, &stored, dst, 1);
  }
  return stored;
}

int64_t FirstNonFinite(const float* w, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(w[i])) return i;
  }
  return -1;
}

// max |w| over n values, or nullopt if one is not finite. The magnitude
// bits (sign cleared) order as the magnitudes, and Inf and NaN have the
// largest ones.
std::optional<float> AbsMax(const float* w, int64_t n) {
  int32_t max_bits = 0;
  for (int64_t i = 0; i < n; ++i) max_bits = std::max(max_bits, BitsOf(w[i]) & 0x7FFFFFFF);
  if (max_bits >= 0x7F800000) return std::nullopt;
  return FloatOf(max_bits);
}

// min(0, min w) and max(0, max w) over n values (the accumulators start at
// 0, which is the clamp), or false if one is not finite.
bool ZeroInclusiveRange(const float* w, int64_t n, float* mn, float* mx) {
  int32_t low = 0, high = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int32_t key = OrderedKey(BitsOf(w[i]));
    low = std::min(low, key);
    high = std::max(high, key);
  }
  if (low <= kNegativeInfinityKey || high >= kPositiveInfinityKey) return false;
  // low may be -0's key: -0 and +0 give the same scale and zero point.
  *mn = FloatOf(OrderedKey(low));
  *mx = FloatOf(OrderedKey(high));
  return true;
}

// q = clamp(rint(w / s) + zero, low, high) for n finite values; s > 0.
void QuantizeRun(const float* w, int64_t n, float s, int32_t zero, int32_t low, int32_t high,
                 int8_t* q) {
  for (int64_t i = 0; i < n; ++i) {
    q[i] =
        static_cast<int8_t>(std::min(std::max(RoundHalfEvenClamped(w[i] / s) + zero, low), high));
  }
}

// The shape and buffers of one quantization, checked.
struct Job {
  const float* w;
  int64_t rows, cols, group_size;
  WeightFormat format;
  DType scale_dtype;
  uint8_t* values;
  uint8_t* scales;
  int8_t* zero_points;
  size_t scale_bytes;  // bytes one scale takes
};

// Quantizes one row, or returns false if a value in it is not finite. `q`
// is cols bytes of scratch (int4 values before packing).
bool QuantizeRow(const Job& job, int64_t row, int8_t* q) {
  const float* w = job.w + row * job.cols;
  const int64_t groups = job.cols / job.group_size;
  uint8_t* scales = job.scales + row * groups * job.scale_bytes;
  if (job.format == WeightFormat::kInt8PerChannel) {
    const std::optional<float> amax = AbsMax(w, job.cols);
    if (!amax) return false;
    int8_t* out = reinterpret_cast<int8_t*>(job.values) + row * job.cols;
    const float s = StoreScale(*amax / 127.0f, job.scale_dtype, scales);
    if (s == 0.0f) {
      std::fill(out, out + job.cols, int8_t{0});
    } else {
      QuantizeRun(w, job.cols, s, 0, -127, 127, out);
    }
    return true;
  }
  int8_t* zeros = job.zero_points + row * groups;
  for (int64_t g = 0; g < groups; ++g) {
    const float* wg = w + g * job.group_size;
    int8_t* qg = q + g * job.group_size;
    float mn, mx;
    if (!ZeroInclusiveRange(wg, job.group_size, &mn, &mx)) return false;
    const float s = StoreScale((mx - mn) / 15.0f, job.scale_dtype, scales + g * job.scale_bytes);
    if (s == 0.0f) {
      zeros[g] = 0;
      std::fill(qg, qg + job.group_size, int8_t{0});
      continue;
    }
    const int32_t zero = std::min(std::max(RoundHalfEvenClamped(-mn / s) - 8, kInt4Min), kInt4Max);
    zeros[g] = static_cast<int8_t>(zero);
    QuantizeRun(wg, job.group_size, s, zero, kInt4Min, kInt4Max, qg);
  }
  // Two values a byte, low nibble first (packed_int4.h); every q is in
  // [-8, 7], so its low four bits are its two's complement nibble.
  // (A local count: `out` is bytes, which may alias `job`.)
  const int64_t bytes = job.cols / 2;
  uint8_t* out = job.values + row * bytes;
  for (int64_t i = 0; i < bytes; ++i) {
    out[i] = static_cast<uint8_t>((static_cast<uint8_t>(q[2 * i]) & 0x0Fu) |
                                  (static_cast<uint8_t>(q[2 * i + 1]) << 4));
  }
  return true;
}

// A worker's first non-finite value, or row -1.
struct BadValue {
  int64_t row = -1, col = -1;
};

// Quantizes rows [begin, end), stopping at the first row with a
// non-finite value.
BadValue QuantizeRows(const Job& job, int64_t begin, int64_t end) {
  std::vector<int8_t> q(job.format == WeightFormat::kInt4Grouped ? job.cols : 0);
  for (int64_t row = begin; row < end; ++row) {
    if (!QuantizeRow(job, row, q.data())) {
      return {row, FirstNonFinite(job.w + row * job.cols, job.cols)};
    }
  }
  return {};
}

absl::Status CheckShape(absl::Span<const float> w, int64_t rows, int64_t cols, WeightFormat format,
                        int64_t group_size, DType scale_dtype, absl::string_view what) {
  if (rows <= 0 || cols <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": cannot quantize a [", rows, ", ", cols,
                                                   "] weight (dimensions must be > 0)"));
  }
  if (cols > INT64_MAX / rows || static_cast<uint64_t>(rows * cols) != w.size()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", w.size(), " values do not make a [",
                                                   rows, ", ", cols, "] weight"));
  }
  if (!IsFloatingDType(scale_dtype)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": scales must be F16, BF16 or F32, got ", NameOf(scale_dtype)));
  }
  if (format == WeightFormat::kInt8PerChannel) {
    if (group_size != 0 && group_size != cols) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": int8 is per output channel, so its group size is 0 or the row's ",
                       cols, " columns, got ", group_size));
    }
    return absl::OkStatus();
  }
  if (cols % 2 != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": int4 needs an even column count (two values a byte), got ", cols));
  }
  if (group_size <= 0 || group_size % 2 != 0 || cols % group_size != 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": int4 group size ", group_size,
                                                   " must be even, positive and divide the row's ",
                                                   cols, " columns"));
  }
  return absl::OkStatus();
}

absl::Status CheckBuffer(uint64_t got, uint64_t want, absl::string_view buffer,
                         absl::string_view what) {
  if (got == want) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(what, ": the ", buffer, " buffer holds ", got, " bytes, not ", want));
}

}  // namespace

std::string_view WeightFormatName(WeightFormat format) {
  switch (format) {
    case WeightFormat::kInt8PerChannel:
      return "int8";
    case WeightFormat::kInt4Grouped:
      return "int4";
  }
  return "?";
}

std::optional<WeightFormat> ParseWeightFormat(std::string_view name) {
  for (WeightFormat format : {WeightFormat::kInt8PerChannel, WeightFormat::kInt4Grouped}) {
    if (name == WeightFormatName(format)) return format;
  }
  return std::nullopt;
}

DType WeightFormatValues(WeightFormat format) {
  switch (format) {
    case WeightFormat::kInt8PerChannel:
      return DType::kI8;
    case WeightFormat::kInt4Grouped:
      return DType::kI4;
  }
  return DType::kI8;
}

absl::Status QuantizeWeightInto(absl::Span<const float> w, int64_t rows, int64_t cols,
                                WeightFormat format, int64_t group_size, DType scale_dtype,
                                absl::Span<uint8_t> values, absl::Span<uint8_t> scales,
                                absl::Span<int8_t> zero_points, absl::string_view what,
                                int threads) {
  BLOOM_RETURN_IF_ERROR(CheckShape(w, rows, cols, format, group_size, scale_dtype, what));
  const bool int8 = format == WeightFormat::kInt8PerChannel;
  if (int8) group_size = cols;
  const uint64_t scale_count = static_cast<uint64_t>(rows) * (cols / group_size);
  const size_t scale_bytes = DTypeSize(scale_dtype);
  BLOOM_RETURN_IF_ERROR(CheckBuffer(
      values.size(), StorageBytes(WeightFormatValues(format), w.size()), "values", what));
  BLOOM_RETURN_IF_ERROR(CheckBuffer(scales.size(), scale_count * scale_bytes, "scales", what));
  BLOOM_RETURN_IF_ERROR(
      CheckBuffer(zero_points.size(), int8 ? 0 : scale_count, "zero points", what));

  const Job job{w.data(),    rows,          cols,          group_size,         format,
                scale_dtype, values.data(), scales.data(), zero_points.data(), scale_bytes};
  const int64_t hardware = std::max(1u, std::thread::hardware_concurrency());
  const int64_t cap = threads > 0 ? threads : hardware;
  const int64_t workers =
      std::min({cap, rows, static_cast<int64_t>(w.size()) / kValuesPerThread + 1});
  const int64_t per_worker = (rows + workers - 1) / workers;
  std::vector<BadValue> bad(workers);
  std::vector<std::thread> pool;
  for (int64_t t = 0; t < workers; ++t) {
    const int64_t begin = t * per_worker;
    const int64_t end = std::min(rows, begin + per_worker);
    if (begin >= end) break;
    auto part = [&job, &bad, t, begin, end] { bad[t] = QuantizeRows(job, begin, end); };
    if (t + 1 == workers) {
      part();  // this thread takes the last part
      continue;
    }
    try {
      pool.emplace_back(part);
    } catch (const std::system_error&) {
      part();  // no thread to be had: this one does the part (same bytes)
    }
  }
  for (std::thread& thread : pool) thread.join();
  // Parts are in row order, so the first part with a bad value has the
  // first bad value of the matrix, whatever the thread count.
  for (const BadValue& b : bad) {
    if (b.row >= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": value ", w[b.row * cols + b.col], " at row ", b.row, ", column ",
                       b.col, " is not finite, so it has no quantized value"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<QuantizedMatrix> QuantizeWeight(absl::Span<const float> w, int64_t rows,
                                               int64_t cols, WeightFormat format,
                                               int64_t group_size, DType scale_dtype,
                                               absl::string_view what, int threads) {
  BLOOM_RETURN_IF_ERROR(CheckShape(w, rows, cols, format, group_size, scale_dtype, what));
  QuantizedMatrix m;
  m.format = format;
  m.rows = rows;
  m.cols = cols;
  m.group_size = format == WeightFormat::kInt8PerChannel ? cols : group_size;
  m.scale_dtype = scale_dtype;
  const uint64_t groups = static_cast<uint64_t>(rows) * m.GroupsPerRow();
  m.values.resize(StorageBytes(WeightFormatValues(format), w.size()));
  m.scales.resize(groups * DTypeSize(scale_dtype));
  if (format == WeightFormat::kInt4Grouped) m.zero_points.resize(groups);
  BLOOM_RETURN_IF_ERROR(QuantizeWeightInto(w, rows, cols, format, group_size, scale_dtype,
                                           absl::MakeSpan(m.values), absl::MakeSpan(m.scales),
                                           absl::MakeSpan(m.zero_points), what, threads));
  return m;
}

std::vector<float> DequantizeWeight(const QuantizedMatrix& m) {
  const int64_t groups = m.GroupsPerRow();
  std::vector<float> scales(m.rows * groups);
  ConvertToFloat32(m.scale_dtype, m.scales.data(), scales.data(), scales.size());
  std::vector<float> w(m.rows * m.cols);
  for (int64_t r = 0; r < m.rows; ++r) {
    for (int64_t c = 0; c < m.cols; ++c) {
      const int64_t index = r * m.cols + c;
      const int64_t group = r * groups + c / m.group_size;
      const int q = m.format == WeightFormat::kInt8PerChannel ? static_cast<int8_t>(m.values[index])
                                                              : Int4At(m.values.data(), index);
      const int zero = m.zero_points.empty() ? 0 : m.zero_points[group];
      w[index] = scales[group] * static_cast<float>(q - zero);
    }
  }
  return w;
}

}  // namespace bloom
