#include "test/support/generator.h"

#include <algorithm>
#include <numeric>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "runtime/support/status_macros.h"

namespace bloom {

int32_t ArgMax(absl::Span<const float> values) {
  return static_cast<int32_t>(std::max_element(values.begin(), values.end()) - values.begin());
}

absl::StatusOr<GenerationResult> GenerateGreedy(StepExecutor& executor,
                                                absl::Span<const int32_t> prompt,
                                                const GenerationOptions& options) {
  const auto* limits = executor.plan().limits();
  if (prompt.empty()) return absl::InvalidArgumentError("the prompt is empty");
  if (options.max_new_tokens < 1) {
    return absl::InvalidArgumentError("max_new_tokens must be at least 1");
  }
  const int64_t total = static_cast<int64_t>(prompt.size()) + options.max_new_tokens;
  // The last generated token is never fed back, so P + N - 1 positions suffice.
  if (total - 1 > limits->max_seq_len()) {
    return absl::OutOfRangeError(absl::StrCat(
        "prompt (", prompt.size(), " tokens) + max_new_tokens (", options.max_new_tokens,
        ") needs ", total - 1, " positions but the plan's max_seq_len is ", limits->max_seq_len()));
  }

  KvCache& cache = executor.kv_cache();
  BLOOM_ASSIGN_OR_RETURN(const int32_t slot, cache.AddSequence());
  absl::Cleanup release = [&] { cache.RemoveSequence(slot); };

  const int64_t vocab = executor.vocab_size();
  GenerationResult result;
  auto keep_logits = [&](absl::Span<const float> rows) {
    result.logits.insert(result.logits.end(), rows.begin(), rows.end());
    result.logit_rows += static_cast<int64_t>(rows.size()) / vocab;
  };

  // Prefill, chunked by the plan's batch limit, and by its logit-row limit
  // when every row's logits are kept.
  const int32_t chunk = options.keep_all_logits
                            ? std::min(limits->max_batch_tokens(), limits->max_logit_rows())
                            : limits->max_batch_tokens();
  std::vector<int32_t> positions, slots, logit_rows;
  int32_t next = -1;
  for (size_t begin = 0; begin < prompt.size(); begin += chunk) {
    const size_t end = std::min(prompt.size(), begin + chunk);
    const int32_t count = static_cast<int32_t>(end - begin);
    BLOOM_RETURN_IF_ERROR(cache.Reserve(slot, static_cast<int32_t>(end)));
    positions.resize(count);
    std::iota(positions.begin(), positions.end(), static_cast<int32_t>(begin));
    slots.assign(count, slot);
    logit_rows.clear();
    if (options.keep_all_logits) {
      logit_rows.resize(count);
      std::iota(logit_rows.begin(), logit_rows.end(), 0);
    } else if (end == prompt.size()) {
      logit_rows.push_back(count - 1);
    }
    BLOOM_RETURN_IF_ERROR(executor.Step(
        {prompt.subspan(begin, count), positions, slots, logit_rows}));
    if (options.keep_all_logits) keep_logits(executor.logits());
    if (end == prompt.size()) {
      next = ArgMax(executor.logits().subspan((logit_rows.size() - 1) * vocab, vocab));
    }
  }

  // Decode: feed back each token until N are generated.
  int32_t position = static_cast<int32_t>(prompt.size());
  const int32_t zero = 0;
  while (true) {
    result.tokens.push_back(next);
    if (options.on_token) options.on_token(next);
    if (static_cast<int32_t>(result.tokens.size()) == options.max_new_tokens ||
        next == options.stop_token_id) {
      break;
    }
    BLOOM_RETURN_IF_ERROR(cache.Reserve(slot, position + 1));
    BLOOM_RETURN_IF_ERROR(executor.Step({absl::MakeConstSpan(&next, 1),
                                         absl::MakeConstSpan(&position, 1),
                                         absl::MakeConstSpan(&slot, 1),
                                         absl::MakeConstSpan(&zero, 1)}));
    if (options.keep_all_logits) keep_logits(executor.logits());
    next = ArgMax(executor.logits());
    ++position;
  }
  return result;
}

}  // namespace bloom
