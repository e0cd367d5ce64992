// MappedArray<T>: a growable array of trivially copyable T for large buffers that grow by appending (a
// dictionary's key arena, its per-id arrays, its hash table), made to fault fresh memory in cheaply.
//
// Why: interning millions of new keys spent about a third of its time in the kernel faulting fresh 4 KiB
// pages one at a time, and std::vector's doubling pays that twice: every growth faults a new buffer, copies
// the old one into it and unmaps the old one. Here, from kMapBytes up,
//  - storage is an anonymous mapping that grows with mremap: the pages already in place move with it (no
//    copy, no fault), only the new part is fresh;
//  - fresh pages are faulted in batches ahead of use with madvise(MADV_POPULATE_WRITE) (one call per step,
//    about a third cheaper in CPU than faulting page by page, measured here), a step at a time (at least
//    kPopulateStep, at most an eighth of what is faulted in already), so what is resident follows what is
//    used, not the doubled reservation;
//  - mappings ask for transparent huge pages (MADV_HUGEPAGE; used where THP is `madvise` or `always`): a
//    dictionary's hash table is probed at random over hundreds of MB, and with 4 KiB pages most probes
//    missed the TLB (a two-level page walk on a VM) and every fresh page was a fault (12–14 µs each on this
//    project's Firecracker VMs, which hand freed pages back to the host). Measured there (5·10^6 new keys,
//    bench/keys.bench.js): 5.5–7.0 M keys/s without, 7.9–10.3 for the first dictionary of a process and
//    17.4–18.3 for the next ones with. (An earlier machine, with cheap faults, showed the
//    first dictionary slower with huge pages; there the difference was small either way.)
// Below kMapBytes, and on systems without mremap, storage is malloc/realloc.
//
// Only what the dictionary needs: no element constructors (T is trivially copyable), append-style growth,
// and allocatedBytes() for memory accounting (bytes really backed: the faulted-in prefix of a mapping).
#pragma once
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <type_traits>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#define SLUICE_MAPPED_ARRAY 1
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#endif

namespace sluice {

template <typename T>
class MappedArray {
  static_assert(std::is_trivially_copyable_v<T>, "MappedArray holds plain data only");

 public:
  static constexpr size_t kMapBytes = size_t{1} << 20;     // from this size on, storage is a mapping
  static constexpr size_t kPopulateStep = size_t{1} << 20;  // the least a mapping is faulted in ahead

  MappedArray() = default;
  ~MappedArray() { Free(); }
  MappedArray(const MappedArray& other) { *this = other; }
  MappedArray& operator=(const MappedArray& other) {
    if (this == &other) return *this;
    clear();
    reserve(other.size_);
    if (other.size_ > 0) std::memcpy(data_, other.data_, other.size_ * sizeof(T));
    size_ = other.size_;
    return *this;
  }
  MappedArray(MappedArray&& other) noexcept { Take(other); }
  MappedArray& operator=(MappedArray&& other) noexcept {
    if (this != &other) {
      Free();
      Take(other);
    }
    return *this;
  }

  // An array of n elements equal to value; fresh zeroed storage when value is zero (a new mapping is
  // zero already, so nothing is written), all of it faulted in (its user is about to write all over it).
  static MappedArray Filled(size_t n, T value) {
    MappedArray a;
    a.Allocate(n);
    a.Populate(a.capacity_ * sizeof(T));
    a.size_ = n;
    const T zero{};
    if (!a.mapped_ || std::memcmp(&value, &zero, sizeof(T)) != 0) std::fill(a.data_, a.data_ + n, value);
    return a;
  }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  size_t capacity() const { return capacity_; }
  // Bytes backed by memory: a mapping's faulted-in prefix (what memory accounting should count).
  size_t allocatedBytes() const { return (mapped_ ? ready_ : capacity_) * sizeof(T); }
  T* data() { return data_; }
  const T* data() const { return data_; }
  T& operator[](size_t i) { return data_[i]; }
  const T& operator[](size_t i) const { return data_[i]; }
  T* begin() { return data_; }
  T* end() { return data_ + size_; }
  const T* begin() const { return data_; }
  const T* end() const { return data_ + size_; }
  T& back() { return data_[size_ - 1]; }
  const T& back() const { return data_[size_ - 1]; }

  void push_back(T value) {
    if (size_ == ready_) MakeReady(size_ + 1);
    data_[size_++] = value;
  }
  void pop_back() { --size_; }
  void append(const T* values, size_t n) {
    if (n > ready_ - size_) MakeReady(size_ + n);
    if (n > 0) std::memcpy(data_ + size_, values, n * sizeof(T));
    size_ += n;
  }
  // Shrinking keeps the storage; growing fills the new elements with value.
  void resize(size_t n, T value = T{}) {
    if (n > size_) {
      if (n > ready_) MakeReady(n);
      std::fill(data_ + size_, data_ + n, value);
    }
    size_ = n;
  }
  void clear() { size_ = 0; }
  // Storage for n elements, faulted in.
  void reserve(size_t n) {
    if (n > ready_) MakeReady(n);
  }
  // Storage cut down to the elements (a mapping keeps its whole last page; below kMapBytes, malloc again).
  void shrink_to_fit() {
    if (size_ == capacity_) return;
    MappedArray fitted;
    if (!mapped_ || size_ * sizeof(T) < kMapBytes) {
      fitted = *this;  // copies into storage of exactly size_ (malloc below kMapBytes)
      *this = std::move(fitted);
      return;
    }
#if SLUICE_MAPPED_ARRAY
    const size_t bytes = PageRound(size_ * sizeof(T));
    const size_t old = PageRound(capacity_ * sizeof(T));
    if (bytes < old) {
      munmap(reinterpret_cast<char*>(data_) + bytes, old - bytes);
      capacity_ = bytes / sizeof(T);
      ready_ = std::min(ready_, capacity_);
    }
#endif
  }

 private:
  void Take(MappedArray& other) {
    data_ = other.data_;
    size_ = other.size_;
    ready_ = other.ready_;
    capacity_ = other.capacity_;
    mapped_ = other.mapped_;
    other.data_ = nullptr;
    other.size_ = other.ready_ = other.capacity_ = 0;
    other.mapped_ = false;
  }

  void Free() {
    if (data_ == nullptr) return;
#if SLUICE_MAPPED_ARRAY
    if (mapped_) {
      munmap(data_, PageRound(capacity_ * sizeof(T)));
    } else {
      std::free(data_);
    }
#else
    std::free(data_);
#endif
    data_ = nullptr;
    size_ = ready_ = capacity_ = 0;
    mapped_ = false;
  }

  static size_t PageRound(size_t bytes) {
#if SLUICE_MAPPED_ARRAY
    static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    return (bytes + page - 1) / page * page;
#else
    return bytes;
#endif
  }

  // Storage for at least n elements from empty (capacity exactly n below kMapBytes; a mapping rounds up to
  // whole pages). Nothing faulted in yet for a mapping: ready_ = 0.
  void Allocate(size_t n) {
    if (n > SIZE_MAX / 2 / sizeof(T)) throw std::bad_alloc();
#if SLUICE_MAPPED_ARRAY
    if (n * sizeof(T) >= kMapBytes) {
      const size_t bytes = PageRound(n * sizeof(T));
      void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (p == MAP_FAILED) throw std::bad_alloc();
      AskForHugePages(p, bytes);
      data_ = static_cast<T*>(p);
      capacity_ = bytes / sizeof(T);
      ready_ = 0;
      mapped_ = true;
      return;
    }
#endif
    data_ = static_cast<T*>(std::malloc(std::max<size_t>(n, 1) * sizeof(T)));
    if (data_ == nullptr) throw std::bad_alloc();
    capacity_ = ready_ = n;
    mapped_ = false;
  }

#if SLUICE_MAPPED_ARRAY
  // A hint: a kernel without THP (or with it `never`) refuses it, and the mapping keeps 4 KiB pages.
  static void AskForHugePages(void* p, size_t bytes) { madvise(p, bytes, MADV_HUGEPAGE); }
#endif

  // Faults in the mapping's first `bytes` (rounded to pages, at most its size) in one call. A kernel
  // without MADV_POPULATE_WRITE refuses it, and the pages fault in on first touch as usual.
  void Populate(size_t bytes) {
    if (!mapped_) return;
#if SLUICE_MAPPED_ARRAY
    const size_t total = PageRound(capacity_ * sizeof(T));
    const size_t from = PageRound(ready_ * sizeof(T));
    const size_t to = std::min(PageRound(bytes), total);
    if (to > from) madvise(reinterpret_cast<char*>(data_) + from, to - from, MADV_POPULATE_WRITE);
    ready_ = std::max(ready_, to / sizeof(T));
#endif
  }

  // Makes at least n elements usable (n > ready_): faults in the next step of a mapping, or grows the
  // storage (capacity doubles at least).
  void MakeReady(size_t n) {
    if (n > capacity_) Grow(std::max(n, size_ * 2));  // as std::vector: room for twice what is held
    if (!mapped_) return;
    const size_t have = ready_ * sizeof(T);
    Populate(std::max(n * sizeof(T), have + std::max(kPopulateStep, std::min(have / 8, size_t{64} << 20))));
  }

  void Grow(size_t n) {
    if (n > SIZE_MAX / 2 / sizeof(T)) throw std::bad_alloc();
    if (data_ == nullptr) {
      Allocate(n);
      return;
    }
#if SLUICE_MAPPED_ARRAY
    if (mapped_) {
      const size_t bytes = PageRound(n * sizeof(T));
      void* p = mremap(data_, PageRound(capacity_ * sizeof(T)), bytes, MREMAP_MAYMOVE);
      if (p == MAP_FAILED) throw std::bad_alloc();
      AskForHugePages(p, bytes);
      data_ = static_cast<T*>(p);
      capacity_ = bytes / sizeof(T);
      return;
    }
    if (n * sizeof(T) >= kMapBytes) {  // from malloc to a mapping: one copy, at kMapBytes
      MappedArray bigger;
      bigger.Allocate(n);
      bigger.Populate(std::max(size_ * sizeof(T), kPopulateStep));
      if (size_ > 0) std::memcpy(bigger.data_, data_, size_ * sizeof(T));
      bigger.size_ = size_;
      *this = std::move(bigger);
      return;
    }
#endif
    T* p = static_cast<T*>(std::realloc(data_, n * sizeof(T)));
    if (p == nullptr) throw std::bad_alloc();
    data_ = p;
    capacity_ = ready_ = n;
  }

  T* data_ = nullptr;
  size_t size_ = 0;
  size_t ready_ = 0;     // elements usable without a fresh fault: capacity_ for malloc, the faulted prefix of a mapping
  size_t capacity_ = 0;  // elements the storage holds
  bool mapped_ = false;
};

}  // namespace sluice
