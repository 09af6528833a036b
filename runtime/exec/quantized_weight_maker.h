// Makes the tensors of weights that a plan quantizes at load (plan.fbs's
// QuantizeAtLoad; docs/quantization.md): the float source (a checkpoint
// tensor or its slice, or a generated file's values) is read once and
// quantized by runtime/support/weight_quantizer.h, and each of its three
// plan tensors (values, scales, zero points) is a view of that result.
// Both executors load through it, and bloom-compile --pack-weights writes
// what it makes, so a quantized weight holds the same bytes on every path.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "runtime/exec/weight_source.h"
#include "runtime/plan/plan_generated.h"
#include "runtime/support/weight_quantizer.h"

namespace bloom {

// The runtime's format for a plan's.
WeightFormat ToWeightFormat(plan::WeightFormat format);

class QuantizedWeightMaker {
 public:
  // The bytes of `tensor` (a weight whose source has `quantize`) in its plan
  // dtype: I8 or packed I4 values, F16 scales, I8 zero points. `stored` is
  // its source as FindStoredWeight found it. The source is quantized when
  // it differs from the previous call's (a weight's parts are declared
  // together, so each source is read and quantized once); the view is valid
  // until the next call.
  absl::StatusOr<absl::Span<const uint8_t>> Make(const plan::Tensor& tensor,
                                                 const StoredWeight& stored);

  // Bytes of the float sources read so far, as stored.
  int64_t source_bytes_read() const { return source_bytes_read_; }

 private:
  std::string key_;  // the source quantized last: file, tensor, slice, format, group
  QuantizedMatrix matrix_;
  std::vector<float> floats_;  // the source as float32, reused
  int64_t source_bytes_read_ = 0;
};

}  // namespace bloom
