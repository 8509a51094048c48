// What the parts of one RealClient (put and get pipelines, heartbeat, task
// executor) share: who the client is and the services it talks through.
// The RealClient owns everything pointed to and outlives every user of the
// context.
#pragma once

#include <memory>
#include <span>
#include <string>

#include "client/local_buffer.h"
#include "client/master_client.h"
#include "client/memory_piece.h"
#include "client/put_credits.h"
#include "client/replica_selector.h"
#include "client/unreachable_segments.h"
#include "mooncake/transfer_engine.h"
#include "mooncake/types.h"

namespace mooncake {

// The SSD offload tier as the read and put paths see it (OffloadTier).
class DiskReader {
   public:
    virtual ~DiskReader() = default;
    // Reads an object from a LOCAL_DISK replica into `pieces`. Never fills
    // them with bytes that failed their checksum.
    virtual Status ReadDisk(const std::string& key, const ReplicaDescriptor& replica,
                            std::span<const MemoryPiece> pieces, uint64_t size) = 0;
    // Told after every put call: with eager offload the master queues each
    // completed put for its segment's owner, usually this client, and a put
    // that found memory full may be waiting for those copies.
    virtual void PutsDone() {}
};

struct ClientContext {
    UUID client_id;
    // "host:port": the engine's segment name, also the name of the segment
    // this client mounts (when it mounts one).
    std::string segment_name;
    bool has_segment = false;
    MasterClient* master = nullptr;
    TransferEngine* engine = nullptr;
    // Staging memory of non-zero-copy puts and gets; null for a pure server
    // (local_buffer_size == 0).
    std::shared_ptr<LocalBuffer> local_buffer;
    const ReplicaSelector* selector = nullptr;
    // Peers whose transfers just failed: puts avoid them, gets try them last.
    UnreachableSegments* unreachable = nullptr;
    // Reads of objects that are only on some client's SSD; null without
    // the offload tier (such objects then give INVALID_REPLICA).
    DiskReader* disk = nullptr;
    // Space granted ahead of small puts; null: every put starts at the master.
    PutCredits* credits = nullptr;
};

}  // namespace mooncake
