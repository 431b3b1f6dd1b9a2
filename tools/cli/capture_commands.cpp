// `bulkhead capture`: copies of the packets a running dataplane drops (or
// passes), with the verdict, rule and drop reason of each, into a pcapng
// file. The dataplane is found by its DPDK file prefix, as DPDK's own tools
// find a process: its capture socket is bulkhead_capture.sock in the EAL's
// runtime directory (dataplane/capture_server.h).
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "common/file_write.h"
#include "common/time.h"
#include "dataplane/capture_request.h"
#include "dataplane/capture_server.h"
#include "dataplane/control_message.h"
#include "tools/cli/capture_file.h"
#include "tools/cli/cli.h"

namespace bulkhead::cli {
namespace po = boost::program_options;
namespace {

volatile std::sig_atomic_t g_interrupted = 0;
void on_interrupt(int) { g_interrupted = 1; }

// The EAL's runtime directory of a process with this file prefix, as
// eal_create_runtime_dir() makes it.
std::string runtime_dir(const std::string& prefix) {
  std::string base = "/var/run";
  if (getuid() != 0) {
    const char* xdg = std::getenv("XDG_RUNTIME_DIR");
    base = xdg != nullptr && *xdg != '\0' ? xdg : "/tmp";
  }
  return base + "/dpdk/" + prefix;
}

int connect_dataplane(const std::string& prefix) {
  const std::string path = runtime_dir(prefix) + "/" + dataplane::kCaptureSocketName;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (path.size() >= sizeof(addr.sun_path)) throw UsageError("--prefix '" + prefix + "' is too long");
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  const int fd = ::socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0) throw UsageError(std::string("socket: ") + std::strerror(errno));
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int e = errno;
    ::close(fd);
    if (e == ENOENT)
      throw UsageError("no dataplane with DPDK file prefix '" + prefix + "' here (no " + path +
                       "): is it running, started with --file-prefix " + prefix + "?");
    if (e == ECONNREFUSED)
      throw UsageError("the dataplane with DPDK file prefix '" + prefix + "' is not running (" + path +
                       " is left from an earlier one)");
    if (e == EACCES)
      throw UsageError(path + ": permission denied (run as the dataplane's user)");
    throw UsageError(path + ": " + std::strerror(e));
  }
  return fd;
}

// "500ms", or a duration as everywhere else ("30s", "5m").
uint32_t parse_capture_duration(const std::string& text) {
  if (text.size() > 2 && text.compare(text.size() - 2, 2, "ms") == 0) {
    const std::string digits = text.substr(0, text.size() - 2);
    if (digits.find_first_not_of("0123456789") == std::string::npos && digits.size() <= 9) {
      const unsigned long ms = std::stoul(digits);
      if (ms > 0 && ms <= dataplane::kCaptureMaxDurationMs) return static_cast<uint32_t>(ms);
    }
  } else if (int64_t s = 0; common::parse_duration(text, s) && s * 1000 <= dataplane::kCaptureMaxDurationMs) {
    return static_cast<uint32_t>(s * 1000);
  }
  throw UsageError("--duration '" + text + "': a duration up to a day, e.g. 500ms, 30s, 5m");
}

int cmd_capture(const std::vector<std::string>& args) {
  po::options_description o("options");
  std::string prefix = "rte", rule, reason, file, duration;
  uint64_t count = 0;
  uint32_t rate = 1000;
  o.add_options()("prefix", po::value(&prefix)->default_value(prefix), "the dataplane's DPDK --file-prefix")(
      "drops", "dropped packets (the default)")("rule", po::value(&rule), "packets this rule decided (an id, or 'default' for the default action; none by default: any rule)")(
      "reason", po::value(&reason), "drops for this reason (a name of /bulkhead/drops, e.g. policy_deny; none by default: any reason)")(
      "all", "every packet, forwarded ones too: a short sample")(
      "count", po::value(&count), "stop after N packets (default 1000; 100 with --all)")(
      "duration", po::value(&duration), "stop after this long: 500ms, 30s, 5m (default: at the count)")(
      "rate", po::value(&rate)->default_value(rate), "copies a second at most, all workers together")(
      "write,w", po::value(&file), "FILE.pcapng to write ('-': standard output; required)");
  po::variables_map vm;
  if (!parse_command(args, o, vm,
                     "usage: bulkhead capture [--prefix P] [--drops] [--rule ID] [--reason R] [--all] [--count N]\n"
                     "                        [--duration T] [--rate N] -w FILE.pcapng\n\n"
                     "Copies packets a running dataplane judges into a pcapng file; each packet's comment names\n"
                     "its verdict, the rule that decided and the drop reason. The conditions given must all hold.\n"
                     "Ends at the count, the duration, or Ctrl-C; then prints what was written and what was lost."))
    return kExitOk;
  if (vm.count("file") != 0) throw UsageError("unexpected argument '" + vm["file"].as<std::string>() + "'");
  if (file.empty()) throw UsageError("say where to write: -w FILE.pcapng ('-' for standard output)");
  const bool all = vm.count("all") != 0;
  if (all && (vm.count("drops") || vm.count("rule") || vm.count("reason")))
    throw UsageError("--all takes every packet; it goes with no --drops, --rule or --reason");
  if (!reason.empty() && !dataplane::drop_reason_by_name(reason)) {
    std::string names;
    for (unsigned i = 0; i < dataplane::kDropReasonCount; ++i)
      names += std::string(i ? ", " : "") + dataplane::drop_reason_name(static_cast<dataplane::DropReason>(i));
    throw UsageError("--reason '" + reason + "' is not a drop reason; one of: " + names);
  }
  if (rule.size() > dataplane::kMaxNameBytes) throw UsageError("--rule: longer than any rule id");
  if (vm.count("count") == 0) count = all ? 100 : 1000;
  if (count == 0 || count > dataplane::kCaptureMaxCount)
    throw UsageError("--count must be 1.." + std::to_string(dataplane::kCaptureMaxCount));
  if (rate == 0 || rate > dataplane::kCaptureMaxRate)
    throw UsageError("--rate must be 1.." + std::to_string(dataplane::kCaptureMaxRate));

  pb::CaptureRequest req;
  req.set_version(dataplane::kCaptureVersion);
  req.set_all(all);
  req.set_drops(vm.count("drops") != 0 || (!all && rule.empty() && reason.empty()));
  req.set_rule(rule);
  req.set_reason(reason);
  req.set_count(count);
  req.set_rate(rate);
  if (!duration.empty()) req.set_duration_ms(parse_capture_duration(duration));

  const int fd = connect_dataplane(prefix);
  const std::string data = req.SerializeAsString();
  if (::send(fd, data.data(), data.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(data.size())) {
    ::close(fd);
    throw UsageError(std::string("cannot send the capture request: ") + std::strerror(errno));
  }
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
  // Written as every file of the CLI is (common/file_write.h): into place
  // when the capture ends, so a failed one leaves what was there.
  common::OutputFile output;
  std::FILE* out = nullptr;
  std::string open_error;
  CaptureFile capture([&]() -> std::FILE* {
    if (!output.open(file, open_error)) return nullptr;
    const int fd = ::dup(output.fd());
    out = fd < 0 ? nullptr : ::fdopen(fd, "wb");
    if (out == nullptr) open_error = "cannot write " + file + ": " + std::strerror(errno);
    return out;
  });
  std::string buf(1 << 20, '\0');
  CaptureFile::Step step = CaptureFile::Step::more;
  bool asked_to_end = false;
  std::string error;
  while (step == CaptureFile::Step::more) {
    if (g_interrupted && !asked_to_end) {
      ::shutdown(fd, SHUT_WR);  // the dataplane ends the capture and sends its totals
      asked_to_end = true;
    }
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 200) <= 0) continue;
    const ssize_t n = ::recv(fd, buf.data(), buf.size(), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error = "the dataplane closed the capture without its totals (did it stop?)";
      break;
    }
    step = capture.take(std::string_view(buf.data(), static_cast<size_t>(n)));
    if (step == CaptureFile::Step::failed) error = open_error.empty() ? capture.error() : open_error;
  }
  ::close(fd);
  if (out != nullptr && std::fclose(out) != 0 && error.empty()) error = "cannot write " + file;
  if (error.empty() && !output.commit(error) && error.empty()) error = "cannot write " + file;
  if (!error.empty()) {
    std::cerr << "bulkhead capture: " << error << '\n';
    return kExitUsage;
  }
  const pb::CaptureEnd& end = capture.end();
  std::cerr << "bulkhead capture: " << capture.written() << " packets written to " << (file == "-" ? "standard output" : file)
            << " (" << capture.filter() << "); " << end.lost() << " copies lost to a full ring, " << end.over_rate()
            << " matching packets over the rate; " << end.why() << '\n';
  return kExitOk;
}

}  // namespace

void register_capture_commands() {
  registry().push_back({"capture", "", "copy dropped (or passed) packets of a running dataplane into pcapng",
                        cmd_capture});
}

}  // namespace bulkhead::cli
