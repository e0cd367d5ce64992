/* The C ABI between the addon (native/core/cuda_library.cc) and the optional libsluice_cuda.so.
 * Plain C types only: no C++ exceptions or CUDA types cross it. Bump SLUICE_CUDA_ABI_VERSION on any
 * change; the addon refuses a library whose version differs. */
#ifndef SLUICE_CUDA_API_H_
#define SLUICE_CUDA_API_H_

#ifdef __cplusplus
extern "C" {
#endif

#define SLUICE_CUDA_ABI_VERSION 2

typedef struct SluiceCudaInfo {
  int available;            /* 1 when a device and cuDNN are usable */
  int device_count;
  int driver_version;       /* cudaDriverGetVersion, e.g. 12040; 0 when no driver */
  int runtime_version;      /* cudaRuntimeGetVersion of the static runtime built in */
  char device_name[256];
  int compute_capability_major;
  int compute_capability_minor;
  unsigned long long total_memory;
  unsigned long long free_memory;
  int cudnn_version;        /* cudnnGetVersion(), e.g. 90100; 0 when not found */
  char cudnn_path[1024];    /* the libcudnn that was opened */
  char reason[1024];        /* why unavailable; empty when available */
} SluiceCudaInfo;

typedef int (*SluiceCudaAbiVersionFn)(void);
typedef void (*SluiceCudaProbeFn)(SluiceCudaInfo* info);

#if defined(_WIN32)
#define SLUICE_CUDA_EXPORT __declspec(dllexport)
#else
#define SLUICE_CUDA_EXPORT __attribute__((visibility("default")))
#endif

SLUICE_CUDA_EXPORT int sluice_cuda_abi_version(void);
/* Fills *info; never throws, never aborts: every failure becomes info->reason. */
SLUICE_CUDA_EXPORT void sluice_cuda_probe(SluiceCudaInfo* info);

/* ---- LSTM inference (cuda_lstm.cu) ------------------------------------------------------------------
 * Every function returns a SluiceCudaStatus and, on failure, writes a NUL-terminated message into
 * (error, error_size) when error is not NULL. Nothing throws across this boundary and nothing aborts.
 * Shapes are checked again here (the caller has validated them already). */

typedef enum SluiceCudaStatus {
  SLUICE_CUDA_OK = 0,
  SLUICE_CUDA_ERR_INVALID_ARGUMENT = 1, /* a shape or pointer the caller should have refused */
  SLUICE_CUDA_ERR_OUT_OF_MEMORY = 2,    /* device or pinned host memory */
  SLUICE_CUDA_ERR_NOT_SUPPORTED = 3,    /* CUDA or cuDNN unavailable, or cuDNN refuses the shape */
  SLUICE_CUDA_ERR_DEVICE = 4            /* any other CUDA or cuDNN failure */
} SluiceCudaStatus;

/* cuDNN's RNN algorithm: AUTO picks one per (steps, batch) shape by a size rule (ChooseAlgo in
 * cuda_lstm.cu), and falls back to STANDARD for a shape cuDNN's persistent kernel refuses. */
typedef enum SluiceCudaAlgo {
  SLUICE_CUDA_ALGO_AUTO = 0,
  SLUICE_CUDA_ALGO_STANDARD = 1,      /* CUDNN_RNN_ALGO_STANDARD */
  SLUICE_CUDA_ALGO_PERSIST_STATIC = 2 /* CUDNN_RNN_ALGO_PERSIST_STATIC */
} SluiceCudaAlgo;

typedef struct SluiceCudaLstmLayer {
  const float* weight_ih; /* [4H][layer input], gates i, f, g, o (PyTorch) */
  const float* weight_hh; /* [4H][H] */
  const float* bias_ih;   /* [4H] or NULL (zeros) */
  const float* bias_hh;   /* [4H] or NULL (zeros) */
} SluiceCudaLstmLayer;

typedef struct SluiceCudaLstmSpec {
  int input_size;
  int hidden_size;
  int num_layers;
  const SluiceCudaLstmLayer* layers; /* num_layers entries */
  int head_outputs;                  /* 0: no head, outputs are the top layer's h */
  const float* head_weight;          /* [head_outputs][H] */
  const float* head_bias;            /* [head_outputs] or NULL */
} SluiceCudaLstmSpec;

typedef struct SluiceCudaLstmInfo {
  unsigned long long device_bytes; /* device memory held: weights, workspace, staging */
  unsigned long long pinned_bytes; /* page-locked host staging */
  int last_algo;                   /* SluiceCudaAlgo of the last forward call (0 before any) */
  char device_name[256];
} SluiceCudaLstmInfo;

typedef struct SluiceCudaLstm SluiceCudaLstm;           /* a model: weights, stream, cuDNN handle */
typedef struct SluiceCudaLstmState SluiceCudaLstmState; /* per-key (h, c) in device memory */

/* Uploads the weights once. *model is NULL on failure. */
SLUICE_CUDA_EXPORT int sluice_cuda_lstm_create(const SluiceCudaLstmSpec* spec, SluiceCudaLstm** model, char* error,
                                               size_t error_size);
SLUICE_CUDA_EXPORT void sluice_cuda_lstm_destroy(SluiceCudaLstm* model);
SLUICE_CUDA_EXPORT int sluice_cuda_lstm_set_algo(SluiceCudaLstm* model, int algo, char* error, size_t error_size);
SLUICE_CUDA_EXPORT int sluice_cuda_lstm_info(SluiceCudaLstm* model, SluiceCudaLstmInfo* info, char* error,
                                             size_t error_size);
/* x: [steps][batch][I] (batch_first: [batch][steps][I]), host memory. out: [batch][O], or with sequence
 * [steps][batch][O] ([batch][steps][O] with batch_first). Blocks the calling thread until the stream is
 * done (call it off the JS thread for async work). Calls on one model are serialised. */
SLUICE_CUDA_EXPORT int sluice_cuda_lstm_predict(SluiceCudaLstm* model, const float* x, int steps, int batch,
                                                int batch_first, int sequence, float* out, char* error,
                                                size_t error_size);

/* A table of capacity keys, each state_stride floats ([layers][h, c][stride / (2·layers)]), zeroed. */
SLUICE_CUDA_EXPORT int sluice_cuda_state_create(SluiceCudaLstm* model, unsigned long long capacity,
                                                int padded_hidden, SluiceCudaLstmState** state, char* error,
                                                size_t error_size);
SLUICE_CUDA_EXPORT void sluice_cuda_state_destroy(SluiceCudaLstmState* state);
/* One step for n distinct keys (< capacity; checked by the caller, the range again here): x [n][I] and
 * out [n][O] in host memory. */
SLUICE_CUDA_EXPORT int sluice_cuda_state_step(SluiceCudaLstmState* state, const unsigned int* keys, size_t n,
                                              const float* x, float* out, char* error, size_t error_size);
/* Zeroes the listed keys, or every key when keys is NULL. */
SLUICE_CUDA_EXPORT int sluice_cuda_state_reset(SluiceCudaLstmState* state, const unsigned int* keys, size_t n,
                                               char* error, size_t error_size);
/* Copies the whole table (capacity · stride floats) to or from host memory. */
SLUICE_CUDA_EXPORT int sluice_cuda_state_read(SluiceCudaLstmState* state, float* table, char* error,
                                              size_t error_size);
SLUICE_CUDA_EXPORT int sluice_cuda_state_write(SluiceCudaLstmState* state, const float* table, char* error,
                                               size_t error_size);

/* ---- keyed windows on the device ---------------------------------------------------------------------
 * Each key's last `steps` input rows in a device ring ([capacity][steps][I]). The caller plans a batch
 * (WindowBook in native/core/lstm_windows.h): slots[e] is event e's ring slot, or −1 when a later event
 * of the batch overwrites it; distinct[k] are the keys to evaluate and counts[k] their rows ever pushed,
 * this batch included. The whole batch is copied to the device once; the rings are updated, the
 * [steps][k][I] LSTM input is built there from them (zeros before a key's first row) and only the k
 * output rows come back. */
typedef struct SluiceCudaLstmWindows SluiceCudaLstmWindows;

SLUICE_CUDA_EXPORT int sluice_cuda_windows_create(SluiceCudaLstm* model, unsigned long long capacity, int steps,
                                                  SluiceCudaLstmWindows** windows, char* error, size_t error_size);
SLUICE_CUDA_EXPORT void sluice_cuda_windows_destroy(SluiceCudaLstmWindows* windows);
SLUICE_CUDA_EXPORT int sluice_cuda_windows_push(SluiceCudaLstmWindows* windows, const unsigned int* keys,
                                                const float* x, const int* slots, size_t n,
                                                const unsigned int* distinct, const unsigned long long* counts,
                                                size_t k, float* out, char* error, size_t error_size);

#ifdef __cplusplus
}
#endif

#endif /* SLUICE_CUDA_API_H_ */
