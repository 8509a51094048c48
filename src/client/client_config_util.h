// Checks of what callers hand the client: its configuration at Create, keys
// and replication settings on every call. Shared by every Client
// implementation (the in-process RealClient and the DummyClient that talks to
// a standalone client process), so both refuse the same input with the same
// codes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "mooncake/client.h"
#include "mooncake/result.h"
#include "mooncake/types.h"

namespace mooncake {

// INVALID_PARAMS (with a log line naming the field) when `config` cannot be
// used: empty or malformed local_hostname, a metadata_server that is neither
// "P2PHANDSHAKE" nor an http:// URL, a protocol other than "tcp"/"rdma", a
// master address without a port, a segment larger than the machine's
// memory (it is populated up front) or a local buffer above 1 PiB.
Status ValidateClientConfig(const ClientConfig& config);

// INVALID_KEY for an empty key or one longer than kMaxKeyLength.
Status ValidateKey(const std::string& key);

// A batch's keys split by ValidateKey: batch calls send only the valid ones
// and answer the refused ones with their error, at their own positions.
struct ValidKeys {
    std::vector<std::string> keys;                    // the keys ValidateKey accepts, in order
    std::vector<size_t> positions;                    // where each of them stands in the input
    std::vector<std::pair<size_t, Failure>> refused;  // (position, why)
};
ValidKeys SelectValidKeys(const std::vector<std::string>& keys);

// INVALID_PARAMS for replica_num 0, a soft-pin TTL without ENABLE or above
// the cap, or group_ids that do not have one entry per key of the call
// (`key_count` keys).
Status ValidateReplicateConfig(const ReplicateConfig& config, size_t key_count);

// What every call on a closed client returns.
inline constexpr ErrorCode kClientClosed = ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS;

// `count` copies of one error: a batch call refused as a whole.
template <typename T>
std::vector<T> Filled(size_t count, const Failure& failure) {
    return std::vector<T>(count, Error(failure));
}

// The size of a value given in parts, or INVALID_PARAMS for a part with no
// bytes to read (null and not empty) or an empty value.
Result<uint64_t> ValueSize(std::span<const ConstBytes> parts);

// Copies the parts one after the other to `out` (ValueSize bytes).
void CopyParts(std::span<const ConstBytes> parts, uint8_t* out);

// INVALID_PARAMS unless a multi-buffer call's piece list of one key is
// non-empty with one size per buffer.
template <typename Pointer>
Status CheckPieceList(const std::vector<Pointer>& buffers, const std::vector<size_t>& sizes) {
    if (buffers.empty() || buffers.size() != sizes.size()) return Error(ErrorCode::INVALID_PARAMS);
    return OkStatus();
}

// The system page size, read once.
size_t PageSize();

// Physical memory of this machine in bytes (0 when unknown).
uint64_t PhysicalMemoryBytes();

// `size` rounded up to a whole number of pages. Sizes come through
// ValidateClientConfig first, which keeps them far from overflowing.
uint64_t RoundUpToPageSize(uint64_t size);

// Largest segment or local buffer the client accepts (1 PiB): far above any
// real machine, low enough that page rounding can never overflow.
inline constexpr uint64_t kMaxClientMemorySize = 1ull << 50;

}  // namespace mooncake
