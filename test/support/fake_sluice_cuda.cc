// A stand-in for libsluice_cuda.so (the C ABI of native/cuda/sluice_cuda_api.h) that keeps everything in
// host memory and computes no LSTM, so the addon's CUDA classes (bindings and core wrappers) can be driven
// on a machine without a GPU: test/lstm-cuda-fake.test.ts compiles it beside a copy of sluice.node.
// What it computes is trivial and checkable: predict writes out[j] = j + 0.5; a state step adds each key's
// first input to the first float of its table row and outputs that sum plus the output index. Setting the
// environment variable SLUICE_FAKE_CUDA_FAIL to "name:status" makes the function `name` (lstm_predict,
// state_read, …) fail with that SluiceCudaStatus and the message "fake failure in name".
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "sluice_cuda_api.h"

struct SluiceCudaLstm {
  int inputSize, hidden, layers, outputs;
  int algo = SLUICE_CUDA_ALGO_AUTO;
  int lastAlgo = SLUICE_CUDA_ALGO_AUTO;
};
struct SluiceCudaLstmState {
  SluiceCudaLstm* model;
  size_t capacity, stride;
  std::vector<float> table;
};
struct SluiceCudaLstmWindows {
  SluiceCudaLstm* model;
};

namespace {

int Injected(const char* name, char* error, size_t errorSize) {
  const char* fail = std::getenv("SLUICE_FAKE_CUDA_FAIL");
  if (!fail) return SLUICE_CUDA_OK;
  const size_t length = std::strlen(name);
  if (std::strncmp(fail, name, length) != 0 || fail[length] != ':') return SLUICE_CUDA_OK;
  if (error && errorSize) std::snprintf(error, errorSize, "fake failure in %s", name);
  return std::atoi(fail + length + 1);
}

}  // namespace

extern "C" {

SLUICE_CUDA_EXPORT int sluice_cuda_abi_version(void) { return SLUICE_CUDA_ABI_VERSION; }

SLUICE_CUDA_EXPORT void sluice_cuda_probe(SluiceCudaInfo* info) {
  std::memset(info, 0, sizeof(*info));
  info->available = 1;
  info->device_count = 1;
  info->driver_version = 12040;
  info->runtime_version = 13000;
  std::snprintf(info->device_name, sizeof(info->device_name), "fake GPU");
  info->compute_capability_major = 9;
  info->total_memory = 1ull << 30;
  info->free_memory = 1ull << 29;
  info->cudnn_version = 90100;
  std::snprintf(info->cudnn_path, sizeof(info->cudnn_path), "fake");
}

SLUICE_CUDA_EXPORT int sluice_cuda_lstm_create(const SluiceCudaLstmSpec* spec, SluiceCudaLstm** model, char* error,
                                               size_t error_size) {
  *model = nullptr;
  if (int rc = Injected("lstm_create", error, error_size)) return rc;
  *model = new SluiceCudaLstm{spec->input_size, spec->hidden_size, spec->num_layers,
                              spec->head_outputs ? spec->head_outputs : spec->hidden_size};
  return SLUICE_CUDA_OK;
}

SLUICE_CUDA_EXPORT void sluice_cuda_lstm_destroy(SluiceCudaLstm* model) { delete model; }

SLUICE_CUDA_EXPORT int sluice_cuda_lstm_set_algo(SluiceCudaLstm* model, int algo, char* error, size_t error_size) {
  if (int rc = Injected("lstm_set_algo", error, error_size)) return rc;
  model->algo = algo;
  return SLUICE_CUDA_OK;
}

SLUICE_CUDA_EXPORT int sluice_cuda_lstm_info(SluiceCudaLstm* model, SluiceCudaLstmInfo* info, char* error,
                                             size_t error_size) {
  if (int rc = Injected("lstm_info", error, error_size)) return rc;
  std::memset(info, 0, sizeof(*info));
  info->device_bytes = 1000 + model->hidden;
  info->pinned_bytes = 24;
  info->last_algo = model->lastAlgo;
  std::snprintf(info->device_name, sizeof(info->device_name), "fake GPU");
  return SLUICE_CUDA_OK;
}

SLUICE_CUDA_EXPORT int sluice_cuda_lstm_predict(SluiceCudaLstm* model, const float*, int steps, int batch, int,
                                                int sequence, float* out, char* error, size_t error_size) {
  if (int rc = Injected("lstm_predict", error, error_size)) return rc;
  model->lastAlgo = model->algo == SLUICE_CUDA_ALGO_AUTO ? SLUICE_CUDA_ALGO_STANDARD : model->algo;
  const size_t length = size_t(sequence ? steps : 1) * size_t(batch) * size_t(model->outputs);
  for (size_t j = 0; j < length; ++j) out[j] = float(j) + 0.5f;
  return SLUICE_CUDA_OK;
}

SLUICE_CUDA_EXPORT int sluice_cuda_state_create(SluiceCudaLstm* model, unsigned long long capacity, int padded_hidden,
                                                SluiceCudaLstmState** state, char* error, size_t error_size) {
  *state = nullptr;
  if (int rc = Injected("state_create", error, error_size)) return rc;
  const size_t stride = size_t(model->layers) * 2 * size_t(padded_hidden);
  try {
    *state = new SluiceCudaLstmState{model, size_t(capacity), stride, std::vector<float>(size_t(capacity) * stride)};
  } catch (const std::bad_alloc&) {
    if (error && error_size) std::snprintf(error, error_size, "fake device memory is full");
    return SLUICE_CUDA_ERR_OUT_OF_MEMORY;
  }
  return SLUICE_CUDA_OK;
}

SLUICE_CUDA_EXPORT void sluice_cuda_state_destroy(SluiceCudaLstmState* state) { delete state; }

SLUICE_CUDA_EXPORT int sluice_cuda_state_step(SluiceCudaLstmState* state, const unsigned int* keys, size_t n,
                                              const float* x, float* out, char* error, size_t error_size) {
  if (int rc = Injected("state_step", error, error_size)) return rc;
  const size_t inputs = size_t(state->model->inputSize), outputs = size_t(state->model->outputs);
  for (size_t i = 0; i < n; ++i) {
    if (keys[i] >= state->capacity) return SLUICE_CUDA_ERR_INVALID_ARGUMENT;
    float& first = state->table[keys[i] * state->stride];
    first += x[i * inputs];
    for (size_t o = 0; o < outputs; ++o) out[i * outputs + o] = first + float(o);
  }
  return SLUICE_CUDA_OK;
}

SLUICE_CUDA_EXPORT int sluice_cuda_state_reset(SluiceCudaLstmState* state, const unsigned int* keys, size_t n,
                                               char* error, size_t error_size) {
  if (int rc = Injected("state_reset", error, error_size)) return rc;
  if (!keys) {
    std::fill(state->table.begin(), state->table.end(), 0.0f);
    return SLUICE_CUDA_OK;
  }
  for (size_t i = 0; i < n; ++i) {
    if (keys[i] >= state->capacity) return SLUICE_CUDA_ERR_INVALID_ARGUMENT;
    std::fill_n(state->table.begin() + keys[i] * state->stride, state->stride, 0.0f);
  }
  return SLUICE_CUDA_OK;
}

SLUICE_CUDA_EXPORT int sluice_cuda_state_read(SluiceCudaLstmState* state, float* table, char* error, size_t error_size) {
  if (int rc = Injected("state_read", error, error_size)) return rc;
  std::memcpy(table, state->table.data(), state->table.size() * sizeof(float));
  return SLUICE_CUDA_OK;
}

SLUICE_CUDA_EXPORT int sluice_cuda_state_write(SluiceCudaLstmState* state, const float* table, char* error,
                                               size_t error_size) {
  if (int rc = Injected("state_write", error, error_size)) return rc;
  std::memcpy(state->table.data(), table, state->table.size() * sizeof(float));
  return SLUICE_CUDA_OK;
}

SLUICE_CUDA_EXPORT int sluice_cuda_windows_create(SluiceCudaLstm* model, unsigned long long, int,
                                                  SluiceCudaLstmWindows** windows, char* error, size_t error_size) {
  *windows = nullptr;
  if (int rc = Injected("windows_create", error, error_size)) return rc;
  *windows = new SluiceCudaLstmWindows{model};
  return SLUICE_CUDA_OK;
}

SLUICE_CUDA_EXPORT void sluice_cuda_windows_destroy(SluiceCudaLstmWindows* windows) { delete windows; }

SLUICE_CUDA_EXPORT int sluice_cuda_windows_push(SluiceCudaLstmWindows* windows, const unsigned int*, const float*,
                                                const int*, size_t, const unsigned int*, const unsigned long long* counts,
                                                size_t k, float* out, char* error, size_t error_size) {
  if (int rc = Injected("windows_push", error, error_size)) return rc;
  const size_t outputs = size_t(windows->model->outputs);
  for (size_t i = 0; i < k; ++i) {
    for (size_t o = 0; o < outputs; ++o) out[i * outputs + o] = float(counts[i]);
  }
  return SLUICE_CUDA_OK;
}

}  // extern "C"
