#include <time.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>
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

namespace {

// A gate a test opens once: onWake blocks workers on it, so they stay "asleep" as long as the test wants.
struct Gate {
  std::mutex mutex;
  std::condition_variable cv;
  bool open = false;
  std::atomic<int> waiting{0};
  void Wait() {
    std::unique_lock<std::mutex> lock(mutex);
    ++waiting;
    cv.wait(lock, [&] { return open; });
  }
  void Open() {
    { std::lock_guard<std::mutex> lock(mutex); open = true; }
    cv.notify_all();
  }
};

}  // namespace

// Run() waits for the task indices, not for the workers: with every worker held before it looks for a
// task (as a vCPU slow to wake), tiny Runs back to back all return, each done by the caller alone. A worker
// let go later finds those jobs over (it must not run their tasks: they live on the caller's stack) and
// takes part in later ones.
SLUICE_TEST(ThreadPoolRunReturnsWhileWorkersAreStillWaking) {
  Gate gate;
  ThreadPool pool(3, std::chrono::microseconds(0), [&](size_t) { gate.Wait(); });
  pool.Run(2, [](size_t, size_t) {});  // a first job: both workers wake and are held
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (gate.waiting.load() < 2 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  CHECK_EQ(gate.waiting.load(), 2);
  for (int round = 0; round < 2000; ++round) {
    const size_t count = 2 + round % 7;
    std::vector<int> hits(count, 0);  // plain ints: only the caller may touch them while the gate holds
    pool.Run(count, [&](size_t i, size_t thread) {
      CHECK_EQ(thread, size_t{0});
      hits[i] += round + 1;
    });
    for (size_t i = 0; i < count; ++i) CHECK_EQ(hits[i], round + 1);
  }
  gate.Open();
  // Now the workers join in: results stay exact, and eventually a worker runs a task.
  std::atomic<bool> workerRan{false};
  for (int round = 0; round < 200000 && !workerRan.load(); ++round) {
    std::vector<std::atomic<int>> hits(8);
    pool.Run(8, [&](size_t i, size_t thread) {
      if (thread != 0) workerRan = true;
      hits[i]++;
    });
    for (auto& h : hits) CHECK_EQ(h.load(), 1);
  }
  CHECK(workerRan.load());
}

// Many tiny Runs back to back, with workers that sleep at once after a job (spin 0: every Run() must wake
// them) and with workers that spin between Runs: every index exactly once per Run, every time.
SLUICE_TEST(ThreadPoolManyTinyRunsBackToBack) {
  for (auto spin : {std::chrono::microseconds(0), std::chrono::microseconds(200)}) {
    ThreadPool pool(2, spin);
    std::vector<std::atomic<int>> hits(4);
    for (int round = 0; round < 20000; ++round) {
      const size_t count = 2 + round % 3;
      pool.Run(count, [&](size_t i, size_t) { hits[i]++; });
    }
    CHECK_EQ(hits[0].load(), 20000);
    CHECK_EQ(hits[1].load(), 20000);
    CHECK_EQ(hits[2].load(), 20000 / 3 * 2 + 1);  // count 3 or 4: rounds 1, 2, 4, 5, ... (round % 3 != 0)
    CHECK_EQ(hits[3].load(), 20000 / 3);          // count 4: round % 3 == 2
  }
}

// A failing task on a worker, while the caller waits for it: Run() rethrows it (never a later Run()).
SLUICE_TEST(ThreadPoolRethrowsAWorkersFailure) {
  ThreadPool pool(2, std::chrono::microseconds(0));
  int thrown = 0;
  for (int round = 0; round < 500; ++round) {
    std::atomic<bool> started{false};
    try {
      pool.Run(2, [&](size_t, size_t) {
        if (!started.exchange(true)) sluice::Fail(sluice::codes::kInvalidArgument, "the first task to start fails");
      });
    } catch (const sluice::CoreError& e) {
      CHECK_EQ(std::string(e.code()), std::string(sluice::codes::kInvalidArgument));
      ++thrown;
    }
    std::atomic<int> ok{0};
    pool.Run(3, [&](size_t, size_t) { ok++; });  // no stale error
    CHECK_EQ(ok.load(), 3);
  }
  CHECK_EQ(thrown, 500);
}

// Destroying a pool whose workers spin (a long spin) ends them at once, not after their spin.
SLUICE_TEST(ThreadPoolDestructionWhileWorkersSpin) {
  for (int round = 0; round < 20; ++round) {
    const auto start = std::chrono::steady_clock::now();
    {
      ThreadPool pool(3, std::chrono::seconds(30));
      std::atomic<int> hits{0};
      pool.Run(6, [&](size_t, size_t) { hits++; });
      CHECK_EQ(hits.load(), 6);
    }
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(10));
  }
}

// An idle pool sleeps: after their spin, the workers use no CPU (a worker that spun on would use all of
// one CPU for the 300 ms; a loaded machine can only hide such a bug, never fail a correct pool).
SLUICE_TEST(ThreadPoolIdleWorkersSleep) {
  ThreadPool pool(3, std::chrono::microseconds(200));
  std::atomic<int> hits{0};
  for (int round = 0; round < 100; ++round) pool.Run(3, [&](size_t, size_t) { hits++; });
  CHECK_EQ(hits.load(), 300);
  const auto cpu = [] {
    timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;  // ms
  };
  std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the spins end
  const double before = cpu();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  CHECK(cpu() - before < 100);
}
