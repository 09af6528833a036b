// Quantized weights in the CUDA executor (docs/quantization.md): where a
// weight's values, scales and zero points live on the device, and the
// device view the kernels (kernels/cuda/quantized_gemm.cuh, dequantize.cuh)
// read.
//
// A resident weight the tensor-core product takes (QuantizedTilesApply) is
// kept in the kernels' tile layout only: the loader stages its row-major
// parts in scratch and repacks them (LaunchRepackQuantizedTiles) into the
// values tensor's place, which is sized for the tiles; an int4 weight's
// scales and zero points then live inside the tiles and take no memory of
// their own (int8 keeps its row-major scales). Weights in a streamed slot,
// and shapes the tiles do not take, stay row-major as the plan stores them
// and run on the kernels' general path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>

#include "kernels/cuda/dequantize.cuh"
#include "runtime/cuda/cuda_op.h"
#include "runtime/plan/plan_generated.h"

namespace bloom {

// One quantized weight of a plan: its tensors and how they are stored.
struct QuantizedGroup {
  uint32_t values = 0;
  uint32_t scales = 0;
  int64_t zero_points = -1;  // tensor index, or -1 (int8: symmetric)
  DType format = DType::kI8;
  int64_t rows = 0, cols = 0, group_size = 0;
  bool tiled = false;  // kept in the tile layout
};

class QuantizedDeviceLayout {
 public:
  // The quantized weights of `plan`, found from the instructions that read
  // them; `streamed(tensor)` says whether a weight lives in a streamed slot.
  QuantizedDeviceLayout(const plan::Plan& plan, const std::function<bool(uint32_t)>& streamed);

  // The weight whose values are tensor `values`, or null.
  const QuantizedGroup* GroupOfValues(uint32_t values) const;
  // Bytes of device memory weight tensor `index` takes: a tiled weight's
  // values take the tile buffer, its int4 scales and zero points nothing;
  // everything else BytesOf.
  size_t DeviceBytes(const plan::Plan& plan, uint32_t index) const;
  // Whether tensor `index` is kept inside another's tiles (not loaded).
  bool InsideTiles(uint32_t index) const;
  // Staging bytes the loader needs for the largest tiled weight's
  // row-major parts (0: none is tiled).
  size_t StagingBytes() const { return staging_bytes_; }

 private:
  std::map<uint32_t, QuantizedGroup> by_values_;
  std::map<uint32_t, uint32_t> inside_tiles_;  // scales / zero points -> values
  size_t staging_bytes_ = 0;
};

// The device view of the weight whose operands start at `first` of
// `instruction` (its values, scales [, zero points]).
cuda::QuantizedWeight DeviceQuantizedWeight(const CudaOpContext& context,
                                            const plan::Instruction& instruction, size_t first);

// The row-major view of `group` with its parts at `values`, `scales` and
// `zero_points` (device memory).
cuda::QuantizedWeight RowMajorView(const QuantizedGroup& group, const void* values,
                                   const void* scales, const void* zero_points);

}  // namespace bloom
