// The tensors of a BLOOM checkpoint at a config's shapes, with the random
// distribution each one is drawn from. Names and order follow what
// transformers' save_pretrained writes for BloomForCausalLM ("transformer."
// prefix, lm_head tied and not stored unless the config unties it), so
// transformers and bloom-compile both load the result unchanged.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/bloom/config.h"
#include "runtime/checkpoint/synthetic_values.h"

namespace bloom::tools {

using bloom::ValueDistribution;

struct SyntheticTensorSpec {
  std::string name;  // as stored in the checkpoint
  std::vector<int64_t> shape;
  ValueDistribution distribution;

  int64_t NumElements() const;
};

// Scales of a randomly initialised model that stays numerically tame for
// dozens of layers: projections N(0, 0.02) as transformers' initializer_range,
// layer-norm gains N(1, 0.02), layer-norm shifts and biases N(0, 0.01).
struct SyntheticScales {
  float weight_stddev = 0.02f;
  float norm_gain_stddev = 0.02f;
  float bias_stddev = 0.01f;
};

// Every tensor of the model, in save_pretrained's order: word embeddings and
// their layer norm, the blocks h.0 … h.{L-1}, ln_f, then lm_head.weight
// when `tied_lm_head` is false.
std::vector<SyntheticTensorSpec> BloomTensorSpecs(const model::BloomConfig& config,
                                                  bool tied_lm_head,
                                                  const SyntheticScales& scales = {});

}  // namespace bloom::tools
