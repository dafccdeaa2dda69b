// The loader's contract: option validation, key publication through
// frozen read-only inner maps, counters summed over CPUs, and error
// messages that name the libbpf call, the object and the errno text.
#include <bpf/bpf.h>
#include <gmock/gmock.h>
#include <linux/bpf.h>

#include <cerrno>
#include <cstring>
#include <functional>

#include "bpf_test_util.hpp"
#include "dtls_cookie/error.hpp"

namespace dtls_cookie::testing {
namespace {

using ::testing::HasSubstr;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ToConfig, SetsPortBitsAndFields) {
  responder_options o = base_options();
  o.ports = {1, 63, 64, 4433, 65535};
  o.dtls13 = DC_POLICY_ANSWER;
  o.server_version = DC_VERSION_DTLS12;
  const dc_config c = to_config(o);
  size_t bits = 0;
  for (uint64_t w : c.port_bitmap) bits += size_t(__builtin_popcountll(w));
  EXPECT_EQ(bits, 5u);
  EXPECT_EQ(c.port_bitmap[0], (uint64_t(1) << 1) | (uint64_t(1) << 63));
  EXPECT_EQ(c.port_bitmap[1], 1u);
  EXPECT_TRUE(c.port_bitmap[4433 / 64] >> (4433 % 64) & 1);
  EXPECT_EQ(c.port_bitmap[1023], uint64_t(1) << 63);
  EXPECT_EQ(c.policy_dtls13, DC_POLICY_ANSWER);
  EXPECT_EQ(c.policy_malformed, DC_POLICY_DROP);
  EXPECT_EQ(c.server_version, DC_VERSION_DTLS12);
  EXPECT_EQ(c.local_addr_count, 2u);
  EXPECT_EQ(std::memcmp(c.local_addrs[1], o.local_addrs[1].data(), 16), 0);
}

TEST(ToConfig, RefusesWhatTheProgramCannotDo) {
  auto with = [](auto edit) {
    responder_options o = base_options();
    edit(o);
    return error_of([&] { to_config(o); });
  };
  EXPECT_THAT(with([](auto& o) { o.ports.clear(); }), HasSubstr("no UDP port"));
  EXPECT_THAT(with([](auto& o) { o.ports.push_back(0); }), HasSubstr("port 0"));
  EXPECT_THAT(with([](auto& o) { o.established = DC_POLICY_ANSWER; }),
              HasSubstr("policy for established"));
  // 3 is no policy, but inside the enum's range (0..3): a value beyond it
  // would be undefined behaviour before to_config could see it.
  EXPECT_THAT(with([](auto& o) { o.no_keys = dc_policy(3); }),
              HasSubstr("policy for no_keys is 3"));
  EXPECT_THAT(with([](auto& o) { o.dtls13 = dc_policy(3); }),
              HasSubstr("or ANSWER"));
  EXPECT_THAT(with([](auto& o) { o.server_version = DC_VERSION_DTLS13; }),
              HasSubstr("server_version"));
  EXPECT_THAT(with([](auto& o) { o.local_addrs.resize(17); }),
              HasSubstr("at most 16"));
}

TEST(Loader, KeysRoundTripThroughFrozenReadOnlyInnerMaps) {
  DC_REQUIRE_ROOT();
  const responder& prog = program(to_config(base_options()));
  prog.publish_keys(key_set{});
  EXPECT_TRUE(prog.read_keys().empty());

  key cur = test_key(41), prev = test_key(40);
  cur.created_unix_ns = 1'700'000'000'123'456'789ull;
  prog.publish_keys(key_set(cur, prev));
  EXPECT_EQ(prog.read_keys(), key_set(cur, prev));
  prog.publish_keys(key_set(cur));
  EXPECT_EQ(prog.read_keys(), key_set(cur));

  // The inner map in the slot can be neither written nor replaced in
  // place: frozen for syscalls, read-only for programs.
  uint32_t id = 0, zero = 0;
  ASSERT_EQ(bpf_map_lookup_elem(prog.keys_fd(), &zero, &id), 0);
  unique_fd inner(bpf_map_get_fd_by_id(id));
  ASSERT_TRUE(inner);
  bpf_map_info info{};
  uint32_t len = sizeof info;
  ASSERT_EQ(bpf_obj_get_info_by_fd(inner.get(), &info, &len), 0);
  EXPECT_TRUE(info.map_flags & BPF_F_RDONLY_PROG);
  const dc_key_set abi = key_set(prev).to_abi();
  EXPECT_EQ(bpf_map_update_elem(inner.get(), &zero, &abi, BPF_ANY), -EPERM);
  EXPECT_EQ(prog.read_keys(), key_set(cur));

  prog.publish_keys(key_set{});
  EXPECT_TRUE(prog.read_keys().empty());
  prog.publish_keys(key_set{});  // emptying an empty slot is no error
}

TEST(Loader, CurrentKeyWithoutValidFlagMeansNoKeys) {
  DC_REQUIRE_ROOT();
  const responder& prog = program(to_config(base_options()));
  // A set only another writer could produce: previous valid, current not.
  dc_key_set abi = key_set(test_key(2), test_key(1)).to_abi();
  abi.current.flags = 0;
  LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_RDONLY_PROG);
  unique_fd inner(
      bpf_map_create(BPF_MAP_TYPE_ARRAY, "test_keys", 4, sizeof abi, 1, &opts));
  ASSERT_TRUE(inner);
  uint32_t zero = 0;
  const int fd = inner.get();
  ASSERT_EQ(bpf_map_update_elem(fd, &zero, &abi, BPF_ANY), 0);
  ASSERT_EQ(bpf_map_update_elem(prog.keys_fd(), &zero, &fd, BPF_ANY), 0);

  pk::udp_frame req = v4_request({});
  pk::client_hello hello;
  hello.cookie = cookie_for(test_key(1), req);
  req.payload = pk::build(hello);
  const counters before = prog.read_counters();
  EXPECT_EQ(prog.test_run(pk::build(req)).verdict, XDP_PASS);
  const counters d = counter_delta(before, prog.read_counters());
  EXPECT_EQ(d[DC_CNT_NO_KEYS], 1u);
  EXPECT_EQ(d[DC_CNT_VALID_COOKIE_PREVIOUS], 0u);
  EXPECT_TRUE(prog.read_keys().empty());
  prog.publish_keys(key_set{});
}

TEST(Loader, CountersSumEveryRun) {
  DC_REQUIRE_ROOT();
  const responder& prog = program(to_config(base_options()));
  prog.publish_keys(key_set(test_key(5)));
  pk::udp_frame req = v4_request(pk::build(pk::client_hello{}));
  const pk::bytes frame = pk::build(req);
  const counters before = prog.read_counters();
  constexpr int kRuns = 50;
  for (int i = 0; i < kRuns; ++i)
    ASSERT_EQ(prog.test_run(frame).verdict, XDP_TX);
  const counters d = counter_delta(before, prog.read_counters());
  EXPECT_EQ(d[DC_CNT_ANSWERED_NO_COOKIE], uint64_t(kRuns));
  EXPECT_EQ(d[DC_CNT_XDP_TX], uint64_t(kRuns));
  uint64_t total = 0;
  for (uint64_t v : d) total += v;
  EXPECT_EQ(total, 2u * kRuns);
}

TEST(Loader, ErrorsNameTheCallTheObjectAndTheCause) {
  DC_REQUIRE_ROOT();
  const std::string ebadf = std::strerror(EBADF);
  std::string e = error_of([] { publish_keys(-1, key_set(test_key(1))); });
  EXPECT_THAT(e, HasSubstr("bpf_map_update_elem on dc_keys"));
  EXPECT_THAT(e, HasSubstr(ebadf));
  e = error_of([] { read_keys(-1); });
  EXPECT_THAT(e, HasSubstr("bpf_map_lookup_elem on dc_keys"));
  EXPECT_THAT(e, HasSubstr(ebadf));
  e = error_of([] { read_counters(-1); });
  EXPECT_THAT(e, HasSubstr("bpf_map_lookup_elem on dc_counters"));
  EXPECT_THAT(e, HasSubstr(ebadf));

  const responder& prog = program(to_config(base_options()));
  const uint8_t tiny[4] = {};
  e = error_of([&] { prog.test_run(tiny); });
  EXPECT_THAT(e, HasSubstr("bpf_prog_test_run_opts on dc_responder"));
  EXPECT_THAT(e, HasSubstr(std::strerror(EINVAL)));
  e = error_of([&] { prog.attach(0x7ffffff0, attach_mode::generic); });
  EXPECT_THAT(e, HasSubstr("bpf_link_create(BPF_XDP) on dc_responder on "
                           "ifindex 2147483632"));
}

TEST(Loader, MovedResponderKeepsItsProgram) {
  DC_REQUIRE_ROOT();
  responder a = responder::load(to_config(base_options()));
  const int fd = a.prog_fd();
  responder b = std::move(a);
  EXPECT_EQ(b.prog_fd(), fd);
  b.publish_keys(key_set(test_key(3)));
  const pk::bytes frame = pk::build(v4_request(pk::build(pk::client_hello{})));
  EXPECT_EQ(b.test_run(frame).verdict, XDP_TX);
}

}  // namespace
}  // namespace dtls_cookie::testing
