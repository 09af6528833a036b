// Weights in a dtype other than their storage dtype, for Linears whose
// dtype mix cuBLASLt does not take as stored (none for plans whose Linear
// operands agree). One copy per (tensor, dtype), however many Linears read
// it, made on first request from the loaded weight.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/cuda/cuda_op.h"

namespace bloom {

class ConvertedWeights {
 public:
  // `streamed(tensor)`: whether the weight lives in a streamed slot (whose
  // contents change from step to step, so no copy of it can be kept).
  ConvertedWeights(const plan::Plan& plan, const std::vector<DeviceTensor>& tensors,
                   std::string plan_label, std::function<bool(uint32_t)> streamed)
      : plan_(plan),
        tensors_(tensors),
        label_(std::move(plan_label)),
        streamed_(std::move(streamed)) {}

  // Weight `tensor` in `dtype`, converted on `resources.stream` the first
  // time it is asked for.
  absl::StatusOr<const void*> Get(uint32_t tensor, DType dtype, const CudaOpResources& resources);

 private:
  const plan::Plan& plan_;
  const std::vector<DeviceTensor>& tensors_;
  std::string label_;
  std::function<bool(uint32_t)> streamed_;
  std::map<std::pair<uint32_t, DType>, DeviceBuffer> copies_;
};

}  // namespace bloom
