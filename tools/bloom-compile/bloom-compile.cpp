// bloom-compile: Hugging Face BLOOM checkpoint -> plan directory.
//
//   bloom-compile --model=DIR -o PLAN_DIR [--target=cpu] [--dtype=fp32|bf16|fp16]
//                 [--emit=bloom|fuse|partition|quantize|precision|memory|tier|plan]
//                 [--weights=bf16|none|int8|int4 [--group-size=N]
//                  [--quantize-lm-head [--lm-head-weights=int8|int4]]]
//                 [--max-seq-len=N]
//                 [--max-batch-tokens=N] [--max-sequences=N] [--max-logit-rows=N]
//                 [--device-memory=BYTES] [--shapes-only]
//                 [--tp=N [--tp-rank=R] [--tp-replicate-vocab]] [--pp=M [--pp-stage=S]]
//                 [--pack-weights]
//                 [--host-memory=BYTES] [--disk-dir=PATH] [--disk-budget=BYTES]
//                 [--offload=host|disk] [--weight-slots=N] [--device-bandwidth=RATE]
//                 [--h2d-bandwidth=RATE] [--disk-bandwidth=RATE]
//
// Builds the bloom graph from DIR (config.json + safetensors), runs
// fuse → assign-precision → plan-memory → lower (compiler/Pipeline.h) and
// writes PLAN_DIR/plan.bplan, PLAN_DIR/plan.mlir and PLAN_DIR/report.json.
// With --tp=N > 1 the pipeline runs once per rank with --bloom-partition-tp
// after fusion (the mesh driver, compiler/CompileMesh.h) and writes
// plan.rank<R>.bplan and plan.rank<R>.mlir for every rank R, and one
// report.json with a device entry per rank. With --pp=M > 1 the layers are
// cut into M pipeline stages (--bloom-partition-pp, before the tp
// partition): the pipeline runs once per mesh position (stage S, rank R),
// stage-major, and writes plan.stage<S>.rank<R>.bplan and .mlir for each
// (the rank suffix also at tp=1), and report.json with a device entry per
// position and a "pipeline" section (each stage's bytes, its expected
// decode step at --device-bandwidth, the bottleneck stage).
// --pack-weights also writes each position's weights (its slices, in the
// plan's storage types) to PLAN_DIR/rank<R>.safetensors
// (PLAN_DIR/weights.safetensors on one device,
// PLAN_DIR/stage<S>.rank<R>.safetensors with pp > 1) and points the plan at
// them instead of the checkpoint. --emit prints the IR after that stage to
// stdout instead and writes nothing (the position stage --pp-stage, rank
// --tp-rank, default 0 and 0; --emit=partition shows it after both
// partitions); --shapes-only reads only the config
// (DIR or a config.json file) and writes the plan IR and report.json but no
// plan files (there are no weights to point at). The tiering flags run
// --bloom-tier-memory, which places weight units on device, host or disk
// against the budgets; disk units are written to PLAN_DIR/[DISK_DIR/]
// weight_units.bin (weight_units.rank<R>.bin per rank,
// weight_units.stage<S>.rank<R>.bin per position with pp > 1). --weights=int8|int4
// runs --bloom-quantize-weights after the partition: the plan's quantized
// weights are made from the checkpoint's floats at load (plan.fbs's
// QuantizeAtLoad), or with --pack-weights written quantized;
// --lm-head-weights stores the LM head in a format of its own (int4 blocks
// with an int8 head). Any error is
// one line on stderr and exit code 1.
#include <cstdint>
#include <limits>
#include <string>
#include <tuple>

#include "absl/status/statusor.h"
#include "compiler/CompileMesh.h"
#include "compiler/PlanEmitter.h"
#include "compiler/Pipeline.h"
#include "compiler/Report.h"
#include "dialects/Bloom/TensorNames.h"
#include "dialects/Bloom/BloomDialect.h"
#include "dialects/Plan/PlanDialect.h"
#include "llvm/ADT/StringExtras.h"
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
#include "tools/bloom-compile/pack_weights.h"
#include "tools/bloom-compile/weight_units_file.h"

namespace {

namespace cl = llvm::cl;

using bloom::PipelineStage;

cl::OptionCategory category("bloom-compile options");
cl::opt<std::string> model_flag(
    "model", cl::desc("Checkpoint directory (or a config.json file with "
                      "--shapes-only)"),
    cl::value_desc("DIR"), cl::cat(category));
cl::opt<std::string> output_flag("o", cl::desc("Plan directory to write"),
                                 cl::value_desc("PLAN_DIR"), cl::cat(category));
cl::opt<std::string> target_flag("target", cl::desc("Target backend (cpu)"),
                                 cl::init("cpu"), cl::cat(category));
cl::opt<std::string> dtype_flag(
    "dtype", cl::desc("Precision policy: fp32 (default), bf16 or fp16"),
    cl::init("fp32"), cl::cat(category));
cl::opt<std::string> weights_flag(
    "weights",
    cl::desc("Linear weights' storage: bf16 or none (as --dtype stores them, the "
             "default), int8 (per output channel) or int4 (per group of "
             "--group-size input columns)"),
    cl::init("bf16"), cl::cat(category));
cl::opt<int64_t> group_size_flag(
    "group-size", cl::desc("With --weights=int4: input columns per scale (default 128)"),
    cl::init(128), cl::cat(category));
cl::opt<bool> quantize_lm_head_flag(
    "quantize-lm-head",
    cl::desc("With --weights=int8|int4: quantize the LM head (the tied embedding) too"),
    cl::cat(category));
cl::opt<std::string> lm_head_weights_flag(
    "lm-head-weights",
    cl::desc("With --quantize-lm-head: the LM head's storage, int8 (per output channel) or "
             "int4 (per group of --group-size); default: as --weights"),
    cl::cat(category));
cl::opt<PipelineStage> emit_flag(
    "emit", cl::desc("Print the IR after a stage to stdout and stop"),
    cl::values(clEnumValN(PipelineStage::kImport, "bloom", "the imported bloom graph"),
               clEnumValN(PipelineStage::kFuse, "fuse", "after --bloom-fuse"),
               clEnumValN(PipelineStage::kPartition, "partition",
                          "after --bloom-partition-pp and --bloom-partition-tp "
                          "(stage --pp-stage of --pp, rank --tp-rank of --tp)"),
               clEnumValN(PipelineStage::kQuantize, "quantize",
                          "after --bloom-quantize-weights (with --weights=int8|int4)"),
               clEnumValN(PipelineStage::kPrecision, "precision", "after --bloom-assign-precision"),
               clEnumValN(PipelineStage::kMemory, "memory", "after --bloom-plan-memory"),
               clEnumValN(PipelineStage::kTier, "tier", "after --bloom-tier-memory (with tiering)"),
               clEnumValN(PipelineStage::kPlan, "plan", "the plan dialect")),
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
cl::opt<int64_t> max_logit_rows_flag(
    "max-logit-rows",
    cl::desc("Logit rows per step (default: min(--max-sequences, "
             "--max-batch-tokens): one per sequence)"),
    cl::init(0), cl::cat(category));
cl::opt<std::string> device_memory_flag(
    "device-memory",
    cl::desc("Device memory the plan must fit, e.g. 80GiB, 512MiB, 1.5GB or "
             "plain bytes (default: no limit)"),
    cl::value_desc("BYTES"), cl::cat(category));
cl::opt<int64_t> tp_flag(
    "tp", cl::desc("Tensor-parallel ranks: write one plan per rank"),
    cl::init(1), cl::cat(category));
cl::opt<int64_t> pp_flag(
    "pp", cl::desc("Pipeline stages: cut the layers into M stages, one plan per stage and rank"),
    cl::init(1), cl::cat(category));
cl::opt<int64_t> pp_stage_flag(
    "pp-stage", cl::desc("With --emit: the pipeline stage whose IR to print (default 0)"),
    cl::init(0), cl::cat(category));
cl::opt<int64_t> tp_rank_flag(
    "tp-rank", cl::desc("With --emit: the rank whose IR to print (default 0)"),
    cl::init(0), cl::cat(category));
cl::opt<bool> tp_replicate_vocab_flag(
    "tp-replicate-vocab",
    cl::desc("Keep the embedding and LM head whole on every rank when --tp "
             "does not divide the vocabulary (otherwise an error)"),
    cl::cat(category));
cl::opt<bool> pack_weights_flag(
    "pack-weights",
    cl::desc("Write each rank's weights, sliced and in the plan's storage "
             "types, into PLAN_DIR and point its plan at them"),
    cl::cat(category));
// Memory tiering (--bloom-tier-memory): any of --host-memory, --disk-dir,
// --disk-budget, --offload turns it on; --device-memory is then the budget
// weights are placed against instead of a hard limit.
cl::opt<std::string> host_memory_flag(
    "host-memory",
    cl::desc("Pinned host memory for offloaded weights, e.g. 64GiB (turns on "
             "tiering; default with tiering: no limit)"),
    cl::value_desc("BYTES"), cl::cat(category));
cl::opt<std::string> disk_dir_flag(
    "disk-dir",
    cl::desc("Directory inside PLAN_DIR for disk-resident weight units "
             "(weight_units.bin; turns on tiering and the disk tier)"),
    cl::value_desc("PATH"), cl::cat(category));
cl::opt<std::string> disk_budget_flag(
    "disk-budget",
    cl::desc("Disk bytes for weight units (turns on tiering; default with "
             "--disk-dir: no limit)"),
    cl::value_desc("BYTES"), cl::cat(category));
cl::opt<std::string> offload_flag(
    "offload",
    cl::desc("Force every weight unit off the device: host or disk (tests)"),
    cl::value_desc("host|disk"), cl::cat(category));
cl::opt<int64_t> weight_slots_flag(
    "weight-slots", cl::desc("Device slots streamed weight units rotate through (>= 2)"),
    cl::init(2), cl::cat(category));
cl::opt<std::string> device_bandwidth_flag(
    "device-bandwidth",
    cl::desc("Device memory bandwidth for the cost model (default 3TB/s)"),
    cl::value_desc("RATE"), cl::cat(category));
cl::opt<std::string> h2d_bandwidth_flag(
    "h2d-bandwidth",
    cl::desc("Host to device bandwidth for the cost model (default 25GB/s; "
             "bloom-run --probe measures it)"),
    cl::value_desc("RATE"), cl::cat(category));
cl::opt<std::string> disk_bandwidth_flag(
    "disk-bandwidth",
    cl::desc("Disk to host bandwidth for the cost model (default 3GB/s)"),
    cl::value_desc("RATE"), cl::cat(category));
cl::opt<bool> shapes_only_flag(
    "shapes-only",
    cl::desc("Read only the config; write plan.mlir and report.json, no "
             "plan.bplan"),
    cl::cat(category));

// "80GiB", "1.5GB", "512MiB", "4096": bytes. Decimal (kB, MB, GB, TB) and
// binary (KiB, MiB, GiB, TiB) suffixes, any case, optional "B" alone.
absl::StatusOr<int64_t> ParseByteSize(llvm::StringRef text,
                                      llvm::StringRef flag = "device-memory") {
  auto fail = [&]() {
    return absl::InvalidArgumentError(
        "--" + flag.str() + "=" + text.str() +
        " is not a size (expected bytes with an optional suffix, e.g. 80GiB, "
        "512MiB, 1.5GB)");
  };
  llvm::StringRef number = text.take_while(
      [](char c) { return llvm::isDigit(c) || c == '.'; });
  llvm::StringRef suffix = text.drop_front(number.size()).trim();
  double value = 0;
  if (number.empty() || number.getAsDouble(value)) return fail();
  static constexpr std::pair<const char*, double> kSuffixes[] = {
      {"", 1.0},          {"b", 1.0},
      {"kb", 1e3},        {"mb", 1e6},        {"gb", 1e9},
      {"tb", 1e12},       {"kib", 1024.0},    {"mib", 1048576.0},
      {"gib", 1073741824.0}, {"tib", 1099511627776.0}};
  std::string lower = suffix.lower();
  for (auto [name, scale] : kSuffixes) {
    if (lower != name) continue;
    double bytes = value * scale;
    if (!(bytes >= 1.0) || bytes > 9.0e18) return fail();
    return static_cast<int64_t>(bytes);
  }
  return fail();
}

// "25GB/s", "3GiB/s", "3e9": bytes per second (the size suffixes above,
// "/s" optional).
absl::StatusOr<double> ParseBandwidth(const cl::opt<std::string>& flag) {
  llvm::StringRef text = flag.getValue();
  text.consume_back("/s");
  absl::StatusOr<int64_t> bytes = ParseByteSize(text, flag.ArgStr);
  if (!bytes.ok()) {
    return absl::InvalidArgumentError("--" + flag.ArgStr.str() + "=" + flag.getValue() +
                                      " is not a bandwidth (expected e.g. 25GB/s, "
                                      "3GiB/s or bytes per second)");
  }
  return static_cast<double>(*bytes);
}

bool TieringRequested() {
  return host_memory_flag.getNumOccurrences() > 0 || disk_dir_flag.getNumOccurrences() > 0 ||
         disk_budget_flag.getNumOccurrences() > 0 || offload_flag.getNumOccurrences() > 0;
}

// The tiering half of the pipeline options, from the flags; one line for
// the first bad one. `units_file` becomes relative to the plan directory.
absl::Status TieringOptions(bloom::PipelineOptions& options) {
  options.tiering = TieringRequested();
  for (const cl::opt<std::string>* flag :
       {&device_bandwidth_flag, &h2d_bandwidth_flag, &disk_bandwidth_flag}) {
    // The pipeline report's cost model reads the device bandwidth too.
    if (flag == &device_bandwidth_flag && pp_flag > 1) continue;
    if (flag->getNumOccurrences() > 0 && !options.tiering) {
      return absl::InvalidArgumentError(
          "--" + flag->ArgStr.str() +
          " only matters with tiering (--host-memory, --disk-dir, --disk-budget or --offload)" +
          (flag == &device_bandwidth_flag ? " or --pp > 1" : ""));
    }
  }
  if (device_bandwidth_flag.getNumOccurrences() > 0) {
    absl::StatusOr<double> rate = ParseBandwidth(device_bandwidth_flag);
    if (!rate.ok()) return rate.status();
    options.device_bandwidth = *rate;
  }
  if (weight_slots_flag.getNumOccurrences() > 0) {
    if (!options.tiering) {
      return absl::InvalidArgumentError(
          "--weight-slots only matters with tiering (--host-memory, --disk-dir, "
          "--disk-budget or --offload)");
    }
    if (weight_slots_flag < 2 || weight_slots_flag > 64) {
      return absl::InvalidArgumentError("--weight-slots must be in [2, 64], got " +
                                        std::to_string(weight_slots_flag));
    }
  }
  if (!options.tiering) return absl::OkStatus();
  options.weight_slots = weight_slots_flag;
  if (offload_flag.getNumOccurrences() > 0) {
    if (offload_flag != "host" && offload_flag != "disk") {
      return absl::InvalidArgumentError("--offload=" + offload_flag +
                                        " is not a tier (expected host or disk)");
    }
    options.offload = offload_flag;
  }
  if (!host_memory_flag.empty()) {
    absl::StatusOr<int64_t> bytes = ParseByteSize(host_memory_flag, "host-memory");
    if (!bytes.ok()) return bytes.status();
    options.host_memory = *bytes;
  }
  const bool disk = disk_dir_flag.getNumOccurrences() > 0 ||
                    disk_budget_flag.getNumOccurrences() > 0 || options.offload == "disk";
  options.disk_budget = disk ? -1 : 0;
  if (disk_budget_flag.getNumOccurrences() > 0) {
    absl::StatusOr<int64_t> bytes = ParseByteSize(disk_budget_flag, "disk-budget");
    if (!bytes.ok()) return bytes.status();
    options.disk_budget = *bytes;
  }
  for (auto [flag, value] : {std::pair<const cl::opt<std::string>*, double*>{
                                 &h2d_bandwidth_flag, &options.h2d_bandwidth},
                             {&disk_bandwidth_flag, &options.disk_bandwidth}}) {
    if (flag->getNumOccurrences() == 0) continue;
    absl::StatusOr<double> rate = ParseBandwidth(*flag);
    if (!rate.ok()) return rate.status();
    *value = *rate;
  }
  // plan.fbs's WeightUnit.file is relative to the plan directory, so the
  // disk directory must lie inside it.
  std::string relative;
  if (disk_dir_flag.getNumOccurrences() > 0) {
    if (disk_dir_flag.empty()) {
      return absl::InvalidArgumentError("--disk-dir needs a directory");
    }
    llvm::SmallString<256> plan_dir(output_flag.empty() ? "." : output_flag.getValue());
    llvm::sys::fs::make_absolute(plan_dir);
    llvm::sys::path::remove_dots(plan_dir, /*remove_dot_dot=*/true);
    llvm::SmallString<256> dir(disk_dir_flag.getValue());
    if (llvm::sys::path::is_relative(dir)) {
      dir = plan_dir;
      llvm::sys::path::append(dir, disk_dir_flag.getValue());
    }
    llvm::sys::path::remove_dots(dir, /*remove_dot_dot=*/true);
    llvm::StringRef inside = dir.str();
    if (!inside.consume_front(plan_dir.str()) ||
        (!inside.empty() && !inside.starts_with("/"))) {
      return absl::InvalidArgumentError(
          "--disk-dir=" + disk_dir_flag + " is outside the plan directory " +
          plan_dir.str().str() +
          " (plan files name disk units relative to it; put -o on the disk instead)");
    }
    relative = inside.ltrim('/').str();
  }
  options.units_file = relative.empty() ? "weight_units.bin" : relative + "/weight_units.bin";
  return absl::OkStatus();
}

int Fail(const std::string& message) {
  llvm::errs() << "bloom-compile: " << message << "\n";
  return 1;
}

// One line per diagnostic: "bloom-compile: [NAME: ]message", where NAME is
// the tensor name of the op it is about.
mlir::LogicalResult PrintDiagnostic(mlir::Diagnostic& diag) {
  if (diag.getSeverity() == mlir::DiagnosticSeverity::Note) return mlir::success();
  std::string where;
  llvm::SmallVector<std::string> names = bloom::graph::TensorNames(diag.getLocation());
  if (!names.empty()) where = names.front() + ": ";
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
  if (dtype_flag != "fp32" && dtype_flag != "bf16" && dtype_flag != "fp16") {
    return absl::UnimplementedError("--dtype=" + dtype_flag +
                                    " is not supported (supported: fp32, bf16, fp16)");
  }
  if (weights_flag != "bf16" && weights_flag != "none" && !bloom::IsQuantized(weights_flag)) {
    return absl::InvalidArgumentError("--weights=" + weights_flag +
                                      " is not supported (supported: bf16, none, int8, int4)");
  }
  if (quantize_lm_head_flag && !bloom::IsQuantized(weights_flag)) {
    return absl::InvalidArgumentError("--quantize-lm-head needs --weights=int8 or int4");
  }
  if (lm_head_weights_flag.getNumOccurrences() > 0) {
    if (!quantize_lm_head_flag) {
      return absl::InvalidArgumentError("--lm-head-weights=" + lm_head_weights_flag +
                                        " needs --quantize-lm-head");
    }
    if (!bloom::IsQuantized(lm_head_weights_flag)) {
      return absl::InvalidArgumentError(
          "--lm-head-weights=" + lm_head_weights_flag +
          " is not supported (supported: int8, int4; without --quantize-lm-head the LM head "
          "is stored as --dtype)");
    }
  }
  // Either pairing of formats is allowed, also int8 blocks with an int4
  // head: each plan weight carries its own format down to the kernels, and
  // the pair is a trade of quality for bytes that is the user's to make
  // (the head is the tied table, a large share of a small model's bytes).
  // --group-size is then the int4 head's.
  const bool head_int4 = quantize_lm_head_flag && (lm_head_weights_flag.getNumOccurrences() > 0
                                                       ? lm_head_weights_flag == "int4"
                                                       : weights_flag == "int4");
  if (group_size_flag.getNumOccurrences() > 0 && weights_flag != "int4" && !head_int4) {
    return absl::InvalidArgumentError(
        "--group-size applies to int4 only (int8 is per output channel), got --weights=" +
        weights_flag +
        (lm_head_weights_flag.getNumOccurrences() > 0
             ? " --lm-head-weights=" + lm_head_weights_flag
             : std::string()));
  }
  if (emit_flag.getNumOccurrences() == 0 && output_flag.empty()) {
    return absl::InvalidArgumentError(
        "-o PLAN_DIR is required (or --emit=STAGE to print IR)");
  }
  if (max_logit_rows_flag.getNumOccurrences() > 0 &&
      (max_logit_rows_flag <= 0 || max_logit_rows_flag > max_batch_tokens_flag)) {
    return absl::InvalidArgumentError(
        "--max-logit-rows must be in [1, --max-batch-tokens=" +
        std::to_string(max_batch_tokens_flag) + "], got " +
        std::to_string(max_logit_rows_flag));
  }
  // The mesh: --tp ranks per stage of --pp stages; --tp-rank and --pp-stage
  // pick the position --emit prints.
  for (auto [size, index, what] :
       {std::tuple{&tp_flag, &tp_rank_flag, "rank"}, {&pp_flag, &pp_stage_flag, "stage"}}) {
    const std::string size_name = "--" + size->ArgStr.str();
    const std::string index_name = "--" + index->ArgStr.str();
    if (*size < 1 || *size > 4096) {
      return absl::InvalidArgumentError(size_name + " must be in [1, 4096], got " +
                                        std::to_string(*size));
    }
    if (index->getNumOccurrences() == 0) continue;
    if (emit_flag.getNumOccurrences() == 0) {
      return absl::InvalidArgumentError(index_name + " selects the " + what +
                                        " whose IR --emit prints; without --emit every " + what +
                                        "'s plan is written");
    }
    if (*index < 0 || *index >= *size) {
      return absl::InvalidArgumentError(index_name + "=" + std::to_string(*index) +
                                        " is not in [0, " + size_name + "=" +
                                        std::to_string(*size) + ")");
    }
  }
  if (pack_weights_flag && shapes_only_flag) {
    return absl::InvalidArgumentError(
        "--pack-weights needs a checkpoint; --shapes-only has no weights to pack");
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
  int64_t device_memory = 0;
  if (!device_memory_flag.empty()) {
    absl::StatusOr<int64_t> bytes = ParseByteSize(device_memory_flag);
    if (!bytes.ok()) return Fail(std::string(bytes.status().message()));
    device_memory = *bytes;
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
  // The model is named after its directory, or after a config file that is
  // not called config.json (a preset: models/bloom/presets/bloom-176b.json).
  std::string model_name = llvm::sys::path::filename(absolute_dir).str();
  if (config_path == model_flag &&
      llvm::sys::path::filename(config_path) != "config.json") {
    model_name = llvm::sys::path::stem(config_path).str();
  }

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
  const bool emit = emit_flag.getNumOccurrences() > 0;
  if (emit && emit_flag == PipelineStage::kImport) {
    (**module)->print(llvm::outs(), print_flags);
    llvm::outs() << "\n";
    return 0;
  }

  mlir::DefaultTimingManager timing;
  mlir::applyDefaultTimingManagerCLOptions(timing);
  mlir::TimingScope root_timing = timing.getRootScope();
  bloom::PipelineOptions options;
  options.policy = dtype_flag;
  options.max_batch_tokens = max_batch_tokens_flag;
  options.max_logit_rows = max_logit_rows_flag;
  options.max_seq_len = max_seq_len_flag;
  options.max_sequences = max_sequences_flag;
  options.device_memory = device_memory;
  options.replicate_vocab = tp_replicate_vocab_flag;
  options.weights = weights_flag;
  options.group_size = group_size_flag;
  options.quantize_lm_head = quantize_lm_head_flag;
  options.lm_head_weights = lm_head_weights_flag;
  if (absl::Status tiering = TieringOptions(options); !tiering.ok()) {
    return Fail(std::string(tiering.message()));
  }
  bloom::CompileMeshOptions mesh;
  mesh.mesh.pp = pp_flag;
  mesh.mesh.tp = tp_flag;
  mesh.pipeline = options;
  mesh.last = emit ? emit_flag.getValue() : PipelineStage::kPlan;
  // --emit prints one position's IR: only that position is compiled.
  if (emit) mesh.only = bloom::MeshPosition{/*stage=*/pp_stage_flag, /*tp_rank=*/tp_rank_flag};
  mesh.configure = [&](mlir::PassManager& pm) {
    if (mlir::failed(mlir::applyPassManagerCLOptions(pm))) return mlir::failure();
    pm.enableTiming(root_timing);
    return mlir::success();
  };
  mlir::FailureOr<std::vector<bloom::MeshPlan>> plans = bloom::CompileMesh(**module, mesh);
  if (mlir::failed(plans)) return 1;
  if (emit) {
    (*plans->front().module)->print(llvm::outs(), print_flags);
    llvm::outs() << "\n";
    return 0;
  }
  llvm::SmallVector<mlir::ModuleOp> rank_modules;
  for (bloom::MeshPlan& plan : *plans) {
    mlir::ModuleOp rank = *plan.module;
    rank_modules.push_back(rank);
    // Before packing, which repoints the weights at the packed file: the
    // units are read from the checkpoint's sources.
    if (!shapes_only_flag) {
      absl::Status units = bloom::WriteWeightUnits(rank, *checkpoint, output_flag.getValue());
      if (!units.ok()) return Fail(std::string(units.message()));
    }
    if (pack_weights_flag) {
      absl::Status packed =
          bloom::PackWeights(rank, *checkpoint, output_flag.getValue());
      if (!packed.ok()) return Fail(std::string(packed.message()));
    }
    mlir::LogicalResult written =
        shapes_only_flag ? bloom::WritePlanText(rank, output_flag)
                         : bloom::WritePlanDirectory(rank, output_flag);
    if (mlir::failed(written)) return 1;
  }
  if (mlir::failed(
          bloom::WriteReport(rank_modules, output_flag, shapes_only_flag,
                             options.device_bandwidth))) {
    return 1;
  }
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
