#include "dataplane/controlplanes.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "common/file_write.h"
#include "common/text.h"

namespace bulkhead::dataplane {
namespace {

// The longest term file read: 20 digits and a newline, with room to spare.
constexpr size_t kMaxTermFile = 64;

bool valid_port(std::string_view p) {
  if (p.empty() || p.size() > 5 || !std::all_of(p.begin(), p.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return false;
  const unsigned long v = std::stoul(std::string(p));
  return v >= 1 && v <= 65535;
}

// A ZeroMQ endpoint a client connects to: tcp://HOST:PORT (HOST a name, an
// IPv4 address or [IPv6]) or ipc://PATH.
bool valid_endpoint(std::string_view e, std::string& why) {
  if (e.substr(0, 6) == "ipc://") {
    if (e.size() > 6) return true;
    why = "an ipc:// endpoint without a path";
    return false;
  }
  if (e.substr(0, 6) != "tcp://") {
    why = "not a tcp://HOST:PORT or ipc://PATH endpoint";
    return false;
  }
  const std::string_view rest = e.substr(6);
  const size_t colon = rest.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || !valid_port(rest.substr(colon + 1))) {
    why = "a tcp:// endpoint needs HOST:PORT with a port from 1 to 65535";
    return false;
  }
  const std::string_view host = rest.substr(0, colon);
  const bool bracketed = host.front() == '[';
  if (bracketed != (host.back() == ']') || (bracketed && host.size() < 3) ||
      host.find_first_of(bracketed ? "/;" : "/;[]") != std::string_view::npos ||
      (!bracketed && host.find(':') != std::string_view::npos)) {
    why = "a tcp:// endpoint's host is a name, an IPv4 address or an [IPv6] address";
    return false;
  }
  return true;
}

}  // namespace

bool parse_list(std::string_view text, const char* what, bool endpoints, std::vector<std::string>& out,
                std::string& error) {
  out.clear();
  size_t pos = 0;
  while (true) {
    const size_t comma = text.find(',', pos);
    const std::string_view item = text.substr(pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    const std::string shown = common::escaped(std::string(item), 128);
    if (item.empty()) {
      error = std::string(what) + ": an empty item in the list";
      return false;
    }
    if (std::any_of(item.begin(), item.end(), [](char c) { return static_cast<unsigned char>(c) <= ' ' || c == 0x7f; })) {
      error = std::string(what) + ": '" + shown + "' holds a blank or a control character";
      return false;
    }
    std::string why;
    if (endpoints && !valid_endpoint(item, why)) {
      error = std::string(what) + ": '" + shown + "' is " + why;
      return false;
    }
    if (std::find(out.begin(), out.end(), item) != out.end()) {
      error = std::string(what) + ": '" + shown + "' is listed twice";
      return false;
    }
    if (out.size() == kMaxControlPlanes) {
      error = std::string(what) + ": more than " + std::to_string(kMaxControlPlanes) + " items";
      return false;
    }
    out.emplace_back(item);
    if (comma == std::string_view::npos) return true;
    pos = comma + 1;
  }
}

std::string leader_term_path(const std::string& state_dir) { return state_dir + "/leader_term"; }

std::string format_leader_term(uint64_t term) { return std::to_string(term) + "\n"; }

bool parse_leader_term(std::string_view text, uint64_t& term) {
  if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
  if (text.empty() || text.size() > 20) return false;
  uint64_t v = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return false;
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  term = v;
  return true;
}

bool read_leader_term(const std::string& path, uint64_t& term, std::string& error) {
  term = 0;
  struct stat st{};
  if (stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return true;
    error = path + ": " + std::strerror(errno);
    return false;
  }
  if (!S_ISREG(st.st_mode)) {
    error = path + ": not a regular file";
    return false;
  }
  std::ifstream in(path, std::ios::binary);
  std::string text(kMaxTermFile + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (!parse_leader_term(text, term)) {
    term = 0;
    error = path + ": damaged (not a leader term)";
    return false;
  }
  return true;
}

bool write_leader_term(const std::string& path, uint64_t term, std::string& error) {
  struct stat st{};
  if (stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
    error = path + ": not a regular file; the leader term is not kept";
    return false;
  }
  return common::write_file(path, format_leader_term(term), error);
}

}  // namespace bulkhead::dataplane
