#include "runtime/cuda/weight_upload.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "runtime/checkpoint/safetensors.h"
#include "runtime/exec/weight_source.h"
#include "runtime/cuda/cuda_status.h"
#include "runtime/cuda/device_buffer.h"
#include "runtime/support/dtype.h"
#include "runtime/support/status_macros.h"

namespace bloom {
namespace {

// Elements per staging chunk: 16 Mi elements (64 MiB as fp32).
constexpr size_t kChunkElements = size_t{16} << 20;

// A plan weight found in its file and checked against the plan: the stored
// tensor's bytes, already gathered into float32 when the plan takes a slice
// of it (only the slice's bytes are read) or the file generates its values.
struct ResolvedWeight {
  std::string what;  // "<file>: tensor '<stored>' (plan weight '<name>')"
  DType from = DType::kF32;
  DType to = DType::kF32;
  size_t count = 0;  // elements of the plan's (possibly sliced) shape
  const uint8_t* data = nullptr;
};

// `sliced` holds a slice's gathered values; it must outlive the result's use.
absl::StatusOr<ResolvedWeight> ResolveWeight(const plan::Tensor& tensor, const std::string& dir,
                                             WeightFiles& files, std::vector<float>& sliced) {
  BLOOM_ASSIGN_OR_RETURN(StoredWeight found, FindStoredWeight(tensor, dir, files));
  const SafetensorsTensor* stored = found.tensor;
  const int dim = tensor.source()->slice_dim();
  ResolvedWeight weight;
  weight.what = std::move(found.what);
  weight.from = stored->dtype;
  weight.to = *ToRuntimeDType(tensor.dtype());
  weight.count = 1;
  for (int64_t d : *tensor.shape()) weight.count *= static_cast<size_t>(d);
  weight.data = found.data.data();
  if (dim != -1 || found.file->generated()) {
    // A slice is gathered on the host first (one run per row of a column
    // slice), reading only its bytes, then converted like a whole tensor;
    // a generated file's values are made there.
    sliced.resize(weight.count);
    BLOOM_RETURN_IF_ERROR(found.file->ReadSliceAsFloat32(
        *stored, dim, tensor.source()->slice_begin(), tensor.source()->slice_end(),
        absl::MakeSpan(sliced), weight.what));
    weight.data = reinterpret_cast<const uint8_t*>(sliced.data());
    weight.from = DType::kF32;
  }
  return weight;
}

// Converts elements [begin, begin + n) of `weight` into `dst` (its storage
// dtype), widening through `widened` when the dtypes differ.
void ConvertChunk(const ResolvedWeight& weight, size_t begin, size_t n, std::vector<float>& widened,
                  uint8_t* dst) {
  const uint8_t* src = weight.data + begin * DTypeSize(weight.from);
  if (weight.from == weight.to) {
    std::memcpy(dst, src, n * DTypeSize(weight.from));
  } else {
    ConvertToFloat32(weight.from, src, widened.data(), n);
    ConvertFromFloat32(weight.to, widened.data(), dst, n);
  }
}

}  // namespace

absl::Status LoadWeights(const plan::Plan& plan, const std::string& dir,
                         const std::vector<WeightDestination>& device,
                         const std::vector<WeightDestination>& host, cudaStream_t stream,
                         const std::function<void(size_t, size_t)>& on_loaded) {
  PinnedBuffer staging[2];
  cudaEvent_t free_again[2] = {nullptr, nullptr};
  for (int i = 0; i < 2; ++i) {
    BLOOM_ASSIGN_OR_RETURN(staging[i], PinnedBuffer::Allocate(kChunkElements * sizeof(float),
                                                              "weight staging"));
    BLOOM_CUDA_RETURN_IF_ERROR(cudaEventCreateWithFlags(&free_again[i], cudaEventDisableTiming),
                               "cudaEventCreate");
  }
  struct EventCleanup {
    cudaEvent_t* events;
    ~EventCleanup() {
      for (int i = 0; i < 2; ++i) cudaEventDestroy(events[i]);
    }
  } cleanup{free_again};
  std::vector<float> widened(kChunkElements);

  WeightFiles files;  // shared by both lists: each file is opened once
  std::vector<float> sliced;
  int next = 0;
  size_t done = 0;
  const size_t total = device.size() + host.size();
  for (size_t i = 0; i < total; ++i) {
    const bool to_device = i < device.size();
    const WeightDestination& destination = to_device ? device[i] : host[i - device.size()];
    BLOOM_ASSIGN_OR_RETURN(
        ResolvedWeight weight,
        ResolveWeight(*plan.tensors()->Get(destination.tensor), dir, files, sliced));
    uint8_t* dst = static_cast<uint8_t*>(destination.memory);
    for (size_t begin = 0; begin < weight.count; begin += kChunkElements) {
      const size_t n = std::min(kChunkElements, weight.count - begin);
      uint8_t* out = dst + begin * DTypeSize(weight.to);
      if (!to_device) {
        ConvertChunk(weight, begin, n, widened, out);
        continue;
      }
      // Wait until the copy that last read this staging buffer is done.
      BLOOM_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(free_again[next]), "weight upload");
      ConvertChunk(weight, begin, n, widened, staging[next].data());
      BLOOM_CUDA_RETURN_IF_ERROR(cudaMemcpyAsync(out, staging[next].data(),
                                                 n * DTypeSize(weight.to),
                                                 cudaMemcpyHostToDevice, stream),
                                 absl::StrCat("copying ", weight.what, " to the GPU"));
      BLOOM_CUDA_RETURN_IF_ERROR(cudaEventRecord(free_again[next], stream), "cudaEventRecord");
      next ^= 1;
    }
    if (on_loaded) on_loaded(++done, total);
  }
  BLOOM_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream), "weight upload");
  return absl::OkStatus();
}

}  // namespace bloom
