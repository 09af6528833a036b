#include "runtime/cuda/weight_upload.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <optional>

#include "absl/strings/str_cat.h"
#include "runtime/checkpoint/safetensors.h"
#include "runtime/exec/cpu_executor.h"
#include "runtime/cuda/cuda_status.h"
#include "runtime/cuda/device_buffer.h"
#include "runtime/support/dtype.h"
#include "runtime/support/status_macros.h"

namespace bloom {
namespace {

// Elements per staging chunk: 16 Mi elements (64 MiB as fp32).
constexpr size_t kChunkElements = size_t{16} << 20;

std::optional<DType> ToRuntimeDType(plan::DType dtype) {
  switch (dtype) {
    case plan::DType::F32: return DType::kF32;
    case plan::DType::F16: return DType::kF16;
    case plan::DType::BF16: return DType::kBF16;
    case plan::DType::I32: return DType::kI32;
  }
  return std::nullopt;
}

}  // namespace

absl::Status UploadWeights(const plan::Plan& plan, const std::string& dir,
                           const std::vector<WeightDestination>& weights, cudaStream_t stream,
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

  const auto* tensors = plan.tensors();
  // Files as the plan names them (a checkpoint's shards, or a pre-sharded
  // rank's own rank<R>.safetensors), each opened once and only if needed.
  std::map<std::string, std::unique_ptr<SafetensorsFile>> files;
  std::vector<float> sliced;
  int next = 0;
  size_t done = 0;
  for (const WeightDestination& destination : weights) {
    const plan::Tensor* tensor = tensors->Get(destination.tensor);
    const auto* source = tensor->source();
    const std::string path = absl::StrCat(dir, "/", source->file()->str());
    const std::string what = absl::StrCat(path, ": tensor '", source->tensor()->str(),
                                          "' (plan weight '", tensor->name()->str(), "')");
    std::unique_ptr<SafetensorsFile>& file = files[source->file()->str()];
    if (file == nullptr) {
      BLOOM_ASSIGN_OR_RETURN(SafetensorsFile opened, SafetensorsFile::Open(path));
      file = std::make_unique<SafetensorsFile>(std::move(opened));
    }
    const SafetensorsTensor* stored = file->Find(source->tensor()->str());
    if (stored == nullptr) {
      return absl::FailedPreconditionError(
          absl::StrCat(what, " is not in that file; recompile the plan for this checkpoint"));
    }
    if (ToRuntimeDType(source->dtype()) != stored->dtype) {
      return absl::FailedPreconditionError(absl::StrCat(
          what, " is ", std::string(DTypeName(stored->dtype)), " but the plan expects ",
          plan::EnumNameDType(source->dtype()), "; recompile the plan for this checkpoint"));
    }
    // The stored shape must equal the plan's, except along a slice's
    // dimension (tensor parallelism), which must hold the slice.
    const std::vector<int64_t> expected(tensor->shape()->begin(), tensor->shape()->end());
    const int dim = source->slice_dim();
    bool shape_ok = stored->shape.size() == expected.size();
    for (size_t d = 0; shape_ok && d < expected.size(); ++d) {
      shape_ok = static_cast<int>(d) == dim ? source->slice_end() <= stored->shape[d]
                                            : stored->shape[d] == expected[d];
    }
    if (!shape_ok) {
      return absl::FailedPreconditionError(
          absl::StrCat(what, " has a shape that does not hold the plan's; recompile the plan"));
    }
    DType from = stored->dtype;
    const DType to = *ToRuntimeDType(tensor->dtype());
    size_t count = 1;
    for (int64_t d : expected) count *= static_cast<size_t>(d);
    const uint8_t* src = file->Data(*stored).data();
    if (dim != -1) {
      // A slice is gathered on the host first (one run per row of a column
      // slice), reading only its bytes, then converted like a whole tensor.
      sliced.resize(count);
      BLOOM_RETURN_IF_ERROR(ReadTensorSliceAsFloat32(
          stored->dtype, stored->shape, file->Data(*stored), dim, source->slice_begin(),
          source->slice_end(), absl::MakeSpan(sliced), what));
      src = reinterpret_cast<const uint8_t*>(sliced.data());
      from = DType::kF32;
      // The next refill of `sliced` must not race the copies out of it.
      BLOOM_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream), "weight upload");
    }
    uint8_t* dst = static_cast<uint8_t*>(destination.device);
    for (size_t begin = 0; begin < count; begin += kChunkElements) {
      const size_t n = std::min(kChunkElements, count - begin);
      // Wait until the copy that last read this staging buffer is done.
      BLOOM_CUDA_RETURN_IF_ERROR(cudaEventSynchronize(free_again[next]), "weight upload");
      uint8_t* stage = staging[next].data();
      if (from == to) {
        std::memcpy(stage, src + begin * DTypeSize(from), n * DTypeSize(from));
      } else {
        ConvertToFloat32(from, src + begin * DTypeSize(from), widened.data(), n);
        ConvertFromFloat32(to, widened.data(), stage, n);
      }
      BLOOM_CUDA_RETURN_IF_ERROR(
          cudaMemcpyAsync(dst + begin * DTypeSize(to), stage, n * DTypeSize(to),
                          cudaMemcpyHostToDevice, stream),
          absl::StrCat("copying ", what, " to the GPU"));
      BLOOM_CUDA_RETURN_IF_ERROR(cudaEventRecord(free_again[next], stream), "cudaEventRecord");
      next ^= 1;
    }
    if (on_loaded) on_loaded(++done, weights.size());
  }
  BLOOM_CUDA_RETURN_IF_ERROR(cudaStreamSynchronize(stream), "weight upload");
  return absl::OkStatus();
}

}  // namespace bloom
