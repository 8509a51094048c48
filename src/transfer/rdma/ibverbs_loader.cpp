#include "transfer/rdma/ibverbs_loader.h"

#include <dlfcn.h>
#include <glog/logging.h>

#include <atomic>
#include <mutex>
#include <string>

// Hidden: the definitions below satisfy the transport's references inside
// each of our binaries and are never exported, so a process that also links
// the real libibverbs keeps using it for its own calls.
#pragma GCC visibility push(hidden)
#include <infiniband/verbs.h>
#pragma GCC visibility pop

namespace mooncake::rdma {

namespace {

// (symbol in libibverbs, member of IbverbsApi). Every libibverbs function
// ibverbs_provider.cpp references, directly or through the inline helpers of
// <infiniband/verbs.h>; a missing one fails the link (hidden undefined).
#define MOONCAKE_IBVERBS_FUNCTIONS(X)                 \
    X(ibv_get_device_list, get_device_list)           \
    X(ibv_free_device_list, free_device_list)         \
    X(ibv_get_device_name, get_device_name)           \
    X(ibv_open_device, open_device)                   \
    X(ibv_close_device, close_device)                 \
    X(ibv_query_device, query_device)                 \
    X(ibv_query_port, query_port)                     \
    X(ibv_query_gid, query_gid)                       \
    X(_ibv_query_gid_ex, query_gid_ex)                \
    X(ibv_alloc_pd, alloc_pd)                         \
    X(ibv_dealloc_pd, dealloc_pd)                     \
    X(ibv_create_comp_channel, create_comp_channel)   \
    X(ibv_destroy_comp_channel, destroy_comp_channel) \
    X(ibv_create_cq, create_cq)                       \
    X(ibv_destroy_cq, destroy_cq)                     \
    X(ibv_get_cq_event, get_cq_event)                 \
    X(ibv_ack_cq_events, ack_cq_events)               \
    X(ibv_reg_mr, reg_mr)                             \
    X(ibv_reg_mr_iova2, reg_mr_iova2)                 \
    X(ibv_dereg_mr, dereg_mr)                         \
    X(ibv_create_qp, create_qp)                       \
    X(ibv_modify_qp, modify_qp)                       \
    X(ibv_destroy_qp, destroy_qp)                     \
    X(ibv_wc_status_str, wc_status_str)

struct IbverbsApi {
#define MOONCAKE_IBVERBS_MEMBER(symbol, member) decltype(&::symbol) member = nullptr;
    MOONCAKE_IBVERBS_FUNCTIONS(MOONCAKE_IBVERBS_MEMBER)
#undef MOONCAKE_IBVERBS_MEMBER
};

struct LoadState {
    std::once_flag once;
    IbverbsApi api;
    std::atomic<bool> loaded{false};
    std::string why;
};

LoadState& State() {
    static LoadState state;
    return state;
}

std::string InstallHint() {
    return "; install rdma-core's libibverbs and the NIC's provider (Debian/Ubuntu: apt-get "
           "install libibverbs1 ibverbs-providers; RHEL: dnf install libibverbs) or use "
           "protocol=tcp";
}

void Load(LoadState& state) {
    // Never closed: providers and verbs objects live until the process ends.
    void* handle = dlopen(kIbverbsLibrary, RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
        const char* error = dlerror();
        state.why = std::string(kIbverbsLibrary) + " cannot be loaded (" +
                    (error != nullptr ? error : "unknown error") + ")" + InstallHint();
        return;
    }
#define MOONCAKE_IBVERBS_RESOLVE(symbol, member)                                             \
    state.api.member = reinterpret_cast<decltype(state.api.member)>(dlsym(handle, #symbol)); \
    if (state.api.member == nullptr) {                                                       \
        state.why = std::string(kIbverbsLibrary) +                                           \
                    " lacks " #symbol " (rdma-core older than v22?)" + InstallHint();        \
        return;                                                                              \
    }
    MOONCAKE_IBVERBS_FUNCTIONS(MOONCAKE_IBVERBS_RESOLVE)
#undef MOONCAKE_IBVERBS_RESOLVE
    state.loaded.store(true, std::memory_order_release);
}

// The loaded table for the forwarding functions. The transport loads first,
// so reaching here unloaded is a bug in our code, not a host problem.
const IbverbsApi& Api() {
    LoadState& state = State();
    if (!state.loaded.load(std::memory_order_acquire)) {
        std::string why;
        CHECK(LoadIbverbs(&why).has_value()) << "libibverbs used before it was loaded: " << why;
    }
    return state.api;
}

}  // namespace

Status LoadIbverbs(std::string* why) {
    LoadState& state = State();
    std::call_once(state.once, [&state] { Load(state); });
    if (state.loaded.load(std::memory_order_acquire)) return OkStatus();
    if (why != nullptr) *why = state.why;
    return Error(ErrorCode::UNAVAILABLE_IN_CURRENT_MODE);
}

}  // namespace mooncake::rdma

// The forwarding definitions. Names in parentheses are also function-like
// macros of <infiniband/verbs.h>.
using mooncake::rdma::Api;

extern "C" {

ibv_device** ibv_get_device_list(int* count) { return Api().get_device_list(count); }
void ibv_free_device_list(ibv_device** list) { Api().free_device_list(list); }
const char* ibv_get_device_name(ibv_device* device) { return Api().get_device_name(device); }
ibv_context* ibv_open_device(ibv_device* device) { return Api().open_device(device); }
int ibv_close_device(ibv_context* context) { return Api().close_device(context); }
int ibv_query_device(ibv_context* context, ibv_device_attr* attr) {
    return Api().query_device(context, attr);
}
int(ibv_query_port)(ibv_context* context, uint8_t port, _compat_ibv_port_attr* attr) {
    return Api().query_port(context, port, attr);
}
int ibv_query_gid(ibv_context* context, uint8_t port, int index, ibv_gid* gid) {
    return Api().query_gid(context, port, index, gid);
}
int _ibv_query_gid_ex(ibv_context* context, uint32_t port, uint32_t index, ibv_gid_entry* entry,
                      uint32_t flags, size_t entry_size) {
    return Api().query_gid_ex(context, port, index, entry, flags, entry_size);
}
ibv_pd* ibv_alloc_pd(ibv_context* context) { return Api().alloc_pd(context); }
int ibv_dealloc_pd(ibv_pd* pd) { return Api().dealloc_pd(pd); }
ibv_comp_channel* ibv_create_comp_channel(ibv_context* context) {
    return Api().create_comp_channel(context);
}
int ibv_destroy_comp_channel(ibv_comp_channel* channel) {
    return Api().destroy_comp_channel(channel);
}
ibv_cq* ibv_create_cq(ibv_context* context, int entries, void* cq_context,
                      ibv_comp_channel* channel, int vector) {
    return Api().create_cq(context, entries, cq_context, channel, vector);
}
int ibv_destroy_cq(ibv_cq* cq) { return Api().destroy_cq(cq); }
int ibv_get_cq_event(ibv_comp_channel* channel, ibv_cq** cq, void** cq_context) {
    return Api().get_cq_event(channel, cq, cq_context);
}
void ibv_ack_cq_events(ibv_cq* cq, unsigned int count) { Api().ack_cq_events(cq, count); }
ibv_mr*(ibv_reg_mr)(ibv_pd* pd, void* address, size_t length, int access) {
    return Api().reg_mr(pd, address, length, access);
}
ibv_mr* ibv_reg_mr_iova2(ibv_pd* pd, void* address, size_t length, uint64_t iova,
                         unsigned int access) {
    return Api().reg_mr_iova2(pd, address, length, iova, access);
}
int ibv_dereg_mr(ibv_mr* mr) { return Api().dereg_mr(mr); }
ibv_qp* ibv_create_qp(ibv_pd* pd, ibv_qp_init_attr* attr) { return Api().create_qp(pd, attr); }
int ibv_modify_qp(ibv_qp* qp, ibv_qp_attr* attr, int mask) {
    return Api().modify_qp(qp, attr, mask);
}
int ibv_destroy_qp(ibv_qp* qp) { return Api().destroy_qp(qp); }
const char* ibv_wc_status_str(ibv_wc_status status) { return Api().wc_status_str(status); }

}  // extern "C"
