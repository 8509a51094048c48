#include "mooncake/error_code.h"

namespace mooncake {

namespace {

struct NamedCode {
    ErrorCode code;
    std::string_view name;
};

#define MC_CODE(name) \
    { ErrorCode::name, #name }
constexpr NamedCode kNamedCodes[] = {
    MC_CODE(OK),
    MC_CODE(INTERNAL_ERROR),
    MC_CODE(BUFFER_OVERFLOW),
    MC_CODE(SHARD_INDEX_OUT_OF_RANGE),
    MC_CODE(SEGMENT_NOT_FOUND),
    MC_CODE(SEGMENT_ALREADY_EXISTS),
    MC_CODE(NO_AVAILABLE_HANDLE),
    MC_CODE(INVALID_VERSION),
    MC_CODE(INVALID_KEY),
    MC_CODE(WRITE_FAIL),
    MC_CODE(INVALID_PARAMS),
    MC_CODE(INVALID_WRITE),
    MC_CODE(INVALID_READ),
    MC_CODE(INVALID_REPLICA),
    MC_CODE(REPLICA_IS_NOT_READY),
    MC_CODE(OBJECT_NOT_FOUND),
    MC_CODE(OBJECT_ALREADY_EXISTS),
    MC_CODE(OBJECT_HAS_LEASE),
    MC_CODE(LEASE_EXPIRED),
    MC_CODE(TRANSFER_FAIL),
    MC_CODE(RPC_FAIL),
    MC_CODE(ETCD_OPERATION_ERROR),
    MC_CODE(ETCD_KEY_NOT_EXIST),
    MC_CODE(ETCD_TRANSACTION_FAIL),
    MC_CODE(ETCD_CTX_CANCELLED),
    MC_CODE(UNAVAILABLE_IN_CURRENT_STATUS),
    MC_CODE(UNAVAILABLE_IN_CURRENT_MODE),
    MC_CODE(FILE_NOT_FOUND),
    MC_CODE(FILE_OPEN_FAIL),
    MC_CODE(FILE_READ_FAIL),
    MC_CODE(FILE_WRITE_FAIL),
    MC_CODE(FILE_INVALID_BUFFER),
    MC_CODE(FILE_LOCK_FAIL),
    MC_CODE(FILE_INVALID_HANDLE),
    MC_CODE(KEYS_ULTRA_LIMIT),
    MC_CODE(UNABLE_OFFLOAD),
    MC_CODE(UNABLE_OFFLOADING),
};
#undef MC_CODE

}  // namespace

std::string_view ErrorCodeName(ErrorCode code) {
    for (const NamedCode& entry : kNamedCodes) {
        if (entry.code == code) return entry.name;
    }
    return "UNKNOWN_ERROR";
}

ErrorCode ErrorCodeFromInt(int32_t value) {
    for (const NamedCode& entry : kNamedCodes) {
        if (ToInt(entry.code) == value) return entry.code;
    }
    return ErrorCode::INTERNAL_ERROR;
}

}  // namespace mooncake
