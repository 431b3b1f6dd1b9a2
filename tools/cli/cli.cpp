#include "tools/cli/cli.h"

#include "common/time.h"
#include "common/file_write.h"

#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>

namespace bulkhead::cli {

std::vector<Command>& registry() {
  static std::vector<Command> commands;
  return commands;
}

UsageError unknown_tenant(const std::string& name, const std::vector<std::string>& known) {
  std::string names;
  for (const auto& k : known) names += (names.empty() ? "" : ", ") + k;
  return UsageError("--tenant: the policy has no tenant '" + name + "'" +
                    (names.empty() ? std::string(" (it defines none)") : " (it defines " + names + ")"));
}

std::string format_time(int64_t unix_seconds) {
  if (unix_seconds == 0) return "-";
  return common::format_readable(unix_seconds);
}

void print_table(std::ostream& out, const std::vector<std::string>& header,
                 const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> width(header.size());
  for (size_t i = 0; i < header.size(); ++i) width[i] = header[i].size();
  for (const auto& r : rows)
    for (size_t i = 0; i < r.size() && i < width.size(); ++i) width[i] = std::max(width[i], r[i].size());
  auto line = [&](const std::vector<std::string>& r) {
    std::string s;
    for (size_t i = 0; i < r.size() && i < width.size(); ++i) {
      s += r[i];
      if (i + 1 < r.size()) s += std::string(width[i] - r[i].size() + 2, ' ');
    }
    out << s << '\n';
  };
  line(header);
  for (const auto& r : rows) line(r);
}

bool parse_command(const std::vector<std::string>& args, boost::program_options::options_description& opts,
                   boost::program_options::variables_map& vm, const char* usage) {
  namespace po = boost::program_options;
  po::positional_options_description pos;
  pos.add("file", 1);
  opts.add_options()("help,h", "show this help");
  po::store(po::command_line_parser(args).options(opts).positional(pos).run(), vm);
  if (vm.count("help")) {
    std::cout << usage << "\n\n" << opts << '\n';
    return false;
  }
  po::notify(vm);
  return true;
}

std::string read_input(const std::string& path) {
  std::stringstream ss;
  if (path == "-") {
    ss << std::cin.rdbuf();
    return ss.str();
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw UsageError("cannot read " + path);
  ss << in.rdbuf();
  return ss.str();
}

void write_file_atomic(const std::string& path, const std::string& content, mode_t mode) {
  std::string error;
  if (!common::write_file(path, content, error, mode)) throw UsageError(error);
}

}  // namespace bulkhead::cli
