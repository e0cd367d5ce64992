// Keeps the JS thread's event loop awake for a short while, so that a completion posted by another thread
// is picked up at once instead of by waking a sleeping CPU (async_lane.h says why that matters). While it
// polls, an active (unref'd) libuv idle handle makes libuv's poll phase look for events without blocking.
// It never keeps the process alive and never runs JavaScript; its owner decides when polling is worth it.
// Node-API has no such call, and the node-api-headers the addon builds against ship no uv.h: the few libuv
// functions used are declared in loop_poller.cc (libuv 1.x keeps its ABI; Node exports them for addons,
// which is what napi_get_uv_event_loop is for).
// JS thread only. Lifetime: New() makes it; Close() (in the owner's async cleanup hook) stops it, frees it
// once libuv has let go of the handle and then removes that hook, so Node runs the loop until the handle is
// closed (a Worker's loop must have no handle left when it ends).
#pragma once
#include <node_api.h>

#include <chrono>

class LoopPoller {
 public:
  using Clock = std::chrono::steady_clock;

  // Null when the loop cannot be had (napi_get_uv_event_loop fails); callers then just do not poll.
  static LoopPoller* New(napi_env env);

  // Polls until `deadline` (or Stop()); a later deadline extends a poll under way.
  void PollUntil(Clock::time_point deadline);
  void Stop();
  void Close(napi_async_cleanup_hook_handle ownerHook);

 private:
  LoopPoller() = default;
  static void OnIdle(void* handle);
  static void OnClosed(void* handle);

  void* handle_ = nullptr;  // a uv_idle_t of uv_handle_size(UV_IDLE) bytes, owned by this
  Clock::time_point deadline_{};
  bool polling_ = false;
  napi_async_cleanup_hook_handle ownerHook_ = nullptr;
};
