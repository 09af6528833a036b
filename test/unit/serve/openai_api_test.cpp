// The OpenAI completions dialect: hand-written request bodies against the
// fields they must give, each error's HTTP status and the field it names,
// and the response bodies against OpenAI's documented shapes.
#include "runtime/serve/openai_api.h"

#include <gtest/gtest.h>

#include "nlohmann/json.hpp"
#include "runtime/serve/api_fields.h"

namespace bloom::serve {
namespace {

using nlohmann::json;

TEST(OpenAiApiTest, ReadsEveryField) {
  absl::StatusOr<CompletionRequest> r = ParseCompletionRequest(R"({
    "model": "bloom", "prompt": "Hello", "max_tokens": 7, "temperature": 0.5, "top_p": 0.9,
    "n": 1, "stop": ["\n", "END"], "seed": 42, "stream": true,
    "stream_options": {"include_usage": true}, "echo": true, "top_k": 5,
    "repetition_penalty": 1.2, "typical_p": 0.8, "user": "ignored"})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->model, "bloom");
  EXPECT_TRUE(r->text_prompt);
  EXPECT_EQ(r->prompt_text, "Hello");
  EXPECT_EQ(r->max_tokens, 7);
  EXPECT_TRUE(r->sampling.do_sample);
  EXPECT_FLOAT_EQ(r->sampling.temperature, 0.5f);
  EXPECT_FLOAT_EQ(r->sampling.top_p, 0.9f);
  EXPECT_EQ(r->sampling.top_k, 5);
  EXPECT_FLOAT_EQ(r->sampling.repetition_penalty, 1.2f);
  EXPECT_FLOAT_EQ(r->sampling.typical_p, 0.8f);
  EXPECT_TRUE(r->seed_given);
  EXPECT_EQ(r->sampling.seed, 42u);
  EXPECT_EQ(r->stop, (std::vector<std::string>{"\n", "END"}));
  EXPECT_TRUE(r->stream);
  EXPECT_TRUE(r->include_usage);
  EXPECT_TRUE(r->echo);
}

TEST(OpenAiApiTest, DefaultsAreOpenAis) {
  absl::StatusOr<CompletionRequest> r = ParseCompletionRequest(R"({"prompt": [1, 2, 3]})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->text_prompt);
  EXPECT_EQ(r->prompt_tokens, (std::vector<int32_t>{1, 2, 3}));
  EXPECT_EQ(r->max_tokens, 16);
  // temperature defaults to 1: sampling, with a seed the server draws.
  EXPECT_TRUE(r->sampling.do_sample);
  EXPECT_FLOAT_EQ(r->sampling.temperature, 1.0f);
  EXPECT_FALSE(r->seed_given);
  EXPECT_FALSE(r->stream);
  EXPECT_FALSE(r->echo);
  EXPECT_TRUE(r->stop.empty());
}

TEST(OpenAiApiTest, TemperatureZeroIsGreedyAndStopMayBeAString) {
  absl::StatusOr<CompletionRequest> r = ParseCompletionRequest(
      R"({"prompt": "x", "temperature": 0, "stop": "END", "top_k": -1, "max_tokens": null})");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(r->sampling.do_sample);
  EXPECT_EQ(r->sampling.top_k, 0);
  EXPECT_EQ(r->max_tokens, 16);
  EXPECT_EQ(r->stop, std::vector<std::string>{"END"});
}

struct BadCase {
  const char* body;
  int http_status;
  const char* field;
};

TEST(OpenAiApiTest, ErrorsNameTheFieldOnOneLine) {
  const BadCase cases[] = {
      {"{not json", 400, "body"},
      {"[1, 2]", 400, "body"},
      {R"({"max_tokens": 3})", 422, "prompt"},
      {R"({"prompt": 7})", 400, "prompt"},
      {R"({"prompt": ""})", 422, "prompt"},
      {R"({"prompt": []})", 422, "prompt"},
      {R"({"prompt": [1, -2]})", 422, "prompt"},
      {R"({"prompt": [1, "a"]})", 400, "prompt"},
      {R"({"prompt": ["a", "b"]})", 422, "prompt"},
      {R"({"prompt": "x", "max_tokens": "5"})", 400, "max_tokens"},
      {R"({"prompt": "x", "max_tokens": 0})", 422, "max_tokens"},
      {R"({"prompt": "x", "max_tokens": 1.5})", 400, "max_tokens"},
      {R"({"prompt": "x", "temperature": -1})", 422, "temperature"},
      {R"({"prompt": "x", "temperature": "hot"})", 400, "temperature"},
      {R"({"prompt": "x", "top_p": 0})", 422, "top_p"},
      {R"({"prompt": "x", "top_p": 1.5})", 422, "top_p"},
      {R"({"prompt": "x", "typical_p": 2})", 422, "typical_p"},
      {R"({"prompt": "x", "repetition_penalty": 0})", 422, "repetition_penalty"},
      {R"({"prompt": "x", "top_k": -2})", 422, "top_k"},
      {R"({"prompt": "x", "n": 2})", 422, "n"},
      {R"({"prompt": "x", "n": "2"})", 400, "n"},
      {R"({"prompt": "x", "best_of": 3})", 422, "best_of"},
      {R"({"prompt": "x", "logprobs": 2})", 422, "logprobs"},
      {R"({"prompt": "x", "stop": 5})", 400, "stop"},
      {R"({"prompt": "x", "stop": [""]})", 422, "stop"},
      {R"({"prompt": "x", "seed": -1})", 422, "seed"},
      {R"({"prompt": "x", "stream": "yes"})", 400, "stream"},
      {R"({"prompt": "x", "echo": 1})", 400, "echo"},
      {R"({"prompt": "x", "stream_options": {"include_usage": true}})", 422, "stream_options"},
      {R"({"prompt": "x", "stream": true, "stream_options": 3})", 400, "stream_options"},
      {R"({"prompt": "x", "stream": true, "stream_options": {"include_usage": "y"}})", 400,
       "stream_options.include_usage"},
      {R"({"prompt": "x", "model": 3})", 400, "model"},
  };
  for (const BadCase& c : cases) {
    absl::StatusOr<CompletionRequest> r = ParseCompletionRequest(c.body);
    ASSERT_FALSE(r.ok()) << c.body;
    EXPECT_EQ(HttpStatusOf(r.status()), c.http_status) << c.body << ": " << r.status();
    EXPECT_EQ(ErrorField(r.status()).value_or(""), c.field) << c.body;
    const std::string message(r.status().message());
    EXPECT_EQ(message.rfind(std::string(c.field) + ":", 0), 0u) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  }
}

TEST(OpenAiApiTest, ResponseHasOpenAisFields) {
  const json body = json::parse(
      CompletionBody("cmpl-1", 1700000000, "bloom", "Hi there", FinishReason::kEos, {5, 2}));
  const json expected = json::parse(R"({
    "id": "cmpl-1", "object": "text_completion", "created": 1700000000, "model": "bloom",
    "choices": [{"index": 0, "text": "Hi there", "logprobs": null, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}})");
  EXPECT_EQ(body, expected);
}

TEST(OpenAiApiTest, StreamEventsAreSseDataLines) {
  const std::string mid = CompletionChunkEvent("c", 1, "m", "a", nullptr, false);
  ASSERT_EQ(mid.rfind("data: ", 0), 0u);
  ASSERT_EQ(mid.substr(mid.size() - 2), "\n\n");
  EXPECT_EQ(json::parse(mid.substr(6)), json::parse(R"({"id": "c", "object": "text_completion",
    "created": 1, "model": "m",
    "choices": [{"index": 0, "text": "a", "logprobs": null, "finish_reason": null}]})"));
  const FinishReason length = FinishReason::kLength;
  const std::string last = CompletionChunkEvent("c", 1, "m", "", &length, true);
  const json last_json = json::parse(last.substr(6));
  EXPECT_EQ(last_json["choices"][0]["finish_reason"], "length");
  EXPECT_TRUE(last_json.contains("usage") && last_json["usage"].is_null());
  const std::string usage = CompletionUsageEvent("c", 1, "m", {3, 4});
  EXPECT_EQ(json::parse(usage.substr(6)), json::parse(R"({"id": "c", "object": "text_completion",
    "created": 1, "model": "m", "choices": [],
    "usage": {"prompt_tokens": 3, "completion_tokens": 4, "total_tokens": 7}})"));
  EXPECT_EQ(CompletionDoneEvent(), "data: [DONE]\n\n");
}

TEST(OpenAiApiTest, ModelsAndErrorBodies) {
  EXPECT_EQ(json::parse(ModelsBody("bloom", 9)),
            json::parse(R"({"object": "list", "data": [{"id": "bloom", "object": "model",
              "created": 9, "owned_by": "bloom"}]})"));
  absl::StatusOr<CompletionRequest> r = ParseCompletionRequest(R"({"prompt": "x", "n": 3})");
  ASSERT_FALSE(r.ok());
  const json error = json::parse(OpenAiErrorBody(r.status(), "invalid_request_error"));
  EXPECT_EQ(error["error"]["param"], "n");
  EXPECT_EQ(error["error"]["type"], "invalid_request_error");
  EXPECT_EQ(error["error"]["message"], std::string(r.status().message()));
  EXPECT_TRUE(error["error"]["code"].is_null());
}

}  // namespace
}  // namespace bloom::serve
