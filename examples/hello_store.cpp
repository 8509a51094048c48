// Hello world of the store client: join the pool, put a value, read it back
// (copied into the client's buffer, then zero-copy into registered memory),
// look at where it lives, remove it, leave.
//
//   hello_store [master_address] [metadata_server]
//
// defaults: 127.0.0.1:50051 and http://127.0.0.1:8080/metadata (a
// mooncake_master started with --enable_http_metadata_server=true).
// Exits 0 when everything worked.
#include <mooncake/client.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

// A failure carries its code and, where the failing site knew more, why:
// "setup failed: RPC_FAIL (-900): ... master 127.0.0.1:50051 is not reachable ...".
int Fail(const char* what, const mooncake::Failure& failure) {
    std::fprintf(stderr, "%s failed: %s\n", what, failure.ToString().c_str());
    return 1;
}

}  // namespace

int main(int argc, char** argv) {
    mooncake::ClientConfig config;
    config.local_hostname = "localhost";
    config.master_server_address = argc > 1 ? argv[1] : "127.0.0.1:50051";
    config.metadata_server = argc > 2 ? argv[2] : "http://127.0.0.1:8080/metadata";
    config.global_segment_size = 64ull << 20;  // contributed to the pool
    config.local_buffer_size = 16ull << 20;    // staging for put/get

    auto created = mooncake::Client::Create(config);
    if (!created.has_value()) return Fail("setup", created.error());
    std::unique_ptr<mooncake::Client> store = std::move(*created);
    std::printf("joined the pool as %s\n", store->GetHostname().c_str());

    const std::string message = "Hello, Mooncake Store!";
    const mooncake::ConstBytes part(reinterpret_cast<const uint8_t*>(message.data()),
                                    message.size());
    mooncake::ReplicateConfig replicate;
    replicate.preferred_segment = store->GetHostname();
    if (auto put = store->Put("hello_key", {&part, 1}, replicate); !put.has_value()) {
        return Fail("put", put.error());
    }

    // Bad input is refused with a code and a reason, and changes nothing.
    if (auto refused = store->Put("", {&part, 1}, replicate); !refused.has_value()) {
        std::printf("empty key refused: %s\n", refused.error().ToString().c_str());
    }

    auto value = store->Get("hello_key");
    if (!value.has_value()) return Fail("get", value.error());
    const std::string read_back(reinterpret_cast<const char*>((*value)->data()), (*value)->size());
    std::printf("get: %s\n", read_back.c_str());

    // Zero copy: the destination must be registered first.
    std::vector<uint8_t> destination(1024);
    if (auto registered = store->RegisterBuffer(destination.data(), destination.size());
        !registered.has_value()) {
        return Fail("register_buffer", registered.error());
    }
    auto size = store->GetInto("hello_key", destination.data(), destination.size());
    if (!size.has_value()) return Fail("get_into", size.error());
    const bool same = *size == message.size() &&
                      std::memcmp(destination.data(), message.data(), message.size()) == 0;
    std::printf("get_into: %zu bytes, %s\n", *size, same ? "identical" : "DIFFERENT");
    (void)store->UnregisterBuffer(destination.data());

    auto replicas = store->GetReplicaDesc("hello_key");
    if (!replicas.has_value()) return Fail("get_replica_desc", replicas.error());
    for (const mooncake::ReplicaDescriptor& replica : *replicas) {
        if (replica.is_memory_replica()) {
            std::printf("replica on %s, %llu bytes\n", replica.memory().transport_endpoint.c_str(),
                        static_cast<unsigned long long>(replica.memory().size));
        }
    }

    // Reads hold a short lease on the object; remove succeeds once it ends.
    mooncake::Status removed = mooncake::Error(mooncake::ErrorCode::OBJECT_HAS_LEASE);
    for (int attempt = 0; attempt < 100 && !removed.has_value(); ++attempt) {
        removed = store->Remove("hello_key");
        if (!removed.has_value() && removed.error() != mooncake::ErrorCode::OBJECT_HAS_LEASE) {
            break;
        }
        if (!removed.has_value()) std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    if (!removed.has_value()) return Fail("remove", removed.error());

    (void)store->Close();
    return read_back == message && same ? 0 : 1;
}
