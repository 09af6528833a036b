#include "runtime/cuda/converted_weights.h"

#include "absl/strings/str_cat.h"
#include "kernels/cuda/cast.cuh"
#include "runtime/cuda/cuda_status.h"
#include "runtime/support/status_macros.h"

namespace bloom {

absl::StatusOr<const void*> ConvertedWeights::Get(uint32_t tensor, DType dtype,
                                                  const CudaOpResources& resources) {
  const auto key = std::make_pair(tensor, dtype);
  if (auto found = copies_.find(key); found != copies_.end()) return found->second.data();
  const plan::Tensor& t = *plan_.tensors()->Get(tensor);
  if (streamed_(tensor)) {
    return absl::UnimplementedError(
        absl::StrCat(label_, ": streamed weight '", t.name()->str(),
                     "' needs a dtype conversion for its Linear, which a weight slot cannot hold"));
  }
  const DeviceTensor& stored = tensors_[tensor];
  const int64_t count = ElementsOf(t, t.shape()->Get(0));
  BLOOM_ASSIGN_OR_RETURN(
      DeviceBuffer copy,
      resources.allocate(DeviceAlignUp(count * DTypeSize(dtype)), "converted weights"));
  BLOOM_CUDA_RETURN_IF_ERROR(
      cuda::LaunchCast(stored.data, stored.dtype, count, copy.data(), dtype, resources.stream),
      "converting a weight");
  const void* data = copy.data();
  copies_.emplace(key, std::move(copy));
  return data;
}

}  // namespace bloom
