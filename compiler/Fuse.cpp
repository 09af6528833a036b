// --bloom-fuse (see Passes.td): pattern rewrites from the graph builder's
// unfused form to the ops that have plan kernels.
#include <cmath>

#include "compiler/Passes.h"
#include "dialects/Bloom/BloomOps.h"
#include "dialects/Bloom/TensorNames.h"
#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

namespace bloom {

#define GEN_PASS_DEF_BLOOMFUSE
#include "compiler/Passes.h.inc"

namespace {

using mlir::LogicalResult;
using mlir::PatternRewriter;

// linear(x, w[, b]) → gelu  ⇒  linear(x, w[, b]) epilogue gelu.
struct FuseLinearGelu : mlir::OpRewritePattern<graph::GeluOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(graph::GeluOp gelu,
                                PatternRewriter& rewriter) const override {
    auto linear = gelu.getX().getDefiningOp<graph::LinearOp>();
    if (!linear || linear.getEpilogue()) {
      return rewriter.notifyMatchFailure(gelu, "input is not a plain linear");
    }
    if (!linear->hasOneUse()) {
      // The pre-activation is needed elsewhere: it must be stored anyway.
      return rewriter.notifyMatchFailure(gelu, "linear result has other users");
    }
    auto fused = rewriter.create<graph::LinearOp>(
        graph::FusedNameLoc(getContext(), {gelu.getLoc(), linear.getLoc()}),
        gelu.getType(), linear.getX(), linear.getWeight(), linear.getBias(),
        graph::EpilogueAttr::get(getContext(), graph::Epilogue::Gelu),
        /*precision=*/nullptr);
    rewriter.replaceOp(gelu, fused.getResult());
    rewriter.eraseOp(linear);
    return mlir::success();
  }
};

// s = add(a, b) → layer_norm(s)  ⇒  s, n = add_layer_norm(a, b).
struct FuseAddLayerNorm : mlir::OpRewritePattern<graph::LayerNormOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(graph::LayerNormOp norm,
                                PatternRewriter& rewriter) const override {
    auto add = norm.getX().getDefiningOp<graph::AddOp>();
    if (!add) return rewriter.notifyMatchFailure(norm, "input is not an add");
    // The fused op takes the layer norm's place, so the sum must not be
    // needed before it.
    for (mlir::Operation* user : add->getUsers()) {
      if (user != norm.getOperation() &&
          (user->getBlock() != norm->getBlock() || user->isBeforeInBlock(norm))) {
        return rewriter.notifyMatchFailure(norm, "sum is used before the norm");
      }
    }
    auto fused = rewriter.create<graph::AddLayerNormOp>(
        graph::FusedNameLoc(getContext(), {add.getLoc(), norm.getLoc()}),
        add.getType(), norm.getType(), add.getLhs(), add.getRhs(),
        norm.getGamma(), norm.getBeta(), norm.getEpsilonAttr(),
        /*precision=*/nullptr);
    rewriter.replaceOp(norm, fused.getNormed());
    rewriter.replaceOp(add, fused.getSum());
    return mlir::success();
  }
};

// The unfused attention chain, matched from its end (merge_heads).
struct FuseAttention : mlir::OpRewritePattern<graph::MergeHeadsOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(graph::MergeHeadsOp merge,
                                PatternRewriter& rewriter) const override {
    auto fail = [&](const char* why) {
      return rewriter.notifyMatchFailure(merge, why);
    };
    auto single = [](mlir::Operation* op) { return op && op->hasOneUse(); };
    auto context = merge.getX().getDefiningOp<graph::AttentionContextOp>();
    if (!single(context)) return fail("no single-use attention_context");
    auto softmax = context.getProbs().getDefiningOp<graph::SoftmaxOp>();
    if (!single(softmax)) return fail("no single-use softmax");
    auto mask = softmax.getScores().getDefiningOp<graph::CausalMaskOp>();
    if (!single(mask)) return fail("no single-use causal_mask");
    auto bias = mask.getScores().getDefiningOp<graph::AlibiBiasOp>();
    if (!single(bias)) return fail("no single-use alibi_bias");
    auto scores = bias.getScores().getDefiningOp<graph::AttentionScoresOp>();
    if (!single(scores)) return fail("no single-use attention_scores");
    auto append = scores.getCache().getDefiningOp<graph::KvCacheAppendOp>();
    if (!append || context.getCache() != append.getCache()) {
      return fail("scores and context do not read one appended cache");
    }
    for (mlir::Operation* user : append->getUsers()) {
      if (user != scores.getOperation() && user != context.getOperation()) {
        return fail("the cache has other readers");
      }
    }
    auto split = scores.getQ().getDefiningOp<graph::SplitHeadsOp>();
    if (!split || append.getK() != split.getK() || append.getV() != split.getV()) {
      return fail("q, k and v do not come from one split_heads");
    }
    if (!split.getQ().hasOneUse() || !split.getK().hasOneUse() ||
        !split.getV().hasOneUse()) {
      return fail("q, k or v has other users");
    }
    auto qkv = split.getQkv().getDefiningOp<graph::LinearOp>();
    if (!single(qkv) || qkv.getEpilogue()) {
      return fail("qkv is not a single-use plain linear");
    }
    mlir::Value positions = append.getPositions();
    mlir::Value slots = append.getSequenceSlots();
    if (mask.getPositions() != positions || scores.getSequenceSlots() != slots ||
        context.getSequenceSlots() != slots) {
      return fail("positions or sequence slots differ along the chain");
    }
    const int64_t heads = static_cast<int64_t>(split.getNumHeads());
    const int64_t head_dim = static_cast<int64_t>(split.getHeadDim());
    const double want_scale = 1.0 / std::sqrt(static_cast<double>(head_dim));
    if (std::abs(scores.getScale().convertToDouble() - want_scale) >
        1e-6 * want_scale) {
      return fail("scale is not 1/sqrt(head_dim), which the kernel uses");
    }
    if (static_cast<int64_t>(bias.getAlibiSlopes().size()) != heads) {
      return fail("one ALiBi slope per head needed");
    }
    // The fused op appends at merge_heads' place: no other cache op may sit
    // between the append and there.
    for (mlir::Operation* op = append->getNextNode(); op && op != merge;
         op = op->getNextNode()) {
      if (op != scores.getOperation() && op != context.getOperation() &&
          mlir::isa<graph::KvCacheAppendOp, graph::AttentionScoresOp,
                    graph::AttentionContextOp, graph::AlibiAttentionOp>(op)) {
        return fail("another KV-cache op lies inside the chain");
      }
    }

    mlir::Type qkv_element = qkv.getType().getElementType();
    mlir::TypeAttr qkv_storage =
        qkv_element.isF32() ? mlir::TypeAttr() : mlir::TypeAttr::get(qkv_element);
    auto fused = rewriter.create<graph::AlibiAttentionOp>(
        graph::FusedNameLoc(getContext(), {merge.getLoc(), qkv.getLoc()}),
        merge.getType(), qkv.getX(), qkv.getWeight(), qkv.getBias(), positions,
        slots, append.getLayerAttr(), split.getNumHeadsAttr(),
        split.getHeadDimAttr(), bias.getAlibiSlopesAttr(), qkv_storage,
        /*qkv_precision=*/nullptr, /*precision=*/nullptr);
    rewriter.replaceOp(merge, fused.getResult());
    for (mlir::Operation* dead :
         {context.getOperation(), softmax.getOperation(), mask.getOperation(),
          bias.getOperation(), scores.getOperation(), append.getOperation(),
          split.getOperation(), qkv.getOperation()}) {
      rewriter.eraseOp(dead);
    }
    return mlir::success();
  }
};

// True when every value of type `from` converts to `to` exactly.
bool ConvertsExactly(mlir::Type from, mlir::Type to) {
  return from == to || to.isF32();
}

// cast(cast(x : A → B) → C) with A → B exact  ⇒  x if C = A, else cast(x → C).
struct CancelCasts : mlir::OpRewritePattern<graph::CastOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(graph::CastOp cast,
                                PatternRewriter& rewriter) const override {
    auto inner = cast.getX().getDefiningOp<graph::CastOp>();
    if (!inner) return rewriter.notifyMatchFailure(cast, "not a cast of a cast");
    mlir::Value x = inner.getX();
    if (!ConvertsExactly(mlir::cast<mlir::ShapedType>(x.getType()).getElementType(),
                         inner.getType().getElementType())) {
      // f32 → bf16 → f32 rounds: the pair is not an identity.
      return rewriter.notifyMatchFailure(cast, "the first cast rounds");
    }
    if (x.getType() == cast.getType()) {
      rewriter.replaceOp(cast, x);
    } else {
      rewriter.replaceOpWithNewOp<graph::CastOp>(cast, cast.getType(), x,
                                                 cast.getPrecisionAttr());
    }
    if (inner->use_empty()) rewriter.eraseOp(inner);
    return mlir::success();
  }
};

class BloomFusePass : public impl::BloomFuseBase<BloomFusePass> {
 public:
  void runOnOperation() override {
    mlir::RewritePatternSet patterns(&getContext());
    patterns.add<FuseLinearGelu, FuseAddLayerNorm, FuseAttention, CancelCasts>(
        &getContext());
    mlir::GreedyRewriteConfig config;
    config.useTopDownTraversal = true;
    config.enableRegionSimplification = mlir::GreedySimplifyRegionLevel::Disabled;
    if (mlir::failed(mlir::applyPatternsAndFoldGreedily(
            getOperation(), std::move(patterns), config))) {
      getOperation().emitError("bloom-fuse: the rewrites did not converge");
      signalPassFailure();
    }
  }
};

}  // namespace
}  // namespace bloom
