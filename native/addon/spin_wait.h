// The bounded spin of async_lane.h: waits for `ready()` without sleeping, until `until` at the latest.
// Gives up at once when the thread was descheduled while it spun (two looks more than 5 µs apart): another
// thread wants this CPU then, and a spinner would only take time from it (and it cannot save a wake-up
// there: only an idle CPU halts). Returns ready().
#pragma once
#include <chrono>
#include <cstdlib>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#include <sched.h>

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

template <class Ready>
bool SpinUntil(Ready ready, std::chrono::steady_clock::time_point until) {
  constexpr auto kDescheduled = std::chrono::microseconds(5);
  static const bool useYield = std::getenv("SLUICE_SPIN_YIELD") != nullptr;  // PROTOTYPE A/B
  auto last = std::chrono::steady_clock::now();
  while (!ready()) {
    if (useYield) sched_yield();
    else for (int i = 0; i < 8; ++i) CpuRelax();
    const auto now = std::chrono::steady_clock::now();
    if (now >= until || now - last > kDescheduled) return ready();
    last = now;
  }
  return true;
}
