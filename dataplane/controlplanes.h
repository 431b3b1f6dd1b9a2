// What the dataplane reads about its control planes besides their
// messages: the comma-separated lists of its options (--controlplane,
// --controlplane-key, --flow-export), and the highest leader term it has
// accepted, kept in the state directory beside the last good rule set so
// that a restart still refuses a deposed leader (docs/ha.md).
//
// Pure functions but for read_leader_term and write_leader_term, which
// touch only the term's file; any thread may call them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace bulkhead::dataplane {

// Most control planes one dataplane keeps sessions with: a deployment runs
// two or three; each session is a socket and a thread's share of polling.
inline constexpr size_t kMaxControlPlanes = 16;

// Splits a list of `what` ("--controlplane") at commas into `out`: at most
// kMaxControlPlanes items, none empty, none with blanks or control
// characters, none twice. With `endpoints`, each must be a ZeroMQ
// tcp://HOST:PORT or ipc://PATH endpoint. False with a one-line `error`.
bool parse_list(std::string_view text, const char* what, bool endpoints, std::vector<std::string>& out,
                std::string& error);

// The file of the highest accepted leader term in a state directory.
std::string leader_term_path(const std::string& state_dir);

// The term file's content: decimal digits and a newline, nothing else.
std::string format_leader_term(uint64_t term);
bool parse_leader_term(std::string_view text, uint64_t& term);

// Reads the term kept at `path`: 0 when there is no file. False with
// `error` when the path is not a regular file or its content is not a term.
bool read_leader_term(const std::string& path, uint64_t& term, std::string& error);
// Keeps `term` at `path` atomically (common/file_write.h), only ever onto a
// regular file or a path that does not exist: anything else is refused.
bool write_leader_term(const std::string& path, uint64_t term, std::string& error);

}  // namespace bulkhead::dataplane
