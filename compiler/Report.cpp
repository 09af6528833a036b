#include "compiler/Report.h"

#include <algorithm>
#include <string>
#include <vector>

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"
#include "dialects/Plan/PlanOps.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallPtrSet.h"
#include "mlir/IR/BuiltinAttributes.h"

namespace bloom {
namespace {

// Must match the names in compiler/KernelContract.h (not included here: the
// emitter library does not link the passes).
constexpr char kMemoryPlanAttr[] = "bloom.memory";
constexpr char kPrecisionPolicyAttr[] = "bloom.precision_policy";
constexpr char kTpSizeAttr[] = "bloom.tp_size";
constexpr char kTieringAttr[] = "bloom.tiering";
constexpr char kQuantizationAttr[] = "bloom.quantization";
constexpr char kBytesByFormatAttr[] = "bloom.bytes_by_format";
constexpr char kPpStageAttr[] = "bloom.pp_stage";
constexpr char kPpSizeAttr[] = "bloom.pp_size";
constexpr char kPpLayersAttr[] = "bloom.pp_layers";

int64_t IntAttr(mlir::ModuleOp module, llvm::StringRef name, int64_t fallback) {
  auto attr = module->getAttrOfType<mlir::IntegerAttr>(name);
  return attr ? attr.getInt() : fallback;
}

int64_t IntField(mlir::DictionaryAttr dict, llvm::StringRef key) {
  auto attr = dict ? dict.getAs<mlir::IntegerAttr>(key) : nullptr;
  return attr ? attr.getInt() : 0;
}

double FloatField(mlir::DictionaryAttr dict, llvm::StringRef key) {
  auto attr = dict ? dict.getAs<mlir::FloatAttr>(key) : nullptr;
  return attr ? attr.getValueAsDouble() : 0.0;
}

// A budget: null when unlimited (-1), else bytes (0: the tier is unused).
llvm::json::Value BudgetValue(int64_t bytes) {
  return bytes < 0 ? llvm::json::Value(nullptr) : llvm::json::Value(bytes);
}

// report.json's "tiering" section from --bloom-tier-memory's record.
llvm::json::Object TieringReport(mlir::DictionaryAttr tiering) {
  llvm::json::Array units;
  if (auto list = tiering.getAs<mlir::ArrayAttr>("units")) {
    for (mlir::Attribute attr : list) {
      auto unit = mlir::cast<mlir::DictionaryAttr>(attr);
      auto name = unit.getAs<mlir::StringAttr>("name");
      auto residency = unit.getAs<mlir::StringAttr>("residency");
      llvm::json::Object entry{{"name", name ? name.str() : ""},
                               {"residency", residency ? residency.str() : ""},
                               {"bytes", IntField(unit, "bytes")},
                               {"visits", IntField(unit, "visits")}};
      if (IntField(unit, "slot") >= 0 && residency && residency.getValue() != "device") {
        entry["slot"] = IntField(unit, "slot");
      }
      if (unit.get("file_offset")) entry["file_offset"] = IntField(unit, "file_offset");
      units.push_back(std::move(entry));
    }
  }
  const int64_t slots = IntField(tiering, "num_slots") * IntField(tiering, "slot_bytes");
  const double resident = FloatField(tiering, "resident_seconds");
  const double stream = FloatField(tiering, "stream_seconds");
  auto file = tiering.getAs<mlir::StringAttr>("units_file");
  return llvm::json::Object{
      {"budgets",
       llvm::json::Object{{"device_bytes", BudgetValue(IntField(tiering, "device_budget"))},
                          {"host_bytes", BudgetValue(IntField(tiering, "host_budget"))},
                          {"disk_bytes", BudgetValue(IntField(tiering, "disk_budget"))}}},
      {"bandwidths",
       llvm::json::Object{{"device_bytes_per_s", FloatField(tiering, "device_bandwidth")},
                          {"h2d_bytes_per_s", FloatField(tiering, "h2d_bandwidth")},
                          {"disk_bytes_per_s", FloatField(tiering, "disk_bandwidth")}}},
      {"weight_slots", llvm::json::Object{{"count", IntField(tiering, "num_slots")},
                                          {"bytes_each", IntField(tiering, "slot_bytes")}}},
      {"bytes",
       llvm::json::Object{
           {"device_weights", IntField(tiering, "device_weights_bytes")},
           {"device_slots", slots},
           {"device_kv_activations_workspace", IntField(tiering, "device_fixed_bytes")},
           {"device_total", IntField(tiering, "device_weights_bytes") + slots +
                                IntField(tiering, "device_fixed_bytes")},
           {"host_weights", IntField(tiering, "host_weights_bytes")},
           {"host_staging", IntField(tiering, "host_staging_bytes")},
           {"disk_weights", IntField(tiering, "disk_weights_bytes")}}},
      {"units_file", IntField(tiering, "disk_weights_bytes") > 0 && file
                         ? llvm::json::Value(file.str())
                         : llvm::json::Value(nullptr)},
      {"units", std::move(units)},
      {"decode_step",
       llvm::json::Object{
           {"streamed_bytes", IntField(tiering, "streamed_bytes_per_step")},
           {"resident_seconds", resident},
           {"stream_seconds", stream},
           {"expected_seconds", resident + stream},
           {"fully_overlapped_seconds", std::max(resident, stream)},
           {"overlap",
            "expected_seconds = resident bytes / device bandwidth + streamed bytes / link "
            "bandwidth, as if reading resident weights and streaming never overlapped; "
            "copies run weight_slots.count - 1 units ahead on a copy stream, so the step "
            "can approach fully_overlapped_seconds (the larger of the two)"}}},
  };
}

// report.json's "pipeline" section: each stage's bytes (summed over its
// tensor-parallel ranks) and the decode step the cost model expects of it,
// which --bloom-partition-pp balanced the stages by: a decode step reads
// every weight of the stage once (an embedding table only gathered from:
// a few rows, counted as none), so a device takes those bytes over
// the device bandwidth (with tiering, --bloom-tier-memory's figure for its
// resident and streamed bytes), and a stage as long as its slowest rank.
// KV cache reads, which grow with the context, are left out, as the pass
// leaves them out. In a full pipeline one stage's step is the pipeline's
// rate: the largest is the bottleneck.
// Bytes of the weights a decode step reads only through an embedding
// gather: T rows of the table, not all of it, so --bloom-partition-pp
// charges them nothing (a tied table the LM head also reads is read whole).
int64_t GatherOnlyWeightBytes(mlir::ModuleOp module) {
  int64_t bytes = 0;
  llvm::SmallPtrSet<mlir::Operation*, 4> seen;
  module.walk([&](plan_ir::EmbeddingGatherOp gather) {
    for (mlir::Value table : gather.getIns().drop_front()) {
      auto weight = table.getDefiningOp<plan_ir::WeightOp>();
      if (!weight || !seen.insert(weight).second) continue;
      const bool gathered_only = llvm::all_of(table.getUsers(), [](mlir::Operation* user) {
        return mlir::isa<plan_ir::EmbeddingGatherOp>(user);
      });
      auto type = mlir::dyn_cast<mlir::MemRefType>(table.getType());
      if (!gathered_only || !type || !type.hasStaticShape()) continue;
      bytes += type.getNumElements() * type.getElementTypeBitWidth() / 8;
    }
  });
  return bytes;
}

llvm::json::Object PipelineReport(llvm::ArrayRef<mlir::ModuleOp> positions,
                                  double device_bandwidth) {
  const int64_t stages = IntAttr(positions.front(), kPpSizeAttr, 1);
  struct Stage {
    int64_t weights = 0, kv_cache = 0, activations = 0, total = 0;
    double seconds = 0;
    llvm::json::Array devices;
    llvm::json::Array layers;
  };
  std::vector<Stage> totals(static_cast<size_t>(stages));
  for (size_t device = 0; device < positions.size(); ++device) {
    mlir::ModuleOp module = positions[device];
    const int64_t stage = IntAttr(module, kPpStageAttr, 0);
    if (stage < 0 || stage >= stages) continue;
    Stage& total = totals[static_cast<size_t>(stage)];
    auto memory = module->getAttrOfType<mlir::DictionaryAttr>(kMemoryPlanAttr);
    int64_t weights = IntField(memory, "weights_bytes");
    double seconds =
        static_cast<double>(weights - GatherOnlyWeightBytes(module)) / device_bandwidth;
    if (auto tiering = module->getAttrOfType<mlir::DictionaryAttr>(kTieringAttr)) {
      seconds = FloatField(tiering, "resident_seconds") + FloatField(tiering, "stream_seconds");
    }
    total.weights += weights;
    total.kv_cache += IntField(memory, "kv_cache_bytes");
    total.activations += IntField(memory, "activations_bytes");
    total.total += IntField(memory, "total_bytes");
    total.seconds = std::max(total.seconds, seconds);
    total.devices.push_back(static_cast<int64_t>(device));
    if (total.layers.empty()) {
      if (auto layers = module->getAttrOfType<mlir::DenseI64ArrayAttr>(kPpLayersAttr)) {
        for (int64_t layer : layers.asArrayRef()) total.layers.push_back(layer);
      }
    }
  }
  llvm::json::Array entries;
  int64_t bottleneck = 0;
  for (int64_t stage = 0; stage < stages; ++stage) {
    Stage& total = totals[static_cast<size_t>(stage)];
    if (total.seconds > totals[static_cast<size_t>(bottleneck)].seconds) bottleneck = stage;
    entries.push_back(llvm::json::Object{
        {"stage", stage},
        {"layers", std::move(total.layers)},
        {"devices", std::move(total.devices)},
        {"weights_bytes", total.weights},
        {"kv_cache_bytes", total.kv_cache},
        {"activations_bytes", total.activations},
        {"total_bytes", total.total},
        {"expected_decode_step_seconds", total.seconds},
    });
  }
  return llvm::json::Object{
      {"pp_size", stages},
      {"device_bytes_per_s", device_bandwidth},
      {"stages", std::move(entries)},
      {"bottleneck_stage", bottleneck},
      {"expected_decode_step_seconds", totals[static_cast<size_t>(bottleneck)].seconds},
      {"cost_model",
       "a stage's decode step reads its weights once (a table only gathered from: none): the "
       "bytes of its slowest device over "
       "device_bytes_per_s (with tiering, the tier cost model's resident plus streamed time); "
       "KV cache reads are left out. The bottleneck stage's step bounds the pipeline's rate"},
  };
}

std::string TypeName(mlir::Type type) {
  std::string text;
  llvm::raw_string_ostream(text) << type;
  return text;
}

}  // namespace

mlir::LogicalResult WriteReport(llvm::ArrayRef<mlir::ModuleOp> ranks,
                                llvm::StringRef dir, bool shapes_only,
                                double device_bandwidth) {
  if (ranks.empty()) return mlir::failure();
  mlir::ModuleOp module = ranks.front();
  llvm::json::Array devices;
  for (size_t index = 0; index < ranks.size(); ++index) {
    mlir::ModuleOp rank_module = ranks[index];
    auto memory = rank_module->getAttrOfType<mlir::DictionaryAttr>(kMemoryPlanAttr);
    if (!memory) {
      return rank_module.emitError(
          "no memory plan to report (run --bloom-plan-memory)");
    }
    auto get = [&](llvm::StringRef key) -> int64_t {
      auto attr = memory.getAs<mlir::IntegerAttr>(key);
      return attr ? attr.getInt() : 0;
    };
    // Device d runs mesh position d: stage d / tp_size, rank d % tp_size.
    llvm::json::Object device{
        {"device", static_cast<int64_t>(index)},
        {"weights_bytes", get("weights_bytes")},
        {"kv_cache_bytes", get("kv_cache_bytes")},
        {"activations_bytes", get("activations_bytes")},
        {"workspace_bytes", get("workspace_bytes")},
        {"total_bytes", get("total_bytes")},
    };
    if (IntAttr(rank_module, kPpSizeAttr, 1) > 1) {
      device["pp_stage"] = IntAttr(rank_module, kPpStageAttr, 0);
      device["tp_rank"] = IntAttr(rank_module, "bloom.tp_rank", 0);
    }
    // With tiering the device holds only its resident weights and the slots.
    if (auto tiering = rank_module->getAttrOfType<mlir::DictionaryAttr>(kTieringAttr)) {
      const int64_t slots = IntField(tiering, "num_slots") * IntField(tiering, "slot_bytes");
      const int64_t resident = IntField(tiering, "device_weights_bytes");
      device["weights_bytes"] = resident;
      device["weight_slots_bytes"] = slots;
      device["total_bytes"] = get("total_bytes") - get("weights_bytes") + resident + slots;
    }
    // Values at 1 or 0.5 byte a weight (int8, int4), their scales and zero
    // points, and float weights by dtype: what the quantization saves.
    llvm::json::Object formats;
    if (auto by_format = rank_module->getAttrOfType<mlir::DictionaryAttr>(kBytesByFormatAttr)) {
      for (mlir::NamedAttribute entry : by_format) {
        if (auto bytes = mlir::dyn_cast<mlir::IntegerAttr>(entry.getValue())) {
          formats[entry.getName().strref()] = bytes.getInt();
        }
      }
    }
    device["weights_bytes_by_format"] = std::move(formats);
    devices.push_back(std::move(device));
  }
  auto memory = module->getAttrOfType<mlir::DictionaryAttr>(kMemoryPlanAttr);
  auto get = [&](llvm::StringRef key) -> int64_t {
    auto attr = memory.getAs<mlir::IntegerAttr>(key);
    return attr ? attr.getInt() : 0;
  };
  auto string_attr = [&](llvm::StringRef key) -> std::string {
    auto attr = module->getAttrOfType<mlir::StringAttr>(key);
    return attr ? attr.str() : "";
  };
  auto kv_dtype = memory.getAs<mlir::TypeAttr>("kv_dtype");
  auto tp_size = module->getAttrOfType<mlir::IntegerAttr>(kTpSizeAttr);

  llvm::json::Object report{
      {"report_version", 1},
      {"model", string_attr("bloom.model_name")},
      {"policy", string_attr(kPrecisionPolicyAttr)},
      {"shapes_only", shapes_only},
      {"tp_size", tp_size ? tp_size.getInt() : 1},
      {"limits",
       llvm::json::Object{{"max_batch_tokens", get("max_batch_tokens")},
                          {"max_logit_rows", get("max_logit_rows")},
                          {"max_seq_len", get("max_seq_len")},
                          {"max_sequences", get("max_sequences")}}},
      {"kv_cache",
       llvm::json::Object{{"layers", get("kv_num_layers")},
                          {"heads", get("kv_num_heads")},
                          {"head_dim", get("kv_head_dim")},
                          {"block_size", get("kv_block_size")},
                          {"blocks", get("kv_num_blocks")},
                          {"dtype", kv_dtype ? TypeName(kv_dtype.getValue()) : ""}}},
      {"arena",
       llvm::json::Object{{"bytes", get("activations_bytes")},
                          {"bytes_without_reuse", get("arena_bytes_without_reuse")}}},
      {"device_memory_bytes",
       memory.get("device_memory_bytes")
           ? llvm::json::Value(get("device_memory_bytes"))
           : llvm::json::Value(nullptr)},
      {"devices", std::move(devices)},
  };
  // Absent: the weights are stored as the precision policy says.
  if (auto quantization = module->getAttrOfType<mlir::DictionaryAttr>(kQuantizationAttr)) {
    auto weights = quantization.getAs<mlir::StringAttr>("weights");
    auto lm_head = quantization.getAs<mlir::BoolAttr>("lm_head");
    llvm::json::Object section{
        {"weights", weights ? weights.str() : ""},
        {"group_size", IntField(quantization, "group_size")},
        {"lm_head", lm_head && lm_head.getValue()},
    };
    // A quantized LM head names its own format (int4 blocks may have an
    // int8 head).
    if (auto head = quantization.getAs<mlir::StringAttr>("lm_head_weights")) {
      section["lm_head_weights"] = head.str();
      section["lm_head_group_size"] = IntField(quantization, "lm_head_group_size");
    }
    report["quantization"] = std::move(section);
  }
  if (IntAttr(module, kPpSizeAttr, 1) > 1) {
    report["pp_size"] = IntAttr(module, kPpSizeAttr, 1);
    report["pipeline"] = PipelineReport(ranks, device_bandwidth);
  }
  if (auto tiering = module->getAttrOfType<mlir::DictionaryAttr>(kTieringAttr)) {
    report["tiering"] = TieringReport(tiering);
    report["device_memory_bytes"] = BudgetValue(IntField(tiering, "device_budget"));
  }

  llvm::SmallString<256> path(dir);
  llvm::sys::path::append(path, "report.json");
  std::error_code error;
  llvm::raw_fd_ostream out(path, error);
  if (error) return module.emitError() << path << ": " << error.message();
  out << llvm::formatv("{0:2}", llvm::json::Value(std::move(report))) << "\n";
  out.close();
  if (out.has_error()) {
    return module.emitError() << path << ": " << out.error().message();
  }
  return mlir::success();
}

}  // namespace bloom
