#include "compiler/Report.h"

#include <string>

#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"
#include "mlir/IR/BuiltinAttributes.h"

namespace bloom {
namespace {

// Must match the names in compiler/KernelContract.h (not included here: the
// emitter library does not link the passes).
constexpr char kMemoryPlanAttr[] = "bloom.memory";
constexpr char kPrecisionPolicyAttr[] = "bloom.precision_policy";
constexpr char kTpSizeAttr[] = "bloom.tp_size";

std::string TypeName(mlir::Type type) {
  std::string text;
  llvm::raw_string_ostream(text) << type;
  return text;
}

}  // namespace

mlir::LogicalResult WriteReport(llvm::ArrayRef<mlir::ModuleOp> ranks,
                                llvm::StringRef dir, bool shapes_only) {
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
    // Device r runs rank r: one device per rank.
    devices.push_back(llvm::json::Object{
        {"device", static_cast<int64_t>(index)},
        {"weights_bytes", get("weights_bytes")},
        {"kv_cache_bytes", get("kv_cache_bytes")},
        {"activations_bytes", get("activations_bytes")},
        {"workspace_bytes", get("workspace_bytes")},
        {"total_bytes", get("total_bytes")},
    });
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
