#include "client/client_front_end.h"

#include <glog/logging.h>

#include "client/client_config_util.h"

namespace mooncake {

namespace {

// OK when every parallel vector of a batch call has one entry per key.
Status CheckLengths(size_t keys, size_t buffers, size_t sizes) {
    if (keys == buffers && keys == sizes) return OkStatus();
    return Error(ErrorCode::INVALID_PARAMS, std::to_string(keys) + " keys with " +
                                                std::to_string(buffers) + " buffers and " +
                                                std::to_string(sizes) + " sizes");
}

// OK or the ValidateKey refusal of each key, at its position.
template <typename R>
std::vector<R> KeyChecks(const std::vector<std::string>& keys, R ok) {
    std::vector<R> results(keys.size(), ok);
    for (size_t i = 0; i < keys.size(); ++i) {
        Status valid = ValidateKey(keys[i]);
        if (!valid.has_value()) results[i] = Error(valid.error());
    }
    return results;
}

// The results a batch put starts from: every key refused when the call as
// a whole is (mismatched vector lengths or replication settings; then
// `*refused`), else each key's ValidateKey outcome.
std::vector<Status> PutBatchChecks(const std::vector<std::string>& keys, const Status& lengths,
                                   const ReplicateConfig& config, bool* refused) {
    Status whole = lengths.has_value() ? ValidateReplicateConfig(config, keys.size()) : lengths;
    *refused = !whole.has_value();
    if (*refused) return Filled<Status>(keys.size(), whole.error());
    return KeyChecks<Status>(keys, OkStatus());
}

}  // namespace

Status ClientFrontEnd::SetUpOrClose(ClientFrontEnd& client, const std::string& what) {
    Status ready = client.Setup();
    if (ready.has_value()) return ready;
    (void)client.Close();  // undoes whatever Setup got done
    return Error(std::move(ready).error().WithContext(what + " failed"));
}

std::shared_lock<std::shared_mutex> ClientFrontEnd::LockOpen() const {
    if (closing_.load(std::memory_order_relaxed)) return {};
    std::shared_lock<std::shared_mutex> lock(lifecycle_mutex_);
    if (closed_) lock.unlock();
    return lock;
}

std::unique_lock<std::shared_mutex> ClientFrontEnd::BeginClose() {
    closing_.store(true, std::memory_order_relaxed);
    std::unique_lock<std::shared_mutex> lock(lifecycle_mutex_);
    if (closed_) {
        lock.unlock();
        return lock;
    }
    closed_ = true;
    return lock;
}

// ---- puts -------------------------------------------------------------------

Status ClientFrontEnd::Put(const std::string& key, std::span<const ConstBytes> parts,
                           const ReplicateConfig& config) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Error(kClientClosed);
    MC_RETURN_IF_ERROR(ValidateKey(key));
    MC_RETURN_IF_ERROR(ValidateReplicateConfig(config, 1));
    auto size = ValueSize(parts);
    if (!size.has_value()) return Error(size.error());
    return DoPut(key, parts, *size, config);
}

template <typename PutCall>
std::vector<Status> ClientFrontEnd::CheckedPutBatch(const std::vector<std::string>& keys,
                                                    const Status& lengths,
                                                    const ReplicateConfig& config, PutCall put) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Filled<Status>(keys.size(), kClientClosed);
    bool refused = false;
    std::vector<Status> results = PutBatchChecks(keys, lengths, config, &refused);
    if (!refused) put(results);
    return results;
}

std::vector<Status> ClientFrontEnd::BatchPut(const std::vector<std::string>& keys,
                                             const std::vector<std::vector<ConstBytes>>& values,
                                             const ReplicateConfig& config) {
    const auto put = [&](std::vector<Status>& results) {
        std::vector<uint64_t> sizes(keys.size(), 0);
        for (size_t i = 0; i < keys.size(); ++i) {
            if (!results[i].has_value()) continue;
            auto size = ValueSize(values[i]);
            if (size.has_value()) {
                sizes[i] = *size;
            } else {
                results[i] = Error(size.error());
            }
        }
        DoBatchPut(keys, values, sizes, config, results);
    };
    return CheckedPutBatch(keys, CheckLengths(keys.size(), values.size(), values.size()), config,
                           put);
}

Status ClientFrontEnd::PutFrom(const std::string& key, const void* buffer, size_t size,
                               const ReplicateConfig& config) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Error(kClientClosed);
    MC_RETURN_IF_ERROR(ValidateKey(key));
    MC_RETURN_IF_ERROR(ValidateReplicateConfig(config, 1));
    return DoPutFrom(key, buffer, size, config);
}

std::vector<Status> ClientFrontEnd::BatchPutFrom(const std::vector<std::string>& keys,
                                                 const std::vector<const void*>& buffers,
                                                 const std::vector<size_t>& sizes,
                                                 const ReplicateConfig& config) {
    return CheckedPutBatch(keys, CheckLengths(keys.size(), buffers.size(), sizes.size()), config,
                           [&](std::vector<Status>& results) {
                               DoBatchPutFrom(keys, buffers, sizes, config, results);
                           });
}

std::vector<Status> ClientFrontEnd::BatchPutFromMultiBuffers(
    const std::vector<std::string>& keys, const std::vector<std::vector<const void*>>& buffers,
    const std::vector<std::vector<size_t>>& sizes, const ReplicateConfig& config) {
    const auto put = [&](std::vector<Status>& results) {
        for (size_t i = 0; i < keys.size(); ++i) {
            if (results[i].has_value()) results[i] = CheckPieceList(buffers[i], sizes[i]);
        }
        DoBatchPutFromMultiBuffers(keys, buffers, sizes, config, results);
    };
    return CheckedPutBatch(keys, CheckLengths(keys.size(), buffers.size(), sizes.size()), config,
                           put);
}

// ---- gets -------------------------------------------------------------------

Result<std::shared_ptr<Buffer>> ClientFrontEnd::Get(const std::string& key) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Error(kClientClosed);
    MC_RETURN_IF_ERROR(ValidateKey(key));
    return DoGet(key);
}

std::vector<Result<std::shared_ptr<Buffer>>> ClientFrontEnd::BatchGet(
    const std::vector<std::string>& keys) {
    using Entry = Result<std::shared_ptr<Buffer>>;
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Filled<Entry>(keys.size(), kClientClosed);
    std::vector<Entry> results = KeyChecks<Entry>(keys, std::shared_ptr<Buffer>());
    DoBatchGet(keys, results);
    return results;
}

Result<size_t> ClientFrontEnd::GetInto(const std::string& key, void* buffer, size_t capacity) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Error(kClientClosed);
    MC_RETURN_IF_ERROR(ValidateKey(key));
    return DoGetInto(key, buffer, capacity);
}

std::vector<Result<size_t>> ClientFrontEnd::BatchGetInto(const std::vector<std::string>& keys,
                                                         const std::vector<void*>& buffers,
                                                         const std::vector<size_t>& capacities) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Filled<Result<size_t>>(keys.size(), kClientClosed);
    if (Status lengths = CheckLengths(keys.size(), buffers.size(), capacities.size()); !lengths) {
        return Filled<Result<size_t>>(keys.size(), lengths.error());
    }
    std::vector<Result<size_t>> results = KeyChecks<Result<size_t>>(keys, size_t{0});
    DoBatchGetInto(keys, buffers, capacities, results);
    return results;
}

std::vector<Result<size_t>> ClientFrontEnd::BatchGetIntoMultiBuffers(
    const std::vector<std::string>& keys, const std::vector<std::vector<void*>>& buffers,
    const std::vector<std::vector<size_t>>& sizes) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Filled<Result<size_t>>(keys.size(), kClientClosed);
    if (Status lengths = CheckLengths(keys.size(), buffers.size(), sizes.size()); !lengths) {
        return Filled<Result<size_t>>(keys.size(), lengths.error());
    }
    std::vector<Result<size_t>> results = KeyChecks<Result<size_t>>(keys, size_t{0});
    for (size_t i = 0; i < keys.size(); ++i) {
        Status pieces = CheckPieceList(buffers[i], sizes[i]);
        if (results[i].has_value() && !pieces.has_value()) results[i] = Error(pieces.error());
    }
    DoBatchGetIntoMultiBuffers(keys, buffers, sizes, results);
    return results;
}

// ---- memory -----------------------------------------------------------------

Status ClientFrontEnd::RegisterBuffer(void* buffer, size_t size) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Error(kClientClosed);
    if (buffer == nullptr) return Error(ErrorCode::INVALID_PARAMS, "the buffer is null");
    return DoRegisterBuffer(buffer, size);
}

Status ClientFrontEnd::UnregisterBuffer(void* buffer) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Error(kClientClosed);
    return DoUnregisterBuffer(buffer);
}

Result<void*> ClientFrontEnd::AllocFromMemPool(size_t size) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Error(kClientClosed);
    if (size == 0) return Error(ErrorCode::INVALID_PARAMS, "an allocation of 0 bytes");
    return DoAllocFromMemPool(size);
}

// ---- queries ----------------------------------------------------------------

Result<bool> ClientFrontEnd::IsExist(const std::string& key) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Error(kClientClosed);
    MC_RETURN_IF_ERROR(ValidateKey(key));
    return DoIsExist(key);
}

std::vector<Result<bool>> ClientFrontEnd::BatchIsExist(const std::vector<std::string>& keys) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Filled<Result<bool>>(keys.size(), kClientClosed);
    std::vector<Result<bool>> results(keys.size(), false);
    const ValidKeys valid = SelectValidKeys(keys);
    for (const auto& [i, code] : valid.refused) results[i] = Error(code);
    if (valid.keys.empty()) return results;
    std::vector<Result<bool>> answers = DoBatchIsExist(valid.keys);
    for (size_t k = 0; k < valid.positions.size(); ++k) {
        results[valid.positions[k]] =
            k < answers.size() ? answers[k] : Result<bool>(Error(ErrorCode::INTERNAL_ERROR));
    }
    return results;
}

Result<uint64_t> ClientFrontEnd::GetSize(const std::string& key) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Error(kClientClosed);
    MC_RETURN_IF_ERROR(ValidateKey(key));
    return DoGetSize(key);
}

Result<std::vector<ReplicaDescriptor>> ClientFrontEnd::GetReplicaDesc(const std::string& key) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Error(kClientClosed);
    MC_RETURN_IF_ERROR(ValidateKey(key));
    return DoGetReplicaDesc(key);
}

std::map<std::string, std::vector<ReplicaDescriptor>> ClientFrontEnd::BatchGetReplicaDesc(
    const std::vector<std::string>& keys) {
    std::map<std::string, std::vector<ReplicaDescriptor>> descriptors;
    auto lock = LockOpen();
    if (!lock.owns_lock()) return descriptors;
    const std::vector<std::string> valid_keys = SelectValidKeys(keys).keys;
    if (valid_keys.empty()) return descriptors;
    auto found = DoBatchGetReplicaDesc(valid_keys);
    for (size_t k = 0; k < valid_keys.size() && k < found.size(); ++k) {
        // Keys that are missing (or failed) are left out of the map.
        if (found[k].has_value()) descriptors[valid_keys[k]] = std::move(*found[k]);
    }
    return descriptors;
}

Status ClientFrontEnd::Remove(const std::string& key, bool force) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Error(kClientClosed);
    MC_RETURN_IF_ERROR(ValidateKey(key));
    return DoRemove(key, force);
}

Result<int64_t> ClientFrontEnd::RemoveByRegex(const std::string& regex, bool force) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Error(kClientClosed);
    return DoRemoveByRegex(regex, force);
}

Result<int64_t> ClientFrontEnd::RemoveAll(bool force) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Error(kClientClosed);
    return DoRemoveAll(force);
}

// ---- copy / move tasks ------------------------------------------------------

Result<UUID> ClientFrontEnd::CreateCopyTask(const std::string& key,
                                            const std::vector<std::string>& targets) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Error(kClientClosed);
    MC_RETURN_IF_ERROR(ValidateKey(key));
    if (targets.empty()) return Error(ErrorCode::INVALID_PARAMS, "a copy task with no targets");
    return DoCreateCopyTask(key, targets);
}

Result<UUID> ClientFrontEnd::CreateMoveTask(const std::string& key, const std::string& source,
                                            const std::string& target) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Error(kClientClosed);
    MC_RETURN_IF_ERROR(ValidateKey(key));
    if (source.empty() || target.empty()) {
        return Error(ErrorCode::INVALID_PARAMS, "a move task needs a source and a target segment");
    }
    return DoCreateMoveTask(key, source, target);
}

Result<TaskInfo> ClientFrontEnd::QueryTask(const UUID& task_id) {
    auto lock = LockOpen();
    if (!lock.owns_lock()) return Error(kClientClosed);
    return DoQueryTask(task_id);
}

}  // namespace mooncake
