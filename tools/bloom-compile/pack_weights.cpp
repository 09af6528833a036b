#include "tools/bloom-compile/pack_weights.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "dialects/Plan/PlanOps.h"
#include "llvm/Support/FileSystem.h"
#include "mlir/IR/Builders.h"
#include "llvm/Support/Path.h"
#include "runtime/checkpoint/safetensors_writer.h"
#include "runtime/support/status_macros.h"

namespace bloom {
namespace {

std::optional<DType> ToDType(mlir::Type type) {
  if (type.isF32()) return DType::kF32;
  if (type.isF16()) return DType::kF16;
  if (type.isBF16()) return DType::kBF16;
  return std::nullopt;
}

// One weight to pack: where it comes from and what it becomes.
struct PackedWeight {
  plan_ir::WeightOp op;
  std::string stored_name;     // the checkpoint's tensor
  int64_t slice_dim = -1;      // -1: the whole tensor
  int64_t slice_begin = 0, slice_end = 0;
  SafetensorsEntry entry;      // name, storage dtype, (sliced) shape
};

// Copies the slice of the checkpoint tensor that `weight` names into `out`,
// converted from the stored dtype to the storage dtype (round to nearest
// even, as the runtime converts on load); a generated checkpoint's values
// come from its generator.
absl::Status FillSlice(const Checkpoint& checkpoint, const PackedWeight& weight,
                       std::vector<uint8_t>& out) {
  BLOOM_ASSIGN_OR_RETURN(CheckpointTensorRef ref,
                         checkpoint.Find(weight.stored_name));
  const SafetensorsTensor& stored = *ref.tensor;
  const std::vector<int64_t>& shape = stored.shape;
  if (stored.dtype == DType::kI32 || shape.empty() || shape.size() > 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        checkpoint.dir(), ": tensor '", weight.stored_name,
        "' is not a 1-D or 2-D float tensor; cannot pack it"));
  }
  // A 2-D tensor as rows × columns; a 1-D one as one row.
  const int64_t rows = shape.size() == 2 ? shape[0] : 1;
  const int64_t columns = shape.back();
  int64_t row_begin = 0, row_end = rows, col_begin = 0, col_end = columns;
  const bool sliced = weight.slice_dim >= 0;
  const bool slices_columns =
      sliced && weight.slice_dim == static_cast<int64_t>(shape.size()) - 1;
  if (sliced && !slices_columns) {
    row_begin = weight.slice_begin;
    row_end = weight.slice_end;
  } else if (slices_columns) {
    col_begin = weight.slice_begin;
    col_end = weight.slice_end;
  }
  if (row_begin < 0 || row_end > rows || col_begin < 0 || col_end > columns ||
      row_begin >= row_end || col_begin >= col_end) {
    return absl::InvalidArgumentError(absl::StrCat(
        checkpoint.dir(), ": slice [", weight.slice_begin, ", ", weight.slice_end,
        ") of dimension ", weight.slice_dim, " is outside tensor '",
        weight.stored_name, "'"));
  }
  const int64_t out_columns = col_end - col_begin;
  if (static_cast<uint64_t>((row_end - row_begin) * out_columns) *
          DTypeSize(weight.entry.dtype) != out.size()) {
    return absl::InternalError(absl::StrCat(
        "--pack-weights: '", weight.entry.name, "' has a plan shape that does "
        "not match its slice of '", weight.stored_name, "'"));
  }
  const std::string what = absl::StrCat(checkpoint.dir(), ": tensor '", weight.stored_name, "'");
  const size_t out_size = DTypeSize(weight.entry.dtype);
  std::vector<float> values;
  if (slices_columns) {
    // A column slice is one run per row: read it whole (1/tp of the tensor).
    values.resize(static_cast<size_t>((row_end - row_begin) * out_columns));
    BLOOM_RETURN_IF_ERROR(ref.opened->ReadSliceAsFloat32(
        stored, weight.slice_dim, col_begin, col_end, absl::MakeSpan(values), what));
    ConvertFromFloat32(weight.entry.dtype, values.data(), out.data(), values.size());
    return absl::OkStatus();
  }
  // Whole tensors and row slices: rows in chunks, so a large embedding
  // never sits in float32 all at once. Widening to float32 and narrowing
  // back is exact, so a stored dtype equal to the storage dtype keeps its
  // bytes. A 1-D tensor is sliced along its only dimension, as one row.
  const int64_t rows_per_chunk = std::max<int64_t>(1, (int64_t{1} << 24) / columns);
  for (int64_t row = row_begin; row < row_end; row += rows_per_chunk) {
    const int64_t rows_here = std::min(rows_per_chunk, row_end - row);
    values.resize(static_cast<size_t>(rows_here * out_columns));
    if (shape.size() == 2) {
      BLOOM_RETURN_IF_ERROR(ref.opened->ReadSliceAsFloat32(
          stored, 0, row, row + rows_here, absl::MakeSpan(values), what));
    } else {
      BLOOM_RETURN_IF_ERROR(ref.opened->ReadSliceAsFloat32(
          stored, 0, col_begin, col_end, absl::MakeSpan(values), what));
    }
    ConvertFromFloat32(weight.entry.dtype, values.data(),
                       out.data() + (row - row_begin) * out_columns * out_size, values.size());
  }
  return absl::OkStatus();
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
  if (!storage) {
    return absl::InvalidArgumentError(absl::StrCat(
        "weight '", op.getName().str(), "' has no float storage type"));
  }
  weight.entry.name = op.getName().str();
  weight.entry.dtype = *storage;
  weight.entry.shape.assign(op.getType().getShape().begin(), op.getType().getShape().end());
  return weight;
}

}  // namespace

std::string PackedWeightsFileName(int64_t rank, int64_t size) {
  if (size <= 1) return "weights.safetensors";
  return absl::StrCat("rank", rank, ".safetensors");
}

absl::Status ReadPlanWeight(const Checkpoint& checkpoint, plan_ir::WeightOp op,
                            std::vector<uint8_t>& out) {
  BLOOM_ASSIGN_OR_RETURN(PackedWeight weight, Describe(op));
  int64_t elements = 1;
  for (int64_t dim : weight.entry.shape) elements *= dim;
  out.assign(static_cast<size_t>(elements) * DTypeSize(weight.entry.dtype), 0);
  return FillSlice(checkpoint, weight, out);
}

absl::Status PackWeights(mlir::ModuleOp module, const Checkpoint& checkpoint,
                         const std::string& plan_dir) {
  auto programs = module.getOps<plan_ir::ProgramOp>();
  if (std::distance(programs.begin(), programs.end()) != 1) {
    return absl::InternalError("--pack-weights: expected one plan.program");
  }
  plan_ir::ProgramOp program = *programs.begin();
  std::vector<PackedWeight> weights;
  for (plan_ir::WeightOp op : program.getBody().getOps<plan_ir::WeightOp>()) {
    absl::StatusOr<PackedWeight> weight = Describe(op);
    if (!weight.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--pack-weights: ", weight.status().message()));
    }
    weights.push_back(*std::move(weight));
  }
  // Wider types first: with the header a multiple of 8 bytes and no holes
  // allowed between tensors, every tensor then starts at a multiple of its
  // element size.
  std::stable_sort(weights.begin(), weights.end(),
                   [](const PackedWeight& a, const PackedWeight& b) {
                     return DTypeSize(a.entry.dtype) > DTypeSize(b.entry.dtype);
                   });

  llvm::SmallString<256> dir(plan_dir);
  if (std::error_code error = llvm::sys::fs::create_directories(dir)) {
    return absl::InternalError(absl::StrCat(plan_dir, ": ", error.message()));
  }
  llvm::sys::fs::make_absolute(dir);
  llvm::sys::path::remove_dots(dir, /*remove_dot_dot=*/true);
  const std::string file = PackedWeightsFileName(program.tpRank(), program.tpSize());
  llvm::SmallString<256> path(dir);
  llvm::sys::path::append(path, file);

  std::vector<SafetensorsEntry> entries;
  for (const PackedWeight& weight : weights) entries.push_back(weight.entry);
  SafetensorsHeaderOptions header;
  header.metadata = {{"format", "pt"}, {"producer", "bloom-compile"}};
  BLOOM_RETURN_IF_ERROR(WriteSafetensors(
      path.str().str(), entries, header,
      [&](size_t index, std::vector<uint8_t>& bytes) {
        return FillSlice(checkpoint, weights[index], bytes);
      }));

  // The plan now reads whole tensors, already in their storage types, from
  // the packed file in the plan directory.
  mlir::Builder b(module.getContext());
  for (PackedWeight& weight : weights) {
    plan_ir::WeightOp op = weight.op;
    op.setFileAttr(b.getStringAttr(file));
    op.setTensorAttr(b.getStringAttr(weight.entry.name));
    op.setStoredDtypeAttr(mlir::TypeAttr::get(op.getType().getElementType()));
    op.removeSliceDimAttr();
    op.removeSliceBeginAttr();
    op.removeSliceEndAttr();
  }
  program.setCheckpointDirAttr(b.getStringAttr(dir.str()));
  return absl::OkStatus();
}

}  // namespace bloom
