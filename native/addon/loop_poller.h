// Keeps the JS thread's event loop awake while its owner waits for something another thread will post, and
// calls the owner once per loop iteration meanwhile, so the owner can take what was posted itself instead of
// being woken (async_lane.h says why both matter). While it polls, an active (unref'd) libuv idle handle
// makes libuv's poll phase look for events without blocking. It never keeps the process alive; its owner
// decides when polling is worth it and when it ends.
// Node-API has no such call, and the node-api-headers the addon builds against ship no uv.h: the few libuv
// functions used are declared in loop_poller.cc (libuv 1.x keeps its ABI; Node exports them for addons,
// which is what napi_get_uv_event_loop is for).
// JS thread only. Lifetime: New() makes it; Close() (in the owner's async cleanup hook) stops it, frees it
// once libuv has let go of the handle and then removes that hook, so Node runs the loop until the handle is
// closed (a Worker's loop must have no handle left when it ends).
#pragma once
#include <node_api.h>

class LoopPoller {
 public:
  // Called on the JS thread once per loop iteration while polling, outside any JavaScript (a libuv callback).
  using Tick = void (*)(void* owner);

  // Null when the loop cannot be had (napi_get_uv_event_loop fails); callers then just do not poll.
  static LoopPoller* New(napi_env env, Tick tick, void* owner);

  bool polling() const { return polling_; }
  void Start();
  void Stop();
  void Close(napi_async_cleanup_hook_handle ownerHook);

 private:
  LoopPoller() = default;
  static void OnIdle(void* handle);
  static void OnClosed(void* handle);

  void* handle_ = nullptr;  // a uv_idle_t of uv_handle_size(UV_IDLE) bytes, owned by this
  Tick tick_ = nullptr;
  void* owner_ = nullptr;
  bool polling_ = false;
  napi_async_cleanup_hook_handle ownerHook_ = nullptr;
};
