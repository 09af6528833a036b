// What lowering to the plan dialect requires of a bloom graph, in one place
// so that --bloom-plan-memory and --bloom-lower-to-plan agree: every op has
// a plan kernel (the fused forms), a precision, and (for lowering) arena
// offsets.
#pragma once

#include "mlir/IR/Operation.h"
#include "mlir/Support/LogicalResult.h"

namespace bloom {

// True for the bloom ops that map to plan kernels (or to none, as
// bloom.weight): weight, embedding, layer_norm, add_layer_norm, linear (with
// or without the gelu epilogue), gelu, add, cast, alibi_attention (fused),
// gather_rows, lm_head, and the collectives all_reduce and all_gather. The
// unfused attention ops have no kernel.
bool HasKernel(mlir::Operation* op);

// Emits "NAME has no kernel; run --bloom-fuse first" on the first op of
// `step` without a kernel.
mlir::LogicalResult CheckKernels(mlir::Operation* step);

// Emits "... has no precision; run --bloom-assign-precision first" on the
// first computing op without one (alibi_attention needs two: its own and
// qkv_precision).
mlir::LogicalResult CheckPrecisionAssigned(mlir::Operation* step);

// The attribute names that --bloom-plan-memory writes.
inline constexpr char kArenaOffsetsAttr[] = "bloom.arena_offsets";
inline constexpr char kInputOffsetsAttr[] = "bloom.input_offsets";
inline constexpr char kMemoryPlanAttr[] = "bloom.memory";
// The weights' bytes by storage format (WeightFormats.h); they sum to
// bloom.memory's weights_bytes.
inline constexpr char kBytesByFormatAttr[] = "bloom.bytes_by_format";
inline constexpr char kPrecisionPolicyAttr[] = "bloom.precision_policy";
// What --bloom-partition-tp records: this graph is rank tp_rank of tp_size.
inline constexpr char kTpRankAttr[] = "bloom.tp_rank";
inline constexpr char kTpSizeAttr[] = "bloom.tp_size";
// What --bloom-partition-pp records: this graph is stage pp_stage of
// pp_size, and holds layers [pp_layers[0], pp_layers[1]).
inline constexpr char kPpStageAttr[] = "bloom.pp_stage";
inline constexpr char kPpSizeAttr[] = "bloom.pp_size";
inline constexpr char kPpLayersAttr[] = "bloom.pp_layers";
// What --bloom-quantize-weights records: weights (int8|int4), group_size,
// lm_head.
inline constexpr char kQuantizationAttr[] = "bloom.quantization";
// What --bloom-tier-memory records: the module's placement (units, slots,
// bytes per tier, the cost model's figures), and on each streamed
// bloom.weight its unit and byte offset inside the unit.
inline constexpr char kTieringAttr[] = "bloom.tiering";
inline constexpr char kStreamUnitAttr[] = "bloom.stream_unit";
inline constexpr char kSlotOffsetAttr[] = "bloom.slot_offset";

}  // namespace bloom
