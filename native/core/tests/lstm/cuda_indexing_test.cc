// The CUDA kernels' index arithmetic (native/cuda/lstm_indexing.h), checked on the CPU against the layouts
// the CPU engine uses, so that device results, snapshots and windows mean the same on both backends.
#include <map>
#include <random>
#include <vector>

#include "../../../cuda/lstm_indexing.h"
#include "tests/check.h"
#include "tests/lstm/lstm_reference.h"
#include "lstm/lstm_state.h"
#include "lstm/lstm_windows.h"

using namespace sluice;
namespace ix = sluice::cuda_indexing;

SLUICE_TEST(cuda_indexing_batch_first_transpose) {
  const size_t steps = 3, batch = 4, width = 5;
  for (size_t t = 0; t < steps; ++t)
    for (size_t b = 0; b < batch; ++b)
      for (size_t j = 0; j < width; ++j) {
        const size_t seqMajor = (t * batch + b) * width + j, batchMajor = (b * steps + t) * width + j;
        CHECK_EQ(ix::BatchFirstSource(seqMajor, steps, batch, width), batchMajor);
      }
}

SLUICE_TEST(cuda_indexing_output_rows) {
  const size_t steps = 4, batch = 3;
  for (size_t b = 0; b < batch; ++b) CHECK_EQ(ix::EmitSourceRow(ix::kLast, b, steps, batch), (steps - 1) * batch + b);
  for (size_t t = 0; t < steps; ++t)
    for (size_t b = 0; b < batch; ++b) {
      CHECK_EQ(ix::EmitSourceRow(ix::kSequence, t * batch + b, steps, batch), t * batch + b);
      CHECK_EQ(ix::EmitSourceRow(ix::kSequenceBatchFirst, b * steps + t, steps, batch), t * batch + b);
    }
}

SLUICE_TEST(cuda_indexing_state_table_is_the_cpu_layout) {
  test::RandomLstm weights(3, 2, 5, 0, 1);
  auto model = std::make_shared<LstmModel>(weights.Spec(), 1);
  LstmState state(model, 7);
  const size_t L = model->numLayers(), Hp = model->paddedHidden();
  const float* base = state.Hidden(0, 0);
  for (uint32_t key = 0; key < 7; ++key)
    for (size_t l = 0; l < L; ++l) {
      CHECK_EQ(size_t(state.Hidden(key, l) - base), ix::StateOffset(key, l, 0, L, Hp));
      CHECK_EQ(size_t(state.Cell(key, l) - base), ix::StateOffset(key, l, 0, L, Hp) + Hp);
    }
  CHECK_EQ(ix::StateOffset(1, 0, 0, L, Hp), model->StateStride());
  const size_t n = 6, H = 5;
  for (size_t l = 0; l < L; ++l)
    for (size_t k = 0; k < n; ++k)
      for (size_t j = 0; j < H; ++j) {
        const ix::StateElement e = ix::StateElementOf((l * n + k) * H + j, n, H);  // cuDNN's hx is [layer][n][H]
        CHECK(e.k == k && e.layer == l && e.j == j);
      }
}

// BuildWindows reads row r of a key from ring slot r % steps; WindowBook must have put it there, and no
// later event of the batch may have overwritten it.
SLUICE_TEST(cuda_indexing_windows_read_what_the_book_wrote) {
  const size_t steps = 4, capacity = 6;
  WindowBook book(capacity, steps);
  std::vector<std::vector<int64_t>> ring(capacity, std::vector<int64_t>(steps, -1));  // the row each slot holds
  std::vector<uint64_t> rows(capacity, 0);
  std::mt19937 rng(3);
  WindowBook::Batch batch;
  for (int round = 0; round < 40; ++round) {
    std::vector<uint32_t> keys(1 + rng() % 15);
    for (uint32_t& k : keys) k = rng() % (round < 20 ? 2 : capacity);
    book.Plan({keys.data(), keys.size()}, &batch);
    // Apply in parallel-write semantics: skipped events (−1) write nothing, the others never share a slot.
    std::map<std::pair<uint32_t, int32_t>, int> writes;
    for (size_t i = 0; i < keys.size(); ++i) {
      const int64_t row = static_cast<int64_t>(rows[keys[i]]++);
      if (batch.slots[i] < 0) continue;
      CHECK_EQ(batch.slots[i], static_cast<int32_t>(row % steps));
      const int writesToSlot = ++writes[std::make_pair(keys[i], batch.slots[i])];
      CHECK_EQ(writesToSlot, 1);
      ring[keys[i]][size_t(batch.slots[i])] = row;
    }
    for (size_t b = 0; b < batch.keys.size(); ++b) {
      CHECK_EQ(batch.counts[b], rows[batch.keys[b]]);
      for (size_t t = 0; t < steps; ++t) {
        const int64_t r = ix::WindowRow(batch.counts[b], steps, t);
        if (r >= 0) CHECK_EQ(ring[batch.keys[b]][size_t(r) % steps], r);
      }
    }
  }
}
