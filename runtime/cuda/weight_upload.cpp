#include "runtime/cuda/weight_upload.h"

#include <algorithm>
#include <cstring>
#include <optional>

#include "absl/strings/str_cat.h"
#include "runtime/checkpoint/checkpoint.h"
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
  BLOOM_ASSIGN_OR_RETURN(Checkpoint checkpoint, Checkpoint::Open(dir));
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
  int next = 0;
  size_t done = 0;
  for (const WeightDestination& destination : weights) {
    const plan::Tensor* tensor = tensors->Get(destination.tensor);
    const auto* source = tensor->source();
    const std::string what = absl::StrCat(dir, ": tensor '", source->tensor()->str(),
                                          "' (plan weight '", tensor->name()->str(), "')");
    if (source->slice_dim() != -1) {
      return absl::UnimplementedError(
          absl::StrCat(what, " is a slice (tensor parallelism); the CUDA executor loads whole tensors"));
    }
    BLOOM_ASSIGN_OR_RETURN(CheckpointTensorRef ref, checkpoint.Find(source->tensor()->str()));
    if (ref.file != source->file()->str()) {
      return absl::FailedPreconditionError(absl::StrCat(
          what, " is in '", ref.file, "' but the plan expects '", source->file()->str(),
          "'; recompile the plan for this checkpoint"));
    }
    if (ToRuntimeDType(source->dtype()) != ref.tensor->dtype) {
      return absl::FailedPreconditionError(absl::StrCat(
          what, " is ", std::string(DTypeName(ref.tensor->dtype)), " but the plan expects ",
          plan::EnumNameDType(source->dtype()), "; recompile the plan for this checkpoint"));
    }
    const std::vector<int64_t> expected(tensor->shape()->begin(), tensor->shape()->end());
    if (ref.tensor->shape != expected) {
      return absl::FailedPreconditionError(
          absl::StrCat(what, " has a different shape from the plan's; recompile the plan"));
    }
    const DType from = ref.tensor->dtype;
    const DType to = *ToRuntimeDType(tensor->dtype());
    const size_t count = static_cast<size_t>(ref.tensor->NumElements());
    const uint8_t* src = ref.data.data();
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
