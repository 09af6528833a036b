// Writes plan.fbs from the plan dialect. The mapping is one to one: each
// tensor-declaring op (plan.weight, plan.input, plan.buffer) is a Tensor, each
// kernel op an Instruction whose operands are its `ins` and whose result is
// its `outs`, as indices into the tensor list. Tiering: each plan.weight_unit
// is a WeightUnit (in declaration order), a streamed weight's unit is that
// index, and prefetch/await are instructions without operands.
#include "compiler/PlanEmitter.h"

#include <limits>
#include <string>

#include "dialects/Plan/PlanOps.h"
#include "dialects/Plan/QuantizedWeights.h"
#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"
#include "mlir/IR/OperationSupport.h"
#include "runtime/plan/plan_generated.h"
#include "runtime/plan/plan_version.h"

namespace bloom {
namespace {

namespace fb = ::bloom::plan;
using mlir::LogicalResult;

constexpr char kProducer[] = "bloom-compile 0.1.0";

int Int(int64_t value) { return static_cast<int>(value); }

std::optional<fb::DType> ToDType(mlir::Type type) {
  if (type.isF32()) return fb::DType::F32;
  if (type.isF16()) return fb::DType::F16;
  if (type.isBF16()) return fb::DType::BF16;
  if (type.isInteger(32)) return fb::DType::I32;
  if (type.isInteger(8)) return fb::DType::I8;
  if (type.isInteger(4)) return fb::DType::I4;
  return std::nullopt;
}

fb::WeightFormat ToWeightFormat(plan_ir::WeightFormat format) {
  switch (format) {
    case plan_ir::WeightFormat::Int8PerChannel: return fb::WeightFormat::Int8PerChannel;
    case plan_ir::WeightFormat::Int4Grouped: return fb::WeightFormat::Int4Grouped;
  }
  return fb::WeightFormat::Int8PerChannel;
}

fb::QuantizedPart ToQuantizedPart(plan_ir::QuantizedPart part) {
  switch (part) {
    case plan_ir::QuantizedPart::Values: return fb::QuantizedPart::Values;
    case plan_ir::QuantizedPart::Scales: return fb::QuantizedPart::Scales;
    case plan_ir::QuantizedPart::ZeroPoints: return fb::QuantizedPart::ZeroPoints;
  }
  return fb::QuantizedPart::Values;
}

fb::TensorRole ToRole(plan_ir::TensorRole role) {
  switch (role) {
    case plan_ir::TensorRole::TokenIds: return fb::TensorRole::TokenIds;
    case plan_ir::TensorRole::Positions: return fb::TensorRole::Positions;
    case plan_ir::TensorRole::SequenceSlots: return fb::TensorRole::SequenceSlots;
    case plan_ir::TensorRole::LogitRows: return fb::TensorRole::LogitRows;
    case plan_ir::TensorRole::Logits: return fb::TensorRole::Logits;
    case plan_ir::TensorRole::HiddenIn: return fb::TensorRole::HiddenIn;
    case plan_ir::TensorRole::HiddenOut: return fb::TensorRole::HiddenOut;
  }
  return fb::TensorRole::None;
}

fb::RowDim ToRowDim(plan_ir::RowDim rows) {
  switch (rows) {
    case plan_ir::RowDim::Static: return fb::RowDim::Static;
    case plan_ir::RowDim::Tokens: return fb::RowDim::Tokens;
    case plan_ir::RowDim::LogitRows: return fb::RowDim::LogitRows;
  }
  return fb::RowDim::Static;
}

class PlanSerializer {
 public:
  LogicalResult Serialize(plan_ir::ProgramOp program,
                          std::vector<uint8_t>& bytes) {
    // Units first: weights and instructions refer to them by index.
    for (auto unit : program.getBody().getOps<plan_ir::WeightUnitOp>()) {
      unit_index_[unit.getName()] = static_cast<int32_t>(units_.size());
      bool disk = unit.getResidency() == plan_ir::Residency::Disk;
      units_.push_back(fb::CreateWeightUnit(
          fbb_, fbb_.CreateString(unit.getName().str()),
          disk ? fb::Residency::Disk : fb::Residency::Host, unit.getBytes(),
          Int32(static_cast<int64_t>(unit.getSlot())),
          disk ? fbb_.CreateString(unit.getFile()->str()) : 0,
          unit.getFileOffset().value_or(0)));
    }
    for (mlir::Operation& op : program.getBody().getOps()) {
      if (mlir::failed(Emit(&op))) return mlir::failure();
    }
    // The roles of the program's pipeline stage, as the runtime's validator
    // requires them (plan_validator.cpp's StageHasRole; the program's
    // verifier has refused the roles the stage does not have).
    for (auto role : {plan_ir::TensorRole::TokenIds, plan_ir::TensorRole::Positions,
                      plan_ir::TensorRole::SequenceSlots, plan_ir::TensorRole::LogitRows,
                      plan_ir::TensorRole::Logits, plan_ir::TensorRole::HiddenIn,
                      plan_ir::TensorRole::HiddenOut}) {
      if (program.stageHasRole(role) && !roles_.contains(static_cast<uint32_t>(role))) {
        return program.emitOpError()
               << "has no tensor with role " << plan_ir::stringifyTensorRole(role)
               << (program.ppSize() > 1 ? " (pipeline stage " + std::to_string(program.ppStage()) +
                                              " of " + std::to_string(program.ppSize()) + ")"
                                        : "");
      }
    }
    // A middle stage passes the hidden state on as it received it.
    if (hidden_in_ && hidden_out_ &&
        (hidden_in_.getElementType() != hidden_out_.getElementType() ||
         hidden_in_.getDimSize(1) != hidden_out_.getDimSize(1))) {
      return program.emitOpError() << "reads the hidden state as " << hidden_in_
                                   << " but returns it as " << hidden_out_
                                   << "; a pipeline stage passes it on in one dtype and width";
    }
    // plan.fbs stores these as int32; the dialect allows int64.
    for (auto [what, value] : {std::pair<llvm::StringRef, int64_t>{
                                   "max_batch_tokens", program.getMaxBatchTokens()},
                               {"max_logit_rows", program.getMaxLogitRows()},
                               {"max_seq_len", program.getMaxSeqLen()},
                               {"max_sequences", program.getMaxSequences()},
                               {"kv_cache blocks", program.getKvNumBlocks()},
                               {"kv_cache layers", program.getKvNumLayers()},
                               {"eos_token_id", static_cast<int64_t>(program.getEosTokenId())}}) {
      if (value < std::numeric_limits<int32_t>::min() ||
          value > std::numeric_limits<int32_t>::max()) {
        return program.emitOpError()
               << what << " = " << value << " does not fit plan.fbs's int32";
      }
    }
    std::optional<fb::DType> kv_dtype = ToDType(program.getKvDtype());
    if (!kv_dtype) return program.emitOpError("has a KV cache dtype plan.fbs cannot express");
    auto limits = fb::CreateLimits(
        fbb_, Int32(program.getMaxBatchTokens()), Int32(program.getMaxSeqLen()),
        Int32(program.getMaxSequences()), Int32(program.getMaxLogitRows()));
    auto kv_cache = fb::CreateKvCache(
        fbb_, Int32(program.getKvNumLayers()), Int32(program.getKvNumHeads()),
        Int32(program.getKvHeadDim()), Int32(program.getKvBlockSize()),
        Int32(program.getKvNumBlocks()), *kv_dtype);
    auto plan = fb::CreatePlan(
        fbb_, fb::kPlanSchemaVersion, fbb_.CreateString(kProducer),
        fbb_.CreateString(program.getModelName().str()),
        fbb_.CreateString(program.getCheckpointDir().str()), limits, kv_cache,
        program.getArenaBytes(), fbb_.CreateVector(tensors_),
        fbb_.CreateVector(instructions_),
        Int32(static_cast<int64_t>(program.getEosTokenId())),
        Int32(program.tpRank()), Int32(program.tpSize()),
        units_.empty() ? 0 : fbb_.CreateVector(units_),
        Int32(program.getNumWeightSlots().value_or(0)),
        program.getWeightSlotBytes().value_or(0), Int32(program.ppStage()),
        Int32(program.ppSize()));
    fb::FinishPlanBuffer(fbb_, plan);
    bytes.assign(fbb_.GetBufferPointer(),
                 fbb_.GetBufferPointer() + fbb_.GetSize());
    return mlir::success();
  }

 private:
  static int32_t Int32(int64_t value) { return static_cast<int32_t>(value); }

  LogicalResult Emit(mlir::Operation* op) {
    return llvm::TypeSwitch<mlir::Operation*, LogicalResult>(op)
        .Case([&](plan_ir::WeightOp weight) -> LogicalResult {
          if (!weight.getFile()) {
            return weight.emitOpError()
                   << "'" << weight.getName()
                   << "' has no checkpoint source (a --shapes-only graph "
                      "cannot be written as a plan)";
          }
          auto stored = ToDType(*weight.getStoredDtype());
          flatbuffers::Offset<fb::QuantizeAtLoad> quantize = 0;
          if (weight.getQuantizeFormat()) {
            quantize = fb::CreateQuantizeAtLoad(
                fbb_, ToWeightFormat(*weight.getQuantizeFormat()),
                static_cast<int64_t>(*weight.getGroupSize()), ToQuantizedPart(*weight.getPart()));
          }
          auto source = fb::CreateWeightSource(
              fbb_, fbb_.CreateString(weight.getFile()->str()),
              fbb_.CreateString(weight.getTensor()->str()), *stored,
              weight.getSliceDim() ? Int32(*weight.getSliceDim()) : -1,
              weight.getSliceBegin().value_or(0), weight.getSliceEnd().value_or(0), quantize);
          int32_t unit = -1;
          if (weight.getStreamUnit()) unit = unit_index_.lookup(*weight.getStreamUnit());
          return AddTensor(weight.getResult(), weight.getName(),
                           fb::TensorKind::Weight, fb::TensorRole::None,
                           fb::RowDim::Static, 0, source, unit,
                           weight.getSlotOffset().value_or(0));
        })
        .Case([&](plan_ir::WeightUnitOp) { return mlir::success(); })
        .Case([&](plan_ir::PrefetchWeightsOp k) {
          return AddInstruction(
              k, {}, {}, fb::Kernel::PrefetchWeights,
              fb::CreatePrefetchWeights(fbb_, unit_index_.lookup(k.getUnit())).Union(),
              std::nullopt, std::nullopt);
        })
        .Case([&](plan_ir::AwaitWeightsOp k) {
          return AddInstruction(
              k, {}, {}, fb::Kernel::AwaitWeights,
              fb::CreateAwaitWeights(fbb_, unit_index_.lookup(k.getUnit())).Union(),
              std::nullopt, std::nullopt);
        })
        .Case([&](plan_ir::InputOp input) {
          return AddTensor(input.getResult(), input.getName(),
                           fb::TensorKind::StepInput, ToRole(input.getRole()),
                           ToRowDim(input.getRows()), input.getOffset(), 0);
        })
        .Case([&](plan_ir::BufferOp buffer) {
          fb::TensorRole role =
              buffer.getRole() ? ToRole(*buffer.getRole()) : fb::TensorRole::None;
          return AddTensor(buffer.getResult(), buffer.getName(),
                           fb::TensorKind::Activation, role,
                           ToRowDim(buffer.getRows()), buffer.getOffset(), 0);
        })
        .Case([&](plan_ir::EmbeddingGatherOp k) {
          return AddInstruction(
              k, k.getIns(), {k.getOut()}, fb::Kernel::EmbeddingGather,
              fb::CreateEmbeddingGather(fbb_, k.getVocabBegin().value_or(0),
                                        k.getVocabSize().value_or(0),
                                        Quantization(k, k.getIns(), 1))
                  .Union(),
              k.getCompute(), k.getAccumulate());
        })
        .Case([&](plan_ir::LayerNormOp k) {
          return AddInstruction(
              k, k.getIns(), {k.getOut()}, fb::Kernel::LayerNorm,
              fb::CreateLayerNorm(fbb_, k.getEpsilon().convertToFloat()).Union(),
              k.getCompute(), k.getAccumulate());
        })
        .Case([&](plan_ir::LinearOp k) {
          fb::Epilogue epilogue = k.getEpilogue() ? fb::Epilogue::Gelu
                                                  : fb::Epilogue::None;
          return AddInstruction(k, k.getIns(), {k.getOut()}, fb::Kernel::Linear,
                                fb::CreateLinear(fbb_, epilogue,
                                                 Quantization(k, k.getIns(), 1))
                                    .Union(),
                                k.getCompute(), k.getAccumulate());
        })
        .Case([&](plan_ir::GeluOp k) {
          return AddInstruction(k, k.getIns(), {k.getOut()}, fb::Kernel::Gelu,
                                fb::CreateGelu(fbb_).Union(), k.getCompute(),
                                k.getAccumulate());
        })
        .Case([&](plan_ir::AddOp k) {
          return AddInstruction(k, k.getIns(), {k.getOut()}, fb::Kernel::Add,
                                fb::CreateAdd(fbb_).Union(), k.getCompute(),
                                k.getAccumulate());
        })
        .Case([&](plan_ir::AlibiAttentionOp k) {
          llvm::ArrayRef<float> slopes = k.getAlibiSlopes();
          auto params = fb::CreateAlibiAttention(
              fbb_, Int32(k.getLayer()), Int32(k.getNumHeads()),
              Int32(k.getHeadDim()),
              fbb_.CreateVector(slopes.data(), slopes.size()));
          return AddInstruction(k, k.getIns(), {k.getOut()},
                                fb::Kernel::AlibiAttention, params.Union(),
                                k.getCompute(), k.getAccumulate());
        })
        .Case([&](plan_ir::GatherRowsOp k) {
          return AddInstruction(k, k.getIns(), {k.getOut()},
                                fb::Kernel::GatherRows,
                                fb::CreateGatherRows(fbb_).Union(),
                                k.getCompute(), k.getAccumulate());
        })
        .Case([&](plan_ir::AddLayerNormOp k) {
          return AddInstruction(
              k, k.getIns(), {k.getSum(), k.getNormed()}, fb::Kernel::AddLayerNorm,
              fb::CreateAddLayerNorm(fbb_, k.getEpsilon().convertToFloat()).Union(),
              k.getCompute(), k.getAccumulate());
        })
        .Case([&](plan_ir::CastOp k) {
          return AddInstruction(k, k.getIns(), {k.getOut()}, fb::Kernel::Cast,
                                fb::CreateCast(fbb_).Union(), k.getCompute(),
                                k.getAccumulate());
        })
        .Case([&](plan_ir::AllReduceOp k) {
          return AddInstruction(k, k.getIns(), {k.getOut()}, fb::Kernel::AllReduce,
                                fb::CreateAllReduce(fbb_).Union(), k.getCompute(),
                                k.getAccumulate());
        })
        .Case([&](plan_ir::AllGatherOp k) {
          return AddInstruction(k, k.getIns(), {k.getOut()}, fb::Kernel::AllGather,
                                fb::CreateAllGather(fbb_).Union(), k.getCompute(),
                                k.getAccumulate());
        })
        .Default([&](mlir::Operation* other) -> LogicalResult {
          return other->emitOpError("has no plan.fbs encoding");
        });
  }

  // The WeightQuantization of a kernel's weight operand at ins[index], or
  // none for a float weight (the op's verifier has checked the operands).
  flatbuffers::Offset<fb::WeightQuantization> Quantization(mlir::Operation* op,
                                                           mlir::ValueRange ins, unsigned index) {
    mlir::FailureOr<plan_ir::WeightOperands> weight =
        plan_ir::ReadWeightOperands(op, ins, index, "weight");
    if (mlir::failed(weight) || !weight->format) return 0;
    return fb::CreateWeightQuantization(fbb_, ToWeightFormat(*weight->format),
                                        weight->group_size);
  }

  LogicalResult AddTensor(mlir::Value value, llvm::StringRef name,
                          fb::TensorKind kind, fb::TensorRole role,
                          fb::RowDim rows, uint64_t offset,
                          flatbuffers::Offset<fb::WeightSource> source,
                          int32_t stream_unit = -1, uint64_t slot_offset = 0) {
    auto type = mlir::cast<mlir::MemRefType>(value.getType());
    std::optional<fb::DType> dtype = ToDType(type.getElementType());
    if (!dtype) {
      return value.getDefiningOp()->emitOpError()
             << "has an element type plan.fbs cannot express";
    }
    std::vector<int64_t> shape;
    for (int64_t dim : type.getShape()) {
      shape.push_back(mlir::ShapedType::isDynamic(dim) ? -1 : dim);
    }
    if (role != fb::TensorRole::None) roles_.insert(static_cast<uint32_t>(role));
    if (role == fb::TensorRole::HiddenIn) hidden_in_ = type;
    if (role == fb::TensorRole::HiddenOut) hidden_out_ = type;
    index_[value] = static_cast<uint32_t>(tensors_.size());
    tensors_.push_back(fb::CreateTensor(
        fbb_, fbb_.CreateString(name.str()), kind, role, *dtype,
        fbb_.CreateVector(shape), rows, offset, source, stream_unit, slot_offset));
    return mlir::success();
  }

  // compute and accumulate are F32 when the kernel op leaves them out.
  LogicalResult AddInstruction(mlir::Operation* op, mlir::ValueRange ins,
                               llvm::ArrayRef<mlir::Value> outs, fb::Kernel kernel,
                               flatbuffers::Offset<void> params,
                               std::optional<mlir::Type> compute,
                               std::optional<mlir::Type> accumulate) {
    std::vector<uint32_t> operands;
    for (mlir::Value in : ins) operands.push_back(index_.lookup(in));
    std::vector<uint32_t> results;
    for (mlir::Value out : outs) results.push_back(index_.lookup(out));
    std::optional<fb::DType> compute_dtype =
        compute ? ToDType(*compute) : fb::DType::F32;
    std::optional<fb::DType> accumulate_dtype =
        accumulate ? ToDType(*accumulate) : fb::DType::F32;
    if (!compute_dtype || !accumulate_dtype) {
      return op->emitOpError("has compute or accumulate types plan.fbs cannot express");
    }
    instructions_.push_back(fb::CreateInstruction(
        fbb_, kernel, params, fbb_.CreateVector(operands),
        fbb_.CreateVector(results), *compute_dtype, *accumulate_dtype));
    return mlir::success();
  }

  flatbuffers::FlatBufferBuilder fbb_;
  std::vector<flatbuffers::Offset<fb::Tensor>> tensors_;
  std::vector<flatbuffers::Offset<fb::Instruction>> instructions_;
  llvm::DenseMap<mlir::Value, uint32_t> index_;
  llvm::DenseSet<uint32_t> roles_;
  mlir::MemRefType hidden_in_, hidden_out_;
  std::vector<flatbuffers::Offset<fb::WeightUnit>> units_;
  llvm::StringMap<int32_t> unit_index_;  // plan.weight_unit name -> WeightUnit index
};

LogicalResult WriteFile(mlir::ModuleOp module, const std::string& path,
                        llvm::function_ref<void(llvm::raw_ostream&)> write) {
  std::error_code error;
  llvm::raw_fd_ostream out(path, error);
  if (!error) {
    write(out);
    out.close();
    error = out.error();
  }
  if (error) {
    return module.emitError() << path << ": " << error.message();
  }
  return mlir::success();
}

// The single plan.program of `module`, or null (with a diagnostic).
plan_ir::ProgramOp SingleProgram(mlir::ModuleOp module) {
  auto programs = module.getOps<plan_ir::ProgramOp>();
  if (std::distance(programs.begin(), programs.end()) != 1) {
    module.emitError(
        "expected exactly one plan.program (run --bloom-lower-to-plan first)");
    return nullptr;
  }
  return *programs.begin();
}

}  // namespace

std::string PlanFileName(const PlanPosition& at) {
  if (at.pp_size > 1) return fb::StagePlanFileName(Int(at.pp_stage), Int(at.tp_rank));
  if (at.tp_size > 1) return fb::RankPlanFileName(Int(at.tp_rank));
  return fb::kPlanFileName;
}

std::string PlanTextFileName(const PlanPosition& at) {
  if (at.pp_size > 1) return fb::StagePlanTextFileName(Int(at.pp_stage), Int(at.tp_rank));
  if (at.tp_size > 1) return fb::RankPlanTextFileName(Int(at.tp_rank));
  return fb::kPlanTextFileName;
}

PlanPosition PositionOf(plan_ir::ProgramOp program) {
  return {program.ppStage(), program.ppSize(), program.tpRank(), program.tpSize()};
}

LogicalResult SerializePlan(mlir::ModuleOp module, std::vector<uint8_t>& bytes) {
  plan_ir::ProgramOp program = SingleProgram(module);
  if (!program) return mlir::failure();
  PlanSerializer serializer;
  return serializer.Serialize(program, bytes);
}

LogicalResult WritePlanText(mlir::ModuleOp module, llvm::StringRef dir) {
  if (std::error_code error = llvm::sys::fs::create_directories(dir)) {
    return module.emitError() << dir << ": " << error.message();
  }
  plan_ir::ProgramOp program = SingleProgram(module);
  if (!program) return mlir::failure();
  llvm::SmallString<256> mlir_path(dir);
  llvm::sys::path::append(mlir_path,
                          PlanTextFileName(PositionOf(program)));
  // Kernel ops keep the graph's NameLocs; print them so that plan.mlir says
  // which graph tensor each instruction computes.
  return WriteFile(module, mlir_path.str().str(), [&](llvm::raw_ostream& os) {
    module->print(os, mlir::OpPrintingFlags()
                          .enableDebugInfo(/*enable=*/true, /*prettyForm=*/false)
                          .useLocalScope());
  });
}

LogicalResult WritePlanDirectory(mlir::ModuleOp module, llvm::StringRef dir) {
  std::vector<uint8_t> bytes;
  if (mlir::failed(SerializePlan(module, bytes))) return mlir::failure();
  if (std::error_code error = llvm::sys::fs::create_directories(dir)) {
    return module.emitError() << dir << ": " << error.message();
  }
  plan_ir::ProgramOp program = SingleProgram(module);
  llvm::SmallString<256> plan_path(dir);
  llvm::sys::path::append(plan_path,
                          PlanFileName(PositionOf(program)));
  if (mlir::failed(WriteFile(module, plan_path.str().str(), [&](llvm::raw_ostream& os) {
        os.write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
      }))) {
    return mlir::failure();
  }
  return WritePlanText(module, dir);
}

}  // namespace bloom
