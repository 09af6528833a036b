// AlibiAttention: stores each token's K and V in its layer of the paged KV
// cache, then attends causally within the token's sequence with ALiBi
// biases. The validator made the KV cache's dtype equal qkv's, so storing
// the widened (exact) K and V in the float32 cache loses nothing.
#include "kernels/cpu/alibi_attention.h"

#include <memory>
#include <vector>

#include "runtime/cpu/ops/cpu_ops.h"
#include "runtime/support/status_macros.h"

namespace bloom::cpu_ops {
namespace {

class AlibiAttentionOp : public CpuOp {
 public:
  AlibiAttentionOp(int32_t layer, std::vector<float> slopes)
      : layer_(layer), slopes_(std::move(slopes)) {}

  absl::Status Run(const CpuOpArgs& args, PrecisionScratch& scratch) override {
    const auto& in = args.operands;
    cpu::PagedKvLayer kv = args.kv_cache->Layer(layer_);
    if (args.block_tables != nullptr) kv.block_tables = args.block_tables;
    BLOOM_ASSIGN_OR_RETURN(const float* qkv, scratch.Widen(in[0], 0));
    BLOOM_ASSIGN_OR_RETURN(const int32_t* positions, Int32Values(in[1]));
    BLOOM_ASSIGN_OR_RETURN(const int32_t* slots, Int32Values(in[2]));
    BLOOM_ASSIGN_OR_RETURN(float* context, scratch.Output(args.results[0], 0));
    cpu::AlibiAttention(qkv, positions, slots, in[0].rows, slopes_.data(), kv, context);
    return absl::OkStatus();
  }

 private:
  const int32_t layer_;
  const std::vector<float> slopes_;  // one per head, by global head index
};

}  // namespace

OpOrError MakeAlibiAttentionOp(const plan::Plan&, const plan::Instruction& instruction) {
  const auto* params = instruction.kernel_as_AlibiAttention();
  return std::make_unique<AlibiAttentionOp>(
      params->layer(),
      std::vector<float>(params->alibi_slopes()->begin(), params->alibi_slopes()->end()));
}

}  // namespace bloom::cpu_ops
