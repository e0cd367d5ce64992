#include <atomic>
#include <vector>

#include "tests/check.h"
#include "base/thread_pool.h"

using sluice::ThreadPool;

SLUICE_TEST(ThreadPoolRunsEveryIndexOnce) {
  for (size_t threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    CHECK_EQ(pool.threads(), threads);
    for (size_t count : {0, 1, 2, 5, 100}) {
      std::vector<std::atomic<int>> hits(count);
      std::vector<std::atomic<int>> busy(threads);  // a thread index is never used twice at once
      std::atomic<bool> overlap{false};
      for (int round = 0; round < 20; ++round) {
        pool.Run(count, [&](size_t i, size_t thread) {
          if (thread >= threads || busy[thread]++ != 0) overlap = true;
          hits[i]++;
          busy[thread]--;
        });
      }
      for (auto& h : hits) CHECK_EQ(h.load(), 20);
      CHECK(!overlap.load());
    }
  }
}

SLUICE_TEST(ThreadPoolRethrowsAFailingTaskAndKeepsWorking) {
  ThreadPool pool(3);
  std::atomic<int> done{0};
  CHECK_THROWS_CODE(pool.Run(10, [&](size_t i, size_t) {
    if (i == 4) sluice::Fail(sluice::codes::kInvalidArgument, "task 4 fails");
    done++;
  }), sluice::codes::kInvalidArgument);
  CHECK_EQ(done.load(), 9);
  std::atomic<int> again{0};
  pool.Run(6, [&](size_t, size_t) { again++; });
  CHECK_EQ(again.load(), 6);
}

SLUICE_TEST(ThreadPoolDefaultsToTheMachine) {
  ThreadPool pool;
  CHECK_EQ(pool.threads(), ThreadPool::HardwareThreads());
}
