#include <cstring>
#include <exception>

#include "tests/check.h"

namespace sluice::test {

std::vector<TestCase>& Registry() {
  static std::vector<TestCase> registry;
  return registry;
}

void Fail(const char* file, int line, const std::string& message) {
  std::ostringstream os;
  os << file << ":" << line << ": " << message;
  throw Failure{os.str()};
}

}  // namespace sluice::test

int main(int argc, char** argv) {
  using namespace sluice::test;
  const char* filter = argc > 1 ? argv[1] : nullptr;
  int passed = 0, failed = 0;
  for (const TestCase& test : Registry()) {
    if (filter && !std::strstr(test.name, filter)) continue;
    try {
      test.run();
      ++passed;
    } catch (const Failure& f) {
      ++failed;
      std::printf("FAIL %s\n  %s\n", test.name, f.message.c_str());
    } catch (const std::exception& e) {
      ++failed;
      std::printf("FAIL %s\n  unexpected exception: %s\n", test.name, e.what());
    }
  }
  std::printf("core: %d passed, %d failed\n", passed, failed);
  return failed == 0 && passed > 0 ? 0 : 1;
}
