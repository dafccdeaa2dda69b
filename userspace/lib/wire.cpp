// DTLS datagram parsing and HelloVerifyRequest construction. Every bound
// here has a twin in bpf/responder.bpf.c; the differential packet tests
// hold the two to the same answers.
#include "dtls_cookie/wire.hpp"

#include <cstring>

namespace dtls_cookie::wire {
namespace {

bool is_dtls_version(uint16_t v) {
  return v == DC_VERSION_DTLS10 || v == DC_VERSION_DTLS12;
}

record_header read_record_header(const uint8_t* p) {
  record_header r;
  r.content_type = p[0];
  r.version = uint16_t(load_be<2>(p + 1));
  r.epoch = uint16_t(load_be<2>(p + 3));
  r.sequence = load_be<6>(p + 5);
  r.length = uint16_t(load_be<2>(p + 11));
  return r;
}

handshake_header read_handshake_header(const uint8_t* p) {
  handshake_header h;
  h.msg_type = p[0];
  h.length = uint32_t(load_be<3>(p + 1));
  h.message_seq = uint16_t(load_be<2>(p + 4));
  h.fragment_offset = uint32_t(load_be<3>(p + 6));
  h.fragment_length = uint32_t(load_be<3>(p + 9));
  return h;
}

// Walks the extension block [p, end) looking for supported_versions.
std::optional<reject_reason> walk_extensions(const uint8_t* p,
                                             const uint8_t* end,
                                             bool& offers_dtls13) {
  for (unsigned n = 0; p < end; ++n) {
    if (n == DC_MAX_EXTENSIONS) return reject_reason::too_many_extensions;
    if (end - p < 4) return reject_reason::bad_extensions;
    const uint16_t type = uint16_t(load_be<2>(p));
    const size_t len = load_be<2>(p + 2);
    p += 4;
    if (size_t(end - p) < len) return reject_reason::bad_extensions;
    if (type == DC_EXT_SUPPORTED_VERSIONS) {
      // ClientHello form: a 1-byte list length, then 2-byte versions.
      if (len < 1 || p[0] != len - 1 || (p[0] & 1))
        return reject_reason::bad_extensions;
      const size_t count = p[0] / 2;
      if (count > DC_MAX_SUPPORTED_VERSIONS)
        return reject_reason::too_many_extensions;
      for (size_t i = 0; i < count; ++i)
        if (load_be<2>(p + 1 + 2 * i) == DC_VERSION_DTLS13)
          offers_dtls13 = true;
    }
    p += len;
  }
  return std::nullopt;
}

}  // namespace

std::string_view to_string(reject_reason reason) noexcept {
  switch (reason) {
    case reject_reason::truncated:
      return "truncated";
    case reject_reason::not_handshake:
      return "not a handshake record";
    case reject_reason::epoch_not_zero:
      return "epoch is not 0";
    case reject_reason::bad_record_version:
      return "bad record version";
    case reject_reason::not_client_hello:
      return "not a ClientHello";
    case reject_reason::fragmented:
      return "fragmented ClientHello";
    case reject_reason::bad_length:
      return "inconsistent length fields";
    case reject_reason::bad_client_version:
      return "bad client_version";
    case reject_reason::session_id_too_long:
      return "session_id over 32 bytes";
    case reject_reason::bad_cipher_suites:
      return "bad cipher_suites";
    case reject_reason::bad_compression:
      return "bad compression_methods";
    case reject_reason::bad_extensions:
      return "bad extensions";
    case reject_reason::too_many_extensions:
      return "too many extensions";
  }
  return "unknown";
}

parse_result parse_client_hello(std::span<const uint8_t> d, parse_depth depth) {
  parse_result res;
  auto fail = [&res](reject_reason r) {
    res.reason = r;
    return res;
  };
  client_hello& ch = res.hello;

  if (d.size() < DC_RECORD_HEADER_LEN) return fail(reject_reason::truncated);
  ch.record = read_record_header(d.data());
  if (ch.record.content_type != DC_CONTENT_HANDSHAKE)
    return fail(reject_reason::not_handshake);
  if (ch.record.epoch != 0) return fail(reject_reason::epoch_not_zero);
  if (!is_dtls_version(ch.record.version))
    return fail(reject_reason::bad_record_version);

  if (d.size() < DC_RECORD_HEADER_LEN + DC_HANDSHAKE_HEADER_LEN)
    return fail(reject_reason::truncated);
  ch.handshake = read_handshake_header(d.data() + DC_RECORD_HEADER_LEN);
  if (ch.handshake.msg_type != DC_HS_CLIENT_HELLO)
    return fail(reject_reason::not_client_hello);
  if (ch.handshake.fragment_offset != 0 ||
      ch.handshake.fragment_length != ch.handshake.length)
    return fail(reject_reason::fragmented);

  // The record must fit in the datagram and hold the whole message.
  if (ch.record.length > d.size() - DC_RECORD_HEADER_LEN)
    return fail(reject_reason::truncated);
  if (size_t(DC_HANDSHAKE_HEADER_LEN) + ch.handshake.length > ch.record.length)
    return fail(reject_reason::bad_length);

  const uint8_t* const body = d.data() + DC_OFF_CLIENT_VERSION;
  const uint8_t* const end = body + ch.handshake.length;
  const uint8_t* p = body;

  if (end - p < 2 + DC_RANDOM_LEN + 1) return fail(reject_reason::truncated);
  ch.client_version = uint16_t(load_be<2>(p));
  if (!is_dtls_version(ch.client_version))
    return fail(reject_reason::bad_client_version);
  ch.random = {p + 2, DC_RANDOM_LEN};
  p += 2 + DC_RANDOM_LEN;

  const size_t sid_len = *p++;
  if (sid_len > DC_MAX_SESSION_ID_LEN)
    return fail(reject_reason::session_id_too_long);
  if (size_t(end - p) < sid_len + 1) return fail(reject_reason::truncated);
  ch.session_id = {p, sid_len};
  p += sid_len;

  ch.cookie_len_offset = size_t(p - d.data());
  const size_t cookie_len = *p++;
  if (size_t(end - p) < cookie_len) return fail(reject_reason::truncated);
  ch.cookie = {p, cookie_len};
  p += cookie_len;
  if (depth == parse_depth::up_to_cookie) return res;

  if (end - p < 2) return fail(reject_reason::bad_cipher_suites);
  const size_t suites_len = load_be<2>(p);
  p += 2;
  if (suites_len == 0 || (suites_len & 1) || size_t(end - p) < suites_len)
    return fail(reject_reason::bad_cipher_suites);
  p += suites_len;

  if (end - p < 1) return fail(reject_reason::bad_compression);
  const size_t comp_len = *p++;
  if (comp_len == 0 || size_t(end - p) < comp_len)
    return fail(reject_reason::bad_compression);
  p += comp_len;

  if (p == end) return res;  // no extensions at all
  if (end - p < 2) return fail(reject_reason::bad_extensions);
  const size_t ext_len = load_be<2>(p);
  p += 2;
  if (size_t(end - p) != ext_len) return fail(reject_reason::bad_extensions);
  if (auto r = walk_extensions(p, end, ch.offers_dtls13)) return fail(*r);
  return res;
}

classification classify(std::span<const uint8_t> d) {
  classification c;
  if (d.size() < DC_RECORD_HEADER_LEN) return c;  // malformed

  const uint8_t type = d[0];
  if ((type & DC_DTLS13_UNIFIED_MASK) == DC_DTLS13_UNIFIED_BITS) {
    c.cls = datagram_class::established;
    return c;
  }
  switch (type) {
    case DC_CONTENT_CHANGE_CIPHER_SPEC:
    case DC_CONTENT_ALERT:
    case DC_CONTENT_APPLICATION_DATA:
    case DC_CONTENT_HEARTBEAT:
    case DC_CONTENT_TLS12_CID:
      c.cls = datagram_class::established;
      return c;
    case DC_CONTENT_HANDSHAKE:
      break;
    default:
      return c;  // malformed
  }

  c.parsed = parse_client_hello(d, parse_depth::up_to_cookie);
  if (c.parsed.ok()) {
    c.cls = datagram_class::client_hello;
    return c;
  }
  switch (*c.parsed.reason) {
    case reject_reason::epoch_not_zero:
    case reject_reason::not_client_hello:
      c.cls = datagram_class::established;
      break;
    case reject_reason::fragmented:
      c.cls = datagram_class::fragmented;
      break;
    default:
      c.cls = datagram_class::malformed;
      break;
  }
  return c;
}

std::array<uint8_t, DC_HVR_LEN> build_hello_verify_request(
    uint64_t record_seq, uint16_t message_seq, uint16_t server_version,
    const dc_cookie& cookie) {
  std::array<uint8_t, DC_HVR_LEN> out{};
  uint8_t* p = out.data();
  p[0] = DC_CONTENT_HANDSHAKE;
  store_be<2>(p + 1, server_version);
  store_be<2>(p + 3, 0);  // epoch
  store_be<6>(p + 5, record_seq);
  store_be<2>(p + 11, DC_HANDSHAKE_HEADER_LEN + DC_HVR_BODY_LEN);
  p += DC_RECORD_HEADER_LEN;
  p[0] = DC_HS_HELLO_VERIFY_REQUEST;
  store_be<3>(p + 1, DC_HVR_BODY_LEN);
  store_be<2>(p + 4, message_seq);
  store_be<3>(p + 6, 0);
  store_be<3>(p + 9, DC_HVR_BODY_LEN);
  p += DC_HANDSHAKE_HEADER_LEN;
  store_be<2>(p, server_version);
  p[2] = DC_COOKIE_LEN;
  std::memcpy(p + 3, &cookie, sizeof cookie);
  return out;
}

}  // namespace dtls_cookie::wire
