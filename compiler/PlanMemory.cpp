// --bloom-plan-memory (see Passes.td): arena offsets by liveness, the KV
// cache's size, bytes by category, and the device-memory check.
#include <map>
#include <string>

#include "compiler/ArenaPlacement.h"
#include "compiler/DeviceFit.h"
#include "compiler/KernelContract.h"
#include "compiler/Liveness.h"
#include "compiler/Passes.h"
#include "compiler/WeightFormats.h"
#include "dialects/Bloom/BloomOps.h"
#include "dialects/Plan/ArenaCheck.h"
#include "mlir/IR/Builders.h"

namespace bloom {

#define GEN_PASS_DEF_BLOOMPLANMEMORY
#include "compiler/Passes.h.inc"

namespace {

using mlir::LogicalResult;

// The KV cache's per-layer shape and type, read off the attention ops,
// which must agree on all three.
mlir::FailureOr<KvGeometry> CollectKvGeometry(mlir::func::FuncOp step,
                                              mlir::Type& element) {
  KvGeometry kv;
  kv.heads = 1;
  kv.head_dim = 1;
  element = mlir::Float32Type::get(step.getContext());
  bool first = true;
  auto walk = step.walk([&](graph::AlibiAttentionOp op) {
    auto heads = static_cast<int64_t>(op.getNumHeads());
    auto head_dim = static_cast<int64_t>(op.getHeadDim());
    mlir::Type type = op.getQkvStorageType();
    if (!first && (heads != kv.heads || head_dim != kv.head_dim || type != element)) {
      op.emitOpError() << "has " << heads << " heads of " << head_dim << " in "
                       << type << " but an earlier layer has " << kv.heads
                       << " of " << kv.head_dim << " in " << element
                       << "; the KV cache needs one shape";
      return mlir::WalkResult::interrupt();
    }
    first = false;
    kv.heads = heads;
    kv.head_dim = head_dim;
    element = type;
    kv.layers = std::max<int64_t>(kv.layers, static_cast<int64_t>(op.getLayer()) + 1);
    return mlir::WalkResult::advance();
  });
  if (walk.wasInterrupted()) return mlir::failure();
  kv.element_bytes = ElementBytes(element);
  return kv;
}

int64_t WeightBytes(const std::map<std::string, int64_t>& by_format) {
  int64_t bytes = 0;
  for (const auto& [format, format_bytes] : by_format) bytes += format_bytes;
  return bytes;
}

class BloomPlanMemoryPass
    : public impl::BloomPlanMemoryBase<BloomPlanMemoryPass> {
 public:
  using BloomPlanMemoryBase::BloomPlanMemoryBase;

  void runOnOperation() override {
    if (mlir::failed(Run(getOperation()))) signalPassFailure();
  }

 private:
  LogicalResult Run(mlir::ModuleOp module) {
    PlanLimits limits;
    limits.max_batch_tokens = maxBatchTokens;
    limits.max_seq_len = maxSeqLen;
    limits.max_sequences = maxSequences;
    limits.kv_block_size = kvBlockSize;
    limits.max_logit_rows = maxLogitRows == 0
                                ? std::min<int64_t>(maxSequences, maxBatchTokens)
                                : static_cast<int64_t>(maxLogitRows);
    for (auto [name, value] :
         {std::pair<llvm::StringRef, int64_t>{"max-batch-tokens", maxBatchTokens},
          {"max-logit-rows", limits.max_logit_rows},
          {"max-seq-len", maxSeqLen},
          {"max-sequences", maxSequences},
          {"kv-block-size", kvBlockSize}}) {
      if (value <= 0) {
        return module.emitError() << "bloom-plan-memory: " << name
                                  << " must be positive, got " << value;
      }
    }
    if (limits.max_logit_rows > limits.max_batch_tokens) {
      return module.emitError()
             << "bloom-plan-memory: max-logit-rows " << limits.max_logit_rows
             << " exceeds max-batch-tokens " << limits.max_batch_tokens;
    }
    auto step = module.lookupSymbol<mlir::func::FuncOp>("step");
    if (!step || !step.getBody().hasOneBlock()) {
      return module.emitError("bloom-plan-memory: no func.func @step with one block");
    }
    if (mlir::failed(CheckKernels(step))) return mlir::failure();
    mlir::FailureOr<StepLiveness> liveness = AnalyzeStepLiveness(step);
    if (mlir::failed(liveness)) return mlir::failure();
    mlir::Type kv_element;
    mlir::FailureOr<KvGeometry> kv = CollectKvGeometry(step, kv_element);
    if (mlir::failed(kv)) return mlir::failure();

    ArenaPlacement placement = PlaceArena(*liveness, limits.max_batch_tokens,
                                          limits.max_logit_rows, reuse);
    if (mlir::failed(CheckPlacement(step, *liveness, placement, limits))) {
      return mlir::failure();
    }
    Record(module, step, *liveness, placement);

    MemoryFootprint needs;
    const std::map<std::string, int64_t> by_format = WeightBytesByFormat(step);
    needs.weights = WeightBytes(by_format);
    needs.kv_cache = KvCacheBytes(*kv, limits);
    needs.activations = placement.arena_bytes;
    // Every kernel works within its operands and results so far; a kernel
    // that needs scratch (a GPU attention's partial sums) will count here.
    needs.workspace = 0;
    RecordPlan(module, limits, *kv, kv_element, needs, placement, by_format);

    if (deviceMemory > 0 && needs.total() > deviceMemory) {
      auto arena_for_tokens = [&](int64_t tokens) {
        return PlaceArena(*liveness, tokens,
                          std::min(limits.max_logit_rows, tokens), reuse)
            .arena_bytes;
      };
      auto tp_size = module->getAttrOfType<mlir::IntegerAttr>(kTpSizeAttr);
      // A pipeline stage's plan holds its layers only: say which one misfits
      // (a --tp suggestion is then per stage).
      auto pp_stage = module->getAttrOfType<mlir::IntegerAttr>(kPpStageAttr);
      auto pp_size = module->getAttrOfType<mlir::IntegerAttr>(kPpSizeAttr);
      std::string stage;
      if (pp_stage && pp_size && pp_size.getInt() > 1) {
        stage = "pipeline stage " + std::to_string(pp_stage.getInt()) + " of " +
                std::to_string(pp_size.getInt()) + ": ";
      }
      return module.emitError() << stage << DescribeMisfit(
                 needs, deviceMemory, limits, *kv, arena_for_tokens,
                 tp_size ? tp_size.getInt() : 1, pp_size ? pp_size.getInt() : 1);
    }
    return mlir::success();
  }

  // The post-condition, proved rather than trusted.
  LogicalResult CheckPlacement(mlir::func::FuncOp step,
                               const StepLiveness& liveness,
                               const ArenaPlacement& placement,
                               const PlanLimits& limits) {
    std::vector<ArenaRange> ranges;
    for (size_t i = 0; i < liveness.tensors.size(); ++i) {
      const ArenaTensor& tensor = liveness.tensors[i];
      ranges.push_back({tensor.name, tensor.first, tensor.last,
                        placement.offsets[i],
                        TensorBytes(tensor, limits.max_batch_tokens,
                                    limits.max_logit_rows)});
    }
    if (std::optional<std::string> conflict = FindArenaConflict(ranges)) {
      return step.emitError() << "bloom-plan-memory: internal error: "
                              << *conflict;
    }
    return mlir::success();
  }

  void Record(mlir::ModuleOp module, mlir::func::FuncOp step,
              const StepLiveness& liveness, const ArenaPlacement& placement) {
    llvm::MapVector<mlir::Operation*, llvm::SmallVector<int64_t>> per_op;
    llvm::SmallVector<int64_t> inputs;
    for (size_t i = 0; i < liveness.tensors.size(); ++i) {
      const ArenaTensor& tensor = liveness.tensors[i];
      if (tensor.op) {
        per_op[tensor.op].push_back(placement.offsets[i]);
      } else {
        inputs.push_back(placement.offsets[i]);
      }
    }
    mlir::Builder b(module.getContext());
    for (auto& [op, offsets] : per_op) {
      op->setAttr(kArenaOffsetsAttr, b.getDenseI64ArrayAttr(offsets));
    }
    step->setAttr(kInputOffsetsAttr, b.getDenseI64ArrayAttr(inputs));
  }

  void RecordPlan(mlir::ModuleOp module, const PlanLimits& limits, const KvGeometry& kv,
                  mlir::Type kv_element, const MemoryFootprint& needs,
                  const ArenaPlacement& placement,
                  const std::map<std::string, int64_t>& by_format) {
    mlir::Builder b(module.getContext());
    llvm::SmallVector<mlir::NamedAttribute> fields;
    auto add = [&](llvm::StringRef key, int64_t value) {
      fields.push_back(b.getNamedAttr(key, b.getI64IntegerAttr(value)));
    };
    add("max_batch_tokens", limits.max_batch_tokens);
    add("max_logit_rows", limits.max_logit_rows);
    add("max_seq_len", limits.max_seq_len);
    add("max_sequences", limits.max_sequences);
    add("kv_block_size", limits.kv_block_size);
    add("kv_num_blocks", KvCacheBlocks(limits));
    add("kv_num_layers", kv.layers);
    add("kv_num_heads", kv.heads);
    add("kv_head_dim", kv.head_dim);
    fields.push_back(b.getNamedAttr("kv_dtype", mlir::TypeAttr::get(kv_element)));
    add("weights_bytes", needs.weights);
    add("kv_cache_bytes", needs.kv_cache);
    add("activations_bytes", needs.activations);
    add("workspace_bytes", needs.workspace);
    add("total_bytes", needs.total());
    add("arena_bytes_without_reuse", placement.arena_bytes_without_reuse);
    if (deviceMemory > 0) add("device_memory_bytes", deviceMemory);
    module->setAttr(kMemoryPlanAttr, b.getDictionaryAttr(fields));
    llvm::SmallVector<mlir::NamedAttribute> formats;
    for (const auto& [format, bytes] : by_format) {
      formats.push_back(b.getNamedAttr(format, b.getI64IntegerAttr(bytes)));
    }
    module->setAttr(kBytesByFormatAttr, b.getDictionaryAttr(formats));
  }
};

}  // namespace
}  // namespace bloom
