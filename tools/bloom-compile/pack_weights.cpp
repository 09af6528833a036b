#include "tools/bloom-compile/pack_weights.h"

#include <algorithm>
#include <functional>
#include <numeric>
#include <optional>
#include <vector>

#include "absl/strings/str_cat.h"
#include "dialects/Plan/PlanOps.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "mlir/IR/Builders.h"
#include "runtime/checkpoint/safetensors_writer.h"
#include "runtime/support/status_macros.h"

namespace bloom {
namespace {

// The storage dtype of a plan.weight's result: a float type for any
// weight, i8 / i4 only for a quantized weight's values or zero points.
std::optional<DType> ToDType(mlir::Type type) {
  if (type.isF32()) return DType::kF32;
  if (type.isF16()) return DType::kF16;
  if (type.isBF16()) return DType::kBF16;
  if (type.isInteger(8)) return DType::kI8;
  if (type.isInteger(4)) return DType::kI4;
  return std::nullopt;
}

// How a quantize(...) weight's source is quantized, and which part of the
// result the weight is.
struct QuantizeSpec {
  WeightFormat format = WeightFormat::kInt8PerChannel;
  int64_t group_size = 0;  // K for int8
  plan_ir::QuantizedPart part = plan_ir::QuantizedPart::Values;
};

// One weight to pack: where it comes from and what it becomes.
struct PackedWeight {
  plan_ir::WeightOp op;
  std::string stored_name;     // the checkpoint's tensor
  int64_t slice_dim = -1;      // -1: the whole tensor
  int64_t slice_begin = 0, slice_end = 0;
  std::optional<QuantizeSpec> quantize;  // a part of a weight quantized at load
  SafetensorsEntry entry;      // name, storage dtype, (sliced) shape
};

// The part of a checkpoint tensor that a weight reads, as a matrix: rows
// [row_begin, row_end) × columns [col_begin, col_end). A 1-D tensor is one
// row, sliced along its only dimension.
struct SourceSlice {
  CheckpointTensorRef ref;
  int rank = 2;
  bool slices_columns = false;
  int64_t row_begin = 0, row_end = 0, col_begin = 0, col_end = 0;
  std::string what;  // "<checkpoint dir>: tensor '<name>'"

  int64_t rows() const { return row_end - row_begin; }
  int64_t cols() const { return col_end - col_begin; }
};

absl::StatusOr<SourceSlice> FindSlice(const Checkpoint& checkpoint, const PackedWeight& weight) {
  SourceSlice slice;
  BLOOM_ASSIGN_OR_RETURN(slice.ref, checkpoint.Find(weight.stored_name));
  const SafetensorsTensor& stored = *slice.ref.tensor;
  const std::vector<int64_t>& shape = stored.shape;
  if (stored.dtype == DType::kI32 || !IsFloatingDType(stored.dtype) || shape.empty() ||
      shape.size() > 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        checkpoint.dir(), ": tensor '", weight.stored_name,
        "' is not a 1-D or 2-D float tensor; cannot pack it"));
  }
  slice.rank = static_cast<int>(shape.size());
  slice.row_end = shape.size() == 2 ? shape[0] : 1;
  slice.col_end = shape.back();
  const int64_t rows = slice.row_end, columns = slice.col_end;
  const bool sliced = weight.slice_dim >= 0;
  slice.slices_columns = sliced && weight.slice_dim == slice.rank - 1;
  if (sliced && !slice.slices_columns) {
    slice.row_begin = weight.slice_begin;
    slice.row_end = weight.slice_end;
  } else if (slice.slices_columns) {
    slice.col_begin = weight.slice_begin;
    slice.col_end = weight.slice_end;
  }
  if (slice.row_begin < 0 || slice.row_end > rows || slice.col_begin < 0 ||
      slice.col_end > columns || slice.rows() <= 0 || slice.cols() <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        checkpoint.dir(), ": slice [", weight.slice_begin, ", ", weight.slice_end,
        ") of dimension ", weight.slice_dim, " is outside tensor '", weight.stored_name, "'"));
  }
  slice.what = absl::StrCat(checkpoint.dir(), ": tensor '", weight.stored_name, "'");
  return slice;
}

// Rows [first, first + rows) of a slice, as float32, row-major.
using RowChunk =
    std::function<absl::Status(int64_t first, int64_t rows, absl::Span<const float> values)>;

// Reads `slice` as float32 and hands it to `chunk` in row order (a
// generated checkpoint's values come from its generator). Whole tensors and
// row slices go in chunks of rows, so a large embedding never sits in
// float32 all at once; a column slice is one run per row, read whole (1/tp
// of the tensor).
absl::Status ReadRowChunks(const SourceSlice& slice, const RowChunk& chunk) {
  const SafetensorsTensor& stored = *slice.ref.tensor;
  const SafetensorsFile& file = *slice.ref.opened;
  std::vector<float> values;
  if (slice.slices_columns && slice.rank == 2) {
    values.resize(static_cast<size_t>(slice.rows() * slice.cols()));
    BLOOM_RETURN_IF_ERROR(file.ReadSliceAsFloat32(stored, 1, slice.col_begin, slice.col_end,
                                                  absl::MakeSpan(values), slice.what));
    return chunk(0, slice.rows(), values);
  }
  const int64_t rows_per_chunk = std::max<int64_t>(1, (int64_t{1} << 24) / slice.cols());
  for (int64_t row = slice.row_begin; row < slice.row_end; row += rows_per_chunk) {
    const int64_t rows_here = std::min(rows_per_chunk, slice.row_end - row);
    values.resize(static_cast<size_t>(rows_here * slice.cols()));
    if (slice.rank == 2) {
      BLOOM_RETURN_IF_ERROR(file.ReadSliceAsFloat32(stored, 0, row, row + rows_here,
                                                    absl::MakeSpan(values), slice.what));
    } else {
      BLOOM_RETURN_IF_ERROR(file.ReadSliceAsFloat32(stored, 0, slice.col_begin, slice.col_end,
                                                    absl::MakeSpan(values), slice.what));
    }
    BLOOM_RETURN_IF_ERROR(chunk(row - slice.row_begin, rows_here, values));
  }
  return absl::OkStatus();
}

// Copies a float weight's slice into `out`, converted from the stored dtype
// to the storage dtype (round to nearest even, as the runtime converts on
// load). Widening to float32 and narrowing back is exact, so a stored dtype
// equal to the storage dtype keeps its bytes.
absl::Status FillSlice(const Checkpoint& checkpoint, const PackedWeight& weight,
                       std::vector<uint8_t>& out) {
  BLOOM_ASSIGN_OR_RETURN(SourceSlice slice, FindSlice(checkpoint, weight));
  const DType dtype = weight.entry.dtype;
  const size_t element_size = DTypeSize(dtype);
  if (static_cast<uint64_t>(slice.rows() * slice.cols()) * element_size != out.size()) {
    return absl::InternalError(absl::StrCat(
        "--pack-weights: '", weight.entry.name, "' has a plan shape that does "
        "not match its slice of '", weight.stored_name, "'"));
  }
  return ReadRowChunks(slice, [&](int64_t first, int64_t rows, absl::Span<const float> values) {
    ConvertFromFloat32(dtype, values.data(), out.data() + first * slice.cols() * element_size,
                       static_cast<size_t>(rows) * slice.cols());
    return absl::OkStatus();
  });
}

// Quantizes a quantized weight's source slice [M, K] as its quantize(...)
// says, with f16 scales: what runtime/exec/quantized_weight_maker.cpp makes
// at load. Rows are quantized independently (weight_quantizer.h), so
// quantizing the slice in chunks of rows gives the bytes of one call.
absl::Status QuantizeSource(const Checkpoint& checkpoint, const PackedWeight& weight,
                            QuantizedMatrix& matrix) {
  BLOOM_ASSIGN_OR_RETURN(SourceSlice slice, FindSlice(checkpoint, weight));
  const QuantizeSpec& spec = *weight.quantize;
  // [M, K] of the source, from the part's plan shape: values [M, K],
  // scales and zero points [M, K / group].
  const int64_t rows = weight.entry.shape[0];
  const int64_t cols = spec.part == plan_ir::QuantizedPart::Values
                           ? weight.entry.shape[1]
                           : weight.entry.shape[1] * spec.group_size;
  if (slice.rank != 2 || slice.rows() != rows || slice.cols() != cols) {
    return absl::InternalError(absl::StrCat(
        "--pack-weights: quantized '", weight.entry.name, "' is made from a [", rows, ", ", cols,
        "] source, which its slice of '", weight.stored_name, "' is not"));
  }
  const bool int4 = spec.format == WeightFormat::kInt4Grouped;
  const int64_t group = int4 ? spec.group_size : cols;
  if (group <= 0 || cols % group != 0) {
    return absl::InternalError(absl::StrCat("--pack-weights: quantized '", weight.entry.name,
                                            "' has group ", spec.group_size, " for ", cols,
                                            " columns"));
  }
  const int64_t groups = cols / group;
  const DType values_dtype = WeightFormatValues(spec.format);
  const uint64_t row_bytes = RowStrideBytes(values_dtype, cols);
  const size_t scale_size = DTypeSize(DType::kF16);
  matrix = QuantizedMatrix{};
  matrix.format = spec.format;
  matrix.rows = rows;
  matrix.cols = cols;
  matrix.group_size = group;
  matrix.scale_dtype = DType::kF16;
  matrix.values.assign(static_cast<size_t>(rows * row_bytes), 0);
  matrix.scales.assign(static_cast<size_t>(rows * groups) * scale_size, 0);
  matrix.zero_points.assign(int4 ? static_cast<size_t>(rows * groups) : 0, 0);
  return ReadRowChunks(slice, [&](int64_t first, int64_t chunk_rows,
                                  absl::Span<const float> values) {
    // A chunk's error names the row it starts at, as its rows count from 0.
    const std::string what =
        chunk_rows == rows ? slice.what
                           : absl::StrCat(slice.what, ", from its row ", slice.row_begin + first);
    const size_t chunk_groups = static_cast<size_t>(chunk_rows * groups);
    return QuantizeWeightInto(
        values, chunk_rows, cols, spec.format, group, DType::kF16,
        absl::MakeSpan(matrix.values).subspan(first * row_bytes, chunk_rows * row_bytes),
        absl::MakeSpan(matrix.scales)
            .subspan(first * groups * scale_size, chunk_groups * scale_size),
        int4 ? absl::MakeSpan(matrix.zero_points).subspan(first * groups, chunk_groups)
             : absl::Span<int8_t>(),
        what);
  });
}

absl::StatusOr<PackedWeight> Describe(plan_ir::WeightOp op) {
  if (!op.getFile()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "weight '", op.getName().str(), "' has no checkpoint source"));
  }
  PackedWeight weight;
  weight.op = op;
  weight.stored_name = op.getTensor()->str();
  if (op.getSliceDim()) {
    weight.slice_dim = *op.getSliceDim();
    weight.slice_begin = *op.getSliceBegin();
    weight.slice_end = *op.getSliceEnd();
  }
  std::optional<DType> storage = ToDType(op.getType().getElementType());
  if (op.getQuantizeFormat()) {
    // (The verifier has checked that the result type fits the part.)
    weight.quantize = QuantizeSpec{
        *op.getQuantizeFormat() == plan_ir::WeightFormat::Int4Grouped
            ? WeightFormat::kInt4Grouped
            : WeightFormat::kInt8PerChannel,
        static_cast<int64_t>(*op.getGroupSize()), *op.getPart()};
  } else if (!storage || !IsFloatingDType(*storage)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "weight '", op.getName().str(), "' has no float storage type and is not quantized at "
        "load"));
  }
  if (!storage || (weight.quantize && op.getType().getRank() != 2)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "weight '", op.getName().str(), "' is not a 2-D i8, i4 or f16 part of a quantized "
        "weight"));
  }
  weight.entry.name = op.getName().str();
  weight.entry.dtype = *storage;
  weight.entry.shape.assign(op.getType().getShape().begin(), op.getType().getShape().end());
  return weight;
}

// A quantized part's bytes within the quantized matrix of its source.
absl::Span<const uint8_t> PartBytes(const QuantizedMatrix& matrix, plan_ir::QuantizedPart part) {
  switch (part) {
    case plan_ir::QuantizedPart::Values: return matrix.values;
    case plan_ir::QuantizedPart::Scales: return matrix.scales;
    case plan_ir::QuantizedPart::ZeroPoints:
      return absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(matrix.zero_points.data()),
                                 matrix.zero_points.size());
  }
  return {};
}

}  // namespace

std::string PackedWeightsFileName(const PlanPosition& at) {
  if (at.pp_size > 1) return absl::StrCat("stage", at.pp_stage, ".rank", at.tp_rank, ".safetensors");
  if (at.tp_size > 1) return absl::StrCat("rank", at.tp_rank, ".safetensors");
  return "weights.safetensors";
}

absl::Status PlanWeightReader::Read(plan_ir::WeightOp op, std::vector<uint8_t>& out) {
  BLOOM_ASSIGN_OR_RETURN(PackedWeight weight, Describe(op));
  out.assign(static_cast<size_t>(weight.entry.Bytes()), 0);
  if (!weight.quantize) return FillSlice(checkpoint_, weight, out);
  const QuantizeSpec& spec = *weight.quantize;
  const std::string key =
      absl::StrCat(weight.stored_name, "\n", weight.slice_dim, ":", weight.slice_begin, ":",
                   weight.slice_end, "\n", static_cast<int>(spec.format), ":", spec.group_size);
  if (key != quantized_key_) {
    quantized_key_.clear();  // until the new source is made
    BLOOM_RETURN_IF_ERROR(QuantizeSource(checkpoint_, weight, quantized_));
    quantized_key_ = key;
  }
  absl::Span<const uint8_t> bytes = PartBytes(quantized_, spec.part);
  if (bytes.size() != out.size()) {
    return absl::InternalError(absl::StrCat("--pack-weights: quantized '", weight.entry.name,
                                            "' needs ", out.size(), " bytes; its ",
                                            plan_ir::stringifyQuantizedPart(spec.part).str(),
                                            " are ", bytes.size()));
  }
  std::copy(bytes.begin(), bytes.end(), out.begin());
  return absl::OkStatus();
}

absl::Status ReadPlanWeight(const Checkpoint& checkpoint, plan_ir::WeightOp op,
                            std::vector<uint8_t>& out) {
  PlanWeightReader reader(checkpoint);
  return reader.Read(op, out);
}

absl::Status PackWeights(mlir::ModuleOp module, const Checkpoint& checkpoint,
                         const std::string& plan_dir) {
  auto programs = module.getOps<plan_ir::ProgramOp>();
  if (std::distance(programs.begin(), programs.end()) != 1) {
    return absl::InternalError("--pack-weights: expected one plan.program");
  }
  plan_ir::ProgramOp program = *programs.begin();
  std::vector<PackedWeight> weights;  // in program order
  for (plan_ir::WeightOp op : program.getBody().getOps<plan_ir::WeightOp>()) {
    absl::StatusOr<PackedWeight> weight = Describe(op);
    if (!weight.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--pack-weights: ", weight.status().message()));
    }
    weights.push_back(*std::move(weight));
  }
  // The file's order: wider types first. With the header a multiple of 8
  // bytes and no holes allowed between tensors, every tensor then starts at
  // a multiple of its element size (i8 and i4 last: byte-aligned).
  std::vector<size_t> layout_order(weights.size());
  std::iota(layout_order.begin(), layout_order.end(), 0);
  std::stable_sort(layout_order.begin(), layout_order.end(), [&](size_t a, size_t b) {
    return DTypeSize(weights[a].entry.dtype) > DTypeSize(weights[b].entry.dtype);
  });
  std::vector<size_t> file_index(weights.size());
  std::vector<SafetensorsEntry> entries;
  for (size_t i : layout_order) {
    file_index[i] = entries.size();
    entries.push_back(weights[i].entry);
  }

  llvm::SmallString<256> dir(plan_dir);
  if (std::error_code error = llvm::sys::fs::create_directories(dir)) {
    return absl::InternalError(absl::StrCat(plan_dir, ": ", error.message()));
  }
  llvm::sys::fs::make_absolute(dir);
  llvm::sys::path::remove_dots(dir, /*remove_dot_dot=*/true);
  const std::string file = PackedWeightsFileName(PositionOf(program));
  llvm::SmallString<256> path(dir);
  llvm::sys::path::append(path, file);

  SafetensorsHeaderOptions header;
  header.metadata = {{"format", "pt"}, {"producer", "bloom-compile"}};
  BLOOM_ASSIGN_OR_RETURN(SafetensorsLayout layout,
                         LayOutSafetensors(entries, header, path.str().str()));
  BLOOM_ASSIGN_OR_RETURN(SafetensorsFileWriter writer,
                         SafetensorsFileWriter::Create(path.str().str(), std::move(layout)));
  // Written in program order, not the file's: a quantized weight's parts
  // are declared together, so the reader quantizes each source once. One
  // tensor (and one quantized source) is in memory at a time.
  PlanWeightReader reader(checkpoint);
  std::vector<uint8_t> bytes;
  for (size_t i = 0; i < weights.size(); ++i) {
    BLOOM_RETURN_IF_ERROR(reader.Read(weights[i].op, bytes));
    BLOOM_RETURN_IF_ERROR(writer.WriteTensorBytes(file_index[i], 0, bytes));
  }
  BLOOM_RETURN_IF_ERROR(writer.Close());

  // The plan now reads whole tensors, already in their storage types (and
  // quantized: stored quantized, as the verifiers call it), from the packed
  // file in the plan directory.
  mlir::Builder b(module.getContext());
  for (PackedWeight& weight : weights) {
    plan_ir::WeightOp op = weight.op;
    op.setFileAttr(b.getStringAttr(file));
    op.setTensorAttr(b.getStringAttr(weight.entry.name));
    op.setStoredDtypeAttr(mlir::TypeAttr::get(op.getType().getElementType()));
    op.removeSliceDimAttr();
    op.removeSliceBeginAttr();
    op.removeSliceEndAttr();
    op.removeQuantizeFormatAttr();
    op.removeGroupSizeAttr();
    op.removePartAttr();
  }
  program.setCheckpointDirAttr(b.getStringAttr(dir.str()));
  return absl::OkStatus();
}

}  // namespace bloom
