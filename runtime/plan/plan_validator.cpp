#include "runtime/plan/plan_validator.h"

#include <cstdint>
#include <limits>
#include <set>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/plan/arena_liveness.h"
#include "runtime/plan/quantized_weights.h"
#include "runtime/plan/weight_tiering_validator.h"

namespace bloom {
namespace {

using plan::DType;
using plan::RowDim;
using plan::TensorKind;
using plan::TensorRole;

// Anything larger than this many bytes is treated as corrupt rather than
// attempted: it is far beyond any device or host.
constexpr uint64_t kMaxBytes = uint64_t{1} << 50;
constexpr uint64_t kArenaAlignment = 64;
// More ranks than any deployment has; beyond it a plan is treated as corrupt.
constexpr int32_t kMaxTpSize = 4096;
constexpr int32_t kMaxPpSize = 4096;

uint64_t ElementBits(DType dtype) {
  switch (dtype) {
    case DType::F32: return 32;
    case DType::F16: return 16;
    case DType::BF16: return 16;
    case DType::I32: return 32;
    case DType::I8: return 8;
    case DType::I4: return 4;
  }
  return 0;
}

// Bytes of `elements` elements of `dtype`; I4 packs two a byte.
uint64_t StorageBytes(DType dtype, uint64_t elements) {
  return (elements * ElementBits(dtype) + 7) / 8;
}

bool IsFloat(DType dtype) {
  return dtype == DType::F32 || dtype == DType::F16 || dtype == DType::BF16;
}

// What an operand's element type must be: any floating storage dtype (the
// precision policy picks it per tensor) or int32 (token ids, positions,
// slots, row indices).
enum class Elem { kFloat, kI32 };

bool Matches(Elem elem, DType dtype) { return elem == Elem::kI32 ? dtype == DType::I32 : IsFloat(dtype); }

std::vector<int64_t> Dims(const plan::Tensor& tensor) {
  return std::vector<int64_t>(tensor.shape()->begin(), tensor.shape()->end());
}

std::string ShapeText(const plan::Tensor& tensor) {
  std::vector<std::string> parts;
  for (int64_t d : *tensor.shape()) parts.push_back(d < 0 ? "?" : absl::StrCat(d));
  return absl::StrCat("[", absl::StrJoin(parts, ", "), "]");
}

// Checks one tensor on its own; `index` and `label` are for messages.
absl::Status ValidateTensor(const plan::Plan& plan, const plan::Tensor& tensor, size_t index,
                            absl::string_view label) {
  auto fail = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat(label, ": tensor ", index, " '", tensor.name()->str(), "': ", why));
  };
  if (tensor.name()->size() == 0) return fail("empty name");
  if (tensor.kind() < TensorKind::MIN || tensor.kind() > TensorKind::MAX) return fail("unknown kind");
  if (tensor.role() < TensorRole::MIN || tensor.role() > TensorRole::MAX) return fail("unknown role");
  if (tensor.dtype() < DType::MIN || tensor.dtype() > DType::MAX) return fail("unknown dtype");
  if (tensor.rows() < RowDim::MIN || tensor.rows() > RowDim::MAX) return fail("unknown row dimension");
  const auto* shape = tensor.shape();
  // FlatBuffers 2.0's Verifier checks a vector's length field (4-byte
  // aligned) but not that 8-byte elements are 8-byte aligned; reading a
  // misaligned int64 is undefined behaviour, so a crafted file is refused.
  if (reinterpret_cast<uintptr_t>(shape->data()) % alignof(int64_t) != 0) {
    return fail("shape vector is misaligned");
  }
  if (shape->size() == 0 || shape->size() > 8) return fail("rank must be 1 to 8");
  const bool dynamic = tensor.rows() != RowDim::Static;
  uint64_t elements = 1;
  for (size_t i = 0; i < shape->size(); ++i) {
    const int64_t d = shape->Get(i);
    if (i == 0 && dynamic) {
      if (d != -1) return fail("a dynamic tensor's first dimension must be -1");
      continue;
    }
    if (d <= 0) return fail(absl::StrCat("dimension ", i, " is ", d, "; must be positive"));
    if (static_cast<uint64_t>(d) > kMaxBytes / elements) return fail("size overflows");
    elements *= static_cast<uint64_t>(d);
  }
  if (StorageBytes(tensor.dtype(), elements) > kMaxBytes) return fail("size overflows");

  if (tensor.kind() == TensorKind::Weight) {
    if (dynamic) return fail("a weight cannot have a dynamic dimension");
    if (tensor.source() == nullptr) return fail("weight without a source");
    const auto* source = tensor.source();
    if (source->dtype() < DType::MIN || source->dtype() > DType::MAX) {
      return fail("unknown source dtype");
    }
    if (auto s = ValidateQuantizedWeightTensor(tensor, fail); !s.ok()) return s;
    if (source->file()->size() == 0 || source->tensor()->size() == 0) {
      return fail("weight source names no file or tensor");
    }
    // Sources are relative to the checkpoint directory and must stay in it.
    const std::string file = source->file()->str();
    if (file.front() == '/' || file.find("..") != std::string::npos) {
      return fail(absl::StrCat("weight source file '", file, "' leaves the checkpoint directory"));
    }
    if (tensor.role() != TensorRole::None) return fail("a weight cannot have a step role");
    // A slice: the source's shape (the tensor's, or what its scales or zero
    // points are made from) is the stored shape with slice_dim cut to
    // [slice_begin, slice_end). The stored shape is checked at load time.
    const std::vector<int64_t> source_shape = SourceShape(tensor);
    if (source->slice_dim() != -1) {
      if (source->slice_dim() < 0 || static_cast<size_t>(source->slice_dim()) >= shape->size()) {
        return fail(absl::StrCat("weight slice dimension ", source->slice_dim(), " is not a dimension of ",
                                 ShapeText(tensor)));
      }
      if (source->slice_begin() < 0 || source->slice_end() <= source->slice_begin() ||
          source->slice_end() - source->slice_begin() != source_shape[source->slice_dim()]) {
        return fail(absl::StrCat("weight slice [", source->slice_begin(), ", ", source->slice_end(),
                                 ") of dimension ", source->slice_dim(), " does not match the shape ",
                                 ShapeText(tensor)));
      }
    } else if (source->slice_begin() != 0 || source->slice_end() != 0) {
      return fail("weight slice bounds given without a slice dimension");
    }
    return absl::OkStatus();
  }
  if (tensor.source() != nullptr) return fail("only weights have a source");
  if (IsQuantizedDType(tensor.dtype())) return fail("only weights are I8 or I4");
  if (tensor.kind() == TensorKind::StepInput && !dynamic) {
    return fail("a step input must have a dynamic first dimension");
  }
  if (tensor.arena_offset() % kArenaAlignment != 0) {
    return fail(absl::StrCat("arena offset ", tensor.arena_offset(), " is not ", kArenaAlignment,
                             "-byte aligned"));
  }
  const uint64_t capacity = TensorCapacityBytes(tensor, plan);
  if (tensor.arena_offset() > plan.arena_bytes() ||
      capacity > plan.arena_bytes() - tensor.arena_offset()) {
    return fail(absl::StrCat("arena range [", tensor.arena_offset(), ", +", capacity,
                             ") ends past the arena (", plan.arena_bytes(), " bytes)"));
  }
  return absl::OkStatus();
}

// Roles of the step interface: which kind, dtype, rank and rows each needs.
struct RoleSpec {
  TensorRole role;
  TensorKind kind;
  DType dtype;
  size_t rank;
  RowDim rows;
};
constexpr RoleSpec kRoleSpecs[] = {
    {TensorRole::TokenIds, TensorKind::StepInput, DType::I32, 1, RowDim::Tokens},
    {TensorRole::Positions, TensorKind::StepInput, DType::I32, 1, RowDim::Tokens},
    {TensorRole::SequenceSlots, TensorKind::StepInput, DType::I32, 1, RowDim::Tokens},
    {TensorRole::LogitRows, TensorKind::StepInput, DType::I32, 1, RowDim::LogitRows},
    {TensorRole::Logits, TensorKind::Activation, DType::F32, 2, RowDim::LogitRows},
};

// The pipeline cut's hidden state: [T, hidden] rows of a float dtype; its
// dtype is the activation dtype at the cut, so only the class is fixed.
struct HiddenRoleSpec {
  TensorRole role;
  TensorKind kind;
};
constexpr HiddenRoleSpec kHiddenRoleSpecs[] = {
    {TensorRole::HiddenIn, TensorKind::StepInput},
    {TensorRole::HiddenOut, TensorKind::Activation},
};

// Which roles a plan's step interface has, by its pipeline position
// (plan.fbs, Plan.pp_stage): a first stage reads token ids, a last one
// writes logits, the others pass the hidden state on.
bool StageHasRole(const plan::Plan& plan, TensorRole role) {
  const bool first = plan.pp_stage() == 0;
  const bool last = plan.pp_stage() == plan.pp_size() - 1;
  switch (role) {
    case TensorRole::TokenIds:
      return first;
    case TensorRole::HiddenIn:
      return !first;
    case TensorRole::LogitRows:
    case TensorRole::Logits:
      return last;
    case TensorRole::HiddenOut:
      return !last;
    default:
      return true;
  }
}

// Checks one instruction's operands against its kernel's signature.
class InstructionChecker {
 public:
  InstructionChecker(const plan::Plan& plan, const plan::Instruction& inst, size_t index,
                     absl::string_view label)
      : plan_(plan), inst_(inst), index_(index), label_(label) {}

  absl::Status Check() {
    const auto type = inst_.kernel_type();
    if (type == plan::Kernel::NONE || type < plan::Kernel::MIN || type > plan::Kernel::MAX ||
        inst_.kernel() == nullptr) {
      return Fail("unknown kernel (a plan from a newer bloom-compile?)");
    }
    kernel_ = plan::EnumNameKernel(type);
    if (!IsFloat(inst_.compute()) || !IsFloat(inst_.accumulate())) {
      return Fail("compute and accumulate types must be F32, F16 or BF16");
    }
    for (uint32_t id : *inst_.operands()) {
      if (id >= plan_.tensors()->size()) return Fail(absl::StrCat("operand ", id, " out of range"));
    }
    for (uint32_t id : *inst_.results()) {
      if (id >= plan_.tensors()->size()) return Fail(absl::StrCat("result ", id, " out of range"));
      if (plan_.tensors()->Get(id)->kind() != TensorKind::Activation) {
        return Fail(absl::StrCat("writes '", Tensor(id).name()->str(), "', which is not an activation"));
      }
    }
    switch (type) {
      case plan::Kernel::EmbeddingGather: return CheckEmbedding();
      case plan::Kernel::LayerNorm: return CheckLayerNorm();
      case plan::Kernel::Linear: return CheckLinear();
      case plan::Kernel::Gelu:
      case plan::Kernel::Add: return CheckElementwise(type == plan::Kernel::Add ? 2 : 1);
      case plan::Kernel::AlibiAttention: return CheckAttention();
      case plan::Kernel::GatherRows: return CheckGatherRows();
      case plan::Kernel::AddLayerNorm: return CheckAddLayerNorm();
      case plan::Kernel::Cast: return CheckCast();
      case plan::Kernel::AllReduce: return CheckAllReduce();
      case plan::Kernel::AllGather: return CheckAllGather();
      // Their unit and its slot are checked with the rest of the tiering
      // fields (weight_tiering_validator.cpp).
      case plan::Kernel::PrefetchWeights:
      case plan::Kernel::AwaitWeights:
        return Arity(0, 0, 0);
      default: return Fail("unknown kernel");
    }
  }

 private:
  absl::Status Fail(absl::string_view why) const {
    return absl::InvalidArgumentError(absl::StrCat(label_, ": instruction ", index_, " (", kernel_,
                                                   "): ", why));
  }
  const plan::Tensor& Tensor(uint32_t id) const { return *plan_.tensors()->Get(id); }
  const plan::Tensor& Operand(size_t i) const { return Tensor(inst_.operands()->Get(i)); }
  const plan::Tensor& Result(size_t i) const { return Tensor(inst_.results()->Get(i)); }

  absl::Status Arity(size_t min_operands, size_t max_operands, size_t results) const {
    const size_t n = inst_.operands()->size();
    if (n < min_operands || n > max_operands || inst_.results()->size() != results) {
      return Fail(absl::StrCat("takes ", min_operands,
                               max_operands != min_operands ? absl::StrCat("-", max_operands) : "",
                               " operands and ", results, " result(s); got ", n, " and ",
                               inst_.results()->size()));
    }
    return absl::OkStatus();
  }
  // `dims` uses -1 for "dynamic"; `rows` must match the tensor's row dim.
  absl::Status Expect(const plan::Tensor& t, absl::string_view what, Elem elem,
                      std::vector<int64_t> dims, RowDim rows) const {
    if (!Matches(elem, t.dtype()) || Dims(t) != dims || t.rows() != rows) {
      std::vector<std::string> parts;
      for (int64_t d : dims) parts.push_back(d < 0 ? "?" : absl::StrCat(d));
      return Fail(absl::StrCat(what, " '", t.name()->str(), "' is ", plan::EnumNameDType(t.dtype()),
                               ShapeText(t), " (rows ", plan::EnumNameRowDim(t.rows()),
                               "); expected ", elem == Elem::kI32 ? "I32" : "a float", "[",
                               absl::StrJoin(parts, ", "), "] (rows ", plan::EnumNameRowDim(rows), ")"));
    }
    return absl::OkStatus();
  }
  absl::Status ExpectMatrix(const plan::Tensor& t, absl::string_view what) const {
    if (!IsFloat(t.dtype()) || t.shape()->size() != 2 || t.rows() == RowDim::Static) {
      return Fail(absl::StrCat(what, " '", t.name()->str(),
                               "' must be a float matrix with a dynamic row count"));
    }
    return absl::OkStatus();
  }
  absl::Status ExpectWeight(const plan::Tensor& t, absl::string_view what) const {
    if (t.kind() != TensorKind::Weight) {
      return Fail(absl::StrCat(what, " '", t.name()->str(), "' must be a weight"));
    }
    return absl::OkStatus();
  }

  // A Linear's or EmbeddingGather's weight operand(s) from operand 1.
  absl::StatusOr<WeightOperandSpan> WeightOperands(
      const plan::WeightQuantization* quantization) const {
    return CheckWeightOperands(plan_, inst_, 1, quantization,
                               [this](absl::string_view why) { return Fail(why); });
  }

  absl::Status CheckEmbedding() const {
    if (auto s = Arity(2, 4, 1); !s.ok()) return s;
    const auto& table = Operand(1);
    if (auto s = ExpectWeight(table, "table"); !s.ok()) return s;
    absl::StatusOr<WeightOperandSpan> weight =
        WeightOperands(inst_.kernel_as_EmbeddingGather()->quantization());
    if (!weight.ok()) return weight.status();
    if (inst_.operands()->size() != 1 + weight->count) {
      return Fail(absl::StrCat("takes token ids and a table of ", weight->count,
                               " operand(s); got ", inst_.operands()->size(), " operands"));
    }
    if (auto s = Expect(Operand(0), "token ids", Elem::kI32, {-1}, RowDim::Tokens); !s.ok()) return s;
    // Vocab-parallel: the table holds rows [vocab_begin, vocab_begin + rows)
    // of a vocabulary of vocab_size ids (0: the table is the whole of it).
    const auto* params = inst_.kernel_as_EmbeddingGather();
    const int64_t rows = table.shape()->Get(0);
    if (params->vocab_size() == 0 ? params->vocab_begin() != 0
                                  : params->vocab_begin() < 0 || params->vocab_size() < 0 ||
                                        params->vocab_begin() > params->vocab_size() - rows) {
      return Fail(absl::StrCat("table rows [", params->vocab_begin(), ", ",
                               params->vocab_begin() + rows, ") are not inside the vocabulary [0, ",
                               params->vocab_size() == 0 ? rows : params->vocab_size(), ")"));
    }
    return Expect(Result(0), "output", Elem::kFloat, {-1, table.shape()->Get(1)}, RowDim::Tokens);
  }
  absl::Status CheckLayerNorm() const {
    if (auto s = Arity(3, 3, 1); !s.ok()) return s;
    if (!(inst_.kernel_as_LayerNorm()->epsilon() > 0)) return Fail("epsilon must be positive");
    const auto& x = Operand(0);
    if (auto s = ExpectMatrix(x, "input"); !s.ok()) return s;
    const int64_t h = x.shape()->Get(1);
    for (size_t i : {1, 2}) {
      if (auto s = Expect(Operand(i), i == 1 ? "gamma" : "beta", Elem::kFloat, {h}, RowDim::Static);
          !s.ok()) {
        return s;
      }
    }
    return Expect(Result(0), "output", Elem::kFloat, Dims(x), x.rows());
  }
  absl::Status CheckLinear() const {
    if (auto s = Arity(2, 5, 1); !s.ok()) return s;
    const auto epilogue = inst_.kernel_as_Linear()->epilogue();
    if (epilogue < plan::Epilogue::MIN || epilogue > plan::Epilogue::MAX) return Fail("unknown epilogue");
    const auto& x = Operand(0);
    const auto& w = Operand(1);
    if (auto s = ExpectMatrix(x, "input"); !s.ok()) return s;
    if (auto s = ExpectWeight(w, "weight"); !s.ok()) return s;
    absl::StatusOr<WeightOperandSpan> weight =
        WeightOperands(inst_.kernel_as_Linear()->quantization());
    if (!weight.ok()) return weight.status();
    if (weight->cols != x.shape()->Get(1)) {
      return Fail(absl::StrCat("weight '", w.name()->str(), "' is ", ShapeText(w), "; expected [M, ",
                               x.shape()->Get(1), "]"));
    }
    const int64_t m = weight->rows;
    const size_t bias = 1 + weight->count;
    if (inst_.operands()->size() > bias + 1) {
      return Fail(absl::StrCat("takes x, a weight of ", weight->count,
                               " operand(s) and an optional bias; got ", inst_.operands()->size(),
                               " operands"));
    }
    if (inst_.operands()->size() == bias + 1) {
      if (auto s = Expect(Operand(bias), "bias", Elem::kFloat, {m}, RowDim::Static); !s.ok()) return s;
    }
    return Expect(Result(0), "output", Elem::kFloat, {-1, m}, x.rows());
  }
  absl::Status CheckElementwise(size_t operands) const {
    if (auto s = Arity(operands, operands, 1); !s.ok()) return s;
    const auto& a = Operand(0);
    if (auto s = ExpectMatrix(a, "input"); !s.ok()) return s;
    for (size_t i = 1; i < operands; ++i) {
      if (auto s = Expect(Operand(i), "input", Elem::kFloat, Dims(a), a.rows()); !s.ok()) return s;
    }
    return Expect(Result(0), "output", Elem::kFloat, Dims(a), a.rows());
  }
  absl::Status CheckAttention() const {
    if (auto s = Arity(3, 3, 1); !s.ok()) return s;
    const auto* params = inst_.kernel_as_AlibiAttention();
    const auto* kv = plan_.kv_cache();
    if (params->layer() < 0 || params->layer() >= kv->num_layers()) {
      return Fail(absl::StrCat("layer ", params->layer(), " outside the KV cache's ",
                               kv->num_layers(), " layers"));
    }
    if (params->num_heads() != kv->num_heads() || params->head_dim() != kv->head_dim()) {
      return Fail("heads and head_dim differ from the KV cache's");
    }
    // K and V are copied from qkv into the cache as they are: the same
    // storage dtype keeps that copy exact.
    if (Operand(0).dtype() != kv->dtype()) {
      return Fail(absl::StrCat("qkv is ", plan::EnumNameDType(Operand(0).dtype()),
                               " but the KV cache is ", plan::EnumNameDType(kv->dtype())));
    }
    if (params->alibi_slopes()->size() != static_cast<uint32_t>(params->num_heads())) {
      return Fail(absl::StrCat(params->alibi_slopes()->size(), " ALiBi slopes for ",
                               params->num_heads(), " heads"));
    }
    const int64_t hidden = int64_t{params->num_heads()} * params->head_dim();
    if (auto s = Expect(Operand(0), "qkv", Elem::kFloat, {-1, 3 * hidden}, RowDim::Tokens); !s.ok()) {
      return s;
    }
    if (auto s = Expect(Operand(1), "positions", Elem::kI32, {-1}, RowDim::Tokens); !s.ok()) return s;
    if (auto s = Expect(Operand(2), "sequence slots", Elem::kI32, {-1}, RowDim::Tokens); !s.ok()) {
      return s;
    }
    return Expect(Result(0), "context", Elem::kFloat, {-1, hidden}, RowDim::Tokens);
  }
  absl::Status CheckGatherRows() const {
    if (auto s = Arity(2, 2, 1); !s.ok()) return s;
    const auto& x = Operand(0);
    if (auto s = Expect(x, "input", Elem::kFloat, {-1, x.shape()->Get(x.shape()->size() - 1)},
                        RowDim::Tokens);
        !s.ok()) {
      return s;
    }
    if (auto s = Expect(Operand(1), "row indices", Elem::kI32, {-1}, RowDim::LogitRows); !s.ok()) {
      return s;
    }
    return Expect(Result(0), "output", Elem::kFloat, Dims(x), RowDim::LogitRows);
  }

  absl::Status CheckAddLayerNorm() const {
    if (auto s = Arity(4, 4, 2); !s.ok()) return s;
    if (!(inst_.kernel_as_AddLayerNorm()->epsilon() > 0)) return Fail("epsilon must be positive");
    const auto& a = Operand(0);
    if (auto s = ExpectMatrix(a, "input"); !s.ok()) return s;
    const int64_t h = a.shape()->Get(1);
    if (auto s = Expect(Operand(1), "input", Elem::kFloat, Dims(a), a.rows()); !s.ok()) return s;
    if (auto s = Expect(Operand(2), "gamma", Elem::kFloat, {h}, RowDim::Static); !s.ok()) return s;
    if (auto s = Expect(Operand(3), "beta", Elem::kFloat, {h}, RowDim::Static); !s.ok()) return s;
    if (auto s = Expect(Result(0), "sum", Elem::kFloat, Dims(a), a.rows()); !s.ok()) return s;
    return Expect(Result(1), "normed", Elem::kFloat, Dims(a), a.rows());
  }
  absl::Status CheckCast() const {
    if (auto s = Arity(1, 1, 1); !s.ok()) return s;
    const auto& x = Operand(0);
    if (auto s = ExpectMatrix(x, "input"); !s.ok()) return s;
    return Expect(Result(0), "output", Elem::kFloat, Dims(x), x.rows());
  }

  // Collectives act on activations: every rank holds the same row count.
  absl::Status CheckAllReduce() const {
    if (auto s = Arity(1, 1, 1); !s.ok()) return s;
    const auto& x = Operand(0);
    if (auto s = ExpectMatrix(x, "input"); !s.ok()) return s;
    return Expect(Result(0), "output", Elem::kFloat, Dims(x), x.rows());
  }
  absl::Status CheckAllGather() const {
    if (auto s = Arity(1, 1, 1); !s.ok()) return s;
    const auto& x = Operand(0);
    if (auto s = ExpectMatrix(x, "input"); !s.ok()) return s;
    return Expect(Result(0), "output", Elem::kFloat, {-1, x.shape()->Get(1) * plan_.tp_size()},
                  x.rows());
  }

  const plan::Plan& plan_;
  const plan::Instruction& inst_;
  size_t index_;
  absl::string_view label_;
  std::string kernel_ = "?";
};

}  // namespace

uint64_t TensorRowBytes(const plan::Tensor& tensor) {
  uint64_t elements = 1;
  const auto* shape = tensor.shape();
  for (size_t i = tensor.rows() == RowDim::Static ? 0 : 1; i < shape->size(); ++i) {
    elements *= static_cast<uint64_t>(shape->Get(i));
  }
  return StorageBytes(tensor.dtype(), elements);
}

uint64_t TensorCapacityBytes(const plan::Tensor& tensor, const plan::Plan& plan) {
  const uint64_t row_bytes = TensorRowBytes(tensor);
  switch (tensor.rows()) {
    case RowDim::Tokens: return row_bytes * static_cast<uint64_t>(plan.limits()->max_batch_tokens());
    case RowDim::LogitRows: return row_bytes * static_cast<uint64_t>(plan.limits()->max_logit_rows());
    default: return row_bytes;
  }
}

absl::Status ValidatePlan(const plan::Plan& plan, absl::string_view label) {
  auto fail = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(label, ": ", why));
  };
  const auto* limits = plan.limits();
  if (limits->max_batch_tokens() <= 0 || limits->max_seq_len() <= 0 ||
      limits->max_sequences() <= 0 || limits->max_batch_tokens() > (1 << 24) ||
      limits->max_seq_len() > (1 << 24) || limits->max_sequences() > (1 << 20) ||
      limits->max_logit_rows() <= 0 || limits->max_logit_rows() > limits->max_batch_tokens()) {
    return fail(
        "limits out of range (need 0 < max_logit_rows <= max_batch_tokens, and positive "
        "max_seq_len and max_sequences)");
  }
  // Before the instructions: AllGather's shapes depend on tp_size.
  if (plan.tp_size() < 1 || plan.tp_size() > kMaxTpSize || plan.tp_rank() < 0 ||
      plan.tp_rank() >= plan.tp_size()) {
    return fail(absl::StrCat("tensor-parallel rank ", plan.tp_rank(), " of ", plan.tp_size(),
                             " is out of range (need 0 <= tp_rank < tp_size <= ", kMaxTpSize, ")"));
  }
  if (plan.pp_size() < 1 || plan.pp_size() > kMaxPpSize || plan.pp_stage() < 0 ||
      plan.pp_stage() >= plan.pp_size()) {
    return fail(absl::StrCat("pipeline stage ", plan.pp_stage(), " of ", plan.pp_size(),
                             " is out of range (need 0 <= pp_stage < pp_size <= ", kMaxPpSize, ")"));
  }
  const auto* kv = plan.kv_cache();
  if (kv->num_layers() <= 0 || kv->num_heads() <= 0 || kv->head_dim() <= 0 ||
      kv->block_size() <= 0 || kv->num_blocks() <= 0 || !IsFloat(kv->dtype())) {
    return fail("KV cache shape must be positive and its dtype F32, F16 or BF16");
  }
  const uint64_t kv_bytes = uint64_t{2} * kv->num_layers() * kv->num_blocks() * kv->num_heads() *
                            kv->block_size() * kv->head_dim() * 4;
  if (kv_bytes > kMaxBytes || plan.arena_bytes() > kMaxBytes) {
    return fail("KV cache or arena size is implausibly large");
  }

  const auto* tensors = plan.tensors();
  std::set<TensorRole> seen_roles;
  const plan::Tensor* hidden_in = nullptr;
  const plan::Tensor* hidden_out = nullptr;
  for (size_t i = 0; i < tensors->size(); ++i) {
    const auto& tensor = *tensors->Get(i);
    if (auto s = ValidateTensor(plan, tensor, i, label); !s.ok()) return s;
    if (tensor.role() == TensorRole::None) continue;
    const char* role_name = plan::EnumNameTensorRole(tensor.role());
    if (!seen_roles.insert(tensor.role()).second) {
      return fail(absl::StrCat("two tensors have role ", role_name));
    }
    if (!StageHasRole(plan, tensor.role())) {
      return fail(absl::StrCat("tensor '", tensor.name()->str(), "' has role ", role_name,
                               ", which pipeline stage ", plan.pp_stage(), " of ", plan.pp_size(),
                               " does not have"));
    }
    for (const RoleSpec& spec : kRoleSpecs) {
      if (spec.role != tensor.role()) continue;
      if (tensor.kind() != spec.kind || tensor.dtype() != spec.dtype ||
          tensor.shape()->size() != spec.rank || tensor.rows() != spec.rows) {
        return fail(absl::StrCat("tensor '", tensor.name()->str(), "' has the wrong kind, dtype, ",
                                 "rank or rows for role ", role_name));
      }
    }
    for (const HiddenRoleSpec& spec : kHiddenRoleSpecs) {
      if (spec.role != tensor.role()) continue;
      if (tensor.kind() != spec.kind || !IsFloat(tensor.dtype()) || tensor.shape()->size() != 2 ||
          tensor.rows() != RowDim::Tokens || tensor.shape()->Get(1) <= 0) {
        return fail(absl::StrCat("tensor '", tensor.name()->str(), "' has the wrong kind, dtype, ",
                                 "rank or rows for role ", role_name,
                                 " (need [T, hidden] of F32, F16 or BF16)"));
      }
      (spec.role == TensorRole::HiddenIn ? hidden_in : hidden_out) = &tensor;
    }
  }
  for (TensorRole role : {TensorRole::TokenIds, TensorRole::Positions, TensorRole::SequenceSlots,
                          TensorRole::LogitRows, TensorRole::Logits, TensorRole::HiddenIn,
                          TensorRole::HiddenOut}) {
    if (StageHasRole(plan, role) && !seen_roles.count(role)) {
      return fail(absl::StrCat("no tensor has role ", plan::EnumNameTensorRole(role),
                               " (pipeline stage ", plan.pp_stage(), " of ", plan.pp_size(), ")"));
    }
  }
  if (hidden_in && hidden_out &&
      (hidden_in->dtype() != hidden_out->dtype() ||
       hidden_in->shape()->Get(1) != hidden_out->shape()->Get(1))) {
    return fail("a middle pipeline stage's HiddenIn and HiddenOut differ in dtype or width");
  }
  for (size_t i = 0; i < tensors->size(); ++i) {
    const auto& tensor = *tensors->Get(i);
    if (tensor.kind() == TensorKind::StepInput && tensor.role() == TensorRole::None) {
      return fail(absl::StrCat("step input '", tensor.name()->str(), "' has no role"));
    }
  }

  const auto* instructions = plan.instructions();
  if (instructions->size() == 0) return fail("the plan has no instructions");
  for (size_t i = 0; i < instructions->size(); ++i) {
    InstructionChecker checker(plan, *instructions->Get(i), i, label);
    if (auto s = checker.Check(); !s.ok()) return s;
  }
  if (auto s = ValidateWeightTiering(plan, label); !s.ok()) return s;
  return CheckArenaLiveness(plan, label);
}

}  // namespace bloom
