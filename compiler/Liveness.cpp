#include "compiler/Liveness.h"

#include "dialects/Bloom/BloomOps.h"
#include "dialects/Bloom/TensorNames.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/TypeUtilities.h"

namespace bloom {
namespace {

// The arguments of @step, in order (see models/bloom/graph/GraphBuilder.h).
constexpr const char* kStepArgumentNames[] = {"token_ids", "positions",
                                              "sequence_slots", "logit_rows"};
constexpr unsigned kLogitRowsArgument = 3;

bool IsComputing(mlir::Operation* op) {
  // A dequantize is part of reading its weight (the reading kernel is to
  // dequantize on the fly): it writes nothing to the arena.
  return !mlir::isa<graph::WeightOp, graph::DequantizeOp, mlir::func::ReturnOp>(op);
}

mlir::LogicalResult Describe(ArenaTensor& tensor, mlir::Type type,
                             mlir::Operation* where) {
  auto shaped = mlir::dyn_cast<mlir::RankedTensorType>(type);
  if (!shaped) {
    return where->emitError() << "'" << tensor.name
                              << "' is not a ranked tensor: " << type;
  }
  for (int64_t i = 1; i < shaped.getRank(); ++i) {
    if (shaped.isDynamicDim(i)) {
      return where->emitError() << "'" << tensor.name << "' " << type
                                << " has a dynamic dimension other than the "
                                   "first, so it cannot be given arena room";
    }
  }
  tensor.element_type = shaped.getElementType();
  tensor.shape.assign(shaped.getShape().begin(), shaped.getShape().end());
  return mlir::success();
}

}  // namespace

int64_t ElementBytes(mlir::Type type) {
  return (type.getIntOrFloatBitWidth() + 7) / 8;
}

int64_t TensorStorageBytes(mlir::RankedTensorType type) {
  return (type.getNumElements() * type.getElementTypeBitWidth() + 7) / 8;
}

RowKind RowKindOf(mlir::Value value) {
  if (auto arg = mlir::dyn_cast<mlir::BlockArgument>(value)) {
    return arg.getArgNumber() == kLogitRowsArgument ? RowKind::kLogitRows
                                                    : RowKind::kTokens;
  }
  mlir::Operation* op = value.getDefiningOp();
  if (mlir::isa<graph::WeightOp>(op)) return RowKind::kStatic;
  if (mlir::isa<graph::GatherRowsOp>(op)) return RowKind::kLogitRows;
  if (op->getNumOperands() == 0) return RowKind::kStatic;
  return RowKindOf(op->getOperand(0));
}

int64_t TensorBytes(const ArenaTensor& tensor, int64_t max_batch_tokens,
                    int64_t max_logit_rows) {
  int64_t elements = 1;
  for (int64_t dim : tensor.shape) {
    if (!mlir::ShapedType::isDynamic(dim)) {
      elements *= dim;
    } else if (tensor.rows == RowKind::kLogitRows) {
      elements *= max_logit_rows;
    } else {
      elements *= max_batch_tokens;
    }
  }
  return elements * ElementBytes(tensor.element_type);
}

mlir::FailureOr<StepLiveness> AnalyzeStepLiveness(mlir::func::FuncOp step) {
  StepLiveness result;
  mlir::Block& body = step.getBody().front();
  llvm::DenseMap<mlir::Operation*, int64_t> index;
  for (mlir::Operation& op : body) {
    if (IsComputing(&op)) index[&op] = result.num_ops++;
  }
  const int64_t end = std::max<int64_t>(result.num_ops - 1, 0);

  for (mlir::BlockArgument arg : body.getArguments()) {
    ArenaTensor tensor;
    unsigned number = arg.getArgNumber();
    tensor.name = number < std::size(kStepArgumentNames)
                      ? kStepArgumentNames[number]
                      : "arg" + std::to_string(number);
    // A later pipeline stage reads the hidden state in the token ids' place.
    if (number == 0 && !mlir::getElementTypeOrSelf(arg.getType()).isInteger()) {
      tensor.name = "hidden_in";
    }
    tensor.index = number;
    tensor.rows = RowKindOf(arg);
    tensor.first = 0;
    tensor.last = end;
    tensor.whole_step = true;
    if (mlir::failed(Describe(tensor, arg.getType(), step))) return mlir::failure();
    result.tensors.push_back(std::move(tensor));
  }

  for (mlir::Operation& op : body) {
    if (!IsComputing(&op)) continue;
    const int64_t at = index.lookup(&op);
    unsigned position = 0;
    for (mlir::OpResult value : op.getResults()) {
      ArenaTensor tensor;
      tensor.name = graph::TensorName(&op, position,
                                      "t" + std::to_string(at) + "." +
                                          std::to_string(position));
      tensor.op = &op;
      tensor.index = position++;
      tensor.rows = RowKindOf(value);
      tensor.first = at;
      tensor.last = at;
      for (mlir::Operation* user : value.getUsers()) {
        if (mlir::isa<mlir::func::ReturnOp>(user)) {
          tensor.whole_step = true;
        } else {
          tensor.last = std::max(tensor.last, index.lookup(user));
        }
      }
      if (tensor.whole_step) {
        tensor.first = 0;
        tensor.last = end;
      }
      if (mlir::failed(Describe(tensor, value.getType(), &op))) {
        return mlir::failure();
      }
      result.tensors.push_back(std::move(tensor));
    }
    if (auto attention = mlir::dyn_cast<graph::AlibiAttentionOp>(op)) {
      // The qkv projection, written and read within the op.
      ArenaTensor qkv;
      qkv.name = graph::TensorName(&op, position, "t" + std::to_string(at) + ".qkv");
      qkv.op = &op;
      qkv.index = position;
      qkv.rows = RowKindOf(attention.getX());
      qkv.first = qkv.last = at;
      int64_t columns = 3 * static_cast<int64_t>(attention.getNumHeads()) *
                        static_cast<int64_t>(attention.getHeadDim());
      qkv.element_type = attention.getQkvStorageType();
      qkv.shape = {mlir::ShapedType::kDynamic, columns};
      result.tensors.push_back(std::move(qkv));
    }
  }
  return result;
}

}  // namespace bloom
