// Bandwidth of the split-K decode attention kernels (kernels/cuda/
// attention_decode.cuh: the warp-per-split kernel LaunchAttentionDecode
// takes by default, and the block-per-split one, side by side at every
// point) over the paged bf16 KV cache, at BLOOM-7b1's and
// BLOOM-176B's head shapes, across batch sizes and context lengths
// (issue 15: decode attention should read K and V at bandwidth at every
// point). Prints JSON lines:
//
//   {"kind":"copy", ...}              device-to-device copy bandwidth (bytes
//                                     read plus written), the ceiling
//   {"kind":"check", ...}             one small point per model against a
//                                     host computation in double; exit 1 if
//                                     it is off, so a broken kernel cannot
//                                     report a fast number
//   {"kind":"attention_decode", ...}  one (model, batch, context, kernel): ms, the
//                                     bytes it must move, GB/s and the
//                                     fraction of the copy's
//   {"kind":"skip", ...}              a point whose cache does not fit
//
// Each point is a decode step as the executor runs it: every token of the
// batch in its own slot at position context-1, store_kv on (the token's own
// K and V come from its qkv row and are written to the cache), the splits
// AlibiAttentionOp would choose for a plan of --max-seq-len positions
// (bloom-compile's default 2048; a context above it counts as the limit). Each slot's blocks are a
// random permutation of the pool's, so the reads are not one contiguous stream.
//
// Bytes counted: K and V of every key once (batch x context x heads x
// head_dim x 2 x 2 bytes, the token's own from qkv), q, the K and V written
// and the context written. Timing: a CUDA graph runs the launch over R
// copies of the cache (separate pools), R chosen so that the copies exceed
// 2.5x the L2; the median of --reps replays, divided by R. Where R copies do
// not fit in memory, R = 1 and the line says "l2_resident_possible": true.
//
//   attention_decode_bench [--reps=30] [--models=7b1,176b] [--max-seq-len=2048]
//                          [--batches=1,8,32,64,128] [--contexts=32,128,512,2048,8192]
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "benchmarks/gpu/bandwidth_bench.cuh"
#include "kernels/cuda/attention_decode.cuh"
#include "models/bloom/alibi.h"

namespace {

using bloom::DType;
namespace bench = bloom::bench;
namespace cuda = bloom::cuda;

struct Model {
  const char* name;
  int32_t heads;
  int32_t head_dim;
};

const Model kModels[] = {{"7b1", 32, 128}, {"176b", 112, 128}};

// bloom-compile's default --kv-block-size (compiler/Passes.td).
constexpr int32_t kKvBlockSize = 16;
constexpr int kBf16Bytes = 2;
// Points whose K and V together pass this are skipped (an H200 holds more,
// but the sweep should fit a smaller GPU too).
constexpr double kMaxKvBytes = 40e9;
// Memory left free besides the benchmark's buffers.
constexpr size_t kMemoryReserve = size_t{2} << 30;

// The splits AlibiAttentionOp gives every decode launch of a plan of
// max_seq_len positions with this kernel (its constructor); the plan holds
// at least the context.
int32_t DecodeSplits(int32_t context, int32_t plan_max_seq_len,
                     cuda::DecodeAttentionKernel kernel) {
  return cuda::AttentionDecodeMaxSplits(std::max(plan_max_seq_len, context), kernel);
}

// One decode step's inputs and outputs on the device, with `copies` K and V
// pools that share one block table.
class DecodeSetup {
 public:
  DecodeSetup(const Model& model, int32_t batch, int32_t context, int32_t max_seq_len, int copies,
              cudaStream_t stream)
      : model_(model),
        batch_(batch),
        context_(context),
        max_seq_len_(max_seq_len),
        blocks_per_sequence_((context + kKvBlockSize - 1) / kKvBlockSize) {
    const int64_t row = QkvRow();
    BENCH_CHECK_CUDA(cudaMalloc(&qkv_, batch * row * kBf16Bytes));
    BENCH_CHECK_CUDA(cudaMalloc(&context_out_, batch * ContextRow() * kBf16Bytes));
    BENCH_CHECK_CUDA(cudaMalloc(&pools_, PoolBytes(model, batch, context) * copies));
    bench::FillRandomBf16<<<bench::kFillBlocks, 256, 0, stream>>>(static_cast<__nv_bfloat16*>(qkv_),
                                                                  batch * row, 3);
    bench::FillRandomBf16<<<bench::kFillBlocks, 256, 0, stream>>>(
        static_cast<__nv_bfloat16*>(pools_), PoolBytes(model, batch, context) * copies / kBf16Bytes,
        5);
    BENCH_CHECK_CUDA(cudaGetLastError());

    // token_list, positions and slots: token t in slot t at context-1.
    std::vector<int32_t> tokens(3 * static_cast<size_t>(batch));
    for (int32_t t = 0; t < batch; ++t) {
      tokens[t] = t;
      tokens[batch + t] = context - 1;
      tokens[2 * batch + t] = t;
    }
    block_table_.resize(static_cast<size_t>(batch) * blocks_per_sequence_);
    std::iota(block_table_.begin(), block_table_.end(), 0);
    std::mt19937 shuffle(15);
    std::shuffle(block_table_.begin(), block_table_.end(), shuffle);
    const std::vector<float> slopes = bloom::model::AlibiSlopes(model.heads);
    const int64_t scratch_floats =
        cuda::AttentionDecodeScratchFloats(batch, model.heads, model.head_dim, kScratchSplits);
    BENCH_CHECK_CUDA(cudaMalloc(&tokens_, tokens.size() * sizeof(int32_t)));
    BENCH_CHECK_CUDA(cudaMalloc(&block_tables_, block_table_.size() * sizeof(int32_t)));
    BENCH_CHECK_CUDA(cudaMalloc(&slopes_, slopes.size() * sizeof(float)));
    BENCH_CHECK_CUDA(cudaMalloc(&scratch_, scratch_floats * sizeof(float)));
    BENCH_CHECK_CUDA(cudaMemcpy(tokens_, tokens.data(), tokens.size() * sizeof(int32_t),
                                cudaMemcpyHostToDevice));
    BENCH_CHECK_CUDA(cudaMemcpy(block_tables_, block_table_.data(),
                                block_table_.size() * sizeof(int32_t), cudaMemcpyHostToDevice));
    BENCH_CHECK_CUDA(
        cudaMemcpy(slopes_, slopes.data(), slopes.size() * sizeof(float), cudaMemcpyHostToDevice));
    BENCH_CHECK_CUDA(cuda::ClearAttentionDecodeScratch(scratch_, batch, model.heads, model.head_dim,
                                                       kScratchSplits, stream));
    BENCH_CHECK_CUDA(cudaStreamSynchronize(stream));
  }
  ~DecodeSetup() {
    for (void* p : {qkv_, context_out_, pools_, static_cast<void*>(tokens_),
                    static_cast<void*>(block_tables_), static_cast<void*>(slopes_),
                    static_cast<void*>(scratch_)})
      cudaFree(p);
  }
  DecodeSetup(const DecodeSetup&) = delete;
  DecodeSetup& operator=(const DecodeSetup&) = delete;

  // K and V pools of one copy: every slot's blocks, all heads.
  static int64_t PoolBytes(const Model& model, int32_t batch, int32_t context) {
    const int64_t blocks =
        static_cast<int64_t>(batch) * ((context + kKvBlockSize - 1) / kKvBlockSize);
    return 2 * blocks * model.heads * kKvBlockSize * model.head_dim * kBf16Bytes;
  }
  int64_t QkvRow() const { return static_cast<int64_t>(model_.heads) * 3 * model_.head_dim; }
  int64_t ContextRow() const { return static_cast<int64_t>(model_.heads) * model_.head_dim; }
  int32_t splits(cuda::DecodeAttentionKernel kernel) const {
    return DecodeSplits(context_, max_seq_len_, kernel);
  }
  int32_t blocks_per_sequence() const { return blocks_per_sequence_; }
  const std::vector<int32_t>& block_table() const { return block_table_; }
  const void* qkv() const { return qkv_; }
  const void* context_out() const { return context_out_; }
  // Copy c's K pool (its V pool follows).
  uint8_t* Pool(int copy) const {
    return static_cast<uint8_t*>(pools_) + copy * PoolBytes(model_, batch_, context_);
  }

  void Launch(int copy, cuda::DecodeAttentionKernel kernel, cudaStream_t stream) const {
    uint8_t* k = Pool(copy);
    cuda::PagedKvView kv;
    kv.keys = k;
    kv.values = k + PoolBytes(model_, batch_, context_) / 2;
    kv.dtype = DType::kBF16;
    kv.num_heads = model_.heads;
    kv.head_dim = model_.head_dim;
    kv.block_size = kKvBlockSize;
    kv.block_tables = block_tables_;
    kv.max_blocks_per_sequence = blocks_per_sequence_;
    BENCH_CHECK_CUDA(cuda::LaunchAttentionDecode(
        qkv_, tokens_, batch_, tokens_ + batch_, tokens_ + 2 * batch_, slopes_, kv, splits(kernel),
        /*store_kv=*/true, scratch_, context_out_, DType::kBF16, stream, kernel));
  }

 private:
  const Model& model_;
  // The scratch holds the most partials either kernel's splits need.
  static constexpr int32_t kScratchSplits = cuda::kMaxDecodeSplits;
  const int32_t batch_, context_, max_seq_len_, blocks_per_sequence_;
  std::vector<int32_t> block_table_;
  void* qkv_ = nullptr;
  void* context_out_ = nullptr;
  void* pools_ = nullptr;      // copy c's K pool, then its V pool, at Pool(c)
  int32_t* tokens_ = nullptr;  // token_list, positions, slots
  int32_t* block_tables_ = nullptr;
  float* slopes_ = nullptr;
  float* scratch_ = nullptr;
};

float Bf16ToFloat(uint16_t bits) {
  const uint32_t word = static_cast<uint32_t>(bits) << 16;
  float f;
  std::memcpy(&f, &word, sizeof(f));
  return f;
}

std::vector<uint16_t> ToHost(const void* device, int64_t elements) {
  std::vector<uint16_t> host(elements);
  BENCH_CHECK_CUDA(cudaMemcpy(host.data(), device, elements * kBf16Bytes, cudaMemcpyDeviceToHost));
  return host;
}

// The correctness guard: one small point (several splits, a partial last
// block and split) launched twice (the second sees the scratch counters the
// first left), then every (token, head) against softmax(q.K * scale +
// slope * position).V in double over the cache as the launch left it, and
// the stored K and V of position context-1 against the qkv rows they came
// from. Prints the {"kind":"check"} line; false if the kernel is off.
bool CheckAgainstHost(const Model& model, const char* kernel_name,
                      cuda::DecodeAttentionKernel kernel, cudaStream_t stream) {
  constexpr int32_t kBatch = 3, kContext = 777;
  const DecodeSetup setup(model, kBatch, kContext, /*max_seq_len=*/2048, 1, stream);
  setup.Launch(0, kernel, stream);
  setup.Launch(0, kernel, stream);
  BENCH_CHECK_CUDA(cudaStreamSynchronize(stream));
  const int64_t pool_elements = DecodeSetup::PoolBytes(model, kBatch, kContext) / 2 / kBf16Bytes;
  const std::vector<uint16_t> qkv = ToHost(setup.qkv(), kBatch * setup.QkvRow());
  const std::vector<uint16_t> out = ToHost(setup.context_out(), kBatch * setup.ContextRow());
  const std::vector<uint16_t> keys = ToHost(setup.Pool(0), pool_elements);
  const std::vector<uint16_t> values =
      ToHost(setup.Pool(0) + pool_elements * kBf16Bytes, pool_elements);
  const std::vector<float> slopes = bloom::model::AlibiSlopes(model.heads);
  const int32_t d = model.head_dim;
  const auto offset = [&](int32_t slot, int32_t position, int32_t head) {
    const int64_t block =
        setup.block_table()[static_cast<size_t>(slot) * setup.blocks_per_sequence() +
                            position / kKvBlockSize];
    return ((block * model.heads + head) * kKvBlockSize + position % kKvBlockSize) * d;
  };
  bool stored_ok = true;
  double max_err = 0.0, max_ref = 0.0;
  std::vector<double> scores(kContext), ref(d);
  for (int32_t t = 0; t < kBatch; ++t) {
    for (int32_t h = 0; h < model.heads; ++h) {
      const uint16_t* q = qkv.data() + t * setup.QkvRow() + h * 3 * d;
      const int64_t own = offset(t, kContext - 1, h);
      stored_ok = stored_ok && std::memcmp(&keys[own], q + d, d * kBf16Bytes) == 0 &&
                  std::memcmp(&values[own], q + 2 * d, d * kBf16Bytes) == 0;
      double top = -INFINITY;
      for (int32_t j = 0; j < kContext; ++j) {
        double dot = 0.0;
        const int64_t k = offset(t, j, h);
        for (int32_t i = 0; i < d; ++i) dot += double{Bf16ToFloat(q[i])} * Bf16ToFloat(keys[k + i]);
        scores[j] = dot / std::sqrt(double{1.0} * d) + double{slopes[h]} * j;
        top = std::max(top, scores[j]);
      }
      double sum = 0.0;
      std::fill(ref.begin(), ref.end(), 0.0);
      for (int32_t j = 0; j < kContext; ++j) {
        const double p = std::exp(scores[j] - top);
        sum += p;
        const int64_t v = offset(t, j, h);
        for (int32_t i = 0; i < d; ++i) ref[i] += p * Bf16ToFloat(values[v + i]);
      }
      for (int32_t i = 0; i < d; ++i) {
        const double expected = ref[i] / sum;
        const double got = Bf16ToFloat(out[t * setup.ContextRow() + h * d + i]);
        max_ref = std::max(max_ref, std::abs(expected));
        // A NaN output fails the check (it would slip through std::max).
        max_err = std::isfinite(got) ? std::max(max_err, std::abs(got - expected)) : INFINITY;
      }
    }
  }
  const double tolerance = 2e-2 * max_ref;
  const bool ok = stored_ok && max_err <= tolerance;
  // JSON has no infinity: a non-finite output reads as null.
  char err_text[32] = "null";
  if (std::isfinite(max_err)) std::snprintf(err_text, sizeof(err_text), "%.3e", max_err);
  std::printf(
      "{\"kind\":\"check\",\"model\":\"%s\",\"kernel\":\"%s\",\"batch\":%d,"
      "\"context\":%d,\"splits\":%d,"
      "\"max_abs_err\":%s,\"max_abs_ref\":%.3e,\"tolerance\":%.3e,\"stored_kv_ok\":%s,"
      "\"ok\":%s}\n",
      model.name, kernel_name, kBatch, kContext, setup.splits(kernel), err_text, max_ref, tolerance,
      stored_ok ? "true" : "false", ok ? "true" : "false");
  std::fflush(stdout);
  return ok;
}

struct Kernel {
  const char* name;
  cuda::DecodeAttentionKernel kernel;
};
const Kernel kKernels[] = {{"warp", cuda::DecodeAttentionKernel::kAuto},
                           {"block", cuda::DecodeAttentionKernel::kBlockPerSplit}};

// One point of the sweep: a line per kernel, or a skip line.
void TimePoint(const Model& model, int32_t batch, int32_t context, int32_t max_seq_len, int reps,
               double l2_bytes, double copy_bytes_per_s, cudaStream_t stream) {
  const double elements = static_cast<double>(batch) * model.heads * model.head_dim;
  const double kv_read = elements * context * 2 * kBf16Bytes;
  const int64_t pool_bytes = DecodeSetup::PoolBytes(model, batch, context);
  size_t free_bytes = 0, total_bytes = 0;
  BENCH_CHECK_CUDA(cudaMemGetInfo(&free_bytes, &total_bytes));
  const double budget = static_cast<double>(free_bytes) - kMemoryReserve;
  if (kv_read > kMaxKvBytes || pool_bytes > budget) {
    std::printf(
        "{\"kind\":\"skip\",\"model\":\"%s\",\"batch\":%d,\"context\":%d,\"kv_bytes\":%.0f,"
        "\"reason\":\"%s\"}\n",
        model.name, batch, context, kv_read,
        kv_read > kMaxKvBytes ? "K and V over 40 GB" : "K and V over the free memory");
    std::fflush(stdout);
    return;
  }
  int copies = static_cast<int>(std::max(1.0, std::ceil(2.5 * l2_bytes / pool_bytes)));
  const bool l2_resident_possible = copies > 1 && static_cast<double>(pool_bytes) * copies > budget;
  if (l2_resident_possible) copies = 1;
  const DecodeSetup setup(model, batch, context, max_seq_len, copies, stream);
  for (const Kernel& kernel : kKernels) {
    const float ms = bench::TimeGraphOverCopies(
        copies, reps, stream, [&](int c) { setup.Launch(c, kernel.kernel, stream); });
    // q read; own K and V written; the context written.
    const double bytes = kv_read + elements * kBf16Bytes * (1 + 2 + 1);
    const double rate = bytes / (ms * 1e-3);
    std::printf(
        "{\"kind\":\"attention_decode\",\"model\":\"%s\",\"kernel\":\"%s\",\"heads\":%d,"
        "\"head_dim\":%d,\"batch\":%d,\"context\":%d,\"max_seq_len\":%d,\"splits\":%d,"
        "\"ms\":%.5f,\"bytes\":%.0f,\"kv_read_bytes\":%.0f,\"gb_per_s\":%.1f,"
        "\"fraction_of_copy\":%.3f,\"copies\":%d,\"l2_resident_possible\":%s}\n",
        model.name, kernel.name, model.heads, model.head_dim, batch, context, max_seq_len,
        setup.splits(kernel.kernel), ms, bytes, kv_read, rate / 1e9, rate / copy_bytes_per_s,
        copies, l2_resident_possible ? "true" : "false");
    std::fflush(stdout);
  }
}

// "1,8,32" into integers in [1, max]; false on anything else.
bool ParseList(const char* text, long max, std::vector<int32_t>* out) {
  out->clear();
  const char* p = text;
  while (true) {
    char* end = nullptr;
    const long value = std::strtol(p, &end, 10);
    if (end == p || value < 1 || value > max || (*end != ',' && *end != '\0')) return false;
    out->push_back(static_cast<int32_t>(value));
    if (*end == '\0') return true;
    p = end + 1;
  }
}

struct Options {
  int reps = 30;
  int32_t max_seq_len = 2048;
  std::vector<const Model*> models = {&kModels[0], &kModels[1]};
  std::vector<int32_t> batches = {1, 8, 32, 64, 128};
  std::vector<int32_t> contexts = {32, 128, 512, 2048, 8192};
};

bool ParseModels(const std::string& text, std::vector<const Model*>* out) {
  out->clear();
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    const std::string name = text.substr(start, comma - start);
    const Model* found = nullptr;
    for (const Model& m : kModels) {
      if (name == m.name) found = &m;
    }
    if (found == nullptr) return false;
    out->push_back(found);
    start = comma + 1;
  }
  return true;
}

// False (and one error line) on a flag it does not know or a bad value.
bool ParseFlags(int argc, char** argv, Options* options) {
  for (int i = 1; i < argc; ++i) {
    const char* arg = argv[i];
    std::vector<int32_t> reps;
    bool ok = false;
    if (std::strncmp(arg, "--reps=", 7) == 0) {
      ok = ParseList(arg + 7, 100000, &reps) && reps.size() == 1;
      if (ok) options->reps = reps[0];
    } else if (std::strncmp(arg, "--max-seq-len=", 14) == 0) {
      ok = ParseList(arg + 14, 1 << 20, &reps) && reps.size() == 1;
      if (ok) options->max_seq_len = reps[0];
    } else if (std::strncmp(arg, "--models=", 9) == 0) {
      ok = ParseModels(arg + 9, &options->models);
    } else if (std::strncmp(arg, "--batches=", 10) == 0) {
      ok = ParseList(arg + 10, 65535, &options->batches);
    } else if (std::strncmp(arg, "--contexts=", 11) == 0) {
      ok = ParseList(arg + 11, 1 << 20, &options->contexts);
    }
    if (!ok) {
      std::fprintf(stderr,
                   "attention_decode_bench: bad argument '%s' (expected --reps=N, "
                   "--max-seq-len=N, --models=7b1,176b, --batches=N,... or --contexts=N,..., each "
                   "N a positive "
                   "integer)\n",
                   arg);
      return false;
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  if (!ParseFlags(argc, argv, &options)) return 2;
  cudaDeviceProp prop{};
  BENCH_CHECK_CUDA(cudaGetDeviceProperties(&prop, 0));
  cudaStream_t stream;
  BENCH_CHECK_CUDA(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
  const double copy_bytes_per_s = bench::MeasureCopyBandwidth(prop, stream);
  int l2_bytes = 0;
  BENCH_CHECK_CUDA(cudaDeviceGetAttribute(&l2_bytes, cudaDevAttrL2CacheSize, 0));
  for (const Model* model : options.models) {
    for (const Kernel& kernel : kKernels) {
      if (!CheckAgainstHost(*model, kernel.name, kernel.kernel, stream)) return 1;
    }
  }
  for (const Model* model : options.models) {
    for (const int32_t batch : options.batches) {
      for (const int32_t context : options.contexts) {
        TimePoint(*model, batch, context, options.max_seq_len, options.reps, l2_bytes,
                  copy_bytes_per_s, stream);
      }
    }
  }
  BENCH_CHECK_CUDA(cudaStreamDestroy(stream));
  return 0;
}
