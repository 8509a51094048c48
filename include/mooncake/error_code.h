// Error codes shared by the master, the client library and the Python API.
// The numbers are part of the public contract (docs/compat): Python callers
// receive them as negative ints, dashboards and scripts match on them.
#pragma once

#include <cstdint>
#include <string_view>

namespace mooncake {

enum class ErrorCode : int32_t {
    OK = 0,
    INTERNAL_ERROR = -1,
    BUFFER_OVERFLOW = -10,

    SHARD_INDEX_OUT_OF_RANGE = -100,
    SEGMENT_NOT_FOUND = -101,
    SEGMENT_ALREADY_EXISTS = -102,

    NO_AVAILABLE_HANDLE = -200,

    INVALID_VERSION = -300,

    INVALID_KEY = -400,

    WRITE_FAIL = -500,

    INVALID_PARAMS = -600,

    INVALID_WRITE = -700,
    INVALID_READ = -701,
    INVALID_REPLICA = -702,
    REPLICA_IS_NOT_READY = -703,
    OBJECT_NOT_FOUND = -704,
    OBJECT_ALREADY_EXISTS = -705,
    OBJECT_HAS_LEASE = -706,
    LEASE_EXPIRED = -707,

    TRANSFER_FAIL = -800,

    RPC_FAIL = -900,

    ETCD_OPERATION_ERROR = -1000,
    ETCD_KEY_NOT_EXIST = -1001,
    ETCD_TRANSACTION_FAIL = -1002,
    ETCD_CTX_CANCELLED = -1003,

    UNAVAILABLE_IN_CURRENT_STATUS = -1010,
    UNAVAILABLE_IN_CURRENT_MODE = -1011,

    FILE_NOT_FOUND = -1100,
    FILE_OPEN_FAIL = -1101,
    FILE_READ_FAIL = -1102,
    FILE_WRITE_FAIL = -1103,
    FILE_INVALID_BUFFER = -1104,
    FILE_LOCK_FAIL = -1105,
    FILE_INVALID_HANDLE = -1106,

    // SSD offload (docs/ssd_offload.md).
    KEYS_ULTRA_LIMIT = -1203,    // offload queue or disk key/size limit reached
    UNABLE_OFFLOAD = -1300,      // the master runs without --enable_offload
    UNABLE_OFFLOADING = -1301,   // the owner has no local-disk segment
};

// "OBJECT_NOT_FOUND" for ErrorCode::OBJECT_NOT_FOUND; "UNKNOWN_ERROR" for a
// number that is not in the table.
std::string_view ErrorCodeName(ErrorCode code);

constexpr int32_t ToInt(ErrorCode code) { return static_cast<int32_t>(code); }

// Maps a number received from the wire back to a code. Numbers that are not
// in the table become INTERNAL_ERROR so that a newer peer never yields an
// enum value this build cannot name.
ErrorCode ErrorCodeFromInt(int32_t value);

}  // namespace mooncake
