// Moves the plan's weights from the mmapped safetensors files (the files the
// plan names: checkpoint shards or a pre-sharded rank's own file; a
// tensor-parallel slice reads only its bytes) into device memory, each in
// its plan storage dtype. The host converts a chunk at a
// time into one of two pinned staging buffers while the copy engine moves
// the other one to the device (cudaMemcpyAsync), so conversion and transfer
// overlap; an event per staging buffer says when it may be refilled.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "runtime/plan/plan_generated.h"

namespace bloom {

struct WeightDestination {
  uint32_t tensor;  // index in the plan
  void* device;     // where the converted weight goes (host memory for PackWeights)
};

// `on_loaded(done, total)` is called after each weight has been queued
// (may be empty). Returns after every copy has completed.
absl::Status UploadWeights(const plan::Plan& plan, const std::string& checkpoint_dir,
                           const std::vector<WeightDestination>& weights, cudaStream_t stream,
                           const std::function<void(size_t, size_t)>& on_loaded);

// The same reads and conversions into host memory (the packed host units of
// memory tiering, which the copy stream streams to the device each step).
absl::Status PackWeights(const plan::Plan& plan, const std::string& checkpoint_dir,
                         const std::vector<WeightDestination>& weights,
                         const std::function<void(size_t, size_t)>& on_loaded);

}  // namespace bloom
