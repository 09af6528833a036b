// text-generation-inference's dialect: hand-written /generate bodies against
// the fields they must give (TGI's sampling rule included), each error's
// HTTP status and field, and the bodies against TGI's documented shapes.
#include "runtime/serve/tgi_api.h"

#include <gtest/gtest.h>

#include "nlohmann/json.hpp"
#include "runtime/serve/api_fields.h"

namespace bloom::serve {
namespace {

using nlohmann::json;

TEST(TgiApiTest, ReadsEveryParameter) {
  absl::StatusOr<TgiRequest> r = ParseTgiRequest(R"({"inputs": "Hello", "parameters": {
    "max_new_tokens": 9, "do_sample": true, "temperature": 0.7, "top_k": 10, "top_p": 0.95,
    "typical_p": 0.5, "repetition_penalty": 1.1, "stop": ["a", "b"], "seed": 7, "details": true,
    "return_full_text": true, "truncate": 12, "watermark": false}})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->inputs, "Hello");
  EXPECT_EQ(r->max_new_tokens, 9);
  EXPECT_TRUE(r->sampling.do_sample);
  EXPECT_FLOAT_EQ(r->sampling.temperature, 0.7f);
  EXPECT_EQ(r->sampling.top_k, 10);
  EXPECT_FLOAT_EQ(r->sampling.top_p, 0.95f);
  EXPECT_FLOAT_EQ(r->sampling.typical_p, 0.5f);
  EXPECT_FLOAT_EQ(r->sampling.repetition_penalty, 1.1f);
  EXPECT_EQ(r->stop, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(r->seed_given);
  EXPECT_EQ(r->sampling.seed, 7u);
  EXPECT_TRUE(r->details);
  EXPECT_TRUE(r->return_full_text);
  EXPECT_EQ(r->truncate, 12);
}

TEST(TgiApiTest, GreedyUnlessDoSampleOrAWarper) {
  absl::StatusOr<TgiRequest> plain = ParseTgiRequest(R"({"inputs": "x"})");
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE(plain->sampling.do_sample);
  EXPECT_FALSE(plain->max_new_tokens.has_value());
  EXPECT_FALSE(plain->details);
  // A warper other than its neutral value turns sampling on (TGI's NextTokenChooser).
  for (const char* body : {R"({"inputs": "x", "parameters": {"top_k": 3}})",
                           R"({"inputs": "x", "parameters": {"temperature": 0.5}})",
                           R"({"inputs": "x", "parameters": {"top_p": 0.5}})"}) {
    absl::StatusOr<TgiRequest> r = ParseTgiRequest(body);
    ASSERT_TRUE(r.ok()) << body;
    EXPECT_TRUE(r->sampling.do_sample) << body;
  }
  absl::StatusOr<TgiRequest> neutral =
      ParseTgiRequest(R"({"inputs": "x", "parameters": {"temperature": 1.0, "seed": null}})");
  ASSERT_TRUE(neutral.ok());
  EXPECT_FALSE(neutral->sampling.do_sample);
}

TEST(TgiApiTest, ErrorsNameTheParameter) {
  struct BadCase {
    const char* body;
    int http_status;
    const char* field;
  };
  const BadCase cases[] = {
      {"", 400, "body"},
      {R"("text")", 400, "body"},
      {R"({"parameters": {}})", 422, "inputs"},
      {R"({"inputs": 3})", 400, "inputs"},
      {R"({"inputs": ""})", 422, "inputs"},
      {R"({"inputs": "x", "parameters": 3})", 400, "parameters"},
      {R"({"inputs": "x", "parameters": {"max_new_tokens": 0}})", 422, "parameters.max_new_tokens"},
      {R"({"inputs": "x", "parameters": {"max_new_tokens": "4"}})", 400,
       "parameters.max_new_tokens"},
      {R"({"inputs": "x", "parameters": {"temperature": 0}})", 422, "parameters.temperature"},
      {R"({"inputs": "x", "parameters": {"top_k": 0}})", 422, "parameters.top_k"},
      {R"({"inputs": "x", "parameters": {"top_p": 1.0}})", 422, "parameters.top_p"},
      {R"({"inputs": "x", "parameters": {"typical_p": 0}})", 422, "parameters.typical_p"},
      {R"({"inputs": "x", "parameters": {"repetition_penalty": -1}})", 422,
       "parameters.repetition_penalty"},
      {R"({"inputs": "x", "parameters": {"do_sample": "no"}})", 400, "parameters.do_sample"},
      {R"({"inputs": "x", "parameters": {"stop": "a"}})", 400, "parameters.stop"},
      {R"({"inputs": "x", "parameters": {"stop": ["a", "b", "c", "d", "e"]}})", 422,
       "parameters.stop"},
      {R"({"inputs": "x", "parameters": {"seed": -3}})", 422, "parameters.seed"},
      {R"({"inputs": "x", "parameters": {"truncate": 0}})", 422, "parameters.truncate"},
      {R"({"inputs": "x", "parameters": {"details": 1}})", 400, "parameters.details"},
      {R"({"inputs": "x", "parameters": {"best_of": 2}})", 422, "parameters.best_of"},
  };
  for (const BadCase& c : cases) {
    absl::StatusOr<TgiRequest> r = ParseTgiRequest(c.body);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(HttpStatusOf(r.status()), c.http_status) << c.body << ": " << r.status();
    EXPECT_EQ(ErrorField(r.status()).value_or(""), c.field) << c.body;
    const std::string message(r.status().message());
    EXPECT_EQ(message.rfind(std::string(c.field) + ":", 0), 0u) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
}

TEST(TgiApiTest, GenerateBodyWithAndWithoutDetails) {
  const std::vector<TgiToken> tokens = {{5, " a", false}, {2, "", true}};
  TgiDetails details{FinishReason::kEos, 2, std::nullopt};
  EXPECT_EQ(json::parse(TgiGenerateBody(" a", details, nullptr)),
            json::parse(R"({"generated_text": " a"})"));
  EXPECT_EQ(json::parse(TgiGenerateBody(" a", details, &tokens)), json::parse(R"({
    "generated_text": " a", "details": {"finish_reason": "eos_token", "generated_tokens": 2,
    "seed": null, "prefill": [], "tokens": [
      {"id": 5, "text": " a", "logprob": null, "special": false},
      {"id": 2, "text": "", "logprob": null, "special": true}]}})"));
}

TEST(TgiApiTest, StreamEventsCarryTextAndDetailsOnTheLastOnly) {
  const std::string mid = TgiStreamEvent(1, {7, "x", false}, nullptr, nullptr);
  ASSERT_EQ(mid.rfind("data:", 0), 0u);
  ASSERT_EQ(mid.substr(mid.size() - 2), "\n\n");
  EXPECT_EQ(json::parse(mid.substr(5)), json::parse(R"({"index": 1,
    "token": {"id": 7, "text": "x", "logprob": null, "special": false}, "top_tokens": null,
    "generated_text": null, "details": null})"));
  const TgiDetails end{FinishReason::kStop, 2, 99};
  const std::string text = "xy";
  const json last = json::parse(TgiStreamEvent(2, {8, "y", false}, &text, &end).substr(5));
  EXPECT_EQ(last["generated_text"], "xy");
  EXPECT_EQ(last["details"], json::parse(R"({"finish_reason": "stop_sequence",
    "generated_tokens": 2, "seed": 99})"));
  EXPECT_EQ(TgiFinishReason(FinishReason::kLength), std::string("length"));
}

TEST(TgiApiTest, ErrorBody) {
  EXPECT_EQ(json::parse(TgiErrorBody(absl::ResourceExhaustedError("queue full"), "overloaded")),
            json::parse(R"({"error": "queue full", "error_type": "overloaded"})"));
}

}  // namespace
}  // namespace bloom::serve
