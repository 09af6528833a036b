// Error propagation for the runtime side (DESIGN.md, decision 9): every
// fallible function returns absl::Status or absl::StatusOr<T>; nothing in a
// library aborts or exits. A message names what failed and where, e.g.
//   "model.safetensors: tensor 'h.0.mlp.dense_4h_to_h.weight': data range
//    [10, 900) ends past the data section (512 bytes)"
// so that a tool can print it as the one line it shows the user.
#pragma once

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define BLOOM_STATUS_CONCAT_INNER_(a, b) a##b
#define BLOOM_STATUS_CONCAT_(a, b) BLOOM_STATUS_CONCAT_INNER_(a, b)

// Returns from the enclosing function if `expr` (an absl::Status) is not OK.
#define BLOOM_RETURN_IF_ERROR(expr)                  \
  do {                                               \
    ::absl::Status _bloom_status = (expr);           \
    if (!_bloom_status.ok()) return _bloom_status;   \
  } while (0)

// `BLOOM_ASSIGN_OR_RETURN(auto x, MakeX());` declares x from a StatusOr, or
// returns its error from the enclosing function.
#define BLOOM_ASSIGN_OR_RETURN(lhs, expr)                                      \
  BLOOM_ASSIGN_OR_RETURN_IMPL_(BLOOM_STATUS_CONCAT_(_bloom_or_, __LINE__), lhs, \
                               expr)
#define BLOOM_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                 \
  if (!tmp.ok()) return std::move(tmp).status();     \
  lhs = std::move(tmp).value()
