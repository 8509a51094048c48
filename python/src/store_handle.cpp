#include "store_handle.h"

#include <Python.h>
#include <glog/logging.h>

#include <set>
#include <utility>
#include <vector>

namespace mooncake::python {
namespace {

// Live handles, so that CloseAll() can reach stores the user never closed.
Mutex& RegistryMutex() {
    static Mutex mu;
    return mu;
}

std::set<StoreHandle*>& Registry() {
    static std::set<StoreHandle*> handles;
    return handles;
}

// True when the interpreter is shutting down (the GIL must not be let go).
bool InterpreterFinalizing() {
#if PY_VERSION_HEX >= 0x030D0000
    return Py_IsFinalizing();
#else
    return _Py_IsFinalizing();
#endif
}

}  // namespace

StoreHandle::StoreHandle() {
    MutexLock lock(RegistryMutex());
    Registry().insert(this);
}

StoreHandle::~StoreHandle() {
    {
        MutexLock lock(RegistryMutex());
        Registry().erase(this);
    }
    // A store garbage-collected while set up closes here, maybe waiting on
    // the master: let other Python threads run meanwhile when it is safe.
    const bool release_gil = client() != nullptr && Py_IsInitialized() && PyGILState_Check() == 1 &&
                             !InterpreterFinalizing();
    if (!release_gil) {
        (void)Close();
        return;
    }
    PyThreadState* saved = PyEval_SaveThread();
    (void)Close();
    PyEval_RestoreThread(saved);
}

template <typename Create>
Status StoreHandle::Install(Create create) {
    MutexLock lifecycle(lifecycle_mu_);
    if (client() != nullptr) {
        LOG(ERROR) << "setup: this store is already set up as " << client()->GetHostname()
                   << "; call close() first";
        return Error(ErrorCode::UNAVAILABLE_IN_CURRENT_STATUS);
    }
    Result<std::unique_ptr<Client>> created = create();
    if (!created.has_value()) {
        LOG(ERROR) << "setup: creating the client failed: " << created.error();
        return Error(created.error());
    }
    std::shared_ptr<Client> client = std::move(*created);
    MutexLock lock(client_mu_);
    client_ = std::move(client);
    return OkStatus();
}

Status StoreHandle::Setup(const ClientConfig& config) {
    return Install([&config] { return Client::Create(config); });
}

Status StoreHandle::SetupDummy(const DummyClientConfig& config) {
    return Install([&config] { return Client::ConnectDummy(config); });
}

void StoreHandle::StartHttpServer(uint16_t port) {
    MutexLock lifecycle(lifecycle_mu_);
    std::shared_ptr<Client> current = client();
    const std::string hostname = current ? current->GetHostname() : std::string("localhost");
    auto server = ClientHttpServer::Start(hostname, port, [this] { return client(); });
    if (!server.has_value()) {
        LOG(WARNING) << "setup: the client HTTP server did not start: " << server.error()
                     << " (the store works without it)";
        return;
    }
    http_server_ = std::move(*server);
    LOG(INFO) << "Client HTTP server on port " << http_server_->port();
}

Status StoreHandle::Close() {
    MutexLock lifecycle(lifecycle_mu_);
    http_server_.reset();  // its handlers read client_
    std::shared_ptr<Client> client;
    {
        MutexLock lock(client_mu_);
        client = std::move(client_);
        client_.reset();
    }
    if (client == nullptr) return OkStatus();
    return client->Close();
}

std::shared_ptr<Client> StoreHandle::client() const {
    MutexLock lock(client_mu_);
    return client_;
}

void StoreHandle::CloseAll() {
    std::vector<StoreHandle*> handles;
    {
        MutexLock lock(RegistryMutex());
        handles.assign(Registry().begin(), Registry().end());
    }
    // Handles are destroyed only by Python with the GIL held; the caller
    // keeps the GIL for this whole loop, so none can go away under it.
    // Close() never waits for the GIL, so holding it here cannot deadlock.
    for (StoreHandle* handle : handles) (void)handle->Close();
}

}  // namespace mooncake::python
