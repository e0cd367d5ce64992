// A minimal test harness for the core: tests register themselves; main() runs them all (or those whose
// name contains argv[1]) and prints "N passed, N failed". No third-party framework to download.
#pragma once
#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

#include "base/error.h"

namespace sluice::test {

struct TestCase {
  const char* name;
  void (*run)();
};
std::vector<TestCase>& Registry();
struct Registrar {
  Registrar(const char* name, void (*run)()) { Registry().push_back({name, run}); }
};
struct Failure {
  std::string message;
};
[[noreturn]] void Fail(const char* file, int line, const std::string& message);

}  // namespace sluice::test

#define SLUICE_TEST(name)                                                   \
  static void name();                                                       \
  static ::sluice::test::Registrar name##_registrar(#name, name);           \
  static void name()

#define CHECK(condition)                                                    \
  do {                                                                      \
    if (!(condition)) ::sluice::test::Fail(__FILE__, __LINE__, #condition); \
  } while (0)

#define CHECK_EQ(a, b)                                                          \
  do {                                                                          \
    const auto& va_ = (a);                                                      \
    const auto& vb_ = (b);                                                      \
    if (!(va_ == vb_)) {                                                        \
      std::ostringstream os_;                                                   \
      os_ << #a " == " #b " (" << va_ << " vs " << vb_ << ")";                  \
      ::sluice::test::Fail(__FILE__, __LINE__, os_.str());                      \
    }                                                                           \
  } while (0)

#define CHECK_NEAR(a, b, tolerance)                                             \
  do {                                                                          \
    const double va_ = (a), vb_ = (b);                                          \
    if (!(std::fabs(va_ - vb_) <= (tolerance))) {                               \
      std::ostringstream os_;                                                   \
      os_.precision(17);                                                        \
      os_ << #a " ~ " #b " (" << va_ << " vs " << vb_ << ")";                   \
      ::sluice::test::Fail(__FILE__, __LINE__, os_.str());                      \
    }                                                                           \
  } while (0)

// Checks that `statement` throws sluice::CoreError with the given code.
#define CHECK_THROWS_CODE(statement, expected_code)                                         \
  do {                                                                                      \
    bool threw_ = false;                                                                    \
    try {                                                                                   \
      statement;                                                                            \
    } catch (const ::sluice::CoreError& e_) {                                               \
      threw_ = true;                                                                        \
      if (std::string(e_.code()) != (expected_code))                                        \
        ::sluice::test::Fail(__FILE__, __LINE__, std::string("wrong code ") + e_.code());   \
    }                                                                                       \
    if (!threw_) ::sluice::test::Fail(__FILE__, __LINE__, "did not throw: " #statement);    \
  } while (0)
