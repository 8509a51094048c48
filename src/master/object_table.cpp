#include "master/object_table.h"

#include <cstring>
#include <new>

namespace mooncake {

void ObjectTable::Entry::Deleter::operator()(Entry* entry) const {
    entry->~Entry();
    ::operator delete(static_cast<void*>(entry));
}

ObjectTable::Entry::Ptr ObjectTable::Entry::Create(std::string_view key) {
    // One block: the Entry, then the key bytes (read back by key()).
    void* memory = ::operator new(sizeof(Entry) + key.size());
    Entry* entry = ::new (memory) Entry(static_cast<uint32_t>(key.size()));
    if (!key.empty()) std::memcpy(static_cast<void*>(entry + 1), key.data(), key.size());
    return Ptr(entry);
}

ObjectTable::Position ObjectTable::Find(std::string_view key, uint64_t hash) const {
    if (capacity_ == 0) return kNotFound;
    const size_t mask = capacity_ - 1;
    // The load limit keeps at least a quarter of the slots empty, so every
    // probe sequence ends.
    for (Position position = hash & mask;; position = (position + 1) & mask) {
        const Slot& slot = slots_[position];
        if (slot.entry != nullptr) {
            if (slot.hash == hash && slot.entry->key() == key) return position;
        } else if (slot.hash == kEmptyHash) {
            return kNotFound;
        }
    }
}

std::pair<ObjectTable::Position, bool> ObjectTable::FindOrInsert(std::string_view key,
                                                                 uint64_t hash) {
    // Live objects and tombstones together stay at or below 3/4 of the slots.
    if ((size_ + tombstones_ + 1) * 4 > capacity_ * 3) {
        size_t new_capacity = kMinCapacity;
        while ((size_ + 1) * 2 > new_capacity) new_capacity *= 2;
        Rehash(new_capacity);
    }
    const size_t mask = capacity_ - 1;
    Position reusable = kNotFound;
    Position position = hash & mask;
    for (;; position = (position + 1) & mask) {
        const Slot& slot = slots_[position];
        if (slot.entry != nullptr) {
            if (slot.hash == hash && slot.entry->key() == key) return {position, false};
        } else if (slot.hash == kEmptyHash) {
            break;
        } else if (reusable == kNotFound) {
            reusable = position;  // the first tombstone on the way
        }
    }
    if (reusable != kNotFound) {
        position = reusable;
        --tombstones_;
    }
    slots_[position].hash = hash;
    slots_[position].entry = Entry::Create(key);
    ++size_;
    return {position, true};
}

void ObjectTable::EraseAt(Position position) {
    Slot& slot = slots_[position];
    slot.entry.reset();
    --size_;
    const size_t mask = capacity_ - 1;
    if (!slots_[(position + 1) & mask].is_empty()) {
        // Some probe sequence may pass through here: leave a tombstone.
        slot.hash = kTombstoneHash;
        ++tombstones_;
        return;
    }
    // No sequence runs past an empty slot, so this one and the tombstones
    // right before it can all become empty again.
    slot.hash = kEmptyHash;
    for (Position before = (position + mask) & mask;
         slots_[before].entry == nullptr && slots_[before].hash == kTombstoneHash;
         before = (before + mask) & mask) {
        slots_[before].hash = kEmptyHash;
        --tombstones_;
    }
}

void ObjectTable::Rehash(size_t new_capacity) {
    std::unique_ptr<Slot[]> old_slots = std::move(slots_);
    const size_t old_capacity = capacity_;
    slots_ = std::make_unique<Slot[]>(new_capacity);
    capacity_ = new_capacity;
    tombstones_ = 0;
    const size_t mask = new_capacity - 1;
    for (size_t i = 0; i < old_capacity; ++i) {
        Slot& old_slot = old_slots[i];
        if (old_slot.entry == nullptr) continue;
        Position position = old_slot.hash & mask;
        while (slots_[position].entry != nullptr) position = (position + 1) & mask;
        slots_[position].hash = old_slot.hash;
        slots_[position].entry = std::move(old_slot.entry);
    }
}

void ObjectTable::Compact() {
    if (size_ == 0) {
        slots_.reset();
        capacity_ = 0;
        tombstones_ = 0;
        return;
    }
    size_t new_capacity = kMinCapacity;
    while (size_ * 2 > new_capacity) new_capacity *= 2;
    // Worth a rebuild only when tombstones fill a quarter of the slots or
    // the table is four times larger than needed.
    if (tombstones_ * 4 <= capacity_ && new_capacity * 4 > capacity_) return;
    Rehash(new_capacity);
}

}  // namespace mooncake
