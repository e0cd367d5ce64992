// Errors raised by the core. Each carries a stable code that the addon turns into SluiceError.code,
// so the core can re-check bounds itself (defence in depth) without knowing about Node.
#pragma once
#include <stdexcept>
#include <string>

namespace sluice {

class CoreError : public std::runtime_error {
 public:
  CoreError(const char* code, const std::string& message) : std::runtime_error(message), code_(code) {}
  const char* code() const noexcept { return code_; }

 private:
  const char* code_;  // always a string literal, e.g. "ERR_INVALID_LENGTH"
};

// Stable error codes shared by the core, the addon and lib/errors.ts.
namespace codes {
inline constexpr const char* kInvalidType = "ERR_INVALID_TYPE";
inline constexpr const char* kInvalidLength = "ERR_INVALID_LENGTH";
inline constexpr const char* kInvalidArgument = "ERR_INVALID_ARGUMENT";
inline constexpr const char* kOutOfRange = "ERR_OUT_OF_RANGE";
inline constexpr const char* kInvalidState = "ERR_INVALID_STATE";
inline constexpr const char* kMalformedData = "ERR_MALFORMED_DATA";
inline constexpr const char* kNotSupported = "ERR_NOT_SUPPORTED";
inline constexpr const char* kOutOfMemory = "ERR_OUT_OF_MEMORY";
}  // namespace codes

[[noreturn]] inline void Fail(const char* code, const std::string& message) { throw CoreError(code, message); }

// Check a precondition; on failure throw CoreError(code, message).
inline void Require(bool condition, const char* code, const char* message) {
  if (!condition) Fail(code, message);
}

}  // namespace sluice
