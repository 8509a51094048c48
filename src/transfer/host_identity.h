// Which processes share a host as far as shared memory is concerned: same
// kernel boot (/proc/sys/kernel/random/boot_id) and same network namespace
// (its inode). Two network namespaces of one machine count as two hosts, so
// tests and containers that look remote are treated as remote.
#pragma once

#include <string>

namespace mooncake {

// "<boot_id>/<netns inode>", computed once per process.
const std::string& LocalHostIdentity();

}  // namespace mooncake
