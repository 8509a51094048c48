// The reference's admin routes on the master's metrics port (what SGLang's
// check_server and operators' scripts call; formats in docs/master.md):
//
//   GET /query_key?key=K           replica descriptors of K (grants a lease)
//   GET /batch_query_keys?keys=A,B the same for several keys, as JSON
//   GET /get_all_keys              every complete key, one per line
//   GET /get_all_segments          every mounted segment name, one per line
//   GET /query_segment?segment=S   used and capacity bytes of S
//   GET /get_segments_detail       every mounted segment, as JSON
//
// Only registers handlers, so that it works with whatever listener serves
// the metrics port.
#pragma once

namespace httplib {
class Server;
}

namespace mooncake {

class MasterService;

// `service` must outlive the server's handlers.
class MetricsServer;
void RegisterAdminEndpoints(MetricsServer& server, MasterService& service);

}  // namespace mooncake
