#include "loop_poller.h"

#include <cstdlib>

// The libuv 1.x functions used (see loop_poller.h for why they are declared here). Handles are passed as
// opaque pointers; the idle handle's memory is sized by libuv itself.
extern "C" {
struct uv_handle_s;
struct uv_idle_s;
size_t uv_handle_size(int type);
int uv_idle_init(uv_loop_s* loop, uv_idle_s* idle);
int uv_idle_start(uv_idle_s* idle, void (*callback)(uv_idle_s*));
int uv_idle_stop(uv_idle_s* idle);
void uv_unref(uv_handle_s* handle);
void uv_close(uv_handle_s* handle, void (*callback)(uv_handle_s*));
void* uv_handle_get_data(const uv_handle_s* handle);
void uv_handle_set_data(uv_handle_s* handle, void* data);
}

namespace {
constexpr int kUvIdle = 6;  // UV_IDLE in uv.h's uv_handle_type (UV_UNKNOWN_HANDLE, ASYNC, CHECK, FS_EVENT, FS_POLL, HANDLE, IDLE)

uv_idle_s* Idle(void* handle) { return static_cast<uv_idle_s*>(handle); }
uv_handle_s* Handle(void* handle) { return static_cast<uv_handle_s*>(handle); }
}  // namespace

LoopPoller* LoopPoller::New(napi_env env, Tick tick, void* owner) {
  uv_loop_s* loop = nullptr;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) return nullptr;
  void* handle = std::calloc(1, uv_handle_size(kUvIdle));
  if (handle == nullptr) return nullptr;
  if (uv_idle_init(loop, Idle(handle)) != 0) {
    std::free(handle);
    return nullptr;
  }
  auto* poller = new LoopPoller();
  poller->handle_ = handle;
  poller->tick_ = tick;
  poller->owner_ = owner;
  uv_handle_set_data(Handle(handle), poller);
  uv_unref(Handle(handle));  // polling never keeps the process alive
  return poller;
}

void LoopPoller::Start() {
  if (!polling_) polling_ = uv_idle_start(Idle(handle_), [](uv_idle_s* idle) { OnIdle(idle); }) == 0;
}

void LoopPoller::Stop() {
  if (!polling_) return;
  uv_idle_stop(Idle(handle_));
  polling_ = false;
}

void LoopPoller::OnIdle(void* handle) {
  auto* poller = static_cast<LoopPoller*>(uv_handle_get_data(Handle(handle)));
  poller->tick_(poller->owner_);
}

void LoopPoller::Close(napi_async_cleanup_hook_handle ownerHook) {
  Stop();
  ownerHook_ = ownerHook;
  uv_close(Handle(handle_), [](uv_handle_s* handle) { OnClosed(handle); });
}

void LoopPoller::OnClosed(void* handle) {
  auto* poller = static_cast<LoopPoller*>(uv_handle_get_data(Handle(handle)));
  napi_async_cleanup_hook_handle ownerHook = poller->ownerHook_;
  delete poller;
  std::free(handle);
  if (ownerHook != nullptr) napi_remove_async_cleanup_hook(ownerHook);
}
