#include "kernels/cpu/linear.h"

#include <algorithm>

namespace bloom::cpu {
namespace {

// Both operands are contiguous along in_features, so every output is a dot
// product of two contiguous rows. The work is cut into
//   - column panels of kPanelCols outputs, one per thread (no two threads
//     write the same element of y),
//   - slices of kDepth along in_features, so the panel's slice of the weight
//     (kPanelCols x kDepth floats, 64 KiB) stays in L2 while every row of x
//     passes over it,
//   - register tiles of kTileRows x kTileCols outputs, each accumulated in
//     kLanes independent partial sums so the compiler can vectorise the
//     inner loop without reassociating a floating-point reduction.
constexpr int64_t kPanelCols = 64;
constexpr int64_t kDepth = 256;
constexpr int kTileRows = 4;
constexpr int kTileCols = 4;
constexpr int kLanes = 4;

// y[r, c] += sum_{k < depth} x[r, k] * w[c, k] for an R x C tile; x, w and y
// point at the tile's first row / column / element.
template <int R, int C>
void AccumulateTile(const float* x, int64_t ldx, const float* w, int64_t ldw,
                    int64_t depth, float* y, int64_t ldy) {
  float acc[R][C][kLanes] = {};
  int64_t k = 0;
  for (; k + kLanes <= depth; k += kLanes) {
    for (int r = 0; r < R; ++r) {
      for (int c = 0; c < C; ++c) {
        for (int l = 0; l < kLanes; ++l) {
          acc[r][c][l] += x[r * ldx + k + l] * w[c * ldw + k + l];
        }
      }
    }
  }
  for (int r = 0; r < R; ++r) {
    for (int c = 0; c < C; ++c) {
      float sum = 0.0f;
      for (int l = 0; l < kLanes; ++l) sum += acc[r][c][l];
      for (int64_t kk = k; kk < depth; ++kk) sum += x[r * ldx + kk] * w[c * ldw + kk];
      y[r * ldy + c] += sum;
    }
  }
}

// Picks the instantiation for a ragged edge tile (rows, cols <= 4).
template <int R>
void AccumulateTileRows(int cols, const float* x, int64_t ldx, const float* w,
                        int64_t ldw, int64_t depth, float* y, int64_t ldy) {
  switch (cols) {
    case 1: AccumulateTile<R, 1>(x, ldx, w, ldw, depth, y, ldy); break;
    case 2: AccumulateTile<R, 2>(x, ldx, w, ldw, depth, y, ldy); break;
    case 3: AccumulateTile<R, 3>(x, ldx, w, ldw, depth, y, ldy); break;
    default: AccumulateTile<R, 4>(x, ldx, w, ldw, depth, y, ldy); break;
  }
}

void AccumulateAnyTile(int rows, int cols, const float* x, int64_t ldx,
                       const float* w, int64_t ldw, int64_t depth, float* y,
                       int64_t ldy) {
  switch (rows) {
    case 1: AccumulateTileRows<1>(cols, x, ldx, w, ldw, depth, y, ldy); break;
    case 2: AccumulateTileRows<2>(cols, x, ldx, w, ldw, depth, y, ldy); break;
    case 3: AccumulateTileRows<3>(cols, x, ldx, w, ldw, depth, y, ldy); break;
    default: AccumulateTileRows<4>(cols, x, ldx, w, ldw, depth, y, ldy); break;
  }
}

static_assert(kTileRows == 4 && kTileCols == 4,
              "AccumulateAnyTile dispatches tiles of up to 4 x 4");

}  // namespace

void Linear(const float* x, const float* weight, const float* bias,
            int64_t rows, int64_t in_features, int64_t out_features,
            float* y) {
  const int64_t num_panels = (out_features + kPanelCols - 1) / kPanelCols;
#pragma omp parallel for schedule(dynamic) if (rows * in_features * out_features > (1 << 18))
  for (int64_t panel = 0; panel < num_panels; ++panel) {
    const int64_t col_begin = panel * kPanelCols;
    const int64_t col_end = std::min(out_features, col_begin + kPanelCols);
    // Start from the bias (or zero); the depth slices then add into y.
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = col_begin; c < col_end; ++c) {
        y[r * out_features + c] = bias != nullptr ? bias[c] : 0.0f;
      }
    }
    for (int64_t k0 = 0; k0 < in_features; k0 += kDepth) {
      const int64_t depth = std::min(kDepth, in_features - k0);
      for (int64_t r = 0; r < rows; r += kTileRows) {
        const int tile_rows = static_cast<int>(std::min<int64_t>(kTileRows, rows - r));
        for (int64_t c = col_begin; c < col_end; c += kTileCols) {
          const int tile_cols = static_cast<int>(std::min<int64_t>(kTileCols, col_end - c));
          AccumulateAnyTile(tile_rows, tile_cols, x + r * in_features + k0,
                            in_features, weight + c * in_features + k0,
                            in_features, depth, y + r * out_features + c,
                            out_features);
        }
      }
    }
  }
}

}  // namespace bloom::cpu
