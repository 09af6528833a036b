#include "runtime/serve/scheduler.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/support/status_macros.h"

namespace bloom {
namespace {

// Puts a request's result in its place of the batch.
class BatchSink : public RequestSink {
 public:
  explicit BatchSink(absl::StatusOr<GenerationOutcome>* result) : result_(result) {}
  void OnFinish(absl::StatusOr<GenerationOutcome> outcome) override {
    *result_ = std::move(outcome);
  }

 private:
  absl::StatusOr<GenerationOutcome>* result_;
};

}  // namespace

Scheduler::Scheduler(StepExecutor& executor, SchedulerOptions options)
    : executor_(executor), options_(std::move(options)) {}

absl::StatusOr<std::vector<GenerationOutcome>> Scheduler::Run(
    std::vector<GenerationRequest> requests) {
  const int64_t vocab = executor_.vocab_size();
  for (size_t i = 0; i < requests.size(); ++i) {
    BLOOM_RETURN_IF_ERROR(
        ValidateRequest(executor_.plan(), vocab, requests[i], absl::StrCat("request ", i)));
  }
  // Declared before the engine, which may still write them as it ends.
  std::vector<absl::StatusOr<GenerationOutcome>> results(
      requests.size(), absl::InternalError("the request did not finish"));
  EngineOptions options = options_;
  options.max_waiting = 0;
  Engine engine(executor_, std::move(options));
  for (size_t i = 0; i < requests.size(); ++i) {
    BLOOM_RETURN_IF_ERROR(
        engine.Submit(std::move(requests[i]), std::make_shared<BatchSink>(&results[i])).status());
  }
  while (true) {
    BLOOM_ASSIGN_OR_RETURN(const bool stepped, engine.StepOnce());
    if (!stepped) break;
  }
  std::vector<GenerationOutcome> outcomes;
  outcomes.reserve(results.size());
  for (size_t i = 0; i < results.size(); ++i) {
    if (!results[i].ok()) {
      return absl::Status(results[i].status().code(),
                          absl::StrCat("request ", i, ": ", results[i].status().message()));
    }
    outcomes.push_back(*std::move(results[i]));
  }
  return outcomes;
}

}  // namespace bloom
