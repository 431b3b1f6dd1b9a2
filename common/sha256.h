// SHA-256 of a byte string as lowercase hex (libsodium's
// crypto_hash_sha256). Names policy sources and generations.
#pragma once

#include <string>
#include <string_view>

namespace bulkhead::common {

std::string sha256_hex(std::string_view data);

}  // namespace bulkhead::common
