// JSON output of the CLI's commands: objects built with nlohmann-json and
// printed as one line. Text from outside (file names, rule ids) that is not
// UTF-8 is replaced, never thrown over.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace bulkhead::cli {

using Json = nlohmann::ordered_json;

inline std::string json_text(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

}  // namespace bulkhead::cli
