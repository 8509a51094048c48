// Error codes shared by the master, the client library and the Python API.
// The numbers are part of the public contract (docs/compat): Python callers
// receive them as negative ints, dashboards and scripts match on them.
#pragma once

#include <cstdint>
#include <string_view>

namespace mooncake {

// Every code once: X(NAME, value), the reference's numbers and names
// (codes of features this build lacks included, so that no number is reused). The enum, ErrorCodeName, the wire
// mapping and Python's ErrorCode enum all derive from this list.
#define MOONCAKE_ERROR_CODES(X)                                                   \
    X(OK, 0)                                                                      \
    X(INTERNAL_ERROR, -1)                                                         \
    X(BUFFER_OVERFLOW, -10)                                                       \
    X(SHARD_INDEX_OUT_OF_RANGE, -100)                                             \
    X(SEGMENT_NOT_FOUND, -101)                                                    \
    X(SEGMENT_ALREADY_EXISTS, -102)                                               \
    X(CLIENT_NOT_FOUND, -103)                                                     \
    X(NO_AVAILABLE_HANDLE, -200)                                                  \
    X(INVALID_VERSION, -300)                                                      \
    X(INVALID_KEY, -400)                                                          \
    X(WRITE_FAIL, -500)                                                           \
    X(INVALID_PARAMS, -600)                                                       \
    X(ILLEGAL_CLIENT, -601)                                                       \
    X(INVALID_WRITE, -700)                                                        \
    X(INVALID_READ, -701)                                                         \
    X(INVALID_REPLICA, -702)                                                      \
    X(REPLICA_IS_NOT_READY, -703)                                                 \
    X(OBJECT_NOT_FOUND, -704)                                                     \
    X(OBJECT_ALREADY_EXISTS, -705)                                                \
    X(OBJECT_HAS_LEASE, -706)                                                     \
    X(LEASE_EXPIRED, -707)                                                        \
    /* a copy or move task holds the key */                                       \
    X(OBJECT_HAS_REPLICATION_TASK, -708)                                          \
    X(OBJECT_NO_REPLICATION_TASK, -709)                                           \
    X(REPLICA_NOT_FOUND, -710)                                                    \
    X(REPLICA_ALREADY_EXISTS, -711)                                               \
    X(REPLICA_IS_GONE, -712)                                                      \
    X(REPLICA_NOT_IN_LOCAL_MEMORY, -713)                                          \
    /* a replica is being read (upsert refused) */                            \
    X(OBJECT_REPLICA_BUSY, -714)                                              \
    X(TRANSFER_FAIL, -800)                                                        \
    X(CHECKSUM_MISMATCH, -801)                                                \
    X(RPC_FAIL, -900)                                                             \
    X(RPC_TIMEOUT, -901)                                                      \
    X(ETCD_OPERATION_ERROR, -1000)                                                \
    X(ETCD_KEY_NOT_EXIST, -1001)                                                  \
    X(ETCD_TRANSACTION_FAIL, -1002)                                               \
    X(ETCD_CTX_CANCELLED, -1003)                                                  \
    X(OPLOG_ENTRY_NOT_FOUND, -1004)                                           \
    X(K8S_LEASE_OPERATION_ERROR, -1005)                                       \
    X(K8S_LEASE_NOT_FOUND, -1006)                                             \
    X(INCOMPLETE_OPLOG_CATCH_UP, -1007)                                       \
    X(UNAVAILABLE_IN_CURRENT_STATUS, -1010)                                       \
    X(UNAVAILABLE_IN_CURRENT_MODE, -1011)                                         \
    X(NOT_SUPPORTED, -1012)                                                   \
    X(FILE_NOT_FOUND, -1100)                                                      \
    X(FILE_OPEN_FAIL, -1101)                                                      \
    X(FILE_READ_FAIL, -1102)                                                      \
    X(FILE_WRITE_FAIL, -1103)                                                     \
    X(FILE_INVALID_BUFFER, -1104)                                                 \
    X(FILE_LOCK_FAIL, -1105)                                                      \
    X(FILE_INVALID_HANDLE, -1106)                                                 \
    X(BUCKET_NOT_FOUND, -1200)                                                    \
    X(BUCKET_ALREADY_EXISTS, -1201)                                               \
    X(KEYS_EXCEED_BUCKET_LIMIT, -1202)                                            \
    /* SSD offload (docs/ssd_offload.md): queue or disk key/size limit reached */ \
    X(KEYS_ULTRA_LIMIT, -1203)                                                    \
    /* the master runs without --enable_offload */                                \
    X(UNABLE_OFFLOAD, -1300)                                                      \
    /* the owner has no local-disk segment */                                     \
    X(UNABLE_OFFLOADING, -1301)                                                   \
    X(TASK_NOT_FOUND, -1400)                                                      \
    X(TASK_PENDING_LIMIT_EXCEEDED, -1401)                                     \
    X(JOB_NOT_FOUND, -1402)                                                   \
    X(SERIALIZE_UNSUPPORTED, -1500)                                           \
    X(SERIALIZE_FAIL, -1501)                                                  \
    X(DESERIALIZE_FAIL, -1502)                                                \
    X(PERSISTENT_FAIL, -1503)                                                 \
    X(DFS_NETWORK_TIMEOUT, -1600)                                             \
    X(DFS_SERVICE_UNAVAILABLE, -1601)                                         \
    X(DFS_QUOTA_EXCEEDED, -1602)                                              \
    X(DFS_PERMISSION_DENIED, -1603)                                           \
    X(DFS_STALE_HANDLE, -1604)                                                \
    X(DFS_PARTIAL_WRITE, -1605)                                               \
    X(TENANT_QUOTA_EXCEEDED, -1700)                                           \
    X(TENANT_NOT_REGISTERED, -1701)                                           \
    X(TENANT_NOT_EMPTY, -1702)

enum class ErrorCode : int32_t {
#define MOONCAKE_ERROR_ENUMERATOR(name, value) name = value,
    MOONCAKE_ERROR_CODES(MOONCAKE_ERROR_ENUMERATOR)
#undef MOONCAKE_ERROR_ENUMERATOR
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
