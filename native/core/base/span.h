// A non-owning view of contiguous elements: how typed arrays from JS reach the core without copies.
#pragma once
#include <cstddef>

#include "base/error.h"

namespace sluice {

template <typename T>
struct Span {
  T* data = nullptr;
  size_t size = 0;

  Span() = default;
  Span(T* d, size_t n) : data(d), size(n) {}
  template <typename U>
  Span(const Span<U>& other) : data(other.data), size(other.size) {}  // T* ← U*, e.g. add const

  T& operator[](size_t i) const { return data[i]; }
  T* begin() const { return data; }
  T* end() const { return data + size; }
  bool empty() const { return size == 0; }

  // Bounds-checked sub-view; throws ERR_OUT_OF_RANGE instead of reading past the end.
  Span subspan(size_t offset, size_t count) const {
    Require(offset <= size && count <= size - offset, codes::kOutOfRange, "subspan out of range");
    return Span(data + offset, count);
  }
};

}  // namespace sluice
