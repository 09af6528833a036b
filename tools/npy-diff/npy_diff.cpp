// npy-diff: compares two float32 .npy files, e.g. bloom-run's
// --dump-logits against transformers' golden logits.
//
//   npy-diff A.npy B.npy [--atol=1e-3]
//
// Prints the largest absolute difference and where it is; exits 0 if it is
// within --atol (and the shapes agree), 1 otherwise, 2 on a usage error.
#include <cmath>
#include <cstdio>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/support/npy.h"
#include "tools/common/command_line.h"

int main(int argc, char** argv) {
  bloom::tools::CommandLine cl("npy-diff", "A.npy B.npy [--atol=X]");
  cl.AddFlag("atol", bloom::tools::CommandLine::Kind::kString, "1e-3",
             "Largest absolute difference accepted.");
  if (absl::Status s = cl.Parse(argc, argv); !s.ok() || cl.positional().size() != 2) {
    std::fprintf(stderr, "npy-diff: %s\n",
                 s.ok() ? "expected two .npy files (see --help)" : std::string(s.message()).c_str());
    return cl.help_requested() ? 0 : 2;
  }
  double atol;
  if (!absl::SimpleAtod(cl.GetString("atol"), &atol) || !(atol >= 0)) {
    std::fprintf(stderr, "npy-diff: --atol: not a non-negative number\n");
    return 2;
  }
  auto a = bloom::ReadNpyFloat32(cl.positional()[0]);
  auto b = bloom::ReadNpyFloat32(cl.positional()[1]);
  for (const auto* r : {&a, &b}) {
    if (!r->ok()) {
      std::fprintf(stderr, "npy-diff: %s\n", std::string(r->status().message()).c_str());
      return 1;
    }
  }
  if (a->shape != b->shape) {
    std::printf("shape mismatch: [%s] vs [%s]\n", absl::StrJoin(a->shape, ", ").c_str(),
                absl::StrJoin(b->shape, ", ").c_str());
    return 1;
  }
  double worst = 0;
  size_t worst_at = 0;
  bool non_finite = false;
  for (size_t i = 0; i < a->data.size(); ++i) {
    const double d = std::fabs(double{a->data[i]} - double{b->data[i]});
    if (!std::isfinite(d)) non_finite = true;
    if (d > worst || !std::isfinite(d)) {
      worst = d;
      worst_at = i;
    }
  }
  const int64_t cols = a->shape.empty() ? 1 : a->shape.back();
  std::printf("max |a-b| = %.3g at flat index %zu (row %lld, col %lld) over %zu values; atol %.3g\n",
              worst, worst_at, static_cast<long long>(worst_at / cols),
              static_cast<long long>(worst_at % cols), a->data.size(), atol);
  return (!non_finite && worst <= atol) ? 0 : 1;
}
