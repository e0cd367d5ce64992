// One turn of a bounded spin (async_lane.h, loop_poller.h): gives the CPU away (sched_yield) and says whether
// the CPU was idle, i.e. nothing else ran in between. A yield returns in well under a µs when nothing else
// is runnable here; longer means another thread took the core, and a spin on a busy CPU only takes time
// from others (and it cannot save a wake-up there: only an idle vCPU halts), so the spinner should block.
#pragma once
#include <sched.h>

#include <chrono>

inline bool YieldOnIdleCpu() {
  constexpr auto kAnotherThreadRan = std::chrono::microseconds(5);
  const auto before = std::chrono::steady_clock::now();
  sched_yield();
  return std::chrono::steady_clock::now() - before < kAnotherThreadRan;
}
