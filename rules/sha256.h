// SHA-256 of a byte string, as lowercase hex. Used to name policy sources.
#pragma once

#include <string>
#include <string_view>

namespace bulkhead::rules {

std::string sha256_hex(std::string_view data);

}  // namespace bulkhead::rules
