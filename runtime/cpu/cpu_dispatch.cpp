#include "runtime/cpu/cpu_dispatch.h"

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "kernels/cpu/add.h"
#include "kernels/cpu/alibi_attention.h"
#include "kernels/cpu/gather_rows.h"
#include "kernels/cpu/gelu.h"
#include "kernels/cpu/layer_norm.h"
#include "kernels/cpu/linear.h"
#include "runtime/support/dtype.h"

namespace bloom {
namespace {

// Scratch slots: operands use [0, 8), results [8, 16).
constexpr size_t kResultSlots = 8;

DType ToDType(plan::DType dtype) {
  switch (dtype) {
    case plan::DType::F16: return DType::kF16;
    case plan::DType::BF16: return DType::kBF16;
    case plan::DType::I32: return DType::kI32;
    default: return DType::kF32;
  }
}

// Elements per row (all dims but the first).
int64_t Columns(const ResolvedOperand& operand) {
  int64_t columns = 1;
  const auto* shape = operand.tensor->shape();
  for (size_t i = 1; i < shape->size(); ++i) columns *= shape->Get(i);
  return columns;
}
int64_t Elements(const ResolvedOperand& operand) { return operand.rows * Columns(operand); }
const int32_t* I32(const ResolvedOperand& operand) {
  return static_cast<const int32_t*>(operand.data);
}

}  // namespace

const float* CpuDispatch::Widen(const ResolvedOperand& operand, size_t slot) {
  if (operand.memory_dtype == plan::DType::F32) return static_cast<const float*>(operand.data);
  if (scratch_.size() <= slot) scratch_.resize(slot + 1);
  std::vector<float>& buffer = scratch_[slot];
  buffer.resize(Elements(operand));
  ConvertToFloat32(ToDType(operand.memory_dtype), operand.data, buffer.data(), buffer.size());
  return buffer.data();
}

float* CpuDispatch::Output(const ResolvedOperand& result, size_t slot) {
  if (result.memory_dtype == plan::DType::F32) return static_cast<float*>(result.data);
  slot += kResultSlots;
  if (scratch_.size() <= slot) scratch_.resize(slot + 1);
  scratch_[slot].resize(Elements(result));
  return scratch_[slot].data();
}

void CpuDispatch::Narrow(const ResolvedOperand& result, size_t slot) {
  if (result.memory_dtype == plan::DType::F32) return;
  const std::vector<float>& buffer = scratch_[slot + kResultSlots];
  ConvertFromFloat32(ToDType(result.memory_dtype), buffer.data(), result.data, buffer.size());
}

absl::Status CpuDispatch::Run(const plan::Instruction& instruction, const InstructionArgs& args) {
  const auto& in = args.operands;
  const auto& out = args.results;
  switch (instruction.kernel_type()) {
    case plan::Kernel::EmbeddingGather: {
      // A vocab-parallel table holds rows [begin, begin + rows) of a
      // vocabulary of `vocab` ids; other ranks supply the other rows, and
      // the AllReduce after this sums the ranks' (mostly zero) rows.
      const auto* params = instruction.kernel_as_EmbeddingGather();
      const int64_t rows = in[1].tensor->shape()->Get(0);
      const int64_t hidden = Columns(in[1]);
      const int64_t begin = params->vocab_begin();
      const int64_t vocab = params->vocab_size() == 0 ? rows : params->vocab_size();
      for (int64_t t = 0; t < in[0].rows; ++t) {
        const int32_t id = I32(in[0])[t];
        if (id < 0 || id >= vocab) {
          return absl::InvalidArgumentError(absl::StrCat(
              "token id ", id, " at batch index ", t, " is outside the vocabulary [0, ", vocab, ")"));
        }
      }
      const float* table = Widen(in[1], 1);
      float* y = Output(out[0], 0);
      for (int64_t t = 0; t < in[0].rows; ++t) {
        const int64_t row = I32(in[0])[t] - begin;
        float* dst = y + t * hidden;
        if (row >= 0 && row < rows) {
          std::copy(table + row * hidden, table + (row + 1) * hidden, dst);
        } else {
          std::fill(dst, dst + hidden, 0.f);
        }
      }
      break;
    }
    case plan::Kernel::LayerNorm:
      cpu::LayerNorm(Widen(in[0], 0), Widen(in[1], 1), Widen(in[2], 2), in[0].rows, Columns(in[0]),
                     instruction.kernel_as_LayerNorm()->epsilon(), Output(out[0], 0));
      break;
    case plan::Kernel::Linear: {
      float* y = Output(out[0], 0);
      cpu::Linear(Widen(in[0], 0), Widen(in[1], 1), in.size() > 2 ? Widen(in[2], 2) : nullptr,
                  in[0].rows, Columns(in[0]), in[1].tensor->shape()->Get(0), y);
      // The epilogue acts on the float32 result, before storage rounding.
      if (instruction.kernel_as_Linear()->epilogue() == plan::Epilogue::Gelu) {
        cpu::GeluTanh(y, Elements(out[0]), y);
      }
      break;
    }
    case plan::Kernel::Gelu:
      cpu::GeluTanh(Widen(in[0], 0), Elements(in[0]), Output(out[0], 0));
      break;
    case plan::Kernel::Add:
      cpu::Add(Widen(in[0], 0), Widen(in[1], 1), Elements(in[0]), Output(out[0], 0));
      break;
    case plan::Kernel::AddLayerNorm: {
      // The statistics are of the float32 sum, as the schema specifies.
      float* sum = Output(out[0], 0);
      cpu::Add(Widen(in[0], 0), Widen(in[1], 1), Elements(in[0]), sum);
      cpu::LayerNorm(sum, Widen(in[2], 2), Widen(in[3], 3), in[0].rows, Columns(in[0]),
                     instruction.kernel_as_AddLayerNorm()->epsilon(), Output(out[1], 1));
      break;
    }
    case plan::Kernel::AlibiAttention: {
      // The validator made the KV cache's dtype equal qkv's, so storing the
      // widened (exact) K and V in the float32 cache loses nothing.
      const auto* params = instruction.kernel_as_AlibiAttention();
      cpu::PagedKvLayer layer = args.kv_cache->Layer(params->layer());
      if (args.block_tables != nullptr) layer.block_tables = args.block_tables;
      cpu::AlibiAttention(Widen(in[0], 0), I32(in[1]), I32(in[2]), in[0].rows,
                          params->alibi_slopes()->data(), layer, Output(out[0], 0));
      break;
    }
    case plan::Kernel::GatherRows:
      cpu::GatherRows(Widen(in[0], 0), Columns(in[0]), I32(in[1]), in[1].rows, Output(out[0], 0));
      break;
    case plan::Kernel::Cast: {
      const float* x = Widen(in[0], 0);
      float* y = Output(out[0], 0);
      if (x != y) std::copy(x, x + Elements(in[0]), y);
      break;
    }
    case plan::Kernel::AllReduce: {
      // Sums in float32 whatever the storage dtypes; each rank's x is first
      // copied into y's float32 view, which the communicator reduces in place.
      const float* x = Widen(in[0], 0);
      float* y = Output(out[0], 0);
      const int64_t n = Elements(in[0]);
      if (x != y) std::memmove(y, x, n * sizeof(float));
      if (args.comm != nullptr) {
        if (auto status = args.comm->AllReduceSum(y, n); !status.ok()) return status;
      }
      break;
    }
    case plan::Kernel::AllGather: {
      // The communicator gathers whole buffers in rank order ([ranks, N, C]);
      // the plan wants the ranks' columns side by side ([N, ranks * C]).
      const float* x = Widen(in[0], 0);
      float* y = Output(out[0], 0);
      const int64_t rows = in[0].rows, columns = Columns(in[0]);
      if (args.comm == nullptr || args.comm->size() == 1) {
        if (x != y) std::memmove(y, x, rows * columns * sizeof(float));
        break;
      }
      const int ranks = args.comm->size();
      gathered_.resize(static_cast<size_t>(ranks) * rows * columns);
      if (auto status = args.comm->AllGather(x, rows * columns, gathered_.data()); !status.ok()) {
        return status;
      }
      for (int r = 0; r < ranks; ++r) {
        for (int64_t i = 0; i < rows; ++i) {
          const float* src = gathered_.data() + (r * rows + i) * columns;
          std::copy(src, src + columns, y + i * ranks * columns + r * columns);
        }
      }
      break;
    }
    default:
      // ValidatePlan rejects unknown kernels before execution starts.
      return absl::InternalError("unknown kernel reached the CPU dispatch");
  }
  for (size_t i = 0; i < out.size(); ++i) Narrow(out[i], i);
  return absl::OkStatus();
}

}  // namespace bloom
