#include "kernels/cuda/choose_tokens.cuh"

#include <cfloat>
#include <cmath>

#include "kernels/cuda/block_reduce.cuh"

namespace bloom::cuda {
namespace {

constexpr int kThreads = 1024;
constexpr int kWarps = kThreads / 32;
constexpr int kBins = 256;
// Each warp adds into a histogram of its own (dynamic shared memory), so
// that lanes of different warps never contend for a bin: most logits of a
// row share their top bits, and one shared histogram serialised them.
constexpr size_t kWarpHistogramBytes = sizeof(unsigned long long) * kWarps * kBins;
// Probability mass in the radix select's histograms is fixed point, in
// units of 2^-40, so that shared-memory atomics add integers (fast and
// exact, whatever order the threads arrive in).
constexpr double kMassScale = 1099511627776.0;

struct Scratch {
  unsigned long long histogram[kBins];
  double sums[kMaxBlockWarps];
  float floats[kMaxBlockWarps];
  int64_t indices[kMaxBlockWarps];
  unsigned long long remaining;  // the select's target within the chosen bin
  int bin;
  int found;      // the drawn token
  int last_live;  // the largest live index, for a draw that rounding left unmatched
};

// -inf (a filtered token) and NaN are dead.
__device__ __forceinline__ bool Live(float x) { return x > -INFINITY; }

// A float's bits as an unsigned key with the float's order.
__device__ __forceinline__ uint32_t OrderedKey(float x) {
  const uint32_t u = __float_as_uint(x);
  return (u & 0x80000000u) != 0 ? ~u : (u | 0x80000000u);
}

// The key of the element at which, walking the live elements by key from
// the largest down (kDescending) or from the smallest up, the running
// total of their weights first reaches `target`. When the total falls
// short, the last key in that order with any weight (everything stays).
// key_of(x, key) -> false for a dead logit x; weight_of(x), asked only for
// an element still in the running (its key matches the prefix chosen so
// far), so that the levels after the first cost little more than a read.
template <bool kDescending, class KeyOf, class WeightOf>
__device__ uint32_t RadixSelect(const float* row, int64_t n, KeyOf key_of, WeightOf weight_of,
                                unsigned long long target, Scratch& s) {
  extern __shared__ unsigned long long warp_histograms[];  // kWarps × kBins
  unsigned long long* mine = warp_histograms + (threadIdx.x / 32) * kBins;
  uint32_t prefix = 0, mask = 0;
  for (int shift = 24; shift >= 0; shift -= 8) {
    for (int b = threadIdx.x; b < kWarps * kBins; b += blockDim.x) warp_histograms[b] = 0;
    __syncthreads();
    for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
      const float x = row[i];
      uint32_t key;
      if (!key_of(x, key) || (key & mask) != prefix) continue;
      const unsigned long long weight = weight_of(x);
      if (weight != 0) atomicAdd(&mine[(key >> shift) & 0xffu], weight);
    }
    __syncthreads();
    for (int b = threadIdx.x; b < kBins; b += blockDim.x) {
      unsigned long long total = 0;
      for (int w = 0; w < kWarps; ++w) total += warp_histograms[w * kBins + b];
      s.histogram[b] = total;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
      unsigned long long before = 0;
      int chosen = -1, last = -1;
      for (int k = 0; k < kBins; ++k) {
        const int b = kDescending ? kBins - 1 - k : k;
        const unsigned long long h = s.histogram[b];
        if (h == 0) continue;
        last = b;
        if (before + h >= target) {
          chosen = b;
          break;
        }
        before += h;
      }
      if (chosen < 0) {
        chosen = last < 0 ? 0 : last;
        target = last < 0 ? 0 : s.histogram[last];
      } else {
        target -= before;
      }
      s.bin = chosen;
      s.remaining = target;
    }
    __syncthreads();
    prefix |= static_cast<uint32_t>(s.bin) << shift;
    mask |= 0xffu << shift;
    target = s.remaining;
    __syncthreads();
  }
  return prefix;
}

// The select's key of a logit: its order-preserving bits.
__device__ __forceinline__ bool LogitKey(float x, uint32_t& key) {
  if (!Live(x)) return false;
  key = OrderedKey(x);
  return true;
}

// A live logit's unnormalised probability, exp(x - max) in (0, 1]. In
// float: a double exp per element and pass made the kernel compute-bound
// (a sampled row took milliseconds); the sums of these stay in double, and
// every pass computes the same value for the same element, so the
// thresholds and the draw agree with each other exactly, and with the CPU
// sampler's double arithmetic up to ~1e-7 relative.
__device__ __forceinline__ float Mass(float x, float max) { return expf(x - max); }

// Its share in the select's fixed point, given
// scale = 2^40 / (the row's sum of Mass).
__device__ __forceinline__ unsigned long long MassWeight(float x, float max, double scale) {
  return static_cast<unsigned long long>(static_cast<double>(Mass(x, max)) * scale + 0.5);
}

// Sum of Mass over the live logits.
__device__ double MassSum(const float* row, int64_t vocab, float max, Scratch& s) {
  double z = 0;
  for (int64_t i = threadIdx.x; i < vocab; i += blockDim.x) {
    const float x = row[i];
    if (Live(x)) z += Mass(x, max);
  }
  return BlockSumDouble(z, s.sums);
}

__device__ void ChooseGreedy(const float* row, int64_t vocab, Scratch& s, int32_t* id,
                             float* logprob) {
  float best = -FLT_MAX;
  int64_t best_index = INT64_MAX;
  for (int64_t i = threadIdx.x; i < vocab; i += blockDim.x) {
    const float x = row[i];
    if (Live(x)) KeepBetter(best, best_index, x, i);
  }
  BlockArgMax(best, best_index, s.floats, s.indices);
  const bool any = best_index != INT64_MAX;
  const double z = MassSum(row, vocab, best, s);
  if (threadIdx.x == 0) {
    *id = any ? static_cast<int32_t>(best_index) : 0;
    *logprob = any ? static_cast<float>(-log(z)) : -INFINITY;
  }
}

// Top-k: every logit below the k-th largest becomes -inf.
__device__ void KeepTopK(float* row, int64_t vocab, int32_t k, Scratch& s) {
  const uint32_t kth = RadixSelect<true>(
      row, vocab, LogitKey, [](float) { return 1ull; }, static_cast<unsigned long long>(k), s);
  for (int64_t i = threadIdx.x; i < vocab; i += blockDim.x) {
    const float x = row[i];
    if (Live(x) && OrderedKey(x) < kth) row[i] = -INFINITY;
  }
  __syncthreads();
}

// Top-p: keeps the most likely tokens up to and including the one at which
// their mass reaches top_p.
__device__ void KeepTopP(float* row, int64_t vocab, float max, float top_p, Scratch& s) {
  const double scale = kMassScale / MassSum(row, vocab, max, s);
  auto mass = [max, scale](float x) { return MassWeight(x, max, scale); };
  const uint32_t cut = RadixSelect<true>(
      row, vocab, LogitKey, mass,
      static_cast<unsigned long long>(static_cast<double>(top_p) * kMassScale), s);
  for (int64_t i = threadIdx.x; i < vocab; i += blockDim.x) {
    const float x = row[i];
    if (Live(x) && OrderedKey(x) < cut) row[i] = -INFINITY;
  }
  __syncthreads();
}

// Typical-p: orders tokens by |-log p - H| and keeps the shortest prefix of
// that order whose mass reaches typical_p.
__device__ void KeepTypical(float* row, int64_t vocab, float max, float typical_p, Scratch& s) {
  double z = 0, weighted = 0;
  for (int64_t i = threadIdx.x; i < vocab; i += blockDim.x) {
    const float x = row[i];
    if (!Live(x)) continue;
    const float w = Mass(x, max);
    z += w;
    weighted += static_cast<double>(w) * (static_cast<double>(x) - max);
  }
  const double total = BlockSumDouble(z, s.sums);
  const double log_total = log(total);
  // H = -sum p log p with log p = shifted - log Z.
  const double entropy = log_total - BlockSumDouble(weighted, s.sums) / total;
  // -log p - H = log Z - shifted - H.
  auto distance = [max, log_total, entropy](float x) {
    return static_cast<float>(fabs(log_total - (static_cast<double>(x) - max) - entropy));
  };
  const double scale = kMassScale / total;
  auto distance_key = [distance](float x, uint32_t& key) {
    if (!Live(x)) return false;
    key = OrderedKey(distance(x));
    return true;
  };
  auto mass = [max, scale](float x) { return MassWeight(x, max, scale); };
  const uint32_t cut = RadixSelect<false>(
      row, vocab, distance_key, mass,
      static_cast<unsigned long long>(static_cast<double>(typical_p) * kMassScale), s);
  for (int64_t i = threadIdx.x; i < vocab; i += blockDim.x) {
    const float x = row[i];
    if (Live(x) && OrderedKey(distance(x)) > cut) row[i] = -INFINITY;
  }
  __syncthreads();
}

// One draw by inverse CDF in token-id order: the first token whose running
// mass exceeds uniform × total, as the CPU sampler's loop. Each thread owns
// a contiguous run of ids so that the running sums follow id order.
__device__ void Draw(const float* row, int64_t vocab, float max, double uniform, Scratch& s,
                     int32_t* id, float* logprob) {
  const int64_t per_thread = (vocab + blockDim.x - 1) / blockDim.x;
  const int64_t begin = threadIdx.x * per_thread;
  const int64_t end = begin + per_thread < vocab ? begin + per_thread : vocab;
  double mine = 0;
  int64_t my_last = -1;
  for (int64_t i = begin; i < end; ++i) {
    const float x = row[i];
    if (!Live(x)) continue;
    mine += Mass(x, max);
    my_last = i;
  }
  if (threadIdx.x == 0) {
    s.found = -1;
    s.last_live = -1;
  }
  double start, stop, total;
  BlockScanDouble(mine, s.sums, start, stop, total);  // synchronises after the writes above
  if (my_last >= 0) atomicMax(&s.last_live, static_cast<int>(my_last));
  const double target = uniform * total;
  if (start <= target && target < stop) {
    double running = start;
    int64_t chosen = my_last;  // rounding left the target past the run's end
    for (int64_t i = begin; i < end; ++i) {
      const float x = row[i];
      if (!Live(x)) continue;
      running += Mass(x, max);
      if (target < running) {
        chosen = i;
        break;
      }
    }
    s.found = static_cast<int>(chosen);
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    const int token = s.found >= 0 ? s.found : s.last_live;
    *id = token >= 0 ? token : 0;
    *logprob = token >= 0 ? static_cast<float>(static_cast<double>(row[token]) - max - log(total))
                          : -INFINITY;
  }
}

// One block per row.
__global__ void __launch_bounds__(kThreads)
    ChooseTokensKernel(float* logits, int64_t vocab, const TokenChoiceRow* choices,
                       const int32_t* penalized_ids, int32_t* ids, float* logprobs) {
  __shared__ Scratch s;
  float* row = logits + static_cast<int64_t>(blockIdx.x) * vocab;
  const TokenChoiceRow c = choices[blockIdx.x];
  int32_t* id = ids + blockIdx.x;
  float* logprob = logprobs + blockIdx.x;

  // The processors that apply in both modes: the penalty on each distinct
  // context token (the host deduplicated them), then the ban.
  if (c.repetition_penalty != 1.0f) {
    for (int32_t j = threadIdx.x; j < c.penalty_count; j += blockDim.x) {
      const int32_t token = penalized_ids[c.penalty_begin + j];
      if (token < 0 || token >= vocab) continue;
      const float v = row[token];
      row[token] = v < 0.0f ? v * c.repetition_penalty : v / c.repetition_penalty;
    }
  }
  __syncthreads();
  if (threadIdx.x == 0 && c.banned_token >= 0 && c.banned_token < vocab) {
    row[c.banned_token] = -INFINITY;
  }
  __syncthreads();
  if (c.sample == 0) {
    ChooseGreedy(row, vocab, s, id, logprob);
    return;
  }

  // The warpers, in HF's order. Temperature divides in place, as the CPU
  // sampler does, so that every later pass sees the same floats.
  float local_max = -FLT_MAX;
  for (int64_t i = threadIdx.x; i < vocab; i += blockDim.x) {
    float x = row[i];
    if (c.temperature != 1.0f) {
      x = x / c.temperature;
      row[i] = x;
    }
    if (Live(x)) local_max = fmaxf(local_max, x);
  }
  const float max = BlockMaxFloat(local_max, s.floats);
  if (c.top_k > 0 && c.top_k < vocab) KeepTopK(row, vocab, c.top_k, s);
  // The largest logit survives top-k and top-p, so `max` stays the shift.
  if (c.top_p < 1.0f) KeepTopP(row, vocab, max, c.top_p, s);
  if (c.typical_p < 1.0f) KeepTypical(row, vocab, max, c.typical_p, s);
  Draw(row, vocab, max, c.uniform, s, id, logprob);
}

}  // namespace

cudaError_t LaunchChooseTokens(float* logits, int64_t rows, int64_t vocab,
                               const TokenChoiceRow* choices, const int32_t* penalized_ids,
                               int32_t* ids, float* logprobs, cudaStream_t stream) {
  if (rows <= 0) return cudaSuccess;
  // Past the default 48 KB of shared memory a block may take. Set at every
  // launch (a cheap host call): the attribute belongs to the current
  // device's context, and a process may choose on more than one device.
  const cudaError_t opted_in = cudaFuncSetAttribute(
      ChooseTokensKernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
      static_cast<int>(kWarpHistogramBytes));
  if (opted_in != cudaSuccess) return opted_in;
  ChooseTokensKernel<<<static_cast<unsigned>(rows), kThreads, kWarpHistogramBytes, stream>>>(
      logits, vocab, choices, penalized_ids, ids, logprobs);
  return cudaGetLastError();
}

}  // namespace bloom::cuda
