// The pinned key source against real pinned maps on a bpffs of the
// test's own: what it reads, how long it caches, and how it follows a map
// pinned again after an agent restart. Needs root (BPF and mount).
#include <gmock/gmock.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "dtls_cookie/pinned_keys.hpp"
#include "dtls_cookie/responder.hpp"

namespace dtls_cookie {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

#define DC_REQUIRE_ROOT()                               \
  do {                                                  \
    if (::geteuid() != 0) GTEST_SKIP() << "needs root"; \
  } while (0)

key fixed_key(uint32_t generation) {
  key k;
  k.generation = generation;
  k.created_unix_ns = 1000u * generation;
  for (size_t i = 0; i < k.bytes.size(); ++i)
    k.bytes[i] = uint8_t(generation * 13 + i);
  return k;
}

std::chrono::steady_clock::time_point fake_now;
std::chrono::steady_clock::time_point fake_clock() { return fake_now; }

responder load() {
  responder_options o;
  o.ports = {4433};
  return responder::load(to_config(o));
}

class PinnedKeys : public ::testing::Test {
 protected:
  void SetUp() override {
    DC_REQUIRE_ROOT();
    char tmpl[] = "/tmp/dc-pinned-keys-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_EQ(mount("bpf", dir_.c_str(), "bpf", 0, nullptr), 0)
        << std::strerror(errno);
    mounted_ = true;
    fake_now = std::chrono::steady_clock::time_point(1h);
  }
  void TearDown() override {
    if (mounted_) umount2(dir_.c_str(), MNT_DETACH);
    if (!dir_.empty()) fs::remove(dir_);
  }
  fs::path keys_pin() const { return dir_ / "keys"; }

  fs::path dir_;
  bool mounted_ = false;
};

TEST_F(PinnedKeys, ReadsThePublishedSet) {
  const responder r = load();
  const key_set published(fixed_key(5), fixed_key(4));
  r.publish_keys(published);
  pin_object(r.keys_fd(), keys_pin());
  pinned_key_source source(dir_);
  EXPECT_EQ(source.keys(), published);
  EXPECT_EQ(source.path(), keys_pin());
}

TEST_F(PinnedKeys, EmptySlotIsNoKeys) {
  const responder r = load();
  pin_object(r.keys_fd(), keys_pin());
  pinned_key_source source(dir_);
  EXPECT_TRUE(source.keys().empty());
  EXPECT_EQ(source.problem(),
            keys_pin().string() + " holds no key set (its slot 0 is empty)");
}

TEST_F(PinnedKeys, CachesForMaxAgeThenSeesTheRotation) {
  const responder r = load();
  const key_set first(fixed_key(1));
  r.publish_keys(first);
  pin_object(r.keys_fd(), keys_pin());
  pinned_key_source source(dir_, 100ms, &fake_clock);

  key_set second = first;
  second.rotate(fixed_key(2));
  r.publish_keys(second);
  fake_now += 99ms;
  EXPECT_EQ(source.keys(), first) << "read again before max_age";
  fake_now += 1ms;
  EXPECT_EQ(source.keys(), second) << "not read again after max_age";
}

// The agent stopped (unpinned) and started again (a new map under the
// same name): the source must not keep reading the orphaned map.
TEST_F(PinnedKeys, FollowsAMapPinnedAgain) {
  const responder old_agent = load();
  old_agent.publish_keys(key_set(fixed_key(7)));
  pin_object(old_agent.keys_fd(), keys_pin());
  pinned_key_source source(dir_, 100ms, &fake_clock);
  ASSERT_EQ(source.keys().current()->generation, 7u);

  fs::remove(keys_pin());
  fake_now += 100ms;
  EXPECT_TRUE(source.keys().empty()) << "keys of an unpinned map";

  const responder new_agent = load();
  new_agent.publish_keys(key_set(fixed_key(1)));
  pin_object(new_agent.keys_fd(), keys_pin());
  old_agent.publish_keys(key_set(fixed_key(8)));
  fake_now += 100ms;
  ASSERT_FALSE(source.keys().empty());
  EXPECT_EQ(source.keys().current()->generation, 1u);
}

TEST_F(PinnedKeys, RefusesAMissingPin) {
  try {
    pinned_key_source source(dir_);
    FAIL() << "opened a key map that is not there";
  } catch (const error& e) {
    EXPECT_THAT(e.what(), HasSubstr(keys_pin().string()));
    EXPECT_THAT(e.what(), HasSubstr("No such file"));
    EXPECT_THAT(e.what(), HasSubstr("--pin-dir"));
  }
}

TEST_F(PinnedKeys, RefusesAProgramPinnedAsKeys) {
  const responder r = load();
  pin_object(r.prog_fd(), keys_pin());
  try {
    pinned_key_source source(dir_);
    FAIL() << "took a program for the key map";
  } catch (const error& e) {
    EXPECT_THAT(e.what(), HasSubstr(keys_pin().string() +
                                    " is not part of a dtls-cookie instance "
                                    "(a BPF program, not a map)"));
  }
}

}  // namespace
}  // namespace dtls_cookie
