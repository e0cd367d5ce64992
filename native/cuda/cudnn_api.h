// The part of cuDNN 9's C API that libsluice_cuda uses, declared here so the library builds without cuDNN
// and binds to whatever cuDNN 9 it finds at run time (cudnn_loader.cc resolves these with dlsym).
//
// Values and signatures are copied from cuDNN 9.6's public headers (cudnn_graph.h, cudnn_ops.h,
// cudnn_adv.h). cudnn_api_check.cc proves them against a real cudnn.h whenever CMake finds one
// (SLUICE_CUDNN_INCLUDE_DIR): every enum value, every enum's size and every function type, parameter by
// parameter. The opaque handle types are the very same structs cuDNN declares (cudnnContext, ...), so
// pointers to them are identical types, not look-alikes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

struct cudnnContext;
struct cudnnTensorStruct;
struct cudnnDropoutStruct;
struct cudnnRNNStruct;
struct cudnnRNNDataStruct;
struct CUstream_st;  // cudaStream_t is `struct CUstream_st *`

namespace sluice::cudnn {

using Handle = cudnnContext*;
using TensorDescriptor = cudnnTensorStruct*;
using DropoutDescriptor = cudnnDropoutStruct*;
using RnnDescriptor = cudnnRNNStruct*;
using RnnDataDescriptor = cudnnRNNDataStruct*;
using Stream = CUstream_st*;

// cudnnStatus_t (cuDNN 9 numbering: categories in thousands). Only the values we test or name.
enum Status {
  kStatusSuccess = 0,
  kStatusNotInitialized = 1001,
  kStatusSublibraryVersionMismatch = 1002,
  kStatusSublibraryLoadingFailed = 1008,
  kStatusBadParam = 2000,
  kStatusNotSupported = 3000,
  kStatusNotSupportedShape = 3002,
  kStatusNotSupportedArchMismatch = 3007,
  kStatusInternalError = 4000,
  kStatusInternalErrorDeviceAllocationFailed = 4004,
  kStatusExecutionFailed = 5000,
};

// cudnnDataType_t
enum DataType { kDataFloat = 0, kDataDouble = 1, kDataHalf = 2 };

// cudnnMathType_t. FMA_MATH: plain FP32, never TF32 (DEFAULT_MATH may use TF32 tensor cores on Ampere+).
enum MathType { kDefaultMath = 0, kTensorOpMath = 1, kTensorOpMathAllowConversion = 2, kFmaMath = 3 };

// cudnnRNNAlgo_t
enum RnnAlgo { kAlgoStandard = 0, kAlgoPersistStatic = 1, kAlgoPersistDynamic = 2, kAlgoPersistStaticSmallH = 3 };

// cudnnForwardMode_t
enum ForwardMode { kFwdInference = 0, kFwdTraining = 1 };

// cudnnRNNMode_t
enum RnnMode { kRnnRelu = 0, kRnnTanh = 1, kLstm = 2, kGru = 3 };

// cudnnRNNBiasMode_t
enum RnnBiasMode { kNoBias = 0, kSingleInputBias = 1, kDoubleBias = 2, kSingleRecurrentBias = 3 };

// cudnnDirectionMode_t
enum DirectionMode { kUnidirectional = 0, kBidirectional = 1 };

// cudnnRNNInputMode_t
enum RnnInputMode { kLinearInput = 0, kSkipInput = 1 };

// cudnnRNNDataLayout_t
enum RnnDataLayout { kSeqMajorUnpacked = 0, kSeqMajorPacked = 1, kBatchMajorUnpacked = 2 };

// auxFlags of cudnnSetRNNDescriptor_v8
inline constexpr uint32_t kPaddedIoDisabled = 0;
inline constexpr uint32_t kPaddedIoEnabled = 1U << 0;

// LSTM linear-layer ids of cudnnGetRNNWeightParams: 0-3 multiply the layer input, 4-7 the recurrent h;
// within each, gates i, f, g (cuDNN's "c'"), o: PyTorch's order, so gate k of weight_ih is id k.
inline constexpr int kLstmGates = 4;

// Function types, in the order of the headers.
using GetVersionFn = size_t (*)(void);
using GetErrorStringFn = const char* (*)(Status status);
using CreateFn = Status (*)(Handle* handle);
using DestroyFn = Status (*)(Handle handle);
using SetStreamFn = Status (*)(Handle handle, Stream streamId);

using CreateTensorDescriptorFn = Status (*)(TensorDescriptor* tensorDesc);
using SetTensorNdDescriptorFn = Status (*)(TensorDescriptor tensorDesc, DataType dataType, int nbDims,
                                           const int dimA[], const int strideA[]);
using GetTensorNdDescriptorFn = Status (*)(const TensorDescriptor tensorDesc, int nbDimsRequested,
                                           DataType* dataType, int* nbDims, int dimA[], int strideA[]);
using DestroyTensorDescriptorFn = Status (*)(TensorDescriptor tensorDesc);

using CreateDropoutDescriptorFn = Status (*)(DropoutDescriptor* dropoutDesc);
using DestroyDropoutDescriptorFn = Status (*)(DropoutDescriptor dropoutDesc);
using DropoutGetStatesSizeFn = Status (*)(Handle handle, size_t* sizeInBytes);
using SetDropoutDescriptorFn = Status (*)(DropoutDescriptor dropoutDesc, Handle handle, float dropout, void* states,
                                          size_t stateSizeInBytes, unsigned long long seed);

using CreateRNNDescriptorFn = Status (*)(RnnDescriptor* rnnDesc);
using DestroyRNNDescriptorFn = Status (*)(RnnDescriptor rnnDesc);
using SetRNNDescriptor_v8Fn = Status (*)(RnnDescriptor rnnDesc, RnnAlgo algo, RnnMode cellMode, RnnBiasMode biasMode,
                                         DirectionMode dirMode, RnnInputMode inputMode, DataType dataType,
                                         DataType mathPrec, MathType mathType, int32_t inputSize, int32_t hiddenSize,
                                         int32_t projSize, int32_t numLayers, DropoutDescriptor dropoutDesc,
                                         uint32_t auxFlags);
using GetRNNTempSpaceSizesFn = Status (*)(Handle handle, RnnDescriptor rnnDesc, ForwardMode fwdMode,
                                          RnnDataDescriptor xDesc, size_t* workSpaceSize, size_t* reserveSpaceSize);
using GetRNNWeightSpaceSizeFn = Status (*)(Handle handle, RnnDescriptor rnnDesc, size_t* weightSpaceSize);
using GetRNNWeightParamsFn = Status (*)(Handle handle, RnnDescriptor rnnDesc, int32_t pseudoLayer,
                                        size_t weightSpaceSize, const void* weightSpace, int32_t linLayerID,
                                        TensorDescriptor mDesc, void** mAddr, TensorDescriptor bDesc, void** bAddr);
using CreateRNNDataDescriptorFn = Status (*)(RnnDataDescriptor* rnnDataDesc);
using DestroyRNNDataDescriptorFn = Status (*)(RnnDataDescriptor rnnDataDesc);
using SetRNNDataDescriptorFn = Status (*)(RnnDataDescriptor rnnDataDesc, DataType dataType, RnnDataLayout layout,
                                          int maxSeqLength, int batchSize, int vectorSize, const int seqLengthArray[],
                                          void* paddingFill);
using RNNForwardFn = Status (*)(Handle handle, RnnDescriptor rnnDesc, ForwardMode fwdMode, const int32_t devSeqLengths[],
                                RnnDataDescriptor xDesc, const void* x, RnnDataDescriptor yDesc, void* y,
                                TensorDescriptor hDesc, const void* hx, void* hy, TensorDescriptor cDesc,
                                const void* cx, void* cy, size_t weightSpaceSize, const void* weightSpace,
                                size_t workSpaceSize, void* workSpace, size_t reserveSpaceSize, void* reserveSpace);

// X(member, symbol): every function resolved at load time; all are required.
#define SLUICE_CUDNN_FUNCTIONS(X)                                \
  X(GetVersion, cudnnGetVersion)                                 \
  X(GetErrorString, cudnnGetErrorString)                         \
  X(Create, cudnnCreate)                                         \
  X(Destroy, cudnnDestroy)                                       \
  X(SetStream, cudnnSetStream)                                   \
  X(CreateTensorDescriptor, cudnnCreateTensorDescriptor)         \
  X(SetTensorNdDescriptor, cudnnSetTensorNdDescriptor)           \
  X(GetTensorNdDescriptor, cudnnGetTensorNdDescriptor)           \
  X(DestroyTensorDescriptor, cudnnDestroyTensorDescriptor)       \
  X(CreateDropoutDescriptor, cudnnCreateDropoutDescriptor)       \
  X(DestroyDropoutDescriptor, cudnnDestroyDropoutDescriptor)     \
  X(DropoutGetStatesSize, cudnnDropoutGetStatesSize)             \
  X(SetDropoutDescriptor, cudnnSetDropoutDescriptor)             \
  X(CreateRNNDescriptor, cudnnCreateRNNDescriptor)               \
  X(DestroyRNNDescriptor, cudnnDestroyRNNDescriptor)             \
  X(SetRNNDescriptor_v8, cudnnSetRNNDescriptor_v8)               \
  X(GetRNNTempSpaceSizes, cudnnGetRNNTempSpaceSizes)             \
  X(GetRNNWeightSpaceSize, cudnnGetRNNWeightSpaceSize)           \
  X(GetRNNWeightParams, cudnnGetRNNWeightParams)                 \
  X(CreateRNNDataDescriptor, cudnnCreateRNNDataDescriptor)       \
  X(DestroyRNNDataDescriptor, cudnnDestroyRNNDataDescriptor)     \
  X(SetRNNDataDescriptor, cudnnSetRNNDataDescriptor)             \
  X(RNNForward, cudnnRNNForward)

struct Api {
#define SLUICE_CUDNN_MEMBER(member, symbol) member##Fn member = nullptr;
  SLUICE_CUDNN_FUNCTIONS(SLUICE_CUDNN_MEMBER)
#undef SLUICE_CUDNN_MEMBER
};

// Fills *api from the given dlopen handles (the first that has each symbol wins). Returns false and names
// the missing symbols in *missing when any is absent.
bool ResolveApi(void* const* handles, size_t handleCount, Api* api, std::string* missing);

}  // namespace sluice::cudnn
