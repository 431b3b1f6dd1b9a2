#include "rules/diagnostic.h"

namespace bulkhead::rules {

std::string Diagnostic::str() const {
  std::string s = file;
  if (line > 0) {
    s += ':' + std::to_string(line);
    if (column > 0) s += ':' + std::to_string(column);
  }
  s += severity == Severity::error ? ": error: " : ": warning: ";
  s += message;
  return s;
}

}  // namespace bulkhead::rules
