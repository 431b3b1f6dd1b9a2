#include "dataplane/log.h"

namespace bulkhead::dataplane {

int log_type() noexcept {
  static const int type = [] {
    const int t = rte_log_register_type_and_pick_level("bulkhead.dataplane", RTE_LOG_INFO);
    return t < 0 ? static_cast<int>(RTE_LOGTYPE_USER1) : t;
  }();
  return type;
}

}  // namespace bulkhead::dataplane
