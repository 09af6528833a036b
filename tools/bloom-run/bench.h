// --bench: B random prompts of P tokens (seeded), greedy, N new tokens each,
// never stopping early. Warm-up runs first, then one measured run under the
// scheduler's prefill-first policy, so that its steps split cleanly into
//   - time to first token: until every sequence has its first token (the
//     prefill of B × P tokens, chunked by the plan's limits), and
//   - N - 1 decode steps of all B sequences.
// Prints one JSON object on stdout with exactly the keys
//   backend device plan batch prompt_len new_tokens load_ms ttft_ms
//   decode_ms_per_step_median decode_ms_per_step_mean decode_tokens_per_s
//   total_ms peak_device_bytes weight_bytes_streamed_per_step
//   weight_stream_gb_per_s weight_stream_wait_ms_per_step
// (benchmarks/ parse them) and a table for people on stderr.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "runtime/serve/executor_factory.h"
#include "tools/bloom-run/run_flags.h"

namespace bloom::run {

// Checks that the benchmark's shape fits the plan (B sequences decoding in
// one step, P + N - 1 positions); InvalidArgument names the flag and limit.
absl::Status CheckBenchFits(const plan::Plan& plan, const RunFlags& flags);

// Runs the benchmark; `load_ms` is the time the plan and weights took.
absl::Status RunBench(const serve::Backend& backend, const RunFlags& flags, double load_ms);

}  // namespace bloom::run
