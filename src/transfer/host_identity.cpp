#include "transfer/host_identity.h"

#include <glog/logging.h>
#include <sys/stat.h>

#include <fstream>

#include "mooncake/types.h"

namespace mooncake {

namespace {

std::string ComputeHostIdentity() {
    std::string boot_id;
    std::ifstream file("/proc/sys/kernel/random/boot_id");
    if (!(file >> boot_id) || boot_id.empty()) {
        // Without a boot id no peer can prove it shares our host: make the
        // identity unique so shared memory is never attempted.
        LOG(WARNING) << "Cannot read boot_id; shared-memory transfers disabled";
        boot_id = "unknown-" + UUID::Generate().ToString();
    }
    struct stat netns {};
    std::string netns_id = "0";
    if (stat("/proc/self/ns/net", &netns) == 0) {
        netns_id = std::to_string(netns.st_ino);
    }
    return boot_id + "/" + netns_id;
}

}  // namespace

const std::string& LocalHostIdentity() {
    // A process does not change network namespace under a live engine.
    static const std::string identity = ComputeHostIdentity();
    return identity;
}

}  // namespace mooncake
