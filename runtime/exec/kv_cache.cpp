#include "runtime/exec/kv_cache.h"

#include <limits>
#include <new>
#include <utility>

#include "absl/strings/str_cat.h"

namespace bloom {
namespace {

// a * b into *out, false on int64 overflow (both operands non-negative).
bool MultiplyChecked(int64_t a, int64_t b, int64_t* out) {
  return !__builtin_mul_overflow(a, b, out);
}

// ceil(a / b) for a >= 0, b > 0, without overflowing near INT32_MAX.
int32_t CeilDiv(int32_t a, int32_t b) {
  return static_cast<int32_t>((static_cast<int64_t>(a) + b - 1) / b);
}

}  // namespace

absl::StatusOr<KvCache> KvCache::Create(const KvCacheShape& shape, KvPools pools) {
  const std::pair<const char*, int32_t> dims[] = {
      {"num_layers", shape.num_layers},       {"num_heads", shape.num_heads},
      {"head_dim", shape.head_dim},           {"block_size", shape.block_size},
      {"num_blocks", shape.num_blocks},       {"max_sequences", shape.max_sequences},
      {"max_seq_len", shape.max_seq_len}};
  for (const auto& [name, value] : dims) {
    if (value <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("kv cache: ", name, " must be positive, got ", value));
    }
  }

  // Floats per layer and pool, and the bytes of all pools together, must be
  // representable; the pools are then allocated with calloc, which fails
  // softly (and on large sizes gets lazily zeroed pages from the OS).
  int64_t floats_per_pool = shape.num_blocks;
  int64_t total_bytes = 0;
  if (!MultiplyChecked(floats_per_pool, shape.num_heads, &floats_per_pool) ||
      !MultiplyChecked(floats_per_pool, shape.block_size, &floats_per_pool) ||
      !MultiplyChecked(floats_per_pool, shape.head_dim, &floats_per_pool) ||
      !MultiplyChecked(floats_per_pool, 2 * static_cast<int64_t>(sizeof(float)) *
                                            shape.num_layers,
                       &total_bytes) ||
      static_cast<uint64_t>(total_bytes) > std::numeric_limits<size_t>::max()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kv cache: ", shape.num_layers, " layers x 2 pools x ", shape.num_blocks,
        " blocks x ", shape.num_heads, " heads x ", shape.block_size,
        " positions x ", shape.head_dim, " floats overflows the address space"));
  }

  const int32_t max_blocks_per_sequence = CeilDiv(shape.max_seq_len, shape.block_size);
  const int64_t table_entries =
      static_cast<int64_t>(shape.max_sequences) * max_blocks_per_sequence;
  if (table_entries > std::numeric_limits<int32_t>::max()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kv cache: block tables of ", shape.max_sequences, " sequences x ",
        max_blocks_per_sequence, " blocks are too large"));
  }

  KvCache cache;
  cache.shape_ = shape;
  cache.max_blocks_per_sequence_ = max_blocks_per_sequence;
  for (int32_t layer = 0; pools == KvPools::kHost && layer < shape.num_layers; ++layer) {
    const size_t count = static_cast<size_t>(floats_per_pool);
    Pool keys(static_cast<float*>(std::calloc(count, sizeof(float))));
    Pool values(static_cast<float*>(std::calloc(count, sizeof(float))));
    if (keys == nullptr || values == nullptr) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "kv cache: cannot allocate ", total_bytes, " bytes for K and V of ",
          shape.num_layers, " layers"));
    }
    cache.keys_.push_back(std::move(keys));
    cache.values_.push_back(std::move(values));
  }
  // The metadata is small next to the pools, but a table of up to 2^31
  // entries can still fail to allocate; report that instead of throwing.
  try {
    cache.block_tables_.assign(static_cast<size_t>(table_entries), -1);
    // Pushed in reverse so that blocks are handed out 0, 1, 2, ... at first.
    cache.free_blocks_.reserve(shape.num_blocks);
    for (int32_t block = shape.num_blocks - 1; block >= 0; --block) {
      cache.free_blocks_.push_back(block);
    }
    cache.active_.assign(shape.max_sequences, false);
    cache.reserved_positions_.assign(shape.max_sequences, 0);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "kv cache: cannot allocate block tables for ", shape.max_sequences,
        " sequences and ", shape.num_blocks, " blocks"));
  }
  return cache;
}

absl::StatusOr<int32_t> KvCache::AddSequence() {
  for (int32_t slot = 0; slot < shape_.max_sequences; ++slot) {
    if (!active_[slot]) {
      active_[slot] = true;
      reserved_positions_[slot] = 0;
      return slot;
    }
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "kv cache: all ", shape_.max_sequences, " sequence slots are in use"));
}

int32_t KvCache::BlocksHeld(int32_t slot) const {
  return CeilDiv(reserved_positions_[slot], shape_.block_size);
}

absl::Status KvCache::Reserve(int32_t slot, int32_t num_positions) {
  if (!IsActive(slot)) {
    return absl::InvalidArgumentError(
        absl::StrCat("kv cache: sequence slot ", slot, " is not in use"));
  }
  if (num_positions < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "kv cache: cannot reserve ", num_positions, " positions for slot ", slot));
  }
  if (num_positions > shape_.max_seq_len) {
    return absl::OutOfRangeError(absl::StrCat(
        "kv cache: sequence slot ", slot, " needs ", num_positions,
        " positions, more than max_seq_len ", shape_.max_seq_len));
  }
  if (num_positions <= reserved_positions_[slot]) return absl::OkStatus();

  const int32_t held = BlocksHeld(slot);
  const int32_t needed = CeilDiv(num_positions, shape_.block_size) - held;
  if (needed > FreeBlocks()) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "kv cache: sequence slot ", slot, " needs ", needed, " more blocks for ",
        num_positions, " positions but only ", FreeBlocks(), " of ",
        shape_.num_blocks, " are free"));
  }
  int32_t* table = &block_tables_[static_cast<size_t>(slot) * max_blocks_per_sequence_];
  for (int32_t i = held; i < held + needed; ++i) {
    table[i] = free_blocks_.back();
    free_blocks_.pop_back();
  }
  reserved_positions_[slot] = num_positions;
  return absl::OkStatus();
}

void KvCache::RemoveSequence(int32_t slot) {
  if (!IsActive(slot)) return;
  int32_t* table = &block_tables_[static_cast<size_t>(slot) * max_blocks_per_sequence_];
  // Released last block first, so the stack hands them back in table order.
  for (int32_t i = BlocksHeld(slot) - 1; i >= 0; --i) {
    free_blocks_.push_back(table[i]);
    table[i] = -1;
  }
  reserved_positions_[slot] = 0;
  active_[slot] = false;
}

bool KvCache::IsActive(int32_t slot) const { return ValidSlot(slot) && active_[slot]; }

int32_t KvCache::ReservedPositions(int32_t slot) const {
  return IsActive(slot) ? reserved_positions_[slot] : 0;
}

cpu::PagedKvLayer KvCache::Layer(int32_t layer) {
  bool valid = layer >= 0 && layer < shape_.num_layers;
  cpu::PagedKvLayer view;
  valid = valid && !keys_.empty();
  view.keys = valid ? keys_[layer].get() : nullptr;
  view.values = valid ? values_[layer].get() : nullptr;
  view.num_heads = shape_.num_heads;
  view.head_dim = shape_.head_dim;
  view.block_size = shape_.block_size;
  view.block_tables = block_tables_.data();
  view.max_blocks_per_sequence = max_blocks_per_sequence_;
  return view;
}

}  // namespace bloom
