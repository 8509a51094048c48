// The hash table of one object-index shard: key -> ObjectMeta.
//
// Why not std::unordered_map: the master keeps millions of small objects and
// answers each request with one lookup, so memory per object and cache
// misses per lookup are what matter. std::unordered_map spends a node per
// object plus a separate heap block for keys longer than 15 bytes, and a
// lookup walks bucket -> previous node -> node -> key (four to five cache
// misses measured with perf). Here:
//   - a slot array of {hash, owning pointer} pairs, open addressing with
//     linear probing: the probe compares full hashes without leaving the
//     array;
//   - each object lives in one allocation together with its key bytes: the
//     hit costs one more miss, and no key needs a heap block of its own.
// About 140 bytes per object with a 16-byte key, two misses per lookup.
//
// Erase leaves a tombstone so that positions stay valid while iterating;
// tombstones are dropped when the table grows or is compacted.
//
// Not thread-safe: the shard's mutex guards it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <utility>

#include "master/object_meta.h"

namespace mooncake {

class ObjectTable {
   public:
    // Position of an object in the table. Stays valid until the next
    // insertion or Compact(); erasing other objects does not move it.
    using Position = size_t;
    static constexpr Position kNotFound = SIZE_MAX;

    ObjectTable() = default;
    ObjectTable(const ObjectTable&) = delete;
    ObjectTable& operator=(const ObjectTable&) = delete;

    // `hash` is the key's hash as computed by the caller (ObjectIndex); the
    // same key must always come with the same hash.
    Position Find(std::string_view key, uint64_t hash) const;
    // The object under `key`, inserting a default ObjectMeta when absent;
    // second is true when it was inserted. May grow the table: positions
    // taken before are invalid afterwards.
    std::pair<Position, bool> FindOrInsert(std::string_view key, uint64_t hash);
    void EraseAt(Position position);

    std::string_view key(Position position) const { return slots_[position].entry->key(); }
    ObjectMeta& meta(Position position) { return slots_[position].entry->meta; }
    const ObjectMeta& meta(Position position) const { return slots_[position].entry->meta; }

    // Calls visit(position) for every object. visit may EraseAt(position)
    // (or erase other objects) but must not insert.
    template <typename Visit>
    void ForEach(Visit&& visit) {
        for (Position position = 0; position < capacity_; ++position) {
            if (slots_[position].entry != nullptr) visit(position);
        }
    }

    // Rebuilds the slot array without tombstones, shrinking it when mostly
    // empty, if either is worth it. Invalidates positions.
    void Compact();

    size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    size_t capacity() const { return capacity_; }

   private:
    // An object and its key in one allocation: the key bytes follow the
    // struct. Created and destroyed only through Create / Deleter.
    class Entry {
       public:
        struct Deleter {
            void operator()(Entry* entry) const;
        };
        using Ptr = std::unique_ptr<Entry, Deleter>;

        static Ptr Create(std::string_view key);
        std::string_view key() const {
            return {reinterpret_cast<const char*>(this + 1), key_size_};
        }

        ObjectMeta meta;

       private:
        explicit Entry(uint32_t key_size) : key_size_(key_size) {}
        uint32_t key_size_;
    };

    // Empty: no entry, hash kEmptyHash. Tombstone: no entry, hash
    // kTombstoneHash. Live: an entry and its key's hash (any value).
    struct Slot {
        uint64_t hash = kEmptyHash;
        Entry::Ptr entry;

        bool is_empty() const { return entry == nullptr && hash == kEmptyHash; }
    };
    static constexpr uint64_t kEmptyHash = 0;
    static constexpr uint64_t kTombstoneHash = 1;
    static constexpr size_t kMinCapacity = 8;

    // Position to insert `key` at (it is absent): the first tombstone or
    // empty slot on its probe sequence.
    Position FindInsertPosition(uint64_t hash) const;
    void Rehash(size_t new_capacity);

    std::unique_ptr<Slot[]> slots_;
    size_t capacity_ = 0;  // a power of two, or 0
    size_t size_ = 0;
    size_t tombstones_ = 0;
};

}  // namespace mooncake
