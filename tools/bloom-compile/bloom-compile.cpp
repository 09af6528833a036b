// bloom-compile: Hugging Face BLOOM checkpoint -> plan directory.
//
//   bloom-compile --model=DIR -o PLAN_DIR [--target=cpu] [--dtype=fp32]
//                 [--emit=bloom|plan] [--max-seq-len=N] [--max-batch-tokens=N]
//                 [--max-sequences=N] [--shapes-only]
//
// Builds the bloom graph from DIR (config.json + safetensors), lowers it to
// the plan dialect and writes PLAN_DIR/plan.bplan and PLAN_DIR/plan.mlir.
// --emit prints the IR of that stage to stdout instead and writes nothing;
// --shapes-only (with --emit) reads only the config. Any error is one line
// on stderr and exit code 1.
#include <cstdint>
#include <limits>
#include <string>

#include "absl/status/statusor.h"
#include "compiler/PlanEmitter.h"
#include "compiler/Pipeline.h"
#include "dialects/Bloom/BloomDialect.h"
#include "dialects/Plan/PlanDialect.h"
#include "llvm/Support/CommandLine.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/AsmState.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Support/Timing.h"
#include "models/bloom/config.h"
#include "models/bloom/graph/GraphBuilder.h"
#include "models/bloom/graph/WeightResolver.h"
#include "runtime/checkpoint/checkpoint.h"

namespace {

namespace cl = llvm::cl;

enum class EmitStage { kNone, kBloom, kPlan };

cl::OptionCategory category("bloom-compile options");
cl::opt<std::string> model_flag(
    "model", cl::desc("Checkpoint directory (or a config.json file with "
                      "--shapes-only)"),
    cl::value_desc("DIR"), cl::cat(category));
cl::opt<std::string> output_flag("o", cl::desc("Plan directory to write"),
                                 cl::value_desc("PLAN_DIR"), cl::cat(category));
cl::opt<std::string> target_flag("target", cl::desc("Target backend (cpu)"),
                                 cl::init("cpu"), cl::cat(category));
cl::opt<std::string> dtype_flag("dtype", cl::desc("Compute precision (fp32)"),
                                cl::init("fp32"), cl::cat(category));
cl::opt<EmitStage> emit_flag(
    "emit", cl::desc("Print the IR of a stage to stdout and stop"),
    cl::init(EmitStage::kNone),
    cl::values(clEnumValN(EmitStage::kBloom, "bloom", "the bloom graph"),
               clEnumValN(EmitStage::kPlan, "plan", "the plan dialect")),
    cl::cat(category));
cl::opt<int64_t> max_seq_len_flag("max-seq-len",
                                  cl::desc("Positions per sequence"),
                                  cl::init(2048), cl::cat(category));
cl::opt<int64_t> max_batch_tokens_flag("max-batch-tokens",
                                       cl::desc("Tokens per step"),
                                       cl::init(512), cl::cat(category));
cl::opt<int64_t> max_sequences_flag("max-sequences",
                                    cl::desc("Sequence slots in the KV cache"),
                                    cl::init(8), cl::cat(category));
cl::opt<bool> shapes_only_flag(
    "shapes-only",
    cl::desc("Read only the config; leave weights unresolved (needs --emit)"),
    cl::cat(category));

int Fail(const std::string& message) {
  llvm::errs() << "bloom-compile: " << message << "\n";
  return 1;
}

// One line per diagnostic: "bloom-compile: [NAME: ]message", where NAME is
// the tensor name of the op it is about.
mlir::LogicalResult PrintDiagnostic(mlir::Diagnostic& diag) {
  if (diag.getSeverity() == mlir::DiagnosticSeverity::Note) return mlir::success();
  std::string where;
  if (auto name = mlir::dyn_cast<mlir::NameLoc>(diag.getLocation())) {
    where = name.getName().str() + ": ";
  }
  llvm::errs() << "bloom-compile: "
               << (diag.getSeverity() == mlir::DiagnosticSeverity::Warning
                       ? "warning: "
                       : "")
               << where << diag.str() << "\n";
  return mlir::success();
}

absl::Status CheckFlags() {
  if (model_flag.empty()) {
    return absl::InvalidArgumentError("--model=DIR is required");
  }
  if (target_flag != "cpu") {
    return absl::UnimplementedError("--target=" + target_flag +
                                    " is not supported yet (supported: cpu)");
  }
  if (dtype_flag != "fp32") {
    return absl::UnimplementedError("--dtype=" + dtype_flag +
                                    " is not supported yet (supported: fp32)");
  }
  if (shapes_only_flag && emit_flag == EmitStage::kNone) {
    return absl::InvalidArgumentError(
        "--shapes-only leaves weights unresolved, so it needs --emit=bloom or "
        "--emit=plan");
  }
  if (emit_flag == EmitStage::kNone && output_flag.empty()) {
    return absl::InvalidArgumentError(
        "-o PLAN_DIR is required (or --emit=bloom|plan to print IR)");
  }
  for (const cl::opt<int64_t>* limit :
       {&max_seq_len_flag, &max_batch_tokens_flag, &max_sequences_flag}) {
    // plan.fbs stores the limits as int32.
    if (*limit <= 0 || *limit > std::numeric_limits<int32_t>::max()) {
      return absl::InvalidArgumentError(
          "--" + limit->ArgStr.str() + " must be in [1, 2147483647], got " +
          std::to_string(*limit));
    }
  }
  return absl::OkStatus();
}

int Run() {
  if (absl::Status flags = CheckFlags(); !flags.ok()) {
    return Fail(std::string(flags.message()));
  }
  // --model names the checkpoint directory, or (shapes only) a config file.
  std::string model_dir = model_flag;
  std::string config_path = model_dir + "/config.json";
  if (!llvm::sys::fs::is_directory(model_flag)) {
    if (!shapes_only_flag || !llvm::sys::fs::exists(model_flag)) {
      return Fail(model_flag + ": not a checkpoint directory");
    }
    config_path = model_flag;
    model_dir = llvm::sys::path::parent_path(model_flag).str();
  }
  absl::StatusOr<bloom::model::BloomConfig> config =
      bloom::model::LoadBloomConfig(config_path);
  if (!config.ok()) return Fail(std::string(config.status().message()));

  llvm::SmallString<256> absolute_dir(model_dir.empty() ? "." : model_dir);
  llvm::sys::fs::make_absolute(absolute_dir);
  llvm::sys::path::remove_dots(absolute_dir, /*remove_dot_dot=*/true);
  std::string model_name = llvm::sys::path::filename(absolute_dir).str();

  std::optional<bloom::Checkpoint> checkpoint;
  std::unique_ptr<bloom::model::WeightResolver> weights;
  if (shapes_only_flag) {
    weights = bloom::model::MakeShapesOnlyResolver();
  } else {
    absl::StatusOr<bloom::Checkpoint> opened = bloom::Checkpoint::Open(model_dir);
    if (!opened.ok()) return Fail(std::string(opened.status().message()));
    checkpoint.emplace(*std::move(opened));
    weights = bloom::model::MakeCheckpointResolver(*checkpoint,
                                                   absolute_dir.str().str());
  }

  mlir::DialectRegistry registry;
  registry.insert<mlir::func::FuncDialect, bloom::graph::BloomDialect,
                  bloom::plan_ir::PlanDialect>();
  mlir::MLIRContext context(registry);
  mlir::ScopedDiagnosticHandler diagnostics(&context, PrintDiagnostic);

  auto module =
      bloom::model::BuildBloomGraph(context, *config, *weights, model_name);
  if (!module.ok()) return Fail(std::string(module.status().message()));
  // Locations are the tensor names ("h.3.attn_norm"): print them inline.
  mlir::OpPrintingFlags print_flags;
  print_flags.enableDebugInfo(/*enable=*/true, /*prettyForm=*/false)
      .useLocalScope();
  if (emit_flag == EmitStage::kBloom) {
    (**module)->print(llvm::outs(), print_flags);
    llvm::outs() << "\n";
    return 0;
  }

  mlir::DefaultTimingManager timing;
  mlir::applyDefaultTimingManagerCLOptions(timing);
  mlir::PassManager pm(&context);
  if (mlir::failed(mlir::applyPassManagerCLOptions(pm))) return 1;
  mlir::TimingScope root_timing = timing.getRootScope();
  pm.enableTiming(root_timing);
  bloom::BuildLowerToPlanPipeline(
      pm, {max_batch_tokens_flag, max_seq_len_flag, max_sequences_flag});
  if (mlir::failed(pm.run(**module))) return 1;
  if (emit_flag == EmitStage::kPlan) {
    (**module)->print(llvm::outs(), print_flags);
    llvm::outs() << "\n";
    return 0;
  }
  if (mlir::failed(bloom::WritePlanDirectory(**module, output_flag))) return 1;
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  llvm::InitLLVM init(argc, argv);
  mlir::registerMLIRContextCLOptions();
  mlir::registerPassManagerCLOptions();
  mlir::registerAsmPrinterCLOptions();
  mlir::registerDefaultTimingManagerCLOptions();
  // llvm::cl reports a bad flag over several lines ("Did you mean ...");
  // the tools' contract is one line, so only its first line is shown.
  // LLVM's shared library registers hundreds of codegen flags; --help shows
  // only ours. MLIR's pass-manager and timing flags stay accepted.
  cl::HideUnrelatedOptions(category);
  std::string cl_errors;
  llvm::raw_string_ostream cl_error_stream(cl_errors);
  if (!cl::ParseCommandLineOptions(argc, argv,
                                   "bloom-compile: compiles a BLOOM checkpoint into a plan\n\n"
                                   "MLIR's --mlir-print-ir-after-all, --mlir-print-ir-before-all,\n"
                                   "--mlir-timing and --mlir-print-debuginfo are accepted too.\n",
                                   &cl_error_stream)) {
    cl_error_stream.flush();
    llvm::errs() << llvm::StringRef(cl_errors).split('\n').first << "\n";
    return 2;
  }
  return Run();
}
