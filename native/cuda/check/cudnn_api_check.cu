// Compile-time proof that native/cuda/cudnn_api.h matches the real cuDNN headers: built only when CMake
// finds cudnn.h (SLUICE_CUDNN_INCLUDE_DIR, or nvidia/cudnn/include under a Python site-packages). Every
// enum value we use, every enum's size, every opaque handle type and every function type, parameter by
// parameter, must be identical; a difference is a compile error naming the symbol.
#include <cudnn.h>

#include <type_traits>

#include "../cudnn_api.h"

namespace sc = sluice::cudnn;

static_assert(CUDNN_MAJOR == 9, "sluice's declarations follow cuDNN 9");

// Maps a type of cudnn.h to the type cudnn_api.h uses in its place (enums are ours, the rest identical).
template <class T> struct Ours { using type = T; };
template <class T> struct Ours<T*> { using type = typename Ours<T>::type*; };
template <class T> struct Ours<const T> { using type = const typename Ours<T>::type; };
#define SLUICE_MAP(real, ours)                                                        \
  template <> struct Ours<real> { using type = ours; };                               \
  static_assert(sizeof(real) == sizeof(ours), #real " and " #ours " differ in size"); \
  static_assert(std::is_signed_v<std::underlying_type_t<real>> == std::is_signed_v<std::underlying_type_t<ours>>, #real);
SLUICE_MAP(cudnnStatus_t, sc::Status)
SLUICE_MAP(cudnnDataType_t, sc::DataType)
SLUICE_MAP(cudnnMathType_t, sc::MathType)
SLUICE_MAP(cudnnRNNAlgo_t, sc::RnnAlgo)
SLUICE_MAP(cudnnForwardMode_t, sc::ForwardMode)
SLUICE_MAP(cudnnRNNMode_t, sc::RnnMode)
SLUICE_MAP(cudnnRNNBiasMode_t, sc::RnnBiasMode)
SLUICE_MAP(cudnnDirectionMode_t, sc::DirectionMode)
SLUICE_MAP(cudnnRNNInputMode_t, sc::RnnInputMode)
SLUICE_MAP(cudnnRNNDataLayout_t, sc::RnnDataLayout)
#undef SLUICE_MAP

template <class F> struct OursFn;
template <class R, class... A> struct OursFn<R (*)(A...)> {
  using type = typename Ours<R>::type (*)(typename Ours<A>::type...);
};

#define SLUICE_CHECK_FUNCTION(member, symbol)                                          \
  static_assert(std::is_same_v<sc::member##Fn, OursFn<decltype(&::symbol)>::type>,     \
                "cudnn_api.h's " #member "Fn differs from cudnn.h's " #symbol);
SLUICE_CUDNN_FUNCTIONS(SLUICE_CHECK_FUNCTION)
#undef SLUICE_CHECK_FUNCTION

static_assert(std::is_same_v<sc::Handle, cudnnHandle_t>);
static_assert(std::is_same_v<sc::TensorDescriptor, cudnnTensorDescriptor_t>);
static_assert(std::is_same_v<sc::DropoutDescriptor, cudnnDropoutDescriptor_t>);
static_assert(std::is_same_v<sc::RnnDescriptor, cudnnRNNDescriptor_t>);
static_assert(std::is_same_v<sc::RnnDataDescriptor, cudnnRNNDataDescriptor_t>);
static_assert(std::is_same_v<sc::Stream, cudaStream_t>);

#define SLUICE_SAME(ours, real) static_assert(static_cast<long long>(ours) == static_cast<long long>(real), #ours " != " #real);
SLUICE_SAME(sc::kStatusSuccess, CUDNN_STATUS_SUCCESS)
SLUICE_SAME(sc::kStatusNotInitialized, CUDNN_STATUS_NOT_INITIALIZED)
SLUICE_SAME(sc::kStatusSublibraryVersionMismatch, CUDNN_STATUS_SUBLIBRARY_VERSION_MISMATCH)
SLUICE_SAME(sc::kStatusSublibraryLoadingFailed, CUDNN_STATUS_SUBLIBRARY_LOADING_FAILED)
SLUICE_SAME(sc::kStatusBadParam, CUDNN_STATUS_BAD_PARAM)
SLUICE_SAME(sc::kStatusNotSupported, CUDNN_STATUS_NOT_SUPPORTED)
SLUICE_SAME(sc::kStatusNotSupportedShape, CUDNN_STATUS_NOT_SUPPORTED_SHAPE)
SLUICE_SAME(sc::kStatusNotSupportedArchMismatch, CUDNN_STATUS_NOT_SUPPORTED_ARCH_MISMATCH)
SLUICE_SAME(sc::kStatusInternalError, CUDNN_STATUS_INTERNAL_ERROR)
SLUICE_SAME(sc::kStatusInternalErrorDeviceAllocationFailed, CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED)
SLUICE_SAME(sc::kStatusExecutionFailed, CUDNN_STATUS_EXECUTION_FAILED)
SLUICE_SAME(sc::kDataFloat, CUDNN_DATA_FLOAT)
SLUICE_SAME(sc::kDataDouble, CUDNN_DATA_DOUBLE)
SLUICE_SAME(sc::kDataHalf, CUDNN_DATA_HALF)
SLUICE_SAME(sc::kDefaultMath, CUDNN_DEFAULT_MATH)
SLUICE_SAME(sc::kTensorOpMath, CUDNN_TENSOR_OP_MATH)
SLUICE_SAME(sc::kTensorOpMathAllowConversion, CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION)
SLUICE_SAME(sc::kFmaMath, CUDNN_FMA_MATH)
SLUICE_SAME(sc::kAlgoStandard, CUDNN_RNN_ALGO_STANDARD)
SLUICE_SAME(sc::kAlgoPersistStatic, CUDNN_RNN_ALGO_PERSIST_STATIC)
SLUICE_SAME(sc::kAlgoPersistDynamic, CUDNN_RNN_ALGO_PERSIST_DYNAMIC)
SLUICE_SAME(sc::kAlgoPersistStaticSmallH, CUDNN_RNN_ALGO_PERSIST_STATIC_SMALL_H)
SLUICE_SAME(sc::kFwdInference, CUDNN_FWD_MODE_INFERENCE)
SLUICE_SAME(sc::kFwdTraining, CUDNN_FWD_MODE_TRAINING)
SLUICE_SAME(sc::kRnnRelu, CUDNN_RNN_RELU)
SLUICE_SAME(sc::kRnnTanh, CUDNN_RNN_TANH)
SLUICE_SAME(sc::kLstm, CUDNN_LSTM)
SLUICE_SAME(sc::kGru, CUDNN_GRU)
SLUICE_SAME(sc::kNoBias, CUDNN_RNN_NO_BIAS)
SLUICE_SAME(sc::kSingleInputBias, CUDNN_RNN_SINGLE_INP_BIAS)
SLUICE_SAME(sc::kDoubleBias, CUDNN_RNN_DOUBLE_BIAS)
SLUICE_SAME(sc::kSingleRecurrentBias, CUDNN_RNN_SINGLE_REC_BIAS)
SLUICE_SAME(sc::kUnidirectional, CUDNN_UNIDIRECTIONAL)
SLUICE_SAME(sc::kBidirectional, CUDNN_BIDIRECTIONAL)
SLUICE_SAME(sc::kLinearInput, CUDNN_LINEAR_INPUT)
SLUICE_SAME(sc::kSkipInput, CUDNN_SKIP_INPUT)
SLUICE_SAME(sc::kSeqMajorUnpacked, CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_UNPACKED)
SLUICE_SAME(sc::kSeqMajorPacked, CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_PACKED)
SLUICE_SAME(sc::kBatchMajorUnpacked, CUDNN_RNN_DATA_LAYOUT_BATCH_MAJOR_UNPACKED)
SLUICE_SAME(sc::kPaddedIoDisabled, CUDNN_RNN_PADDED_IO_DISABLED)
SLUICE_SAME(sc::kPaddedIoEnabled, CUDNN_RNN_PADDED_IO_ENABLED)
#undef SLUICE_SAME

// Exported so the GPU check can confirm the library it runs was built with these checks.
extern "C" __attribute__((visibility("default"))) int sluice_cuda_cudnn_headers_checked(void) { return CUDNN_VERSION; }
