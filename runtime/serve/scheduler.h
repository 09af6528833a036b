// The closed batch: a fixed set of requests run to completion on the
// continuous-batching engine (runtime/serve/engine.h), for bloom-run's
// single prompt, --input and --bench. It submits every request at once and
// steps the engine until it is idle, so the steps (their packing, their
// order, their tokens) are the engine's.
#pragma once

#include <vector>

#include "absl/status/statusor.h"
#include "runtime/exec/executor.h"
#include "runtime/serve/engine.h"
#include "runtime/serve/generation_request.h"

namespace bloom {

// EngineOptions' max_waiting does not apply: the whole batch waits at once.
using SchedulerOptions = EngineOptions;

class Scheduler {
 public:
  explicit Scheduler(StepExecutor& executor, SchedulerOptions options = {});

  // Checks every request against the plan first (ValidateRequest; errors
  // name the request's index), then runs them all to completion. Outcomes
  // are in request order; ttft_ms and total_ms count from the submission
  // of the batch. The KV cache must have no active sequences of others'
  // while this runs; every slot Run takes is given back, also on error.
  absl::StatusOr<std::vector<GenerationOutcome>> Run(std::vector<GenerationRequest> requests);

 private:
  StepExecutor& executor_;
  SchedulerOptions options_;
};

}  // namespace bloom
