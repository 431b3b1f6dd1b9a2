#include "common/request_id.h"

#include <sodium.h>

#include <stdexcept>

namespace bulkhead::common {

std::string new_request_id() {
  // sodium_init() is idempotent and thread-safe; randombytes_buf then reads
  // the kernel's generator (getrandom).
  if (sodium_init() < 0) throw std::runtime_error("libsodium cannot start: no random source for a request id");
  unsigned char raw[kRequestIdHexDigits / 2];
  randombytes_buf(raw, sizeof(raw));
  char hex[kRequestIdHexDigits + 1];
  sodium_bin2hex(hex, sizeof(hex), raw, sizeof(raw));
  return std::string(hex, kRequestIdHexDigits);
}

std::optional<std::string> parse_request_id(std::string_view text) {
  std::string digits;
  if (text.size() == 36) {
    // A UUID: dashes after the 8th, 12th, 16th and 20th digits only.
    for (size_t i = 0; i < text.size(); ++i) {
      const bool dash_here = i == 8 || i == 13 || i == 18 || i == 23;
      if ((text[i] == '-') != dash_here) return std::nullopt;
      if (!dash_here) digits += text[i];
    }
  } else if (text.size() == kRequestIdHexDigits) {
    digits = text;
  } else {
    return std::nullopt;
  }
  for (char& c : digits) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return std::nullopt;
  }
  return digits;
}

bool is_canonical_request_id(std::string_view id) {
  const auto parsed = parse_request_id(id);
  return parsed && *parsed == id;
}

}  // namespace bulkhead::common
