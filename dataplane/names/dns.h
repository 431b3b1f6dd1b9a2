// DNS messages as the dataplane sees them forwarded: the question of a
// query, and the addresses an answer gives for the question's name.
//
// parse_dns() reads one DNS message (RFC 1035: the UDP payload, or one
// message of a TCP stream without its length prefix) into a DnsMessage of
// fixed size: no allocation, no logging, never a read outside the message.
// The work is bounded by the message's size: a name is at most 255 bytes
// and kMaxPointerJumps compression pointers, every pointer must point
// backwards (so no loop is possible), and at most kMaxRecords answer
// records are read.
//
// An answer binds only what it carries for its own question: the A and
// AAAA records (and the ipv4hint/ipv6hint of HTTPS and SVCB records) of the
// question's name or of a name that a CNAME chain from it reaches, in the
// answer section, class IN. The authority and additional sections are never
// read, so glue and unrelated records never bind anything.
//
// DnsStream splits a TCP byte stream into messages (RFC 1035 4.2.2: each
// preceded by a two-byte length), however the segments cut them.
//
// Thread-safety: parse_dns is stateless; a DnsStream belongs to one
// connection and one thread.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

namespace bulkhead::dataplane::names {

inline constexpr uint16_t kDnsPort = 53;

// A name is at most 255 bytes on the wire (RFC 1035 2.3.4), so at most 253
// characters as dotted text without the trailing dot.
inline constexpr std::size_t kMaxNameText = 253;
// Compression pointers followed while reading one name. Real messages use
// one or two; the limit only bounds hostile ones.
inline constexpr unsigned kMaxPointerJumps = 16;
// Answer records read from one message. A name with more addresses than
// this is answered in part (the rest is counted in skipped_records).
inline constexpr unsigned kMaxRecords = 128;
// Distinct names of a CNAME chain, the question's included.
inline constexpr unsigned kMaxChain = 16;
// Addresses taken from one answer.
inline constexpr unsigned kMaxAddresses = 64;
// RFC 2181 8: a TTL with the most significant bit set is taken as zero.
inline constexpr uint32_t kMaxTtl = 0x7fffffff;

// Record types and classes read here (IANA DNS parameters).
inline constexpr uint16_t kTypeA = 1;
inline constexpr uint16_t kTypeCname = 5;
inline constexpr uint16_t kTypeAaaa = 28;
inline constexpr uint16_t kTypeSvcb = 64;
inline constexpr uint16_t kTypeHttps = 65;
inline constexpr uint16_t kClassIn = 1;

inline constexpr uint8_t kRcodeNoError = 0;
inline constexpr uint8_t kRcodeNxDomain = 3;

// Why a message was not read: a counter label each.
#define BULKHEAD_DNS_ERRORS(X)                                             \
  X(short_header, "shorter than the 12-byte header")                       \
  X(not_query_opcode, "opcode is not QUERY")                               \
  X(question_count, "question count is not 1")                             \
  X(truncated_question, "question runs past the message")                  \
  X(bad_name, "a name is malformed: label or pointer past the end, "      \
                "a reserved label type or over 255 bytes")                 \
  X(forward_pointer, "a compression pointer points forwards or at itself") \
  X(pointer_depth, "a name follows too many compression pointers")         \
  X(name_charset, "the question's name has a dot or a non-printable byte in a label") \
  X(truncated_answer, "an answer record runs past the message (TC not set)")

enum class DnsError : uint8_t {
  none,
#define BULKHEAD_DNS_ERROR_ENUM(name, text) name,
  BULKHEAD_DNS_ERRORS(BULKHEAD_DNS_ERROR_ENUM)
#undef BULKHEAD_DNS_ERROR_ENUM
};
inline constexpr std::size_t kDnsErrorCount = 1
#define BULKHEAD_DNS_ERROR_COUNT(name, text) +1
    BULKHEAD_DNS_ERRORS(BULKHEAD_DNS_ERROR_COUNT)
#undef BULKHEAD_DNS_ERROR_COUNT
    ;
std::string_view dns_error_name(DnsError e) noexcept;
std::string_view dns_error_text(DnsError e) noexcept;

// A domain name as dotted text: lower-case ASCII, no trailing dot, the
// root as the empty string. Labels are kept as the wire has them (A-labels:
// an internationalised name arrives in its punycode form).
struct DnsName {
  std::array<char, kMaxNameText + 2> text{};  // room for a 254th character while reading
  uint8_t len = 0;

  std::string_view view() const noexcept { return {text.data(), len}; }
  bool operator==(const DnsName& o) const noexcept { return view() == o.view(); }
};

enum class AddressSource : uint8_t { a, aaaa, svcb_hint };

// One address an answer gives for a name of the question's chain.
struct DnsAddress {
  uint8_t family = 4;  // 4 or 6
  std::array<uint8_t, 16> addr{};  // network order; IPv4 in the first 4 bytes
  // The lowest TTL along the way from the question's name to this address
  // (the CNAME links and the address record), after RFC 2181 8.
  uint32_t ttl = 0;
  uint8_t owner = 0;  // index into DnsMessage::chain of the record's name
  AddressSource source = AddressSource::a;
};

struct DnsMessage {
  uint16_t id = 0;
  bool response = false;
  bool truncated = false;  // TC: the complete records before the cut are read
  uint8_t opcode = 0;
  uint8_t rcode = 0;
  uint16_t qtype = 0;
  uint16_t qclass = 0;

  // chain[0] is the question's name; chain[i + 1] the CNAME target of
  // chain[i], as far as the answer section leads (responses only).
  std::array<DnsName, kMaxChain> chain{};
  uint8_t chain_len = 0;
  std::array<DnsAddress, kMaxAddresses> addresses{};
  uint16_t address_count = 0;
  // Answer records not taken: other types or classes, names off the
  // question's chain, names that are not printable, beyond the limits.
  uint16_t skipped_records = 0;

  const DnsName& qname() const noexcept { return chain[0]; }
  std::span<const DnsAddress> address_list() const noexcept { return {addresses.data(), address_count}; }
  // An NXDOMAIN, or a NOERROR answer without an address for the question.
  bool negative() const noexcept { return response && address_count == 0; }
};

// Reads one DNS message. On error `out` holds what was read before it
// (the header at least, when the message had 12 bytes).
DnsError parse_dns(std::span<const uint8_t> message, DnsMessage& out) noexcept;

// Splits one direction of a TCP DNS connection into messages. Bytes are fed
// in stream order; a message larger than kMaxStreamMessage is skipped (its
// bytes are passed over, counted in skipped_messages()) and the stream stays
// in step with the next length prefix.
class DnsStream {
 public:
  // Real answers over TCP are a few KB; 16 KiB covers them and bounds the
  // memory a connection holds.
  static constexpr std::size_t kMaxStreamMessage = 16384;

  // Calls on_message(std::span<const uint8_t>) for each message completed
  // by these bytes, in order. Linear in bytes.size().
  template <typename OnMessage>
  void feed(std::span<const uint8_t> bytes, OnMessage&& on_message);

  uint32_t skipped_messages() const noexcept { return skipped_; }

 private:
  std::array<uint8_t, kMaxStreamMessage> buffer_;
  std::size_t have_ = 0;       // bytes of the current message (or skip) so far
  std::size_t want_ = 0;       // its length; 0 while reading a length prefix
  uint8_t prefix_[2] = {0, 0};
  uint8_t prefix_have_ = 0;
  bool skipping_ = false;
  uint32_t skipped_ = 0;
};

template <typename OnMessage>
void DnsStream::feed(std::span<const uint8_t> bytes, OnMessage&& on_message) {
  std::size_t at = 0;
  while (at < bytes.size()) {
    if (want_ == 0) {
      prefix_[prefix_have_++] = bytes[at++];
      if (prefix_have_ < 2) continue;
      prefix_have_ = 0;
      want_ = std::size_t(prefix_[0]) << 8 | prefix_[1];
      have_ = 0;
      skipping_ = want_ > kMaxStreamMessage;
      continue;  // an empty message (length 0) reads the next prefix
    }
    std::size_t take = std::min(want_ - have_, bytes.size() - at);
    if (!skipping_) std::copy_n(bytes.data() + at, take, buffer_.data() + have_);
    have_ += take;
    at += take;
    if (have_ == want_) {
      if (skipping_) {
        ++skipped_;
      } else {
        on_message(std::span<const uint8_t>(buffer_.data(), have_));
      }
      want_ = 0;
      have_ = 0;
      skipping_ = false;
    }
  }
}

}  // namespace bulkhead::dataplane::names
