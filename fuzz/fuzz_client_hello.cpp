// libFuzzer target: wire::parse_client_hello at both depths and
// wire::classify on arbitrary datagrams, with what wire.hpp promises about
// the result checked against the raw bytes.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "dtls_cookie/wire.hpp"
#include "fuzz_util.hpp"

namespace {

using namespace dtls_cookie::wire;
using bytes = std::vector<uint8_t>;

// Big-endian field read byte by byte, apart from the parser's load_be.
uint64_t field(std::span<const uint8_t> d, size_t off, size_t len) {
  uint64_t v = 0;
  for (size_t i = 0; i < len; ++i) v = v << 8 | d[off + i];
  return v;
}

bool dtls_version(uint64_t v) {
  return v == DC_VERSION_DTLS10 || v == DC_VERSION_DTLS12;
}

bool inside(std::span<const uint8_t> s, std::span<const uint8_t> d) {
  return s.data() >= d.data() && s.data() + s.size() <= d.data() + d.size();
}

size_t offset(std::span<const uint8_t> s, std::span<const uint8_t> d) {
  return size_t(s.data() - d.data());
}

// A successful parse, read against the datagram it came from.
void check_parsed(std::span<const uint8_t> d, const client_hello& h,
                  parse_depth depth) {
  FUZZ_CHECK(d.size() >= DC_OFF_SESSION_ID_LEN + 2);
  FUZZ_CHECK(h.record.content_type == DC_CONTENT_HANDSHAKE && d[0] == 22);
  FUZZ_CHECK(h.record.version == field(d, 1, 2));
  FUZZ_CHECK(dtls_version(h.record.version));
  FUZZ_CHECK(h.record.epoch == 0 && field(d, 3, 2) == 0);
  FUZZ_CHECK(h.record.sequence == field(d, DC_OFF_RECORD_SEQ, 6));
  FUZZ_CHECK(h.record.length == field(d, 11, 2));

  FUZZ_CHECK(h.handshake.msg_type == DC_HS_CLIENT_HELLO && d[13] == 1);
  FUZZ_CHECK(h.handshake.length == field(d, 14, 3));
  FUZZ_CHECK(h.handshake.message_seq == field(d, DC_OFF_MESSAGE_SEQ, 2));
  FUZZ_CHECK(h.handshake.fragment_offset == 0 && field(d, 19, 3) == 0);
  FUZZ_CHECK(h.handshake.fragment_length == field(d, 22, 3));
  FUZZ_CHECK(h.handshake.fragment_length == h.handshake.length);

  // The record lies in the datagram, the message in the record.
  const size_t record_end = DC_RECORD_HEADER_LEN + size_t(h.record.length);
  const size_t message_end = DC_OFF_CLIENT_VERSION + size_t(h.handshake.length);
  FUZZ_CHECK(record_end <= d.size());
  FUZZ_CHECK(message_end <= record_end);

  FUZZ_CHECK(h.client_version == field(d, DC_OFF_CLIENT_VERSION, 2));
  FUZZ_CHECK(dtls_version(h.client_version));
  FUZZ_CHECK(inside(h.random, d) && h.random.size() == DC_RANDOM_LEN);
  FUZZ_CHECK(offset(h.random, d) == DC_OFF_CLIENT_VERSION + 2);

  FUZZ_CHECK(h.session_id.size() <= DC_MAX_SESSION_ID_LEN);
  FUZZ_CHECK(h.session_id.size() == d[DC_OFF_SESSION_ID_LEN]);
  FUZZ_CHECK(h.session_id.empty() || inside(h.session_id, d));
  FUZZ_CHECK(h.session_id.empty() ||
             offset(h.session_id, d) == DC_OFF_SESSION_ID_LEN + 1);

  // PROTOCOL.md: the cookie length byte at 60 + session_id length.
  FUZZ_CHECK(h.cookie_len_offset ==
             DC_OFF_SESSION_ID_LEN + 1 + h.session_id.size());
  FUZZ_CHECK(h.cookie_len_offset < message_end);
  FUZZ_CHECK(d[h.cookie_len_offset] == h.cookie.size());
  FUZZ_CHECK(h.cookie.empty() || inside(h.cookie, d));
  FUZZ_CHECK(h.cookie.empty() ||
             offset(h.cookie, d) == h.cookie_len_offset + 1);
  FUZZ_CHECK(h.cookie_len_offset + 1 + h.cookie.size() <= message_end);

  // Only the extension walk can find a DTLS 1.3 offer.
  if (depth == parse_depth::up_to_cookie) FUZZ_CHECK(!h.offers_dtls13);
}

// Two parses of the same ClientHello bytes, possibly in different buffers:
// the same fields at the same offsets.
bool same_hello(const client_hello& a, std::span<const uint8_t> da,
                const client_hello& b, std::span<const uint8_t> db,
                bool with_sequence = true) {
  return a.record.content_type == b.record.content_type &&
         a.record.version == b.record.version &&
         a.record.epoch == b.record.epoch &&
         (!with_sequence || a.record.sequence == b.record.sequence) &&
         a.record.length == b.record.length &&
         a.handshake.msg_type == b.handshake.msg_type &&
         a.handshake.length == b.handshake.length &&
         a.handshake.message_seq == b.handshake.message_seq &&
         a.handshake.fragment_offset == b.handshake.fragment_offset &&
         a.handshake.fragment_length == b.handshake.fragment_length &&
         a.client_version == b.client_version &&
         offset(a.random, da) == offset(b.random, db) &&
         a.session_id.size() == b.session_id.size() &&
         a.cookie.size() == b.cookie.size() &&
         a.cookie_len_offset == b.cookie_len_offset &&
         (a.cookie.empty() || offset(a.cookie, da) == offset(b.cookie, db));
}

bool same_result(const parse_result& a, std::span<const uint8_t> da,
                 const parse_result& b, std::span<const uint8_t> db) {
  if (a.reason != b.reason) return false;
  if (!a.ok()) return true;
  return same_hello(a.hello, da, b.hello, db) &&
         a.hello.offers_dtls13 == b.hello.offers_dtls13;
}

bool extension_reason(reject_reason r) {
  return r == reject_reason::bad_cipher_suites ||
         r == reject_reason::bad_compression ||
         r == reject_reason::bad_extensions ||
         r == reject_reason::too_many_extensions;
}

void check_depth(std::span<const uint8_t> d, parse_depth depth) {
  const parse_result r = parse_client_hello(d, depth);
  if (!r.ok()) {
    const std::string_view why = to_string(*r.reason);
    FUZZ_CHECK(!why.empty() && why != "unknown");
  } else {
    check_parsed(d, r.hello, depth);
  }

  // Deterministic and confined to the datagram: a copy in a buffer of
  // its own parses the same.
  const bytes copy(d.begin(), d.end());
  FUZZ_CHECK(same_result(r, d, parse_client_hello(copy, depth), copy));
  if (!r.ok()) return;

  // Only the first record counts: bytes after the datagram change
  // nothing, and the record alone is the same ClientHello.
  bytes longer = copy;
  longer.insert(longer.end(), 64, 0xa5);
  FUZZ_CHECK(same_result(r, d, parse_client_hello(longer, depth), longer));
  const size_t record_end =
      DC_RECORD_HEADER_LEN + size_t(r.hello.record.length);
  const bytes record(d.begin(), d.begin() + record_end);
  FUZZ_CHECK(same_result(r, d, parse_client_hello(record, depth), record));
  const bytes cut(d.begin(), d.begin() + record_end - 1);
  const parse_result short_one = parse_client_hello(cut, depth);
  FUZZ_CHECK(short_one.reason == reject_reason::truncated);

  // The record sequence number is carried, never judged.
  bytes other_seq = copy;
  for (size_t i = 0; i < 6; ++i) other_seq[DC_OFF_RECORD_SEQ + i] ^= 0x5a;
  const parse_result s = parse_client_hello(other_seq, depth);
  FUZZ_CHECK(s.ok());
  FUZZ_CHECK(same_hello(r.hello, d, s.hello, other_seq, false));
  FUZZ_CHECK(s.hello.record.sequence ==
             (r.hello.record.sequence ^ 0x5a5a5a5a5a5aull));
}

void check_depths_agree(std::span<const uint8_t> d) {
  const parse_result up = parse_client_hello(d, parse_depth::up_to_cookie);
  const parse_result full = parse_client_hello(d, parse_depth::full);
  // The full parse is the cookie parse and then more.
  if (!up.ok()) {
    FUZZ_CHECK(full.reason == up.reason);
    return;
  }
  if (!full.ok()) FUZZ_CHECK(extension_reason(*full.reason));
  // The fields up to the cookie are filled before the rest is read.
  FUZZ_CHECK(same_hello(up.hello, d, full.hello, d));
}

bool established_type(uint8_t t) {
  return (t & DC_DTLS13_UNIFIED_MASK) == DC_DTLS13_UNIFIED_BITS ||
         t == DC_CONTENT_CHANGE_CIPHER_SPEC || t == DC_CONTENT_ALERT ||
         t == DC_CONTENT_APPLICATION_DATA || t == DC_CONTENT_HEARTBEAT ||
         t == DC_CONTENT_TLS12_CID;
}

void check_classify(std::span<const uint8_t> d) {
  const classification c = classify(d);
  const parse_result up = parse_client_hello(d, parse_depth::up_to_cookie);

  FUZZ_CHECK((c.cls == datagram_class::client_hello) == up.ok());
  if (d.size() < DC_RECORD_HEADER_LEN) {
    FUZZ_CHECK(c.cls == datagram_class::malformed);
    return;
  }
  if (established_type(d[0])) {
    FUZZ_CHECK(c.cls == datagram_class::established);
    return;
  }
  if (d[0] != DC_CONTENT_HANDSHAKE) {
    FUZZ_CHECK(c.cls == datagram_class::malformed);
    return;
  }
  switch (c.cls) {
    case datagram_class::client_hello:
      FUZZ_CHECK(c.parsed.ok());
      FUZZ_CHECK(same_hello(c.parsed.hello, d, up.hello, d));
      break;
    case datagram_class::established:
      FUZZ_CHECK(up.reason == reject_reason::epoch_not_zero ||
                 up.reason == reject_reason::not_client_hello);
      break;
    case datagram_class::fragmented:
      FUZZ_CHECK(up.reason == reject_reason::fragmented);
      break;
    case datagram_class::malformed:
      FUZZ_CHECK(!up.ok() && up.reason != reject_reason::epoch_not_zero &&
                 up.reason != reject_reason::not_client_hello &&
                 up.reason != reject_reason::fragmented);
      break;
  }
}

// The answer to a ClientHello: never larger than it, echoing its record
// sequence number, and itself not mistaken for a ClientHello.
void check_answer(std::span<const uint8_t> d) {
  const parse_result up = parse_client_hello(d, parse_depth::up_to_cookie);
  if (!up.ok()) return;
  dc_cookie cookie{};
  cookie.key_generation = htobe32(0x01020304);
  const auto hvr = build_hello_verify_request(up.hello.record.sequence,
                                              up.hello.handshake.message_seq,
                                              up.hello.client_version, cookie);
  FUZZ_CHECK(hvr.size() <= d.size());
  for (size_t i = 0; i < 6; ++i)
    FUZZ_CHECK(hvr[DC_OFF_RECORD_SEQ + i] == d[DC_OFF_RECORD_SEQ + i]);
  FUZZ_CHECK(field(hvr, DC_OFF_MESSAGE_SEQ, 2) ==
             up.hello.handshake.message_seq);
  const parse_result back = parse_client_hello(hvr);
  FUZZ_CHECK(back.reason == reject_reason::not_client_hello);
  FUZZ_CHECK(classify(hvr).cls == datagram_class::established);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::span<const uint8_t> d(data, size);
  check_depth(d, parse_depth::up_to_cookie);
  check_depth(d, parse_depth::full);
  check_depths_agree(d);
  check_classify(d);
  check_answer(d);
  return 0;
}
