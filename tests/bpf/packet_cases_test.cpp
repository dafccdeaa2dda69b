// Table-driven packet tests of the XDP responder through
// BPF_PROG_TEST_RUN: each case is a frame from the packet builder, the
// verdict, the one reason counter and the exact bytes expected, also held
// against the userspace model.
#include <linux/bpf.h>

#include <functional>
#include <ostream>

#include "bpf_test_util.hpp"
#include "dtls_cookie/model.hpp"

namespace dtls_cookie::testing {
namespace {

struct packet_case {
  std::string name;
  dc_config cfg;
  std::optional<key_set> keys;  // nullopt: the key slot stays empty
  pk::bytes frame;
  uint32_t verdict = XDP_PASS;
  dc_counter reason = DC_CNT_NOT_OURS;
  // The frame expected after the run; nullopt: the input, untouched.
  std::optional<pk::bytes> out;
};

void PrintTo(const packet_case& c, std::ostream* os) { *os << c.name; }

const key kG0 = test_key(7);
const key kG1 = test_key(8);
const key kG2 = test_key(9);
const key_set kKeys(kG2, kG1);  // current g2, previous g1

// A case builder: starts from the defaults and a DTLS 1.2 ClientHello
// without a cookie from 192.0.2.10:40000 to port 4433.
struct builder {
  // Implicit, so that a case reads `b = {"name"};`.
  builder(std::string n) : name(std::move(n)) {}  // NOLINT

  std::string name;
  responder_options opts = base_options();
  std::optional<key_set> keys = kKeys;
  pk::udp_frame req = v4_request({});
  pk::client_hello hello;
  // Replaces the built payload (for datagrams that are no ClientHello).
  std::optional<pk::bytes> payload;
  // Edits the built frame (for headers the builder always writes right).
  std::function<void(pk::bytes&)> patch;

  pk::bytes frame() const {
    pk::udp_frame f = req;
    f.payload = payload ? *payload : pk::build(hello);
    pk::bytes b = pk::build(f);
    if (patch) patch(b);
    return b;
  }

  packet_case expect(uint32_t verdict, dc_counter reason) const {
    return {name, to_config(opts), keys, frame(), verdict, reason, {}};
  }

  // XDP_TX with the reply built independently of the program.
  packet_case answered(dc_counter reason = DC_CNT_ANSWERED_NO_COOKIE) const {
    packet_case c = expect(XDP_TX, reason);
    pk::udp_frame f = req;
    f.payload = pk::build(hello);
    c.out =
        reply_for(f, *keys->current(), hello.record_seq, opts.server_version);
    return c;
  }
};

builder v6(builder b) {
  const pk::bytes p = b.req.payload;
  b.req = v6_request(p);
  return b;
}

pk::extension ext(uint16_t type, pk::bytes data) {
  return {type, std::move(data)};
}

std::vector<pk::extension> many_extensions(size_t n, size_t data_len) {
  std::vector<pk::extension> e;
  for (size_t i = 0; i < n; ++i)
    e.push_back({uint16_t(0xff00 + i), pk::bytes(data_len, uint8_t(i))});
  return e;
}

// Byte offsets in a frame without VLAN tags.
constexpr size_t kL3 = 14;
constexpr size_t kUdp4 = kL3 + 20;
constexpr size_t kPayload4 = kUdp4 + 8;

std::vector<packet_case> answered_cases() {
  std::vector<packet_case> v;
  builder b{"ipv4"};
  v.push_back(b.answered());

  b = {"ipv4_options"};
  b.req.ipv4_options = {0x94, 0x04, 0, 0, 1, 1, 1, 0};  // router alert, NOPs
  v.push_back(b.answered());

  b = {"ipv4_options_max"};
  b.req.ipv4_options = pk::bytes(40, 1);  // 40 NOPs: ihl 15
  b.req.vlans = {{0x8100, 5}};
  v.push_back(b.answered());

  b = {"ipv4_tos_id_copied"};
  b.req.tos = 0xb8;
  b.req.id = 0xbeef;
  b.req.ttl = 3;
  v.push_back(b.answered());

  v.push_back(v6(builder{"ipv6"}).answered());

  b = v6(builder{"ipv6_flow_label"});
  b.req.ipv6_vtc_flow = 0x6b812345;
  v.push_back(b.answered());

  b = {"vlan_one"};
  b.req.vlans = {{0x8100, 0x0123}};
  v.push_back(b.answered());

  b = {"vlan_two"};
  b.req.vlans = {{0x88a8, 0x0abc}, {0x8100, 0x0123}};
  v.push_back(b.answered());

  b = v6(builder{"vlan_two_ipv6"});
  b.req.vlans = {{0x88a8, 1}, {0x8100, 2}};
  v.push_back(b.answered());

  b = {"dtls10_client_hello"};
  b.hello.record_version = DC_VERSION_DTLS10;
  b.hello.client_version = DC_VERSION_DTLS10;
  v.push_back(b.answered());

  b = {"dtls12_client_hello_dtls12_server_version"};
  b.opts.server_version = DC_VERSION_DTLS12;
  v.push_back(b.answered());

  b = {"record_seq_above_255"};
  b.hello.record_seq = 256 + 44;
  v.push_back(b.answered());

  b = {"record_seq_above_2_32"};
  b.hello.record_seq = (uint64_t(1) << 32) + 0x01020304;
  v.push_back(b.answered());

  b = {"record_seq_max"};
  b.hello.record_seq = (uint64_t(1) << 48) - 1;
  v.push_back(b.answered());

  b = {"smallest_client_hello"};
  b.hello.cipher_suites = {0xc02b};
  b.hello.compression = {0};
  b.hello.extensions.reset();
  v.push_back(b.answered());

  b = {"empty_extension_block"};
  b.hello.extensions.emplace();
  v.push_back(b.answered());

  b = {"largest_client_hello"};
  b.hello.session_id = pk::bytes(32, 0x5a);
  b.hello.cookie = pk::bytes(255, 0xc0);
  b.hello.cipher_suites.assign(40, 0xc02b);
  b.hello.compression = {1, 0};
  b.hello.extensions = many_extensions(47, 16);
  b.hello.extensions->push_back(pk::supported_versions({0xfefd, 0xfeff}));
  v.push_back(b.answered(DC_CNT_ANSWERED_BAD_COOKIE));

  b = v6(builder{"largest_client_hello_ipv6_two_vlans"});
  b.req.vlans = {{0x88a8, 1}, {0x8100, 2}};
  b.hello.session_id = pk::bytes(32, 0x5a);
  b.hello.cookie = pk::bytes(255, 0xc0);
  b.hello.cipher_suites.assign(40, 0xc02b);
  b.hello.extensions = many_extensions(48, 15);
  v.push_back(b.answered(DC_CNT_ANSWERED_BAD_COOKIE));

  b = {"ethernet_padding_dropped_from_reply"};
  b.req.trailer = 18;
  v.push_back(b.answered());

  b = {"supported_versions_without_dtls13"};
  b.hello.extensions = {pk::supported_versions({0xfefd, 0xfeff})};
  v.push_back(b.answered());
  return v;
}

std::vector<packet_case> cookie_cases() {
  std::vector<packet_case> v;
  builder b{"cookie_current_key"};
  b.hello.cookie = cookie_for(kG2, b.req);
  v.push_back(b.expect(XDP_PASS, DC_CNT_VALID_COOKIE_CURRENT));

  b = {"cookie_previous_key"};
  b.hello.cookie = cookie_for(kG1, b.req);
  v.push_back(b.expect(XDP_PASS, DC_CNT_VALID_COOKIE_PREVIOUS));

  b = v6(builder{"cookie_current_key_ipv6"});
  b.hello.cookie = cookie_for(kG2, b.req);
  v.push_back(b.expect(XDP_PASS, DC_CNT_VALID_COOKIE_CURRENT));

  b = {"cookie_current_key_ipv4_options_two_vlans"};
  b.req.ipv4_options = pk::bytes(12, 1);
  b.req.vlans = {{0x88a8, 1}, {0x8100, 2}};
  b.hello.session_id = pk::bytes(32, 1);
  b.hello.cookie = cookie_for(kG2, b.req);
  v.push_back(b.expect(XDP_PASS, DC_CNT_VALID_COOKIE_CURRENT));

  b = {"cookie_previous_key_dropped_after_rotation"};
  b.keys = key_set(test_key(10), kG2);
  b.hello.cookie = cookie_for(kG1, b.req);
  b.hello.record_seq = 2;
  v.push_back(b.answered(DC_CNT_ANSWERED_BAD_COOKIE));

  b = {"cookie_previous_generation_without_previous_key"};
  b.keys = key_set(kG2);
  b.hello.cookie = cookie_for(kG1, b.req);
  v.push_back(b.answered(DC_CNT_ANSWERED_BAD_COOKIE));

  b = {"cookie_wrong_key_same_generation"};
  key other = kG2;
  other.bytes[3] ^= 0x40;
  b.hello.cookie = cookie_for(other, b.req);
  v.push_back(b.answered(DC_CNT_ANSWERED_BAD_COOKIE));

  b = {"cookie_for_another_address"};
  {
    pk::udp_frame elsewhere = b.req;
    elsewhere.src_ip = pk::ip_addr::parse("192.0.2.11");
    b.hello.cookie = cookie_for(kG2, elsewhere);
  }
  v.push_back(b.answered(DC_CNT_ANSWERED_BAD_COOKIE));

  b = {"cookie_for_another_port"};
  {
    pk::udp_frame elsewhere = b.req;
    elsewhere.src_port = 40001;
    b.hello.cookie = cookie_for(kG2, elsewhere);
  }
  v.push_back(b.answered(DC_CNT_ANSWERED_BAD_COOKIE));

  b = v6(builder{"cookie_for_ipv4_address_sent_over_ipv6"});
  {
    pk::udp_frame elsewhere = b.req;
    elsewhere.src_ip = pk::ip_addr::parse("192.0.2.10");
    elsewhere.dst_ip = pk::ip_addr::parse("198.51.100.1");
    b.hello.cookie = cookie_for(kG2, elsewhere);
  }
  v.push_back(b.answered(DC_CNT_ANSWERED_BAD_COOKIE));

  b = {"cookie_tag_last_byte_flipped"};
  b.hello.cookie = cookie_for(kG2, b.req);
  b.hello.cookie.back() ^= 1;
  v.push_back(b.answered(DC_CNT_ANSWERED_BAD_COOKIE));

  b = {"cookie_unknown_generation"};
  b.hello.cookie = cookie_for(test_key(99), b.req);
  v.push_back(b.answered(DC_CNT_ANSWERED_BAD_COOKIE));

  b = {"cookie_too_long"};
  b.hello.cookie = cookie_for(kG2, b.req);
  b.hello.cookie.push_back(0);
  v.push_back(b.answered(DC_CNT_ANSWERED_BAD_COOKIE));

  b = {"cookie_too_short"};
  b.hello.cookie = cookie_for(kG2, b.req);
  b.hello.cookie.pop_back();
  v.push_back(b.answered(DC_CNT_ANSWERED_BAD_COOKIE));

  b = {"cookie_valid_despite_dtls13_offer"};
  b.hello.cookie = cookie_for(kG2, b.req);
  b.hello.extensions = {pk::supported_versions({0xfefc, 0xfefd})};
  b.opts.dtls13 = DC_POLICY_DROP;
  v.push_back(b.expect(XDP_PASS, DC_CNT_VALID_COOKIE_CURRENT));

  b = {"cookie_valid_rest_malformed_not_read"};
  b.hello.cookie = cookie_for(kG2, b.req);
  b.hello.cipher_suites.clear();
  v.push_back(b.expect(XDP_PASS, DC_CNT_VALID_COOKIE_CURRENT));

  b = {"no_keys"};
  b.keys.reset();
  v.push_back(b.expect(XDP_PASS, DC_CNT_NO_KEYS));

  b = {"no_keys_policy_drop"};
  b.keys.reset();
  b.opts.no_keys = DC_POLICY_DROP;
  v.push_back(b.expect(XDP_DROP, DC_CNT_NO_KEYS));

  b = {"no_keys_with_cookie"};
  b.keys.reset();
  b.hello.cookie = cookie_for(kG2, b.req);
  v.push_back(b.expect(XDP_PASS, DC_CNT_NO_KEYS));

  b = {"no_keys_checked_before_the_rest"};
  b.keys.reset();
  b.hello.compression.clear();
  v.push_back(b.expect(XDP_PASS, DC_CNT_NO_KEYS));
  return v;
}

std::vector<packet_case> dtls13_cases() {
  std::vector<packet_case> v;
  const auto offer = [](builder b) {
    b.hello.extensions = {ext(10, {0, 2, 0, 23}),
                          pk::supported_versions({0xfefc, 0xfefd})};
    return b;
  };
  builder b = offer({"dtls13_policy_pass"});
  v.push_back(b.expect(XDP_PASS, DC_CNT_DTLS13));

  b = offer({"dtls13_policy_drop"});
  b.opts.dtls13 = DC_POLICY_DROP;
  v.push_back(b.expect(XDP_DROP, DC_CNT_DTLS13));

  b = offer({"dtls13_policy_answer"});
  b.opts.dtls13 = DC_POLICY_ANSWER;
  v.push_back(b.answered(DC_CNT_DTLS13));

  b = offer(v6(builder{"dtls13_policy_answer_ipv6_bad_cookie"}));
  b.opts.dtls13 = DC_POLICY_ANSWER;
  b.hello.cookie = pk::bytes(12, 3);
  v.push_back(b.answered(DC_CNT_DTLS13));

  b = {"dtls13_last_of_sixteen_versions"};
  b.hello.extensions = {ext(43, {32})};
  for (int i = 0; i < 15; ++i)
    b.hello.extensions->back().data.insert(
        b.hello.extensions->back().data.end(), {0xfe, 0xfd});
  b.hello.extensions->back().data.insert(b.hello.extensions->back().data.end(),
                                         {0xfe, 0xfc});
  b.opts.dtls13 = DC_POLICY_DROP;
  v.push_back(b.expect(XDP_DROP, DC_CNT_DTLS13));

  b = {"dtls13_after_many_extensions"};
  b.hello.extensions = many_extensions(40, 3);
  b.hello.extensions->push_back(pk::supported_versions({0xfefc}));
  b.opts.dtls13 = DC_POLICY_DROP;
  v.push_back(b.expect(XDP_DROP, DC_CNT_DTLS13));
  return v;
}

std::vector<packet_case> rejected_cases() {
  std::vector<packet_case> v;
  const auto record = [](uint8_t type, size_t len) {
    pk::bytes p(13 + len, 0);
    p[0] = type;
    p[1] = 0xfe;
    p[2] = 0xfd;
    p[3] = 0;
    p[4] = 1;  // epoch 1
    p[11] = uint8_t(len >> 8);
    p[12] = uint8_t(len);
    return p;
  };

  // Established traffic.
  builder b{"established_application_data"};
  b.payload = record(DC_CONTENT_APPLICATION_DATA, 40);
  v.push_back(b.expect(XDP_PASS, DC_CNT_ESTABLISHED));
  b.name = "established_application_data_policy_drop";
  b.opts.established = DC_POLICY_DROP;
  v.push_back(b.expect(XDP_DROP, DC_CNT_ESTABLISHED));

  for (uint8_t type : {20, 21, 24, 25}) {
    b = {"established_content_type_" + std::to_string(type)};
    b.payload = record(type, 2);
    v.push_back(b.expect(XDP_PASS, DC_CNT_ESTABLISHED));
  }
  b = {"established_dtls13_unified_header"};
  b.payload = pk::bytes{0x2c, 0x12, 0x34, 0, 5, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  v.push_back(b.expect(XDP_PASS, DC_CNT_ESTABLISHED));
  b = {"established_handshake_epoch_1"};
  b.hello.epoch = 1;
  v.push_back(b.expect(XDP_PASS, DC_CNT_ESTABLISHED));
  b = {"established_handshake_not_client_hello"};
  b.hello.msg_type = 11;  // Certificate
  b.opts.established = DC_POLICY_DROP;
  v.push_back(b.expect(XDP_DROP, DC_CNT_ESTABLISHED));
  b = {"established_epoch_checked_before_record_version"};
  b.hello.epoch = 2;
  b.hello.record_version = 0x0303;
  v.push_back(b.expect(XDP_PASS, DC_CNT_ESTABLISHED));

  // Fragments.
  b = {"fragmented_offset"};
  b.hello.fragment_offset = 100;
  v.push_back(b.expect(XDP_PASS, DC_CNT_FRAGMENTED));
  b = {"fragmented_length"};
  b.hello.fragment_length = 20;
  b.opts.fragmented = DC_POLICY_DROP;
  v.push_back(b.expect(XDP_DROP, DC_CNT_FRAGMENTED));

  // Malformed.
  const auto malformed = [&v](builder m) {
    v.push_back(m.expect(XDP_DROP, DC_CNT_MALFORMED));
  };
  b = {"malformed_empty_payload"};
  b.payload = pk::bytes{};
  malformed(b);
  b = {"malformed_12_bytes"};
  b.payload = pk::bytes(12, 22);
  malformed(b);
  b = {"malformed_policy_pass"};
  b.payload = pk::bytes(12, 22);
  b.opts.malformed = DC_POLICY_PASS;
  v.push_back(b.expect(XDP_PASS, DC_CNT_MALFORMED));
  b = {"malformed_content_type"};
  b.payload = record(99, 30);
  malformed(b);
  b = {"malformed_record_version"};
  b.hello.record_version = 0x0303;
  malformed(b);
  b = {"malformed_handshake_header_truncated"};
  b.payload = pk::build(b.hello);
  b.payload->resize(24);
  malformed(b);
  b = {"malformed_record_length_past_payload"};
  b.payload = pk::build(b.hello);
  (*b.payload)[12] += 1;
  malformed(b);
  b = {"malformed_handshake_length_past_record"};
  b.payload = pk::build(b.hello);
  (*b.payload)[12] -= 1;
  malformed(b);
  b = {"malformed_client_version"};
  b.hello.client_version = 0x0303;
  malformed(b);
  b = {"malformed_session_id_33"};
  b.hello.session_id = pk::bytes(33, 1);
  malformed(b);
  b = {"malformed_cookie_past_body"};
  b.hello.cookie = pk::bytes(12, 1);
  b.hello.cipher_suites.clear();
  b.hello.compression.clear();
  b.payload = pk::build(b.hello);
  // Cut the empty cipher_suites and compression_methods and the last
  // cookie byte, then make the lengths agree, so only the cookie overruns.
  b.payload->resize(b.payload->size() - 4);
  {
    pk::bytes& p = *b.payload;
    const uint32_t body = uint32_t(p.size() - 25);
    wire::store_be<2>(&p[11], 12 + body);
    wire::store_be<3>(&p[14], body);
    wire::store_be<3>(&p[22], body);
  }
  malformed(b);
  b = {"malformed_no_cipher_suites"};
  b.hello.cipher_suites.clear();
  malformed(b);
  b = {"malformed_odd_cipher_suites_length"};
  b.payload = pk::build(b.hello);
  // cipher_suites length 6 -> 5; its two bytes follow the empty
  // session_id and cookie at payload offset 61.
  (*b.payload)[62] = 5;
  malformed(b);
  b = {"malformed_no_compression_methods"};
  b.hello.compression.clear();
  malformed(b);
  b = {"malformed_extensions_length_short"};
  b.hello.extensions = {ext(10, {0, 2, 0, 23})};
  b.payload = pk::build(b.hello);
  (*b.payload)[b.payload->size() - 8 - 1] -= 1;  // block length
  malformed(b);
  b = {"malformed_one_byte_after_compression"};
  b.hello.extensions.reset();
  b.payload = pk::build(b.hello);
  b.payload->push_back(0);
  {
    pk::bytes& p = *b.payload;
    const uint32_t body = uint32_t(p.size() - 25);
    wire::store_be<2>(&p[11], 12 + body);
    wire::store_be<3>(&p[14], body);
    wire::store_be<3>(&p[22], body);
  }
  malformed(b);
  b = {"malformed_extension_past_block"};
  b.hello.extensions = {ext(10, {0, 2, 0, 23})};
  b.payload = pk::build(b.hello);
  (*b.payload)[b.payload->size() - 5] += 1;  // extension length 4 -> 5
  malformed(b);
  b = {"malformed_49_extensions"};
  b.hello.extensions = many_extensions(49, 0);
  malformed(b);
  b = {"malformed_supported_versions_empty"};
  b.hello.extensions = {ext(43, {})};
  malformed(b);
  b = {"malformed_supported_versions_list_length"};
  b.hello.extensions = {ext(43, {4, 0xfe, 0xfd})};
  malformed(b);
  b = {"malformed_supported_versions_odd"};
  b.hello.extensions = {ext(43, {3, 0xfe, 0xfd, 0xfe})};
  malformed(b);
  b = {"malformed_supported_versions_17"};
  b.hello.extensions = {ext(43, {34})};
  b.hello.extensions->back().data.resize(35, 0xfe);
  malformed(b);
  b = {"malformed_udp_length_below_8"};
  b.patch = [](pk::bytes& f) { f[kUdp4 + 5] = 7; };
  malformed(b);
  b = {"malformed_udp_length_past_ip"};
  b.patch = [](pk::bytes& f) {
    wire::store_be<2>(&f[kL3 + 2], wire::load_be<2>(&f[kL3 + 2]) - 1);
  };
  malformed(b);
  b = {"malformed_udp_length_past_frame"};
  b.patch = [](pk::bytes& f) {
    wire::store_be<2>(&f[kL3 + 2], wire::load_be<2>(&f[kL3 + 2]) + 10);
    wire::store_be<2>(&f[kUdp4 + 4], wire::load_be<2>(&f[kUdp4 + 4]) + 10);
  };
  malformed(b);
  b = v6(builder{"malformed_udp_length_past_ipv6_payload"});
  b.patch = [](pk::bytes& f) {
    wire::store_be<2>(&f[kL3 + 4], wire::load_be<2>(&f[kL3 + 4]) - 1);
  };
  malformed(b);

  // Bad sources.
  const auto bad_source = [&v](builder s) {
    v.push_back(s.expect(XDP_DROP, DC_CNT_BAD_SOURCE));
  };
  b = {"bad_source_multicast_mac"};
  b.req.src_mac = {0x01, 0x00, 0x5e, 0, 0, 1};
  bad_source(b);
  b = {"bad_source_broadcast_mac"};
  b.req.src_mac = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
  bad_source(b);
  b = {"bad_source_port_0"};
  b.req.src_port = 0;
  bad_source(b);
  for (const char* a : {"0.1.2.3", "127.0.0.1", "224.0.0.251",
                        "239.255.255.250", "240.0.0.1", "255.255.255.255"}) {
    b = {std::string("bad_source_") + a};
    b.req.src_ip = pk::ip_addr::parse(a);
    bad_source(b);
  }
  for (const char* a :
       {"::", "::1", "ff02::1", "ff0e::1234", "::ffff:192.0.2.10"}) {
    b = v6(builder{std::string("bad_source_") + a});
    b.req.src_ip = pk::ip_addr::parse(a);
    bad_source(b);
  }
  b = {"bad_source_equals_destination_ipv4"};
  b.req.src_ip = b.req.dst_ip;
  bad_source(b);
  b = v6(builder{"bad_source_equals_destination_ipv6"});
  b.req.src_ip = b.req.dst_ip;
  bad_source(b);
  b = {"bad_source_local_address_ipv4"};
  b.req.src_ip = pk::ip_addr::parse("203.0.113.7");
  bad_source(b);
  b = v6(builder{"bad_source_local_address_ipv6"});
  b.req.src_ip = pk::ip_addr::parse("2001:db8::7");
  bad_source(b);
  b = {"bad_source_checked_before_dtls"};
  b.req.src_port = 0;
  b.payload = pk::bytes(3, 0);
  bad_source(b);

  // Not ours.
  const auto not_ours = [&v](builder n) {
    v.push_back(n.expect(XDP_PASS, DC_CNT_NOT_OURS));
  };
  b = {"not_ours_other_port"};
  b.req.dst_port = 4434;
  not_ours(b);
  b = {"not_ours_other_port_bad_source_not_looked_at"};
  b.req.dst_port = 53;
  b.req.src_port = 0;
  not_ours(b);
  b = {"not_ours_three_vlan_tags"};
  b.req.vlans = {{0x88a8, 1}, {0x8100, 2}, {0x8100, 3}};
  not_ours(b);
  b = {"not_ours_arp"};
  b.patch = [](pk::bytes& f) {
    f[12] = 0x08;
    f[13] = 0x06;
  };
  not_ours(b);
  b = {"not_ours_tcp"};
  b.patch = [](pk::bytes& f) { f[kL3 + 9] = 6; };
  not_ours(b);
  b = {"not_ours_ipv4_version_5"};
  b.patch = [](pk::bytes& f) { f[kL3] = 0x55; };
  not_ours(b);
  b = {"not_ours_ipv4_ihl_4"};
  b.patch = [](pk::bytes& f) { f[kL3] = 0x44; };
  not_ours(b);
  b = {"not_ours_ipv4_more_fragments"};
  b.req.frag_off = 0x2000;
  not_ours(b);
  b = {"not_ours_ipv4_fragment_offset"};
  b.req.frag_off = 0x0001;
  not_ours(b);
  b = v6(builder{"not_ours_ipv6_extension_header"});
  b.req.ipv6_ext = {{0, pk::bytes(8, 0)}};  // hop-by-hop
  not_ours(b);
  b = {"not_ours_frame_ends_in_udp_header"};
  b.payload = pk::bytes{};
  b.patch = [](pk::bytes& f) { f.resize(kUdp4 + 6); };
  not_ours(b);
  b = {"not_ours_ipv4_header_past_frame"};
  b.req.ipv4_options = pk::bytes(40, 1);
  b.payload = pk::bytes{};
  b.patch = [](pk::bytes& f) { f.resize(kL3 + 50); };
  not_ours(b);
  return v;
}

std::vector<packet_case> all_cases() {
  std::vector<packet_case> v;
  for (auto&& part :
       {answered_cases(), cookie_cases(), dtls13_cases(), rejected_cases()})
    v.insert(v.end(), part.begin(), part.end());
  return v;
}

class PacketCase : public ::testing::TestWithParam<packet_case> {};

TEST_P(PacketCase, VerdictCounterAndBytes) {
  DC_REQUIRE_ROOT();
  const packet_case& c = GetParam();
  const responder& prog = program(c.cfg);
  prog.publish_keys(c.keys.value_or(key_set{}));

  const counters before = prog.read_counters();
  const run_result got = prog.test_run(c.frame);
  const counters delta = counter_delta(before, prog.read_counters());

  EXPECT_EQ(got.verdict, c.verdict) << model::verdict_name(got.verdict)
                                    << " != " << model::verdict_name(c.verdict);
  const pk::bytes& want = c.out ? *c.out : c.frame;
  EXPECT_EQ(got.frame, want);

  counters want_delta{};
  want_delta[c.reason] = 1;
  want_delta[model::verdict_counter(c.verdict)] = 1;
  for (size_t i = 0; i < DC_CNT_MAX; ++i)
    EXPECT_EQ(delta[i], want_delta[i]) << model::counter_name(dc_counter(i));

  if (got.verdict == XDP_TX) {
    EXPECT_LE(got.frame.size(), c.frame.size()) << "reply larger than request";
    expect_valid_checksums(got.frame);
  }

  // The model must agree with the kernel byte for byte.
  const model::outcome m =
      model::run(c.cfg, c.keys.value_or(key_set{}), c.frame);
  EXPECT_EQ(m.verdict, got.verdict) << "model verdict";
  EXPECT_EQ(m.reason, c.reason)
      << "model reason " << model::counter_name(m.reason);
  EXPECT_EQ(m.frame, got.frame) << "model frame";
}

INSTANTIATE_TEST_SUITE_P(
    Responder, PacketCase, ::testing::ValuesIn(all_cases()),
    [](const ::testing::TestParamInfo<packet_case>& param) {
      std::string n = param.param.name;
      for (char& ch : n)
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return n;
    });

}  // namespace
}  // namespace dtls_cookie::testing
