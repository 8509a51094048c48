// The HTTP metadata server's store (MetadataStore in
// src/master/http_metadata_server.h): what PUT/GET/DELETE /metadata do once
// httplib has parsed the request. (The HTTP parsing itself is httplib's;
// tests/reliability sends garbage to the real port.)
//
// Input: a sequence of operations (put / get / remove) on a few keys with
// bodies of fuzzed sizes, against a store with a fuzzed size bound. The
// store must behave exactly like a plain map with the same bound: a put is
// refused iff it would exceed the bound, and then changes nothing.
#include <cstdint>
#include <map>
#include <string>

#include "fuzz_support.h"
#include "master/http_metadata_server.h"

namespace mooncake::fuzz {

namespace {

size_t EntryBytes(const std::string& key, const MetadataStore::Entry& entry) {
    return MetadataStore::EntryBytes(key, entry);
}

std::string Key(Input& input) {
    const uint8_t pick = input.U8();
    // Mostly a handful of short keys so that operations meet; sometimes
    // arbitrary bytes.
    if (pick < 200) return "segments/" + std::to_string(pick % 6);
    return input.ShortString();
}

}  // namespace

int FuzzMetadataStore(const uint8_t* data, size_t size) {
    QuietLogsOnce();
    Input input(data, size);
    const size_t max_total = input.U16();
    MetadataStore store(max_total);
    std::map<std::string, MetadataStore::Entry> model;
    size_t model_bytes = 0;

    for (int op = 0; op < 256 && !input.empty(); ++op) {
        const uint8_t kind = input.U8() % 3;
        const std::string key = Key(input);
        if (kind == 0) {
            MetadataStore::Entry entry;
            entry.value = std::string(input.U16() % 2048, static_cast<char>('a' + op % 26));
            entry.content_type = input.Bool() ? "application/json" : input.ShortString();
            auto it = model.find(key);
            const size_t replaced = it == model.end() ? 0 : EntryBytes(key, it->second);
            const size_t after = model_bytes - replaced + EntryBytes(key, entry);
            const bool accepted = store.Put(key, entry);
            FUZZ_CHECK(accepted == (after <= max_total));
            if (accepted) {
                model_bytes = after;
                model[key] = entry;
            }
        } else if (kind == 1) {
            auto got = store.Get(key);
            auto it = model.find(key);
            FUZZ_CHECK(got.has_value() == (it != model.end()));
            if (got) {
                FUZZ_CHECK(got->value == it->second.value);
                FUZZ_CHECK(got->content_type == it->second.content_type);
            }
        } else {
            const bool removed = store.Remove(key);
            auto it = model.find(key);
            FUZZ_CHECK(removed == (it != model.end()));
            if (removed) {
                model_bytes -= EntryBytes(key, it->second);
                model.erase(it);
            }
        }
        FUZZ_CHECK(store.size() == model.size());
        FUZZ_CHECK(store.total_bytes() == model_bytes);
        FUZZ_CHECK(store.total_bytes() <= max_total);
    }
    return 0;
}

}  // namespace mooncake::fuzz

MOONCAKE_FUZZ_ENTRY(FuzzMetadataStore)
