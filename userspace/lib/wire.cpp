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

namespace {

// Fills ch as far as it gets; the reason it stopped, or nothing. Kept apart
// from the result so the result is built once, with no copy per exit.
std::optional<reject_reason> parse_into(std::span<const uint8_t> d,
                                        parse_depth depth, client_hello& ch) {
  using R = reject_reason;

  // Headers are checked from locals and stored once: stores into ch, read
  // back at once, would cost a store-forwarding round trip each.
  if (d.size() < DC_RECORD_HEADER_LEN) return R::truncated;
  const record_header rec = read_record_header(d.data());
  if (rec.content_type != DC_CONTENT_HANDSHAKE) return R::not_handshake;
  if (rec.epoch != 0) return R::epoch_not_zero;
  if (!is_dtls_version(rec.version)) return R::bad_record_version;

  if (d.size() < DC_RECORD_HEADER_LEN + DC_HANDSHAKE_HEADER_LEN)
    return R::truncated;
  const handshake_header hs =
      read_handshake_header(d.data() + DC_RECORD_HEADER_LEN);
  if (hs.msg_type != DC_HS_CLIENT_HELLO) return R::not_client_hello;
  if (hs.fragment_offset != 0 || hs.fragment_length != hs.length)
    return R::fragmented;

  // The record must fit in the datagram and hold the whole message.
  if (rec.length > d.size() - DC_RECORD_HEADER_LEN) return R::truncated;
  if (size_t(DC_HANDSHAKE_HEADER_LEN) + hs.length > rec.length)
    return R::bad_length;

  const uint8_t* const body = d.data() + DC_OFF_CLIENT_VERSION;
  const uint8_t* const end = body + hs.length;
  const uint8_t* p = body;

  if (end - p < 2 + DC_RANDOM_LEN + 1) return R::truncated;
  const uint16_t client_version = uint16_t(load_be<2>(p));
  if (!is_dtls_version(client_version)) return R::bad_client_version;
  p += 2 + DC_RANDOM_LEN;

  const size_t sid_len = *p++;
  if (sid_len > DC_MAX_SESSION_ID_LEN) return R::session_id_too_long;
  if (size_t(end - p) < sid_len + 1) return R::truncated;
  const uint8_t* const sid = p;
  p += sid_len;

  const uint8_t* const cookie_len_byte = p++;
  const size_t cookie_len = *cookie_len_byte;
  if (size_t(end - p) < cookie_len) return R::truncated;

  ch.record = rec;
  ch.handshake = hs;
  ch.client_version = client_version;
  ch.random = {body + 2, DC_RANDOM_LEN};
  ch.session_id = {sid, sid_len};
  ch.cookie_len_offset = size_t(cookie_len_byte - d.data());
  ch.cookie = {p, cookie_len};
  p += cookie_len;
  if (depth == parse_depth::up_to_cookie) return std::nullopt;

  if (end - p < 2) return R::bad_cipher_suites;
  const size_t suites_len = load_be<2>(p);
  p += 2;
  if (suites_len == 0 || (suites_len & 1) || size_t(end - p) < suites_len)
    return R::bad_cipher_suites;
  p += suites_len;

  if (end - p < 1) return R::bad_compression;
  const size_t comp_len = *p++;
  if (comp_len == 0 || size_t(end - p) < comp_len) return R::bad_compression;
  p += comp_len;

  if (p == end) return std::nullopt;  // no extensions at all
  if (end - p < 2) return R::bad_extensions;
  const size_t ext_len = load_be<2>(p);
  p += 2;
  if (size_t(end - p) != ext_len) return R::bad_extensions;
  return walk_extensions(p, end, ch.offers_dtls13);
}

}  // namespace

parse_result parse_client_hello(std::span<const uint8_t> d, parse_depth depth) {
  parse_result res;
  res.reason = parse_into(d, depth, res.hello);
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
  constexpr uint8_t kHsLen = DC_HANDSHAKE_HEADER_LEN + DC_HVR_BODY_LEN;
  constexpr size_t kHs = DC_RECORD_HEADER_LEN;
  constexpr size_t kBody = kHs + DC_HANDSHAKE_HEADER_LEN;
  // Everything but the version, the sequence numbers and the cookie is
  // fixed; copying a template and patching four fields is what keeps send
  // cheap.
  static constexpr std::array<uint8_t, DC_HVR_LEN> kTemplate = [] {
    std::array<uint8_t, DC_HVR_LEN> t{};
    t[0] = DC_CONTENT_HANDSHAKE;
    t[12] = kHsLen;  // record length (high byte 0)
    t[kHs] = DC_HS_HELLO_VERIFY_REQUEST;
    t[kHs + 3] = DC_HVR_BODY_LEN;   // message length
    t[kHs + 11] = DC_HVR_BODY_LEN;  // fragment length, offset 0
    t[kBody + 2] = DC_COOKIE_LEN;
    return t;
  }();
  static_assert(kHsLen < 256 && DC_HVR_BODY_LEN < 256);

  std::array<uint8_t, DC_HVR_LEN> out = kTemplate;
  store_be<2>(&out[1], server_version);
  store_be<6>(&out[5], record_seq);
  store_be<2>(&out[kHs + 4], message_seq);
  store_be<2>(&out[kBody], server_version);
  std::memcpy(&out[kBody + 3], &cookie, sizeof cookie);
  return out;
}

}  // namespace dtls_cookie::wire
