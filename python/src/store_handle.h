// The native state behind one Python MooncakeDistributedStore: at most one
// live mooncake::Client, put in place by setup() and taken away by close().
#pragma once

#include <memory>

#include "client/client_http_server.h"
#include "common/mutex.h"
#include "mooncake/client.h"
#include "mooncake/result.h"

namespace mooncake::python {

class StoreHandle {
   public:
    StoreHandle();
    // Closes the client if the user did not.
    ~StoreHandle();
    StoreHandle(const StoreHandle&) = delete;
    StoreHandle& operator=(const StoreHandle&) = delete;

    // Creates and installs a client. UNAVAILABLE_IN_CURRENT_STATUS when one
    // is already set up (close() first). Blocks: call without the GIL.
    Status Setup(const ClientConfig& config);
    // The same with a dummy client of a standalone mooncake_client.
    Status SetupDummy(const DummyClientConfig& config);

    // Serves /health and /metrics of this store on `port` until close()
    // (src/client/client_http_server.h). A port that cannot be bound is
    // logged and otherwise ignored, as in the reference.
    void StartHttpServer(uint16_t port);

    // Closes and drops the client; OK when none was set up. Calls already in
    // flight keep their reference and finish against the closed client.
    // Blocks: call without the GIL.
    Status Close();

    // The live client, or nullptr. A call holds the returned reference for
    // its whole duration so that a concurrent close() cannot free the client
    // underneath it.
    std::shared_ptr<Client> client() const;

    // Closes every live store of the process (registered with atexit so
    // background threads stop before the interpreter tears down). Call with
    // the GIL held.
    static void CloseAll();

   private:
    // Installs what `create` makes, unless a client is set up already.
    template <typename Create>
    Status Install(Create create);

    // Serialises setup() and close(); held only without the GIL.
    Mutex lifecycle_mu_;
    // Guards client_ for pointer copies only, never across blocking work,
    // so taking it with the GIL held cannot deadlock.
    mutable Mutex client_mu_;
    std::shared_ptr<Client> client_ MC_GUARDED_BY(client_mu_);
    std::unique_ptr<ClientHttpServer> http_server_ MC_GUARDED_BY(lifecycle_mu_);
};

}  // namespace mooncake::python
