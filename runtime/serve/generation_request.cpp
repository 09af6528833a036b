#include "runtime/serve/generation_request.h"

#include "absl/strings/str_cat.h"

namespace bloom {

const char* FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kLength:
      return "length";
    case FinishReason::kEos:
      return "eos";
    case FinishReason::kStop:
      return "stop";
    case FinishReason::kCancelled:
      return "cancelled";
  }
  return "length";
}

absl::Status ValidateRequest(const plan::Plan& plan, int64_t vocab_size,
                             const GenerationRequest& request, const std::string& label) {
  const auto* limits = plan.limits();
  if (request.prompt.empty())
    return absl::InvalidArgumentError(absl::StrCat(label, ": the prompt is empty"));
  for (size_t i = 0; i < request.prompt.size(); ++i) {
    if (request.prompt[i] < 0 || request.prompt[i] >= vocab_size) {
      return absl::InvalidArgumentError(
          absl::StrCat(label, ": token id ", request.prompt[i], " at index ", i,
                       " is outside the vocabulary [0, ", vocab_size, ")"));
    }
  }
  if (request.max_new_tokens < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat(label, ": max_new_tokens must be at least 1, got ", request.max_new_tokens));
  }
  if (request.min_new_tokens < 0 || request.min_new_tokens > request.max_new_tokens) {
    return absl::InvalidArgumentError(
        absl::StrCat(label, ": min_new_tokens (", request.min_new_tokens,
                     ") must be in [0, max_new_tokens=", request.max_new_tokens, "]"));
  }
  // The last generated token is never fed back, so P + N - 1 positions.
  const int64_t needed = static_cast<int64_t>(request.prompt.size()) + request.max_new_tokens - 1;
  if (needed > limits->max_seq_len()) {
    return absl::OutOfRangeError(
        absl::StrCat(label, ": prompt (", request.prompt.size(), " tokens) + max_new_tokens (",
                     request.max_new_tokens, ") needs ", needed,
                     " positions but the plan's max_seq_len is ", limits->max_seq_len()));
  }
  if (request.eos_token_id >= vocab_size) {
    return absl::InvalidArgumentError(
        absl::StrCat(label, ": eos token id ", request.eos_token_id, " is outside the vocabulary"));
  }
  absl::Status sampling = ValidateSamplingParams(request.sampling);
  if (!sampling.ok())
    return absl::InvalidArgumentError(absl::StrCat(label, ": ", sampling.message()));
  return absl::OkStatus();
}

}  // namespace bloom
