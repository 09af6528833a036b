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

class QuantizedDeviceLayout;  // runtime/cuda/quantized_weights.h

struct WeightDestination {
  uint32_t tensor;  // index in the plan
  void* memory;     // where the converted weight goes
};

// `device` lists resident weights (device memory); `host` the tensors of
// memory tiering's host units (their places in the pinned packed units,
// which the copy stream streams each step), converted on the host without
// staging. Both lists share one pass over the files. `on_loaded(done,
// total)` is called after each weight has been queued (may be empty).
// Returns after every copy has completed. With `quantized`, the weights it
// keeps in the tile layout are staged and repacked into their places.
absl::Status LoadWeights(const plan::Plan& plan, const std::string& checkpoint_dir,
                         const std::vector<WeightDestination>& device,
                         const std::vector<WeightDestination>& host, cudaStream_t stream,
                         const std::function<void(size_t, size_t)>& on_loaded,
                         const QuantizedDeviceLayout* quantized = nullptr);

}  // namespace bloom
