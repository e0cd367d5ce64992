// A bounded spin (the async lane's worker, the thread pool's workers and caller): waits for `ready()`
// without sleeping, until `until` at the latest, with the CPU's spin-wait hint (pause / yield) between
// looks. Gives up at once when the thread was descheduled while it spun (two looks more than 5 µs apart):
// another thread wants this CPU then, a spinner only takes time from it, and it cannot save a wake-up there
// (only an idle CPU halts). Returns ready().
#pragma once
#include <chrono>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace sluice {

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
  auto last = std::chrono::steady_clock::now();
  while (!ready()) {
    for (int i = 0; i < 8; ++i) CpuRelax();  // a few hundred ns between looks at the clock
    const auto now = std::chrono::steady_clock::now();
    if (now >= until || now - last > kDescheduled) return ready();
    last = now;
  }
  return true;
}

}  // namespace sluice
