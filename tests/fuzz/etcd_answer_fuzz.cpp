// What the control plane reads of etcd's JSON gateway, on arbitrary bytes:
// an answer is parsed and its key-values decoded from base64, or refused
// with a reason, and never with an exception; a range answer nested in a
// transaction's responses the same. Each line is also read as an etcd://
// store URL. What base64 decodes to survives encoding and decoding again.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "controlplane/etcd_client.h"
#include "tests/fuzz/lines.h"

using namespace bulkhead::controlplane;

namespace {

void key_values(const nlohmann::json& answer) {
  std::vector<KeyValue> kvs;
  std::string error;
  if (!EtcdClient::key_values(answer, kvs, error) && error.empty()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto answer = nlohmann::json::parse(text, nullptr, false);
  // No exception may escape: the control plane's loop reads these.
  key_values(answer);
  if (answer.is_object() && answer.contains("responses"))
    for (size_t i = 0; i < 4; ++i) key_values(EtcdClient::range_response(answer["responses"], i));
  std::string raw, back;
  if (base64_decode(text, raw) && (!base64_decode(base64_encode(raw), back) || back != raw)) std::abort();
  bulkhead::test::for_each_line(data, size, [](std::string_view line) {
    EtcdTarget t;
    std::string why;
    if (parse_etcd_url(line, t, why)) {
      if (t.endpoints.empty() || t.prefix.empty() || t.prefix[0] != '/') std::abort();
    } else if (why.empty()) {
      std::abort();
    }
  });
  return 0;
}
