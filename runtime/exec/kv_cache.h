// The paged KV cache (DESIGN.md, decision 2): fixed-size blocks of positions
// drawn from one pool with a free list, and a block table per sequence slot
// mapping its logical blocks to physical ones, in the spirit of vLLM's and
// TensorRT-LLM's paged caches. A sequence grows one block at a time, so
// memory is committed to the tokens that exist, not to max_seq_len.
//
// Invariants:
//   - every physical block is either on the free list or in exactly one
//     active slot's block table, never both;
//   - slot s has exactly ceil(ReservedPositions(s) / block_size) blocks,
//     in table entries [0, that count); all other entries are -1;
//   - an inactive slot reserves nothing.
// Layer(l) hands the attention kernel a view with the same block tables for
// every layer; each layer has its own K and V pools.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kernels/cpu/paged_kv.h"

namespace bloom {

struct KvCacheShape {
  int32_t num_layers = 0;
  int32_t num_heads = 0;
  int32_t head_dim = 0;
  int32_t block_size = 0;     // positions per block
  int32_t num_blocks = 0;     // blocks in the pool (shared by all slots)
  int32_t max_sequences = 0;  // sequence slots
  int32_t max_seq_len = 0;    // positions one sequence may reserve at most
};

// Where the K and V pools live: in host memory owned by the KvCache (the
// CPU backend), or elsewhere (a GPU backend allocates them on the device and
// uses this object for slot and block bookkeeping only).
enum class KvPools { kHost, kExternal };

class KvCache {
 public:
  // Validates that every dimension is positive and that the pools' sizes fit
  // in memory arithmetic, then allocates zeroed K and V pools per layer.
  // With KvPools::kExternal no pools are allocated and Layer() returns null
  // pool pointers.
  static absl::StatusOr<KvCache> Create(const KvCacheShape& shape,
                                        KvPools pools = KvPools::kHost);

  KvCache(KvCache&&) = default;
  KvCache& operator=(KvCache&&) = default;
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  // Claims the lowest free sequence slot; ResourceExhausted if all are taken.
  absl::StatusOr<int32_t> AddSequence();

  // Makes positions [0, num_positions) of `slot` backed by blocks, taking
  // blocks from the pool as needed (never shrinks). All or nothing: on error
  // nothing changes. InvalidArgument for a slot that is not active or a
  // negative count, OutOfRange past max_seq_len, ResourceExhausted if the
  // pool has too few free blocks.
  absl::Status Reserve(int32_t slot, int32_t num_positions);

  // Returns the slot's blocks to the free list and frees the slot. A slot
  // that is out of range or not active is left alone.
  void RemoveSequence(int32_t slot);

  bool IsActive(int32_t slot) const;
  // 0 for a slot that is out of range or not active.
  int32_t ReservedPositions(int32_t slot) const;
  int32_t FreeBlocks() const { return static_cast<int32_t>(free_blocks_.size()); }
  int32_t max_blocks_per_sequence() const { return max_blocks_per_sequence_; }

  // View of one layer for the attention kernels. Precondition:
  // 0 <= layer < num_layers (otherwise the view's pointers are null).
  cpu::PagedKvLayer Layer(int32_t layer);

  const KvCacheShape& shape() const { return shape_; }
  // [max_sequences, max_blocks_per_sequence] block ids, -1 where unassigned:
  // what a device backend copies to the device before a step.
  const int32_t* block_tables() const { return block_tables_.data(); }

 private:
  struct FreeDeleter {
    void operator()(float* p) const { std::free(p); }
  };
  using Pool = std::unique_ptr<float, FreeDeleter>;

  KvCache() = default;
  bool ValidSlot(int32_t slot) const { return slot >= 0 && slot < shape_.max_sequences; }
  int32_t BlocksHeld(int32_t slot) const;

  KvCacheShape shape_;
  int32_t max_blocks_per_sequence_ = 0;
  std::vector<Pool> keys_;    // one pool per layer
  std::vector<Pool> values_;  // one pool per layer
  std::vector<int32_t> block_tables_;  // [max_sequences, max_blocks_per_sequence]
  std::vector<int32_t> free_blocks_;   // stack; back() is handed out next
  std::vector<bool> active_;
  std::vector<int32_t> reserved_positions_;
};

}  // namespace bloom
