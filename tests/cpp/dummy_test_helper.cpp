// A dummy client in its own process, for the tests that need a second dummy
// process (dummy_client_test). Connects with
//   --server=HOST:PORT --pool=BYTES --buffer=BYTES
// prints "READY <hostname>" (or "FAILED <code>") and then answers one line
// per command read from stdin:
//   put KEY SIZE SEED      bytes staged through the local buffer -> OK | ERR <code>
//   putpool KEY SIZE SEED  zero copy from alloc_from_mem_pool     -> OK | ERR <code>
//   get KEY SEED           Get; the Buffer must lie in the shared memory
//                                                 -> OK <size> | MISMATCH | NOT_SHARED | ERR <code>
//   getpool KEY SEED SIZE  GetInto alloc_from_mem_pool memory     -> OK <size> | MISMATCH | ERR
//   exist KEY                                                     -> OK 1 | OK 0 | ERR <code>
//   remove KEY                                                    -> OK | ERR <code>
//   quit                                                          -> (exits without closing)
#include <sstream>
#include <string>

#include "client/dummy_client.h"
#include "client_test_util.h"

using mooncake::testing::CommonReply;
using mooncake::testing::ErrReply;
using mooncake::testing::ServeCommands;

namespace {

std::string Handle(mooncake::DummyClient& client, const std::string& line) {
    std::istringstream in(line);
    std::string verb, key;
    in >> verb >> key;
    size_t size = 0;
    uint64_t seed = 0;
    if (verb == "put" || verb == "putpool") {
        in >> size >> seed;
        if (verb == "put") {
            const std::vector<uint8_t> value = mooncake::testing::MakeValue(seed, size);
            const mooncake::ConstBytes part(value.data(), value.size());
            auto put = client.Put(key, std::span<const mooncake::ConstBytes>(&part, 1), {});
            return put.has_value() ? "OK" : ErrReply(put.error());
        }
        auto memory = client.AllocFromMemPool(size);
        if (!memory.has_value()) return ErrReply(memory.error());
        mooncake::testing::FillValue(seed, static_cast<uint8_t*>(*memory), size);
        auto put = client.PutFrom(key, *memory, size, {});
        return put.has_value() ? "OK" : ErrReply(put.error());
    }
    if (verb == "get") {
        in >> seed;
        auto got = client.Get(key);
        if (!got.has_value()) return ErrReply(got.error());
        const auto& buffer = *got;
        if (!client.memory()->Contains(buffer->data(), buffer->size())) return "NOT_SHARED";
        if (!mooncake::testing::ValueMatches(seed, buffer->data(), buffer->size())) {
            return "MISMATCH";
        }
        return "OK " + std::to_string(buffer->size());
    }
    if (verb == "getpool") {
        in >> seed >> size;
        auto memory = client.AllocFromMemPool(size);
        if (!memory.has_value()) return ErrReply(memory.error());
        auto read = client.GetInto(key, *memory, size);
        if (!read.has_value()) return ErrReply(read.error());
        if (!mooncake::testing::ValueMatches(seed, static_cast<uint8_t*>(*memory), *read)) {
            return "MISMATCH";
        }
        return "OK " + std::to_string(*read);
    }
    if (auto reply = CommonReply(client, verb, key)) return *reply;
    return "ERR unknown command";
}

}  // namespace

int main(int argc, char** argv) {
    mooncake::DummyClientConfig config;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&arg](const char* prefix) { return arg.substr(std::string(prefix).size()); };
        if (arg.starts_with("--server=")) config.server_address = value("--server=");
        if (arg.starts_with("--pool=")) config.mem_pool_size = std::stoull(value("--pool="));
        if (arg.starts_with("--buffer="))
            config.local_buffer_size = std::stoull(value("--buffer="));
    }
    return ServeCommands(mooncake::DummyClient::Connect(config), Handle);
}
