// A store client in its own process, for the client tests that need a
// second process (reads from another process's segment, kill -9 of a
// client). Set up from its arguments:
//   --host=H --metadata=URL --master=ADDR --segment=BYTES --buffer=BYTES
//   [--protocol=tcp]
// prints "READY <hostname>" (or "FAILED <code>") and then answers one line
// per command read from stdin:
//   put KEY SIZE SEED [REPLICAS [PREFERRED]]  -> OK | ERR <code>
//   get KEY SEED                              -> OK <size> | MISMATCH | ERR <code>
//   exist KEY                                 -> OK 1 | OK 0 | ERR <code>
//   remove KEY                                -> OK | ERR <code>
//   desc KEY                                  -> OK <endpoint>,<endpoint>... | ERR <code>
//   close                                     -> OK | ERR <code>
//   quit                                      -> (exits)
#include <sstream>
#include <string>

#include "client_test_util.h"
#include "mooncake/client.h"

using mooncake::Client;
using mooncake::ClientConfig;
using mooncake::testing::CommonReply;
using mooncake::testing::ErrReply;
using mooncake::testing::ServeCommands;

namespace {

std::string Handle(Client& client, const std::string& line) {
    std::istringstream in(line);
    std::string verb, key;
    in >> verb >> key;
    if (verb == "put") {
        size_t size = 0;
        uint64_t seed = 0;
        mooncake::ReplicateConfig config;
        in >> size >> seed;
        if (in >> config.replica_num) {
            std::string preferred;
            if (in >> preferred && preferred != "-") config.preferred_segment = preferred;
        }
        const std::vector<uint8_t> value = mooncake::testing::MakeValue(seed, size);
        const mooncake::ConstBytes part(value.data(), value.size());
        auto put = client.Put(key, std::span<const mooncake::ConstBytes>(&part, 1), config);
        return put.has_value() ? "OK" : ErrReply(put.error());
    }
    if (verb == "get") {
        uint64_t seed = 0;
        in >> seed;
        auto got = client.Get(key);
        if (!got.has_value()) return ErrReply(got.error());
        const auto& buffer = *got;
        if (!mooncake::testing::ValueMatches(seed, buffer->data(), buffer->size())) {
            return "MISMATCH";
        }
        return "OK " + std::to_string(buffer->size());
    }
    if (auto reply = CommonReply(client, verb, key)) return *reply;
    if (verb == "desc") {
        auto replicas = client.GetReplicaDesc(key);
        if (!replicas.has_value()) return ErrReply(replicas.error());
        std::string endpoints;
        for (const auto& replica : *replicas) {
            if (!replica.is_memory_replica()) continue;
            if (!endpoints.empty()) endpoints += ",";
            endpoints += replica.memory().transport_endpoint;
        }
        return "OK " + endpoints;
    }
    if (verb == "close") {
        auto closed = client.Close();
        return closed.has_value() ? "OK" : ErrReply(closed.error());
    }
    return "ERR unknown-command";
}

}  // namespace

int main(int argc, char** argv) {
    ClientConfig config;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value_of = [&arg](const char* name) -> const char* {
            const std::string prefix = std::string("--") + name + "=";
            return arg.starts_with(prefix) ? arg.c_str() + prefix.size() : nullptr;
        };
        if (const char* v = value_of("host")) config.local_hostname = v;
        if (const char* v = value_of("metadata")) config.metadata_server = v;
        if (const char* v = value_of("master")) config.master_server_address = v;
        if (const char* v = value_of("segment")) config.global_segment_size = std::stoull(v);
        if (const char* v = value_of("buffer")) config.local_buffer_size = std::stoull(v);
        if (const char* v = value_of("protocol")) config.protocol = v;
    }
    return ServeCommands(Client::Create(config), Handle);
}
