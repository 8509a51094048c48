// mount_segment, unmount_segment, allocate_and_mount_segment and
// unmount_and_free_segment: memory a store adds to and takes from the pool
// after setup. Segment ids cross to Python as "<hi>-<lo>" (two decimal u64),
// as in the reference.
#include <glog/logging.h>
#include <pybind11/stl.h>

#include <charconv>
#include <optional>
#include <string>
#include <vector>

#include "py_convert.h"
#include "store_admin_bindings.h"

namespace mooncake::python {
namespace {

using ClientPtr = std::shared_ptr<Client>;

// The reference's code for a failure on this side (bad arguments, a file
// that cannot be mapped, a dummy client, no client): -1.
constexpr int kLocalFailure = -1;

std::string IdText(const UUID& id) { return std::to_string(id.hi) + "-" + std::to_string(id.lo); }

std::optional<UUID> ParseId(const std::string& text) {
    const size_t dash = text.find('-');
    if (dash == std::string::npos || dash == 0 || dash + 1 == text.size()) return std::nullopt;
    UUID id;
    const char* begin = text.data();
    const char* end = begin + text.size();
    auto hi = std::from_chars(begin, begin + dash, id.hi);
    if (hi.ec != std::errc() || hi.ptr != begin + dash) return std::nullopt;
    auto lo = std::from_chars(begin + dash + 1, end, id.lo);
    if (lo.ec != std::errc() || lo.ptr != end) return std::nullopt;
    return id;
}

// Codes the caller can act on pass through (the master's, RPC_FAIL);
// everything decided locally reads as -1.
int MountCode(ErrorCode code) {
    switch (code) {
        case ErrorCode::INVALID_PARAMS:
        case ErrorCode::FILE_OPEN_FAIL:
        case ErrorCode::INTERNAL_ERROR:
        case ErrorCode::UNAVAILABLE_IN_CURRENT_MODE:
        case ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS:
            return kLocalFailure;
        default:
            return ToInt(code);
    }
}

py::dict MountReply(int ret, const std::vector<UUID>& ids) {
    py::dict reply;
    reply["ret"] = ret;
    py::list texts;
    for (const UUID& id : ids) texts.append(IdText(id));
    reply["segment_ids"] = texts;
    return reply;
}

std::vector<std::string> IdList(const py::object& segment_ids) {
    if (py::isinstance<py::str>(segment_ids)) return {segment_ids.cast<std::string>()};
    return segment_ids.cast<std::vector<std::string>>();
}

// One unmount per id; unparsable or foreign ids are -1 and the rest still
// go. Returns the first error, 0 when all went.
int UnmountAll(StoreHandle& self, const py::object& segment_ids, bool allocated,
               int64_t grace_period_seconds) {
    const std::vector<std::string> texts = IdList(segment_ids);
    ClientPtr client = self.client();
    if (!client || grace_period_seconds < 0 || grace_period_seconds > UINT32_MAX) {
        return kLocalFailure;
    }
    py::gil_scoped_release release;
    int first_error = 0;
    for (const std::string& text : texts) {
        std::optional<UUID> id = ParseId(text);
        int code = kLocalFailure;
        if (id.has_value()) {
            Status done = client->UnmountRuntimeSegment(
                *id, allocated, static_cast<uint32_t>(grace_period_seconds));
            code = done.has_value() ? 0 : MountCode(done.error());
        } else {
            LOG(WARNING) << "unmount: '" << text << "' is not a segment id";
        }
        if (code != 0 && first_error == 0) first_error = code;
    }
    return first_error;
}

void WarnIgnored(const std::string& protocol, const std::string& location) {
    if (!location.empty()) {
        LOG(INFO) << "mount: location '" << location << "' is a placement hint; ignored";
    }
    (void)protocol;  // the client's engine serves every segment it mounts
}

}  // namespace

void BindSegments(py::class_<StoreHandle>& store) {
    store
        .def(
            "mount_segment",
            [](StoreHandle& self, const std::string& path, uint64_t size, uint64_t offset,
               const std::string& protocol, const std::string& location) {
                WarnIgnored(protocol, location);
                // No client: UNAVAILABLE_IN_CURRENT_STATUS, which reads as -1.
                Result<std::vector<UUID>> ids = CallWithoutGil(self, [&](Client& client) {
                    return client.MountFileSegment(path, size, offset);
                });
                if (!ids.has_value()) return MountReply(MountCode(ids.error()), {});
                return MountReply(0, *ids);
            },
            py::arg("path"), py::arg("size"), py::arg("offset") = 0, py::arg("protocol") = "tcp",
            py::arg("location") = "",
            "Maps size bytes of the file at path (e.g. /dev/shm/x) from offset (page aligned) "
            "and mounts them as store memory. {'ret': 0 or a code, 'segment_ids': [...]}; "
            "-1 for a bad range, a file that cannot be opened, or a dummy client.")
        .def(
            "unmount_segment",
            [](StoreHandle& self, const py::object& segment_ids, int64_t grace_period_seconds) {
                return UnmountAll(self, segment_ids, /*allocated=*/false, grace_period_seconds);
            },
            py::arg("segment_ids"), py::arg("grace_period_seconds") = 0,
            "Unmounts segments from mount_segment (after grace_period_seconds). 0, or the "
            "first error: -1 for an id not from this store's mount_segment.")
        .def(
            "allocate_and_mount_segment",
            [](StoreHandle& self, uint64_t size, const std::string& protocol,
               const std::string& location) {
                WarnIgnored(protocol, location);
                // No client: UNAVAILABLE_IN_CURRENT_STATUS, which reads as -1.
                auto mounted = CallWithoutGil(
                    self, [&](Client& client) { return client.AllocateAndMountSegment(size); });
                if (!mounted.has_value()) {
                    py::dict reply = MountReply(MountCode(mounted.error()), {});
                    reply["allocated_size"] = 0;
                    return reply;
                }
                py::dict reply = MountReply(0, mounted->first);
                reply["allocated_size"] = mounted->second;
                return reply;
            },
            py::arg("size"), py::arg("protocol") = "tcp", py::arg("location") = "",
            "Allocates size bytes (rounded up to 16 MiB) and mounts them. {'ret', "
            "'segment_ids', 'allocated_size'}; ret -1 for size 0 or a dummy client.")
        .def(
            "unmount_and_free_segment",
            [](StoreHandle& self, const py::object& segment_ids, int64_t grace_period_seconds) {
                return UnmountAll(self, segment_ids, /*allocated=*/true, grace_period_seconds);
            },
            py::arg("segment_ids"), py::arg("grace_period_seconds") = 0,
            "Unmounts segments from allocate_and_mount_segment and frees their memory. 0, or "
            "the first error: -1 for an id not from this store's allocate_and_mount_segment.");
}

}  // namespace mooncake::python
