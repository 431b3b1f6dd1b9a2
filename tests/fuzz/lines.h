// Fuzz input read as text: each line (split at '\n', the last one possibly
// empty) handed to `fn`, for the targets whose parsers read one line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace bulkhead::test {

template <class Fn>
void for_each_line(const uint8_t* data, size_t size, Fn&& fn) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    fn(text.substr(pos, end - pos));
    pos = end + 1;
  }
}

}  // namespace bulkhead::test
