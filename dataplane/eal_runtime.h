// DPDK's runtime directory of a file prefix, and its removal.
//
// rte_eal_init() makes a directory per --file-prefix (/var/run/dpdk/PREFIX
// for root; $XDG_RUNTIME_DIR/dpdk/PREFIX, else /tmp/dpdk/PREFIX, for other
// users) and puts in it the shared configuration, the memory maps (a
// --no-huge process's are as large as its memory, in a tmpfs on most
// systems), the multi-process and telemetry sockets and the capture socket.
// DPDK never removes it: a process that made one removes it when it stops,
// and whoever started a process that was killed removes its directory
// after it has exited.
#pragma once

#include <string>
#include <string_view>

namespace bulkhead::dataplane {

// Where rte_eal_init() puts the runtime directory of `prefix` for this
// process's user and environment.
std::string eal_runtime_dir(std::string_view prefix);

// Removes `dir`, the runtime directory of a process that has stopped: the
// regular files and sockets in it, then the directory. Anything else found
// there (a directory, a link) is left, and so is `dir`; a path that is not a
// directory is not touched. True when `dir` is gone (or was never there).
bool remove_eal_runtime_dir(const std::string& dir) noexcept;

// remove_eal_runtime_dir(dir) when the process exits (std::atexit): for a
// process whose EAL runs until then. Once per process.
void remove_eal_runtime_dir_at_exit(std::string dir);

}  // namespace bulkhead::dataplane
