// Memory for the dataplane's large tables (the connection table).
//
// With hugepages the EAL's heap already maps 2 MiB or 1 GiB pages, and a
// table comes from it. Without them (--no-huge, or a VM with none reserved)
// the EAL maps 4 KiB pages, and a lookup in a table of a hundred megabytes
// pays a page walk for almost every slot it touches. There the table comes
// from anonymous memory the kernel backs with transparent huge pages
// (madvise); only this process's threads read it, so nothing requires EAL
// memory. Either way the memory is written through at allocation: a table
// never page-faults on the fast path.
#pragma once

#include <cstddef>
#include <cstdint>

namespace bulkhead::dataplane {

class TableMemory {
 public:
  TableMemory() = default;
  TableMemory(const TableMemory&) = delete;
  TableMemory& operator=(const TableMemory&) = delete;
  TableMemory(TableMemory&& o) noexcept { *this = static_cast<TableMemory&&>(o); }
  TableMemory& operator=(TableMemory&& o) noexcept;
  ~TableMemory();

  // Zeroed, 64-byte aligned; empty on failure.
  static TableMemory allocate(const char* name, size_t bytes) noexcept;

  void* data() const noexcept { return data_; }
  size_t bytes() const noexcept { return bytes_; }
  // Bytes mapped outside the EAL heap (0 when the table is in it): what the
  // EAL's heap statistics do not show.
  size_t mapped_bytes() const noexcept { return mapped_bytes_; }
  // Bytes of it the kernel backs with huge pages (0 for EAL memory, whose
  // page size the EAL reports).
  size_t huge_bytes() const noexcept;

 private:
  void release() noexcept;

  void* data_ = nullptr;
  size_t bytes_ = 0;
  void* mapped_ = nullptr;  // the whole mapping, when anonymous
  size_t mapped_bytes_ = 0;
};

}  // namespace bulkhead::dataplane
