// Request ids: what makes a policy change safe to send again. The CLI
// gives every change (apply, rollback, renumber) 128 random bits from
// libsodium's randombytes (the kernel's generator), written as 32
// lowercase hex digits; the control plane stores the id with the
// generation the change made and answers the same id again with that
// generation instead of storing it twice (docs/cli.md, docs/ha.md).
//
// Pure functions apart from the random source; any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace bulkhead::common {

inline constexpr size_t kRequestIdHexDigits = 32;

// A fresh id: 32 lowercase hex digits.
std::string new_request_id();

// An id as an operator or a script writes it: 32 hex digits in either case,
// or a UUID (8-4-4-4-12 hex digits with dashes, as uuidgen prints it).
// The id's canonical form (32 lowercase hex digits), or nothing.
std::optional<std::string> parse_request_id(std::string_view text);

// True when `id` is already canonical: the form the control plane accepts
// on the wire.
bool is_canonical_request_id(std::string_view id);

}  // namespace bulkhead::common
