// Writing a file so that readers and crashes see either the old content or
// the whole new one: a temporary file beside it, fsync, rename. Shared by
// every part that keeps state on disk (dataplane, control plane, CLI).
#pragma once

#include <string>

namespace bulkhead::rules {

// Returns false with `error` set; the destination is then untouched.
bool write_file_atomic(const std::string& path, const std::string& content, std::string& error);

}  // namespace bulkhead::rules
