// Diagnostics and results of the policy toolchain.
//
// Every problem found in a policy is a Diagnostic naming the file, line and
// column (1-based; 0 when the whole file is meant) and what is wrong.
// Functions return a Result: the value is present only when no error was
// found, so nothing is ever half-loaded. Warnings may accompany a value.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace bulkhead::rules {

struct Diagnostic {
  enum class Severity { error, warning };

  Severity severity = Severity::error;
  std::string file;
  uint32_t line = 0;
  uint32_t column = 0;
  std::string message;

  // "FILE:LINE:COL: error: MESSAGE"
  std::string str() const;
};

template <class T>
struct Result {
  std::optional<T> value;
  std::vector<Diagnostic> diagnostics;

  bool ok() const { return value.has_value(); }
  bool has_errors() const {
    for (const auto& d : diagnostics)
      if (d.severity == Diagnostic::Severity::error) return true;
    return false;
  }
};

}  // namespace bulkhead::rules
