// LSTM inference on the GPU with cuDNN 9's RNN API (cudnnRNNForward, inference mode), behind the C ABI of
// sluice_cuda_api.h. One model = one CUDA stream + one cuDNN handle + the weights, uploaded once into
// cuDNN's weight space for each algorithm (placed with cudnnGetRNNWeightParams from PyTorch's layout).
// Host data goes through page-locked staging buffers; every call ends with the stream synchronised on the
// calling thread (the addon calls the async forms from a worker thread, off the JS event loop).
// Per-key states live in device memory in the CPU table's layout ([key][layer][h, c][Hp]); a step gathers
// the listed keys' (h, c) into cuDNN's hx/cx, runs one step and scatters hy/cy back.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <set>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "cudnn_api.h"
#include "cudnn_loader.h"
#include "lstm_indexing.h"
#include "sluice_cuda_api.h"

namespace {

namespace cd = sluice::cudnn;
namespace ix = sluice::cuda_indexing;

// Thrown inside this file only; every exported function catches it and returns its status.
struct Failure {
  int status;
  std::string message;
};

[[noreturn]] void Fail(int status, std::string message) { throw Failure{status, std::move(message)}; }

void CheckCuda(cudaError_t error, const char* what) {
  if (error == cudaSuccess) return;
  const int status = error == cudaErrorMemoryAllocation ? SLUICE_CUDA_ERR_OUT_OF_MEMORY : SLUICE_CUDA_ERR_DEVICE;
  Fail(status, std::string(what) + ": " + cudaGetErrorString(error) + " (cudaError " + std::to_string(error) + ")");
}

const cd::Api& Cudnn() {
  const sluice::cuda::CudnnLibrary& library = sluice::cuda::LoadCudnn();
  if (!library.handle) Fail(SLUICE_CUDA_ERR_NOT_SUPPORTED, library.reason);
  return library.api;
}

int StatusOf(cd::Status status) {
  if (status == cd::kStatusInternalErrorDeviceAllocationFailed) return SLUICE_CUDA_ERR_OUT_OF_MEMORY;
  if (status >= 3000 && status < 4000) return SLUICE_CUDA_ERR_NOT_SUPPORTED;
  return SLUICE_CUDA_ERR_DEVICE;
}

void CheckCudnn(cd::Status status, const char* what) {
  if (status == cd::kStatusSuccess) return;
  const char* text = Cudnn().GetErrorString(status);
  Fail(StatusOf(status), std::string(what) + ": " + (text ? text : "?") + " (cudnnStatus " + std::to_string(status) + ")");
}

void WriteError(char* error, size_t size, const std::string& message) {
  if (!error || size == 0) return;
  std::snprintf(error, size, "%s", message.c_str());
}

// Runs body; turns every exception into a status and a message (nothing crosses the C ABI).
template <class Body>
int Guard(char* error, size_t errorSize, Body body) {
  try {
    body();
    return SLUICE_CUDA_OK;
  } catch (const Failure& f) {
    WriteError(error, errorSize, f.message);
    return f.status;
  } catch (const std::bad_alloc&) {
    WriteError(error, errorSize, "out of host memory");
    return SLUICE_CUDA_ERR_OUT_OF_MEMORY;
  } catch (const std::exception& e) {
    WriteError(error, errorSize, e.what());
    return SLUICE_CUDA_ERR_DEVICE;
  } catch (...) {
    WriteError(error, errorSize, "unknown failure in libsluice_cuda");
    return SLUICE_CUDA_ERR_DEVICE;
  }
}

// A buffer that only grows, in device memory or in pinned host memory (Memory names the allocator). Calls
// on a model are serialised and each ends synchronised, so a buffer is idle whenever it is resized.
template <class Memory>
struct GrowingBuffer {
  void* ptr = nullptr;
  size_t bytes = 0;
  GrowingBuffer() = default;
  GrowingBuffer(const GrowingBuffer&) = delete;
  GrowingBuffer& operator=(const GrowingBuffer&) = delete;
  ~GrowingBuffer() {
    if (ptr) Memory::Free(ptr);
  }
  void Reserve(size_t wanted, const char* what) {
    if (wanted <= bytes) return;
    if (ptr) Memory::Free(ptr);
    ptr = nullptr;
    bytes = 0;
    CheckCuda(Memory::Allocate(&ptr, wanted), what);
    bytes = wanted;
  }
  template <class T>
  T* As() const {
    return static_cast<T*>(ptr);
  }
};

struct DeviceMemory {
  static cudaError_t Allocate(void** ptr, size_t bytes) { return cudaMalloc(ptr, bytes); }
  static void Free(void* ptr) { cudaFree(ptr); }
};
struct PinnedMemory {
  static cudaError_t Allocate(void** ptr, size_t bytes) { return cudaHostAlloc(ptr, bytes, cudaHostAllocDefault); }
  static void Free(void* ptr) { cudaFreeHost(ptr); }
};
using DeviceBuffer = GrowingBuffer<DeviceMemory>;
using PinnedBuffer = GrowingBuffer<PinnedMemory>;

// ---- kernels -----------------------------------------------------------------------------------------

constexpr int kThreads = 256;

unsigned Blocks(size_t work) {
  const size_t blocks = (work + kThreads - 1) / kThreads;
  return static_cast<unsigned>(std::min<size_t>(std::max<size_t>(blocks, 1), 65535 * 8));
}

// [batch][steps][I] → [steps][batch][I]
__global__ void BatchToSeqMajor(const float* __restrict__ in, float* __restrict__ out, size_t steps, size_t batch,
                                size_t width) {
  const size_t total = steps * batch * width;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < total; i += size_t(gridDim.x) * blockDim.x) {
    out[i] = in[ix::BatchFirstSource(i, steps, batch, width)];
  }
}

// Output rows from cuDNN's y ([steps][batch][H]): row r of the result reads y row EmitSourceRow(r) and
// writes either that hidden state or the head's outputs (bias + W·h).
using ix::EmitMode;
using ix::kLast;
using ix::kSequence;
using ix::kSequenceBatchFirst;

__global__ void Emit(const float* __restrict__ y, size_t steps, size_t batch, size_t hidden, int mode,
                     const float* __restrict__ headWeight, const float* __restrict__ headBias, size_t outputs,
                     float* __restrict__ out) {
  const size_t rows = mode == kLast ? batch : steps * batch;
  const size_t width = headWeight ? outputs : hidden;
  const size_t total = rows * width;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < total; i += size_t(gridDim.x) * blockDim.x) {
    const size_t o = i % width, r = i / width;
    const float* h = y + ix::EmitSourceRow(mode, r, steps, batch) * hidden;
    if (!headWeight) {
      out[i] = h[o];
      continue;
    }
    const float* w = headWeight + o * hidden;
    float sum = 0.f;
    for (size_t k = 0; k < hidden; ++k) sum = fmaf(w[k], h[k], sum);
    out[i] = sum + (headBias ? headBias[o] : 0.f);
  }
}

// table [key][layer][h, c][paddedHidden] ↔ cuDNN's hx/cx [layer][n][hidden].
__global__ void GatherState(const float* __restrict__ table, const unsigned* __restrict__ keys, size_t n,
                            size_t layers, size_t hidden, size_t paddedHidden, float* __restrict__ hx,
                            float* __restrict__ cx) {
  const size_t total = layers * n * hidden;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < total; i += size_t(gridDim.x) * blockDim.x) {
    const ix::StateElement e = ix::StateElementOf(i, n, hidden);
    const float* src = table + ix::StateOffset(keys[e.k], e.layer, e.j, layers, paddedHidden);
    hx[i] = src[0];
    cx[i] = src[paddedHidden];
  }
}

__global__ void ScatterState(const float* __restrict__ hy, const float* __restrict__ cy,
                             const unsigned* __restrict__ keys, size_t n, size_t layers, size_t hidden,
                             size_t paddedHidden, float* __restrict__ table) {
  const size_t total = layers * n * hidden;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < total; i += size_t(gridDim.x) * blockDim.x) {
    const ix::StateElement e = ix::StateElementOf(i, n, hidden);
    float* dst = table + ix::StateOffset(keys[e.k], e.layer, e.j, layers, paddedHidden);
    dst[0] = hy[i];
    dst[paddedHidden] = cy[i];
  }
}

__global__ void ZeroKeys(const unsigned* __restrict__ keys, size_t n, size_t stride, float* __restrict__ table) {
  const size_t total = n * stride;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < total; i += size_t(gridDim.x) * blockDim.x) {
    table[size_t(keys[i / stride]) * stride + i % stride] = 0.f;
  }
}

// Event e's row x[e] into its key's ring slot (slots[e] < 0: overwritten later in the batch, skipped).
__global__ void ScatterEvents(const unsigned* __restrict__ keys, const int* __restrict__ slots,
                              const float* __restrict__ x, size_t n, size_t steps, size_t width,
                              float* __restrict__ rings) {
  const size_t total = n * width;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < total; i += size_t(gridDim.x) * blockDim.x) {
    const size_t e = i / width, j = i % width;
    if (slots[e] < 0) continue;
    rings[(size_t(keys[e]) * steps + size_t(slots[e])) * width + j] = x[i];
  }
}

// The LSTM input [steps][k][I] from the rings: row t of key b is the key's row counts[b] − steps + t ever
// pushed (zeros before its first).
__global__ void BuildWindows(const float* __restrict__ rings, const unsigned* __restrict__ keys,
                             const unsigned long long* __restrict__ counts, size_t k, size_t steps, size_t width,
                             float* __restrict__ x) {
  const size_t total = steps * k * width;
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < total; i += size_t(gridDim.x) * blockDim.x) {
    const size_t j = i % width, row = i / width;
    const size_t b = row % k, t = row / k;
    const int64_t r = ix::WindowRow(counts[b], steps, t);
    x[i] = r < 0 ? 0.f : rings[(size_t(keys[b]) * steps + size_t(r) % steps) * width + j];
  }
}

__global__ void FillInt(int32_t* __restrict__ out, size_t n, int32_t value) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) out[i] = value;
}

void CheckLaunch(const char* what) { CheckCuda(cudaGetLastError(), what); }

}  // namespace

// ---- the model -----------------------------------------------------------------------------------------

struct SluiceCudaLstm {
  // One cuDNN RNN descriptor and weight space per algorithm.
  struct Plan {
    cd::RnnAlgo algo = cd::kAlgoStandard;
    cd::RnnDescriptor rnn = nullptr;
    DeviceBuffer weights;
    size_t weightBytes = 0;
    bool usable = false;        // descriptor set and weights placed
    std::string unusableReason;
    int workSteps = -1, workBatch = -1;  // the shape workBytes was queried for
    size_t workBytes = 0;
  };

  const cd::Api* api = nullptr;
  int inputSize = 0, hidden = 0, layers = 0, headOutputs = 0;
  cudaStream_t stream = nullptr;
  cd::Handle handle = nullptr;
  cd::DropoutDescriptor dropout = nullptr;
  DeviceBuffer dropoutStates;
  Plan plans[2];  // [0] STANDARD, [1] PERSIST_STATIC
  cd::RnnDataDescriptor xDesc = nullptr, yDesc = nullptr;
  cd::TensorDescriptor hDesc = nullptr, cDesc = nullptr;
  int descSteps = -1, descBatch = -1;
  int seqFilledSteps = -1;  // seqLengths holds seqFilledCount copies of seqFilledSteps
  size_t seqFilledCount = 0;
  DeviceBuffer headWeight, headBias;
  DeviceBuffer x, xBatchFirst, y, hx, cx, hy, cy, seqLengths, work, out, keys;
  PinnedBuffer pinnedIn, pinnedOut, pinnedKeys;
  std::vector<int> hostSeqLengths;
  int requestedAlgo = SLUICE_CUDA_ALGO_AUTO;
  int lastAlgo = 0;
  std::set<std::pair<int, int>> persistRefused;  // (steps, batch) shapes the persistent kernel refused
  char deviceName[256] = {0};
  std::mutex mutex;

  ~SluiceCudaLstm() {
    if (stream) cudaStreamSynchronize(stream);
    if (api) {
      for (Plan& plan : plans) {
        if (plan.rnn) api->DestroyRNNDescriptor(plan.rnn);
      }
      if (xDesc) api->DestroyRNNDataDescriptor(xDesc);
      if (yDesc) api->DestroyRNNDataDescriptor(yDesc);
      if (hDesc) api->DestroyTensorDescriptor(hDesc);
      if (cDesc) api->DestroyTensorDescriptor(cDesc);
      if (dropout) api->DestroyDropoutDescriptor(dropout);
      if (handle) api->Destroy(handle);
    }
    if (stream) cudaStreamDestroy(stream);
  }

  size_t OutputWidth() const { return headOutputs > 0 ? size_t(headOutputs) : size_t(hidden); }

  size_t DeviceBytes() const {
    size_t total = dropoutStates.bytes + headWeight.bytes + headBias.bytes;
    for (const DeviceBuffer* b : {&x, &xBatchFirst, &y, &hx, &cx, &hy, &cy, &seqLengths, &work, &out, &keys}) {
      total += b->bytes;
    }
    for (const Plan& plan : plans) total += plan.weights.bytes;
    return total;
  }

  // Sets the RNN descriptor of `plan`, with a dropout descriptor only if cuDNN insists on one.
  cd::Status SetDescriptor(Plan& plan) {
    return api->SetRNNDescriptor_v8(plan.rnn, plan.algo, cd::kLstm, cd::kDoubleBias, cd::kUnidirectional,
                                    cd::kLinearInput, cd::kDataFloat, cd::kDataFloat, cd::kFmaMath, inputSize, hidden,
                                    hidden, layers, dropout, cd::kPaddedIoDisabled);
  }

  void EnsureDropout() {
    if (dropout) return;
    CheckCudnn(api->CreateDropoutDescriptor(&dropout), "cudnnCreateDropoutDescriptor");
    size_t stateBytes = 0;
    CheckCudnn(api->DropoutGetStatesSize(handle, &stateBytes), "cudnnDropoutGetStatesSize");
    dropoutStates.Reserve(std::max<size_t>(stateBytes, 1), "dropout states");
    CheckCudnn(api->SetDropoutDescriptor(dropout, handle, 0.f, dropoutStates.ptr, stateBytes, 0),
               "cudnnSetDropoutDescriptor");
  }

  void PlaceWeights(Plan& plan, const SluiceCudaLstmSpec& spec) {
    CheckCudnn(api->GetRNNWeightSpaceSize(handle, plan.rnn, &plan.weightBytes), "cudnnGetRNNWeightSpaceSize");
    plan.weights.Reserve(plan.weightBytes, "cuDNN weight space");
    CheckCuda(cudaMemsetAsync(plan.weights.ptr, 0, plan.weightBytes, stream), "clearing the weight space");
    cd::TensorDescriptor mDesc = nullptr, bDesc = nullptr;
    CheckCudnn(api->CreateTensorDescriptor(&mDesc), "cudnnCreateTensorDescriptor");
    struct Release {
      const cd::Api* api;
      cd::TensorDescriptor* a;
      cd::TensorDescriptor* b;
      ~Release() {
        if (*a) api->DestroyTensorDescriptor(*a);
        if (*b) api->DestroyTensorDescriptor(*b);
      }
    } release{api, &mDesc, &bDesc};
    CheckCudnn(api->CreateTensorDescriptor(&bDesc), "cudnnCreateTensorDescriptor");
    const size_t H = size_t(hidden);
    for (int l = 0; l < layers; ++l) {
      const size_t layerInput = l == 0 ? size_t(inputSize) : H;
      const SluiceCudaLstmLayer& layer = spec.layers[l];
      for (int id = 0; id < 2 * cd::kLstmGates; ++id) {
        const bool recurrent = id >= cd::kLstmGates;
        const size_t gate = size_t(id % cd::kLstmGates);
        void* matrix = nullptr;
        void* bias = nullptr;
        CheckCudnn(api->GetRNNWeightParams(handle, plan.rnn, l, plan.weightBytes, plan.weights.ptr, id, mDesc, &matrix,
                                           bDesc, &bias),
                   "cudnnGetRNNWeightParams");
        const size_t columns = recurrent ? H : layerInput;
        // cuDNN must describe exactly the block we copy: H rows of `columns` floats, densely packed.
        for (auto [desc, expected, what] : {std::make_tuple(mDesc, H * columns, "matrix"), std::make_tuple(bDesc, H, "bias")}) {
          cd::DataType type;
          int dims = 0, dim[8] = {0}, stride[8] = {0};
          CheckCudnn(api->GetTensorNdDescriptor(desc, 8, &type, &dims, dim, stride), "cudnnGetTensorNdDescriptor");
          size_t count = 1;
          for (int d = 0; d < dims; ++d) count *= size_t(dim[d]);
          if (type != cd::kDataFloat || count != expected || (dims > 0 && stride[dims - 1] != 1)) {
            Fail(SLUICE_CUDA_ERR_NOT_SUPPORTED, std::string("cuDNN describes the ") + what + " of layer " +
                                                    std::to_string(l) + " id " + std::to_string(id) + " as " +
                                                    std::to_string(count) + " floats, expected " +
                                                    std::to_string(expected));
          }
        }
        if (!matrix || !bias) Fail(SLUICE_CUDA_ERR_DEVICE, "cudnnGetRNNWeightParams returned no address");
        const float* source = recurrent ? layer.weight_hh : layer.weight_ih;
        CheckCuda(cudaMemcpyAsync(matrix, source + gate * H * columns, H * columns * sizeof(float),
                                  cudaMemcpyHostToDevice, stream),
                  "uploading weights");
        const float* biasSource = recurrent ? layer.bias_hh : layer.bias_ih;
        if (biasSource) {
          CheckCuda(cudaMemcpyAsync(bias, biasSource + gate * H, H * sizeof(float), cudaMemcpyHostToDevice, stream),
                    "uploading biases");
        }
      }
    }
    CheckCuda(cudaStreamSynchronize(stream), "uploading weights");  // the host weights may go after return
    plan.usable = true;
  }

  void CreatePlan(Plan& plan, cd::RnnAlgo algo, const SluiceCudaLstmSpec& spec) {
    plan.algo = algo;
    CheckCudnn(api->CreateRNNDescriptor(&plan.rnn), "cudnnCreateRNNDescriptor");
    cd::Status status = SetDescriptor(plan);
    if (status != cd::kStatusSuccess && !dropout) {
      EnsureDropout();  // some cuDNN versions want a dropout descriptor even for a dropout of 0
      status = SetDescriptor(plan);
    }
    CheckCudnn(status, "cudnnSetRNNDescriptor_v8");
    PlaceWeights(plan, spec);
  }

  void Create(const SluiceCudaLstmSpec& spec) {
    api = &Cudnn();
    inputSize = spec.input_size;
    hidden = spec.hidden_size;
    layers = spec.num_layers;
    headOutputs = spec.head_outputs;
    CheckCuda(cudaSetDevice(0), "cudaSetDevice");
    cudaDeviceProp props{};
    if (cudaGetDeviceProperties(&props, 0) == cudaSuccess) std::snprintf(deviceName, sizeof(deviceName), "%s", props.name);
    CheckCuda(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
    CheckCudnn(api->Create(&handle), "cudnnCreate");
    CheckCudnn(api->SetStream(handle, stream), "cudnnSetStream");
    CheckCudnn(api->CreateRNNDataDescriptor(&xDesc), "cudnnCreateRNNDataDescriptor");
    CheckCudnn(api->CreateRNNDataDescriptor(&yDesc), "cudnnCreateRNNDataDescriptor");
    CheckCudnn(api->CreateTensorDescriptor(&hDesc), "cudnnCreateTensorDescriptor");
    CheckCudnn(api->CreateTensorDescriptor(&cDesc), "cudnnCreateTensorDescriptor");
    CreatePlan(plans[0], cd::kAlgoStandard, spec);
    // The persistent kernel is optional: a cuDNN or GPU without it leaves STANDARD for every shape.
    try {
      CreatePlan(plans[1], cd::kAlgoPersistStatic, spec);
    } catch (const Failure& f) {
      if (f.status == SLUICE_CUDA_ERR_OUT_OF_MEMORY) throw;
      plans[1].usable = false;
      plans[1].unusableReason = f.message;
    }
    if (headOutputs > 0) {
      const size_t weightBytes = size_t(headOutputs) * size_t(hidden) * sizeof(float);
      headWeight.Reserve(weightBytes, "head weights");
      CheckCuda(cudaMemcpy(headWeight.ptr, spec.head_weight, weightBytes, cudaMemcpyHostToDevice), "uploading the head");
      if (spec.head_bias) {
        headBias.Reserve(size_t(headOutputs) * sizeof(float), "head bias");
        CheckCuda(cudaMemcpy(headBias.ptr, spec.head_bias, size_t(headOutputs) * sizeof(float), cudaMemcpyHostToDevice),
                  "uploading the head");
      }
    }
    // One step of one sequence now, so that what only shows when cuDNN first runs (cuBLAS missing, no
    // kernel for this GPU) fails the creation, where 'auto' can still fall back to the CPU.
    const size_t warmInput = size_t(inputSize) * sizeof(float);
    x.Reserve(warmInput, "input");
    y.Reserve(size_t(hidden) * sizeof(float), "LSTM output");
    CheckCuda(cudaMemsetAsync(x.ptr, 0, warmInput, stream), "clearing the input");
    Forward(1, 1, x.ptr, nullptr, nullptr, nullptr, nullptr);
    CheckCuda(cudaStreamSynchronize(stream), "the first cuDNN call");
    lastAlgo = 0;
  }

  // Persistent kernels keep the recurrent weights on chip across steps: they pay off for small batches of
  // long sequences; a single step (stateful streaming) has no recurrence to amortise them over.
  // SLUICE_CUDA_ALGO_AUTO uses this rule; scripts/gpu-check.js measures both and prints which is faster.
  Plan& ChooseAlgo(int steps, int batch) {
    Plan& persist = plans[1];
    const bool persistAllowed = persist.usable && !persistRefused.count({steps, batch});
    if (requestedAlgo == SLUICE_CUDA_ALGO_PERSIST_STATIC) {
      if (!persist.usable) Fail(SLUICE_CUDA_ERR_NOT_SUPPORTED, "CUDNN_RNN_ALGO_PERSIST_STATIC: " + persist.unusableReason);
      return persist;
    }
    if (requestedAlgo == SLUICE_CUDA_ALGO_AUTO && persistAllowed && steps >= 2 && batch <= 128 && hidden <= 512) {
      return persist;
    }
    return plans[0];
  }

  void SetShape(int steps, int batch) {
    if (steps == descSteps && batch == descBatch) return;
    descSteps = descBatch = -1;
    hostSeqLengths.assign(size_t(batch), steps);
    float fill = 0.f;
    CheckCudnn(api->SetRNNDataDescriptor(xDesc, cd::kDataFloat, cd::kSeqMajorPacked, steps, batch, inputSize,
                                         hostSeqLengths.data(), &fill),
               "cudnnSetRNNDataDescriptor(x)");
    CheckCudnn(api->SetRNNDataDescriptor(yDesc, cd::kDataFloat, cd::kSeqMajorPacked, steps, batch, hidden,
                                         hostSeqLengths.data(), &fill),
               "cudnnSetRNNDataDescriptor(y)");
    const int dims[3] = {layers, batch, hidden};
    const int strides[3] = {batch * hidden, hidden, 1};
    CheckCudnn(api->SetTensorNdDescriptor(hDesc, cd::kDataFloat, 3, dims, strides), "cudnnSetTensorNdDescriptor(h)");
    CheckCudnn(api->SetTensorNdDescriptor(cDesc, cd::kDataFloat, 3, dims, strides), "cudnnSetTensorNdDescriptor(c)");
    // cuDNN reads the lengths on the device too: filled there by a kernel (no host copy, no wait), and
    // kept while the steps stay the same and the batch does not grow (a streaming step's key count varies).
    if (steps != seqFilledSteps || size_t(batch) > seqFilledCount) {
      seqFilledSteps = -1;
      seqLengths.Reserve(size_t(batch) * sizeof(int32_t), "sequence lengths");
      const size_t count = seqLengths.bytes / sizeof(int32_t);
      FillInt<<<Blocks(count), kThreads, 0, stream>>>(seqLengths.As<int32_t>(), count, steps);
      CheckLaunch("filling sequence lengths");
      seqFilledCount = count;
      seqFilledSteps = steps;
    }
    descSteps = steps;
    descBatch = batch;
  }

  // cudnnRNNForward over the current shape, from (hx, cx) or zeros; the persistent kernel's refusal of a
  // shape under AUTO falls back to STANDARD and is remembered.
  void Forward(int steps, int batch, const void* input, const void* hxIn, const void* cxIn, void* hyOut, void* cyOut) {
    SetShape(steps, batch);
    for (;;) {
      Plan& plan = ChooseAlgo(steps, batch);
      if (plan.workSteps != steps || plan.workBatch != batch) {
        size_t reserve = 0;
        CheckCudnn(api->GetRNNTempSpaceSizes(handle, plan.rnn, cd::kFwdInference, xDesc, &plan.workBytes, &reserve),
                   "cudnnGetRNNTempSpaceSizes");
        plan.workSteps = steps;
        plan.workBatch = batch;
      }
      work.Reserve(std::max<size_t>(plan.workBytes, 1), "cuDNN workspace");
      const cd::Status status =
          api->RNNForward(handle, plan.rnn, cd::kFwdInference, seqLengths.As<int32_t>(), xDesc, input, yDesc, y.ptr,
                          hDesc, hxIn, hyOut, cDesc, cxIn, cyOut, plan.weightBytes, plan.weights.ptr, plan.workBytes,
                          work.ptr, 0, nullptr);
      // Under AUTO any refusal of the persistent kernel (cuDNN reports unsupported shapes as NOT_SUPPORTED
      // or BAD_PARAM depending on the version) falls back to STANDARD; only running out of memory does not.
      if (status != cd::kStatusSuccess && &plan == &plans[1] && requestedAlgo == SLUICE_CUDA_ALGO_AUTO &&
          StatusOf(status) != SLUICE_CUDA_ERR_OUT_OF_MEMORY) {
        persistRefused.insert({steps, batch});
        continue;
      }
      CheckCudnn(status, "cudnnRNNForward");
      lastAlgo = &plan == &plans[1] ? SLUICE_CUDA_ALGO_PERSIST_STATIC : SLUICE_CUDA_ALGO_STANDARD;
      return;
    }
  }

  void EmitRows(int steps, int batch, EmitMode mode, float* hostOut) {
    const size_t rows = mode == kLast ? size_t(batch) : size_t(steps) * size_t(batch);
    const size_t bytes = rows * OutputWidth() * sizeof(float);
    out.Reserve(bytes, "output");
    pinnedOut.Reserve(bytes, "pinned output");
    Emit<<<Blocks(rows * OutputWidth()), kThreads, 0, stream>>>(y.As<float>(), size_t(steps), size_t(batch),
                                                                 size_t(hidden), mode, headWeight.As<float>(),
                                                                 headBias.As<float>(), size_t(headOutputs),
                                                                 out.As<float>());
    CheckLaunch("output kernel");
    CheckCuda(cudaMemcpyAsync(pinnedOut.ptr, out.ptr, bytes, cudaMemcpyDeviceToHost, stream), "copying the output");
    CheckCuda(cudaStreamSynchronize(stream), "running the LSTM");
    std::memcpy(hostOut, pinnedOut.ptr, bytes);
  }

  void Predict(const float* hostX, int steps, int batch, bool batchFirst, bool sequence, float* hostOut) {
    CheckCuda(cudaSetDevice(0), "cudaSetDevice");
    const size_t inputBytes = size_t(steps) * size_t(batch) * size_t(inputSize) * sizeof(float);
    pinnedIn.Reserve(inputBytes, "pinned input");
    std::memcpy(pinnedIn.ptr, hostX, inputBytes);
    x.Reserve(inputBytes, "input");
    if (batchFirst) {
      xBatchFirst.Reserve(inputBytes, "input");
      CheckCuda(cudaMemcpyAsync(xBatchFirst.ptr, pinnedIn.ptr, inputBytes, cudaMemcpyHostToDevice, stream),
                "copying the input");
      BatchToSeqMajor<<<Blocks(inputBytes / sizeof(float)), kThreads, 0, stream>>>(
          xBatchFirst.As<float>(), x.As<float>(), size_t(steps), size_t(batch), size_t(inputSize));
      CheckLaunch("transposing the input");
    } else {
      CheckCuda(cudaMemcpyAsync(x.ptr, pinnedIn.ptr, inputBytes, cudaMemcpyHostToDevice, stream), "copying the input");
    }
    y.Reserve(size_t(steps) * size_t(batch) * size_t(hidden) * sizeof(float), "LSTM output");
    Forward(steps, batch, x.ptr, nullptr, nullptr, nullptr, nullptr);
    EmitRows(steps, batch, !sequence ? kLast : batchFirst ? kSequenceBatchFirst : kSequence, hostOut);
  }
};

struct SluiceCudaLstmState {
  SluiceCudaLstm* model = nullptr;  // the caller keeps the model alive longer than its states
  size_t capacity = 0;
  size_t paddedHidden = 0;
  size_t stride = 0;  // floats per key
  DeviceBuffer table;

  size_t TableBytes() const { return capacity * stride * sizeof(float); }

  void UploadKeys(const unsigned* keys, size_t n) {
    SluiceCudaLstm& m = *model;
    CheckKeys(keys, n);
    m.pinnedKeys.Reserve(n * sizeof(unsigned), "pinned keys");
    std::memcpy(m.pinnedKeys.ptr, keys, n * sizeof(unsigned));
    m.keys.Reserve(n * sizeof(unsigned), "keys");
    CheckCuda(cudaMemcpyAsync(m.keys.ptr, m.pinnedKeys.ptr, n * sizeof(unsigned), cudaMemcpyHostToDevice, m.stream),
              "copying the keys");
  }

  void CheckKeys(const unsigned* keys, size_t n) const {
    for (size_t i = 0; i < n; ++i) {
      if (keys[i] >= capacity) {
        Fail(SLUICE_CUDA_ERR_INVALID_ARGUMENT, "key " + std::to_string(keys[i]) + " is not below the capacity " +
                                                   std::to_string(capacity));
      }
    }
  }

  // Keys and inputs go up in one copy: [keys, padded to 256 bytes][x] (cuDNN reads x in place).
  void Step(const unsigned* keys, size_t n, const float* hostX, float* hostOut) {
    SluiceCudaLstm& m = *model;
    CheckCuda(cudaSetDevice(0), "cudaSetDevice");
    CheckKeys(keys, n);
    const size_t keyBytes = n * sizeof(unsigned), xOffset = (keyBytes + 255) / 256 * 256;
    const size_t inputBytes = n * size_t(m.inputSize) * sizeof(float), total = xOffset + inputBytes;
    m.pinnedIn.Reserve(total, "pinned input");
    std::memcpy(m.pinnedIn.ptr, keys, keyBytes);
    std::memcpy(m.pinnedIn.As<char>() + xOffset, hostX, inputBytes);
    m.keys.Reserve(total, "keys and input");
    CheckCuda(cudaMemcpyAsync(m.keys.ptr, m.pinnedIn.ptr, total, cudaMemcpyHostToDevice, m.stream), "copying the input");
    const size_t stateBytes = size_t(m.layers) * n * size_t(m.hidden) * sizeof(float);
    for (DeviceBuffer* b : {&m.hx, &m.cx, &m.hy, &m.cy}) b->Reserve(stateBytes, "LSTM state");
    m.y.Reserve(n * size_t(m.hidden) * sizeof(float), "LSTM output");
    const size_t work = size_t(m.layers) * n * size_t(m.hidden);
    GatherState<<<Blocks(work), kThreads, 0, m.stream>>>(table.As<float>(), m.keys.As<unsigned>(), n, size_t(m.layers),
                                                         size_t(m.hidden), paddedHidden, m.hx.As<float>(),
                                                         m.cx.As<float>());
    CheckLaunch("gathering states");
    m.Forward(1, static_cast<int>(n), m.keys.As<char>() + xOffset, m.hx.ptr, m.cx.ptr, m.hy.ptr, m.cy.ptr);
    ScatterState<<<Blocks(work), kThreads, 0, m.stream>>>(m.hy.As<float>(), m.cy.As<float>(), m.keys.As<unsigned>(), n,
                                                          size_t(m.layers), size_t(m.hidden), paddedHidden,
                                                          table.As<float>());
    CheckLaunch("scattering states");
    m.EmitRows(1, static_cast<int>(n), kLast, hostOut);
  }

  void Reset(const unsigned* keys, size_t n) {
    SluiceCudaLstm& m = *model;
    CheckCuda(cudaSetDevice(0), "cudaSetDevice");
    if (!keys) {
      CheckCuda(cudaMemsetAsync(table.ptr, 0, TableBytes(), m.stream), "clearing the states");
    } else if (n > 0) {
      UploadKeys(keys, n);
      ZeroKeys<<<Blocks(n * stride), kThreads, 0, m.stream>>>(m.keys.As<unsigned>(), n, stride, table.As<float>());
      CheckLaunch("clearing states");
    }
    CheckCuda(cudaStreamSynchronize(m.stream), "clearing the states");
  }
};

struct SluiceCudaLstmWindows {
  SluiceCudaLstm* model = nullptr;  // the caller keeps the model alive longer than its windows
  size_t capacity = 0, steps = 0;
  DeviceBuffer rings;    // [capacity][steps][I]
  DeviceBuffer staging;  // the batch as copied: counts, keys, slots, distinct keys, x

  void Push(const unsigned* keys, const float* hostX, const int* slots, size_t n, const unsigned* distinct,
            const unsigned long long* counts, size_t k, float* hostOut) {
    SluiceCudaLstm& m = *model;
    CheckCuda(cudaSetDevice(0), "cudaSetDevice");
    for (size_t i = 0; i < n; ++i) {
      if (keys[i] >= capacity || slots[i] >= static_cast<int>(steps)) {
        Fail(SLUICE_CUDA_ERR_INVALID_ARGUMENT, "event " + std::to_string(i) + " has a key or slot out of range");
      }
    }
    for (size_t b = 0; b < k; ++b) {
      if (distinct[b] >= capacity) Fail(SLUICE_CUDA_ERR_INVALID_ARGUMENT, "a distinct key is out of range");
    }
    // One pinned block, one copy: counts (8-byte aligned first), keys, slots, distinct keys, then x.
    const size_t I = size_t(m.inputSize);
    const size_t countsBytes = k * sizeof(unsigned long long), keysBytes = n * sizeof(unsigned),
                 slotsBytes = n * sizeof(int), distinctBytes = k * sizeof(unsigned);
    const size_t xOffset = (countsBytes + keysBytes + slotsBytes + distinctBytes + 15) / 16 * 16;
    const size_t total = xOffset + n * I * sizeof(float);
    m.pinnedIn.Reserve(total, "pinned batch");
    staging.Reserve(total, "the batch on the device");
    char* p = m.pinnedIn.As<char>();
    std::memcpy(p, counts, countsBytes);
    std::memcpy(p + countsBytes, keys, keysBytes);
    std::memcpy(p + countsBytes + keysBytes, slots, slotsBytes);
    std::memcpy(p + countsBytes + keysBytes + slotsBytes, distinct, distinctBytes);
    std::memcpy(p + xOffset, hostX, n * I * sizeof(float));
    CheckCuda(cudaMemcpyAsync(staging.ptr, p, total, cudaMemcpyHostToDevice, m.stream), "copying the batch");
    char* d = staging.As<char>();
    const auto* dCounts = reinterpret_cast<const unsigned long long*>(d);
    const auto* dKeys = reinterpret_cast<const unsigned*>(d + countsBytes);
    const auto* dSlots = reinterpret_cast<const int*>(d + countsBytes + keysBytes);
    const auto* dDistinct = reinterpret_cast<const unsigned*>(d + countsBytes + keysBytes + slotsBytes);
    const auto* dX = reinterpret_cast<const float*>(d + xOffset);
    ScatterEvents<<<Blocks(n * I), kThreads, 0, m.stream>>>(dKeys, dSlots, dX, n, steps, I, rings.As<float>());
    CheckLaunch("writing the windows");
    m.x.Reserve(steps * k * I * sizeof(float), "LSTM input");
    BuildWindows<<<Blocks(steps * k * I), kThreads, 0, m.stream>>>(rings.As<float>(), dDistinct, dCounts, k, steps, I,
                                                                    m.x.As<float>());
    CheckLaunch("building the LSTM input");
    m.y.Reserve(steps * k * size_t(m.hidden) * sizeof(float), "LSTM output");
    m.Forward(static_cast<int>(steps), static_cast<int>(k), m.x.ptr, nullptr, nullptr, nullptr, nullptr);
    m.EmitRows(static_cast<int>(steps), static_cast<int>(k), kLast, hostOut);
  }
};

// ---- the C ABI -------------------------------------------------------------------------------------------

namespace {

void CheckSpec(const SluiceCudaLstmSpec* spec) {
  if (!spec) Fail(SLUICE_CUDA_ERR_INVALID_ARGUMENT, "spec is NULL");
  if (spec->input_size < 1 || spec->hidden_size < 1 || spec->num_layers < 1 || spec->head_outputs < 0 || !spec->layers) {
    Fail(SLUICE_CUDA_ERR_INVALID_ARGUMENT, "sizes must be positive and layers given");
  }
  for (int l = 0; l < spec->num_layers; ++l) {
    if (!spec->layers[l].weight_ih || !spec->layers[l].weight_hh) {
      Fail(SLUICE_CUDA_ERR_INVALID_ARGUMENT, "layer " + std::to_string(l) + " has no weights");
    }
  }
  if (spec->head_outputs > 0 && !spec->head_weight) Fail(SLUICE_CUDA_ERR_INVALID_ARGUMENT, "the head has no weight");
  // cuDNN takes int sizes: the widest tensor we describe is [layers][batch][H] and 4H·max(I, H).
  const long long widest = 4LL * spec->hidden_size * std::max(spec->input_size, spec->hidden_size);
  if (widest > std::numeric_limits<int>::max()) Fail(SLUICE_CUDA_ERR_INVALID_ARGUMENT, "the model is too large for cuDNN");
}

void CheckRun(long long steps, long long batch, long long width) {
  if (steps < 1 || batch < 1) Fail(SLUICE_CUDA_ERR_INVALID_ARGUMENT, "steps and batch must be positive");
  if (steps * batch > std::numeric_limits<int>::max() / std::max<long long>(width, 1)) {
    Fail(SLUICE_CUDA_ERR_INVALID_ARGUMENT, "steps·batch is too large for cuDNN's int sizes");
  }
}

}  // namespace

extern "C" int sluice_cuda_lstm_create(const SluiceCudaLstmSpec* spec, SluiceCudaLstm** model, char* error,
                                       size_t error_size) {
  if (!model) return SLUICE_CUDA_ERR_INVALID_ARGUMENT;
  *model = nullptr;
  return Guard(error, error_size, [&] {
    CheckSpec(spec);
    auto created = std::make_unique<SluiceCudaLstm>();
    created->Create(*spec);
    *model = created.release();
  });
}

extern "C" void sluice_cuda_lstm_destroy(SluiceCudaLstm* model) {
  try {
    delete model;
  } catch (...) {
  }
}

extern "C" int sluice_cuda_lstm_set_algo(SluiceCudaLstm* model, int algo, char* error, size_t error_size) {
  return Guard(error, error_size, [&] {
    if (!model) Fail(SLUICE_CUDA_ERR_INVALID_ARGUMENT, "model is NULL");
    if (algo < SLUICE_CUDA_ALGO_AUTO || algo > SLUICE_CUDA_ALGO_PERSIST_STATIC) {
      Fail(SLUICE_CUDA_ERR_INVALID_ARGUMENT, "unknown algorithm " + std::to_string(algo));
    }
    std::lock_guard<std::mutex> lock(model->mutex);
    if (algo == SLUICE_CUDA_ALGO_PERSIST_STATIC && !model->plans[1].usable) {
      Fail(SLUICE_CUDA_ERR_NOT_SUPPORTED, "CUDNN_RNN_ALGO_PERSIST_STATIC is unavailable: " + model->plans[1].unusableReason);
    }
    model->requestedAlgo = algo;
  });
}

extern "C" int sluice_cuda_lstm_info(SluiceCudaLstm* model, SluiceCudaLstmInfo* info, char* error, size_t error_size) {
  return Guard(error, error_size, [&] {
    if (!model || !info) Fail(SLUICE_CUDA_ERR_INVALID_ARGUMENT, "model or info is NULL");
    std::lock_guard<std::mutex> lock(model->mutex);
    std::memset(info, 0, sizeof(*info));
    info->device_bytes = model->DeviceBytes();
    info->pinned_bytes = model->pinnedIn.bytes + model->pinnedOut.bytes + model->pinnedKeys.bytes;
    info->last_algo = model->lastAlgo;
    std::snprintf(info->device_name, sizeof(info->device_name), "%s", model->deviceName);
  });
}

extern "C" int sluice_cuda_lstm_predict(SluiceCudaLstm* model, const float* x, int steps, int batch, int batch_first,
                                        int sequence, float* out, char* error, size_t error_size) {
  return Guard(error, error_size, [&] {
    if (!model || !x || !out) Fail(SLUICE_CUDA_ERR_INVALID_ARGUMENT, "model, x or out is NULL");
    CheckRun(steps, batch, std::max({model->inputSize, model->hidden, static_cast<int>(model->OutputWidth())}));
    std::lock_guard<std::mutex> lock(model->mutex);
    model->Predict(x, steps, batch, batch_first != 0, sequence != 0, out);
  });
}

namespace {

// Grows `buffer` to `bytes` and clears them (on the model's stream, waited for): a new state table or ring.
void ReserveZeroed(DeviceBuffer& buffer, size_t bytes, cudaStream_t stream, const char* what) {
  buffer.Reserve(bytes, what);
  const std::string clearing = std::string("clearing ") + what;
  CheckCuda(cudaMemsetAsync(buffer.ptr, 0, bytes, stream), clearing.c_str());
  CheckCuda(cudaStreamSynchronize(stream), clearing.c_str());
}

// Deletes a state table or windows object (null: nothing) while its model is not running a call.
template <class Owned>
void DeleteUnderModelLock(Owned* owned) {
  if (!owned) return;
  try {
    std::lock_guard<std::mutex> lock(owned->model->mutex);
    delete owned;
  } catch (...) {
  }
}

}  // namespace

extern "C" int sluice_cuda_state_create(SluiceCudaLstm* model, unsigned long long capacity, int padded_hidden,
                                        SluiceCudaLstmState** state, char* error, size_t error_size) {
  if (!state) return SLUICE_CUDA_ERR_INVALID_ARGUMENT;
  *state = nullptr;
  return Guard(error, error_size, [&] {
    if (!model) Fail(SLUICE_CUDA_ERR_INVALID_ARGUMENT, "model is NULL");
    if (capacity < 1 || capacity > 0xffffffffULL || padded_hidden < model->hidden) {
      Fail(SLUICE_CUDA_ERR_INVALID_ARGUMENT, "capacity or padded_hidden out of range");
    }
    std::lock_guard<std::mutex> lock(model->mutex);
    CheckCuda(cudaSetDevice(0), "cudaSetDevice");
    auto created = std::make_unique<SluiceCudaLstmState>();
    created->model = model;
    created->capacity = capacity;
    created->paddedHidden = size_t(padded_hidden);
    created->stride = size_t(model->layers) * 2 * created->paddedHidden;
    ReserveZeroed(created->table, created->TableBytes(), model->stream, "the state table");
    *state = created.release();
  });
}

extern "C" void sluice_cuda_state_destroy(SluiceCudaLstmState* state) { DeleteUnderModelLock(state); }

extern "C" int sluice_cuda_state_step(SluiceCudaLstmState* state, const unsigned int* keys, size_t n, const float* x,
                                      float* out, char* error, size_t error_size) {
  return Guard(error, error_size, [&] {
    if (!state || (n > 0 && (!keys || !x || !out))) Fail(SLUICE_CUDA_ERR_INVALID_ARGUMENT, "state, keys, x or out is NULL");
    if (n == 0) return;
    SluiceCudaLstm& m = *state->model;
    CheckRun(1, static_cast<long long>(std::min<size_t>(n, size_t(1) << 40)),
             std::max({m.inputSize, m.hidden * m.layers, static_cast<int>(m.OutputWidth())}));
    std::lock_guard<std::mutex> lock(m.mutex);
    state->Step(keys, n, x, out);
  });
}

extern "C" int sluice_cuda_state_reset(SluiceCudaLstmState* state, const unsigned int* keys, size_t n, char* error,
                                       size_t error_size) {
  return Guard(error, error_size, [&] {
    if (!state) Fail(SLUICE_CUDA_ERR_INVALID_ARGUMENT, "state is NULL");
    std::lock_guard<std::mutex> lock(state->model->mutex);
    state->Reset(keys, n);
  });
}

extern "C" int sluice_cuda_state_read(SluiceCudaLstmState* state, float* table, char* error, size_t error_size) {
  return Guard(error, error_size, [&] {
    if (!state || !table) Fail(SLUICE_CUDA_ERR_INVALID_ARGUMENT, "state or table is NULL");
    std::lock_guard<std::mutex> lock(state->model->mutex);
    CheckCuda(cudaSetDevice(0), "cudaSetDevice");
    CheckCuda(cudaMemcpyAsync(table, state->table.ptr, state->TableBytes(), cudaMemcpyDeviceToHost, state->model->stream),
              "reading the states");
    CheckCuda(cudaStreamSynchronize(state->model->stream), "reading the states");
  });
}

extern "C" int sluice_cuda_state_write(SluiceCudaLstmState* state, const float* table, char* error, size_t error_size) {
  return Guard(error, error_size, [&] {
    if (!state || !table) Fail(SLUICE_CUDA_ERR_INVALID_ARGUMENT, "state or table is NULL");
    std::lock_guard<std::mutex> lock(state->model->mutex);
    CheckCuda(cudaSetDevice(0), "cudaSetDevice");
    CheckCuda(cudaMemcpyAsync(state->table.ptr, table, state->TableBytes(), cudaMemcpyHostToDevice, state->model->stream),
              "writing the states");
    CheckCuda(cudaStreamSynchronize(state->model->stream), "writing the states");
  });
}

extern "C" int sluice_cuda_windows_create(SluiceCudaLstm* model, unsigned long long capacity, int steps,
                                          SluiceCudaLstmWindows** windows, char* error, size_t error_size) {
  if (!windows) return SLUICE_CUDA_ERR_INVALID_ARGUMENT;
  *windows = nullptr;
  return Guard(error, error_size, [&] {
    if (!model) Fail(SLUICE_CUDA_ERR_INVALID_ARGUMENT, "model is NULL");
    if (capacity < 1 || capacity > 0xffffffffULL || steps < 1) Fail(SLUICE_CUDA_ERR_INVALID_ARGUMENT, "capacity or steps out of range");
    std::lock_guard<std::mutex> lock(model->mutex);
    CheckCuda(cudaSetDevice(0), "cudaSetDevice");
    auto created = std::make_unique<SluiceCudaLstmWindows>();
    created->model = model;
    created->capacity = capacity;
    created->steps = size_t(steps);
    const size_t bytes = size_t(capacity) * size_t(steps) * size_t(model->inputSize) * sizeof(float);
    ReserveZeroed(created->rings, bytes, model->stream, "the windows");
    *windows = created.release();
  });
}

extern "C" void sluice_cuda_windows_destroy(SluiceCudaLstmWindows* windows) { DeleteUnderModelLock(windows); }

extern "C" int sluice_cuda_windows_push(SluiceCudaLstmWindows* windows, const unsigned int* keys, const float* x,
                                        const int* slots, size_t n, const unsigned int* distinct,
                                        const unsigned long long* counts, size_t k, float* out, char* error,
                                        size_t error_size) {
  return Guard(error, error_size, [&] {
    if (!windows || (n > 0 && (!keys || !x || !slots)) || (k > 0 && (!distinct || !counts || !out))) {
      Fail(SLUICE_CUDA_ERR_INVALID_ARGUMENT, "a NULL argument");
    }
    if (k == 0) return;
    SluiceCudaLstm& m = *windows->model;
    CheckRun(static_cast<long long>(windows->steps), static_cast<long long>(std::min<size_t>(k, size_t(1) << 40)),
             std::max({m.inputSize, m.hidden, static_cast<int>(m.OutputWidth())}));
    std::lock_guard<std::mutex> lock(m.mutex);
    windows->Push(keys, x, slots, n, distinct, counts, k, out);
  });
}
