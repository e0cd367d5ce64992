// How fast this machine moves the bytes of a one-push benchmark (read 10^7 doubles, write 10^7 doubles),
// on one thread and on two: the floor under any windowed computation that streams its output.
//   g++ -O2 -pthread bench/native/copy_floor.cc -o /tmp/copy_floor && /tmp/copy_floor
#include <emmintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

namespace {

// Non-temporal stores: the output bypasses the cache and is not read before it is written.
void StreamCopy(const double* in, double* out, size_t n) {
  for (size_t i = 0; i < n; i += 2) _mm_stream_pd(out + i, _mm_load_pd(in + i));
  _mm_sfence();
}

double NsPerEvent(const double* in, double* out, size_t n, int threads) {
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  const size_t part = n / threads;  // n is a multiple of 2·threads
  for (int t = 0; t < threads; ++t) workers.emplace_back(StreamCopy, in + t * part, out + t * part, part);
  for (auto& w : workers) w.join();
  return std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() / n;
}

}  // namespace

int main() {
  const size_t n = 10000000;
  auto* in = static_cast<double*>(std::aligned_alloc(64, n * sizeof(double)));
  auto* out = static_cast<double*>(std::aligned_alloc(64, n * sizeof(double)));
  for (size_t i = 0; i < n; ++i) in[i] = static_cast<double>(i), out[i] = 0;
  double best[3] = {1e9, 1e9, 1e9};
  for (int round = 0; round < 7; ++round) {
    best[1] = std::min(best[1], NsPerEvent(in, out, n, 1));
    best[2] = std::min(best[2], NsPerEvent(in, out, n, 2));
    const auto start = std::chrono::steady_clock::now();
    std::memcpy(out, in, n * sizeof(double));
    best[0] = std::min(best[0], std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - start).count() / n);
  }
  std::printf("copy of 10^7 doubles, fastest of 7, ns per event: memcpy %.2f, non-temporal 1 thread %.2f, 2 threads %.2f\n",
              best[0], best[1], best[2]);
  std::free(in);
  std::free(out);
}
