#include "runtime/serve/perplexity_windows.h"

#include "absl/strings/str_cat.h"
#include "runtime/support/status_macros.h"

namespace bloom::serve {

int32_t ScoredPerWindow(int32_t ctx, int32_t stride) {
  return stride > 0 ? stride : ctx - 1 - ctx / 2;
}

absl::Status CheckWindowShape(int32_t ctx, int32_t stride) {
  if (ctx < 2)
    return absl::InvalidArgumentError(absl::StrCat("--ctx=", ctx, " must be at least 2"));
  if (stride < 0 || stride > ctx - 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--stride=", stride, " must be in [1, --ctx - 1 = ", ctx - 1, "]"));
  }
  if (stride == 0 && ctx < 3) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--ctx=", ctx, " leaves no second half to score: use --ctx >= 3 or a --stride"));
  }
  return absl::OkStatus();
}

absl::StatusOr<int64_t> WindowCount(int64_t num_tokens, int32_t ctx, int32_t stride) {
  BLOOM_RETURN_IF_ERROR(CheckWindowShape(ctx, stride));
  if (num_tokens < ctx) {
    return absl::InvalidArgumentError(
        absl::StrCat("the text has ", num_tokens, " tokens, fewer than one window of --ctx=", ctx));
  }
  // Halves: windows at 0, N, 2N, ...; strides: at 0, S, 2S, ...; each
  // while start + N <= num_tokens.
  return (num_tokens - ctx) / (stride > 0 ? stride : ctx) + 1;
}

absl::StatusOr<std::vector<PerplexityWindow>> PerplexityWindows(int64_t num_tokens, int32_t ctx,
                                                                int32_t stride) {
  BLOOM_ASSIGN_OR_RETURN(const int64_t count, WindowCount(num_tokens, ctx, stride));
  const int32_t first = ctx - 1 - ScoredPerWindow(ctx, stride);
  const int64_t step = stride > 0 ? stride : ctx;
  std::vector<PerplexityWindow> windows(static_cast<size_t>(count));
  for (int64_t k = 0; k < count; ++k) windows[k] = {k * step, first};
  return windows;
}

}  // namespace bloom::serve
