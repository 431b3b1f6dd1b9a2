// Daemon options that take effect only beside another one (a flow log
// format needs a flow log, a flow log needs flow records to arrive). A
// daemon refuses such an option at start when its partner is missing:
// ignoring it silently would hide the operator's mistake until the log
// that was never written is needed. Pure; called once at start-up from
// the thread that parses the options.
#pragma once

#include <initializer_list>
#include <string>

#include <boost/program_options/variables_map.hpp>

namespace bulkhead::common {

struct OptionNeed {
  // Option names without "--", as declared.
  std::initializer_list<const char*> options;
  // Whether what they need is there.
  bool met;
  // What they need, for the message: "--flow-log or --flow-syslog".
  const char* needs;
};

// The first option given (on the command line or in a config file, not a
// declared default) whose need is not met, as one message:
// "--flow-log-format has no effect without --flow-log or --flow-syslog";
// empty when every given option can take effect.
inline std::string unmet_option_need(const boost::program_options::variables_map& vm,
                                     std::initializer_list<OptionNeed> needs) {
  for (const OptionNeed& n : needs) {
    if (n.met) continue;
    for (const char* name : n.options) {
      const auto it = vm.find(name);
      if (it != vm.end() && !it->second.defaulted())
        return std::string("--") + name + " has no effect without " + n.needs;
    }
  }
  return {};
}

}  // namespace bulkhead::common
