#include "models/bloom/graph/GraphBuilder.h"

#include <cmath>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "dialects/Bloom/BloomOps.h"
#include "dialects/Bloom/TensorNames.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Verifier.h"
#include "models/bloom/alibi.h"
#include "models/bloom/tensor_names.h"
#include "runtime/support/status_macros.h"

namespace bloom::model {
namespace {

using mlir::Value;

// Precision is a later pass's choice (--bloom-assign-precision).
const graph::PrecisionAttr kNoPrecision{};

mlir::Type StoredType(mlir::Builder& b, DType dtype) {
  switch (dtype) {
    case DType::kF16: return b.getF16Type();
    case DType::kBF16: return b.getBF16Type();
    case DType::kF32: return b.getF32Type();
    // WeightResolver refuses weights stored in anything but a float.
    case DType::kI32:
    case DType::kI8:
    case DType::kI4: break;
  }
  return b.getF32Type();
}

// Emits one step's graph into a func body. Each helper creates one op whose
// NameLoc is the tensor name it is given.
class StepBuilder {
 public:
  StepBuilder(mlir::OpBuilder& builder, const BloomConfig& config,
              const WeightResolver& weights)
      : b_(builder), config_(config), weights_(weights),
        hidden_(config.hidden_size),
        f32_(builder.getF32Type()) {}

  absl::StatusOr<Value> Build(Value token_ids, Value positions,
                              Value sequence_slots, Value logit_rows) {
    const int64_t vocab = config_.vocab_size;
    BLOOM_ASSIGN_OR_RETURN(Value table, Weight(kWordEmbeddings, {vocab, hidden_}));
    // The whole vocabulary (no vocab_begin/vocab_size): partitioning is a
    // later pass's choice (--bloom-partition-tp).
    Value h = b_.create<graph::EmbeddingOp>(Loc("embeddings"), Rows(hidden_),
                                            token_ids, table, nullptr, nullptr,
                                            kNoPrecision);
    BLOOM_ASSIGN_OR_RETURN(
        h, LayerNorm(h, kEmbeddingsNormWeight, kEmbeddingsNormBias,
                     "embeddings_norm"));
    for (int layer = 0; layer < config_.num_layers; ++layer) {
      BLOOM_ASSIGN_OR_RETURN(h, Block(layer, h, positions, sequence_slots));
    }
    BLOOM_ASSIGN_OR_RETURN(h, LayerNorm(h, kFinalNormWeight, kFinalNormBias, "ln_f"));
    h = b_.create<graph::GatherRowsOp>(Loc("logit_hidden"), Rows(hidden_), h,
                                       logit_rows, kNoPrecision);
    Value head = table;
    if (weights_.HasOwnLmHead()) {
      BLOOM_ASSIGN_OR_RETURN(head, Weight(kLmHead, {vocab, hidden_}));
    }
    return Value(b_.create<graph::LmHeadOp>(Loc("logits"), Rows(vocab), h, head,
                                            kNoPrecision));
  }

 private:
  // One BloomBlock, as transformers computes it.
  absl::StatusOr<Value> Block(int layer, Value h, Value positions,
                              Value sequence_slots) {
    const BlockTensorNames names = BlockNames(layer);
    const std::string prefix = absl::StrCat("h.", layer, ".");
    auto name = [&](std::string_view what) { return prefix + std::string(what); };
    const bool post_ln = config_.apply_residual_connection_post_layernorm;
    const int64_t heads = config_.num_heads;
    const int64_t head_dim = config_.head_dim();

    BLOOM_ASSIGN_OR_RETURN(
        Value ln1, LayerNorm(h, names.input_layernorm_weight,
                             names.input_layernorm_bias, name("attn_norm")));
    Value residual = post_ln ? ln1 : h;
    BLOOM_ASSIGN_OR_RETURN(
        Value qkv, Linear(ln1, names.qkv_weight, names.qkv_bias, 3 * hidden_,
                          name("qkv")));
    BLOOM_ASSIGN_OR_RETURN(
        Value context, Attention(layer, qkv, positions, sequence_slots));
    BLOOM_ASSIGN_OR_RETURN(
        Value dense, Linear(context, names.attn_dense_weight,
                            names.attn_dense_bias, hidden_, name("attn_dense")));
    Value attn = b_.create<graph::AddOp>(Loc(name("attn_residual")), dense,
                                         residual, kNoPrecision);

    BLOOM_ASSIGN_OR_RETURN(
        Value ln2, LayerNorm(attn, names.post_attention_layernorm_weight,
                             names.post_attention_layernorm_bias,
                             name("mlp_norm")));
    residual = post_ln ? ln2 : attn;
    BLOOM_ASSIGN_OR_RETURN(
        Value up, Linear(ln2, names.mlp_h_to_4h_weight, names.mlp_h_to_4h_bias,
                         4 * hidden_, name("mlp_h_to_4h")));
    Value act = b_.create<graph::GeluOp>(Loc(name("mlp_gelu")), up, kNoPrecision);
    BLOOM_ASSIGN_OR_RETURN(
        Value down, Linear(act, names.mlp_4h_to_h_weight, names.mlp_4h_to_h_bias,
                           hidden_, name("mlp_4h_to_h")));
    return Value(b_.create<graph::AddOp>(Loc(name("output")), down, residual,
                                         kNoPrecision));
  }

  // transformers' BloomAttention after the QKV projection, one op per step
  // (the unfused form; --bloom-fuse makes one alibi_attention of it).
  absl::StatusOr<Value> Attention(int layer, Value qkv, Value positions,
                                  Value sequence_slots) {
    const std::string prefix = absl::StrCat("h.", layer, ".");
    auto name = [&](std::string_view what) { return prefix + std::string(what); };
    const int64_t heads = config_.num_heads;
    const int64_t head_dim = config_.head_dim();
    const int64_t dynamic = mlir::ShapedType::kDynamic;
    auto per_head = mlir::RankedTensorType::get({dynamic, heads, head_dim}, f32_);
    auto scores_type = mlir::RankedTensorType::get({dynamic, heads, dynamic}, f32_);
    auto split = b_.create<graph::SplitHeadsOp>(
        graph::FusedNameLoc(b_.getContext(), {Loc(name("query")), Loc(name("key")),
                                              Loc(name("value"))}),
        mlir::TypeRange{per_head, per_head, per_head}, qkv,
        b_.getI64IntegerAttr(heads), b_.getI64IntegerAttr(head_dim), kNoPrecision);
    auto cache_type = graph::KvCacheType::get(b_.getContext(), heads, head_dim, f32_);
    Value cache = b_.create<graph::KvCacheAppendOp>(
        Loc(name("kv_cache")), cache_type, split.getK(), split.getV(), positions,
        sequence_slots, b_.getI64IntegerAttr(layer), kNoPrecision);
    Value scores = b_.create<graph::AttentionScoresOp>(
        Loc(name("attn_scores")), scores_type, split.getQ(), cache, sequence_slots,
        b_.getF32FloatAttr(static_cast<float>(1.0 / std::sqrt(static_cast<double>(head_dim)))),
        kNoPrecision);
    std::vector<float> slopes = AlibiSlopes(static_cast<int>(heads));
    scores = b_.create<graph::AlibiBiasOp>(Loc(name("attn_alibi")), scores_type,
                                           scores, b_.getDenseF32ArrayAttr(slopes),
                                           kNoPrecision);
    scores = b_.create<graph::CausalMaskOp>(Loc(name("attn_masked")), scores_type,
                                            scores, positions, kNoPrecision);
    Value probs = b_.create<graph::SoftmaxOp>(Loc(name("attn_probs")), scores_type,
                                              scores, kNoPrecision);
    Value context = b_.create<graph::AttentionContextOp>(
        Loc(name("attn_heads")), per_head, probs, cache, sequence_slots,
        kNoPrecision);
    return Value(b_.create<graph::MergeHeadsOp>(Loc(name("attn_context")),
                                                Rows(heads * head_dim), context,
                                                kNoPrecision));
  }

  absl::StatusOr<Value> LayerNorm(Value x, std::string_view gamma_name,
                                  std::string_view beta_name,
                                  std::string_view name) {
    BLOOM_ASSIGN_OR_RETURN(Value gamma, Weight(gamma_name, {hidden_}));
    BLOOM_ASSIGN_OR_RETURN(Value beta, Weight(beta_name, {hidden_}));
    return Value(b_.create<graph::LayerNormOp>(
        Loc(name), Rows(hidden_), x, gamma, beta,
        b_.getF32FloatAttr(static_cast<float>(config_.layer_norm_epsilon)),
        kNoPrecision));
  }

  // y = x · Wᵀ + b with W of shape [out, in], in = x's columns.
  absl::StatusOr<Value> Linear(Value x, std::string_view weight_name,
                               std::string_view bias_name, int64_t out,
                               std::string_view name) {
    int64_t in = mlir::cast<mlir::RankedTensorType>(x.getType()).getDimSize(1);
    BLOOM_ASSIGN_OR_RETURN(Value weight, Weight(weight_name, {out, in}));
    BLOOM_ASSIGN_OR_RETURN(Value bias, Weight(bias_name, {out}));
    return Value(b_.create<graph::LinearOp>(Loc(name), Rows(out), x, weight, bias,
                                            /*epilogue=*/nullptr, kNoPrecision));
  }

  absl::StatusOr<Value> Weight(std::string_view canonical,
                               std::vector<int64_t> shape) {
    BLOOM_ASSIGN_OR_RETURN(std::optional<WeightLocation> location,
                           weights_.Resolve(canonical, shape));
    auto type = mlir::RankedTensorType::get(shape, f32_);
    mlir::StringAttr file, tensor;
    mlir::TypeAttr stored;
    if (location) {
      file = b_.getStringAttr(location->file);
      tensor = b_.getStringAttr(location->tensor);
      stored = mlir::TypeAttr::get(StoredType(b_, location->stored_dtype));
    }
    // The whole tensor (no slice): --bloom-partition-tp slices.
    return Value(b_.create<graph::WeightOp>(Loc(canonical), type,
                                            b_.getStringAttr(canonical), file,
                                            tensor, stored, nullptr, nullptr,
                                            nullptr));
  }

  // A per-token tensor of `columns` f32 values.
  mlir::RankedTensorType Rows(int64_t columns) {
    return mlir::RankedTensorType::get({mlir::ShapedType::kDynamic, columns},
                                       f32_);
  }

  mlir::Location Loc(std::string_view name) {
    return mlir::NameLoc::get(b_.getStringAttr(name));
  }

  mlir::OpBuilder& b_;
  const BloomConfig& config_;
  const WeightResolver& weights_;
  const int64_t hidden_;
  mlir::Type f32_;
};

}  // namespace

absl::StatusOr<mlir::OwningOpRef<mlir::ModuleOp>> BuildBloomGraph(
    mlir::MLIRContext& context, const BloomConfig& config,
    const WeightResolver& weights, std::string_view model_name) {
  context.getOrLoadDialect<graph::BloomDialect>();
  context.getOrLoadDialect<mlir::func::FuncDialect>();
  mlir::OpBuilder b(&context);
  auto loc = mlir::NameLoc::get(b.getStringAttr(model_name));
  mlir::OwningOpRef<mlir::ModuleOp> module = mlir::ModuleOp::create(loc);

  auto set = [&](std::string_view key, mlir::Attribute value) {
    (*module)->setAttr("bloom." + std::string(key), value);
  };
  set("model_name", b.getStringAttr(model_name));
  set("checkpoint_dir", b.getStringAttr(weights.CheckpointDir()));
  set("vocab_size", b.getI64IntegerAttr(config.vocab_size));
  set("hidden_size", b.getI64IntegerAttr(config.hidden_size));
  set("num_heads", b.getI64IntegerAttr(config.num_heads));
  set("num_layers", b.getI64IntegerAttr(config.num_layers));
  set("layer_norm_epsilon", b.getF64FloatAttr(config.layer_norm_epsilon));
  set("apply_residual_connection_post_layernorm",
      b.getBoolAttr(config.apply_residual_connection_post_layernorm));
  set("bos_token_id", b.getI64IntegerAttr(config.bos_token_id));
  set("eos_token_id", b.getI64IntegerAttr(config.eos_token_id));
  set("pad_token_id", b.getI64IntegerAttr(config.pad_token_id));
  set("tied_lm_head", b.getBoolAttr(!weights.HasOwnLmHead()));

  auto ids = mlir::RankedTensorType::get({mlir::ShapedType::kDynamic},
                                         b.getI32Type());
  auto logits = mlir::RankedTensorType::get(
      {mlir::ShapedType::kDynamic, config.vocab_size}, b.getF32Type());
  b.setInsertionPointToEnd(module->getBody());
  auto step = b.create<mlir::func::FuncOp>(
      loc, "step", b.getFunctionType({ids, ids, ids, ids}, {logits}));
  mlir::Block* body = step.addEntryBlock();
  const char* arg_names[] = {"token_ids", "positions", "sequence_slots",
                             "logit_rows"};
  for (auto [arg, name] : llvm::zip(body->getArguments(), arg_names)) {
    arg.setLoc(mlir::NameLoc::get(b.getStringAttr(name)));
  }
  b.setInsertionPointToStart(body);
  StepBuilder builder(b, config, weights);
  BLOOM_ASSIGN_OR_RETURN(Value result,
                         builder.Build(body->getArgument(0), body->getArgument(1),
                                       body->getArgument(2), body->getArgument(3)));
  b.create<mlir::func::ReturnOp>(mlir::NameLoc::get(b.getStringAttr("logits")),
                                 result);
  // The builder's output is verified here so a bug in it surfaces as an
  // error rather than as a broken plan later.
  if (mlir::failed(mlir::verify(*module))) {
    return absl::InternalError("the built bloom graph does not verify");
  }
  return module;
}

}  // namespace bloom::model
