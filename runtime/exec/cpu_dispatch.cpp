#include "runtime/exec/cpu_dispatch.h"

#include "absl/strings/str_cat.h"
#include "kernels/cpu/add.h"
#include "kernels/cpu/alibi_attention.h"
#include "kernels/cpu/embedding.h"
#include "kernels/cpu/gather_rows.h"
#include "kernels/cpu/gelu.h"
#include "kernels/cpu/layer_norm.h"
#include "kernels/cpu/linear.h"

namespace bloom {
namespace {

const float* F32(const ResolvedOperand& operand) { return static_cast<const float*>(operand.data); }
float* MutableF32(const ResolvedOperand& operand) { return static_cast<float*>(operand.data); }
const int32_t* I32(const ResolvedOperand& operand) {
  return static_cast<const int32_t*>(operand.data);
}
// Elements per row (all dims but the first).
int64_t Columns(const ResolvedOperand& operand) {
  int64_t columns = 1;
  const auto* shape = operand.tensor->shape();
  for (size_t i = 1; i < shape->size(); ++i) columns *= shape->Get(i);
  return columns;
}

absl::Status RunEmbedding(const InstructionArgs& args) {
  const auto& ids = args.operands[0];
  const auto& table = args.operands[1];
  const int64_t vocab = table.tensor->shape()->Get(0);
  for (int64_t t = 0; t < ids.rows; ++t) {
    const int32_t id = I32(ids)[t];
    if (id < 0 || id >= vocab) {
      return absl::InvalidArgumentError(absl::StrCat("token id ", id, " at batch index ", t,
                                                     " is outside the vocabulary [0, ", vocab, ")"));
    }
  }
  cpu::EmbeddingGather(I32(ids), ids.rows, F32(table), vocab, Columns(table),
                       MutableF32(args.results[0]));
  return absl::OkStatus();
}

}  // namespace

absl::Status RunOnCpu(const plan::Instruction& instruction, const InstructionArgs& args) {
  const auto& in = args.operands;
  const auto& out = args.results;
  switch (instruction.kernel_type()) {
    case plan::Kernel::EmbeddingGather:
      return RunEmbedding(args);
    case plan::Kernel::LayerNorm:
      cpu::LayerNorm(F32(in[0]), F32(in[1]), F32(in[2]), in[0].rows, Columns(in[0]),
                     instruction.kernel_as_LayerNorm()->epsilon(), MutableF32(out[0]));
      return absl::OkStatus();
    case plan::Kernel::Linear:
      cpu::Linear(F32(in[0]), F32(in[1]), in.size() > 2 ? F32(in[2]) : nullptr, in[0].rows,
                  Columns(in[0]), in[1].tensor->shape()->Get(0), MutableF32(out[0]));
      return absl::OkStatus();
    case plan::Kernel::Gelu:
      cpu::GeluTanh(F32(in[0]), in[0].rows * Columns(in[0]), MutableF32(out[0]));
      return absl::OkStatus();
    case plan::Kernel::Add:
      cpu::Add(F32(in[0]), F32(in[1]), in[0].rows * Columns(in[0]), MutableF32(out[0]));
      return absl::OkStatus();
    case plan::Kernel::AlibiAttention: {
      const auto* params = instruction.kernel_as_AlibiAttention();
      cpu::PagedKvLayer layer = args.kv_cache->Layer(params->layer());
      cpu::AlibiAttention(F32(in[0]), I32(in[1]), I32(in[2]), in[0].rows,
                          params->alibi_slopes()->data(), layer, MutableF32(out[0]));
      return absl::OkStatus();
    }
    case plan::Kernel::GatherRows:
      cpu::GatherRows(F32(in[0]), Columns(in[0]), I32(in[1]), in[1].rows, MutableF32(out[0]));
      return absl::OkStatus();
    default:
      // ValidatePlan rejects unknown kernels before execution starts.
      return absl::InternalError("unknown kernel reached the CPU dispatch");
  }
}

}  // namespace bloom
