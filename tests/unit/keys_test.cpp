// Key sets, rotation, the kernel layout round trip, random keys and fleet
// keys derived from a secret file.
#include <gtest/gtest.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "dtls_cookie/error.hpp"
#include "dtls_cookie/keys.hpp"

namespace dc = dtls_cookie;
using namespace std::chrono_literals;

namespace {

std::filesystem::path temp_file(const std::string& name,
                                const std::string& content) {
  auto dir = std::filesystem::temp_directory_path() /
             ("dc-keys-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto p = dir / name;
  std::ofstream(p, std::ios::binary) << content;
  return p;
}

TEST(Keys, RotationKeepsOnePreviousKey) {
  dc::key_set s;
  EXPECT_TRUE(s.empty());
  dc::rotate_random(s);
  const dc::key first = *s.current();
  EXPECT_EQ(first.generation, 1u);
  EXPECT_FALSE(s.previous().has_value());
  dc::rotate_random(s);
  EXPECT_EQ(s.current()->generation, 2u);
  EXPECT_EQ(*s.previous(), first);
  EXPECT_NE(s.current()->bytes, first.bytes);
  dc::rotate_random(s);
  EXPECT_EQ(s.find(1), nullptr);
  ASSERT_NE(s.find(2), nullptr);
  EXPECT_FALSE(s.is_current(*s.find(2)));
  EXPECT_TRUE(s.is_current(*s.find(3)));
}

TEST(Keys, AbiRoundTrip) {
  dc::key_set s;
  dc::rotate_random(s);
  dc::rotate_random(s);
  const dc_key_set abi = s.to_abi();
  EXPECT_EQ(abi.current.flags, DC_KEY_VALID);
  EXPECT_EQ(abi.previous.generation, 1u);
  EXPECT_EQ(dc::key_set::from_abi(abi), s);

  dc_key_set zero{};
  EXPECT_TRUE(dc::key_set::from_abi(zero).empty());
  // A previous key without a current one is not a usable set.
  zero.previous = abi.previous;
  EXPECT_TRUE(dc::key_set::from_abi(zero).empty());
}

TEST(FleetKeys, SameSecretSameTimeAgree) {
  const std::vector<uint8_t> secret(32, 0x5a);
  const dc::fleet_secret a(secret), b(secret);
  const auto now = std::chrono::system_clock::time_point(1'700'000'123s);
  const auto sa = a.key_set_at(now, 3600s), sb = b.key_set_at(now, 3600s);
  EXPECT_EQ(sa, sb);
  EXPECT_EQ(sa.current()->generation, 1'700'000'123u / 3600);
  EXPECT_EQ(sa.previous()->generation, sa.current()->generation - 1);
  EXPECT_NE(sa.current()->bytes, sa.previous()->bytes);
  // A host one epoch later still accepts the earlier host's current key.
  const auto later = b.key_set_at(now + 3600s, 3600s);
  EXPECT_EQ(*later.previous(), *sa.current());
}

TEST(FleetKeys, DifferentSecretsDisagree) {
  const dc::fleet_secret a(std::vector<uint8_t>(32, 1));
  const dc::fleet_secret b(std::vector<uint8_t>(32, 2));
  EXPECT_NE(a.derive(42).bytes, b.derive(42).bytes);
  EXPECT_NE(a.derive(42).bytes, a.derive(43).bytes);
}

TEST(FleetKeys, DerivationIsHkdfSha256) {
  // Recompute one key with OpenSSL's HKDF through the EVP_PKEY interface,
  // a different code path from the library's EVP_KDF one.
  const std::vector<uint8_t> secret(20, 0x33);
  const dc::key k = dc::fleet_secret(secret).derive(0x01020304);
  EVP_PKEY_CTX* ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, nullptr);
  ASSERT_NE(ctx, nullptr);
  const std::string salt = "dtls-cookie fleet key v1";
  const std::string info =
      std::string("cookie key epoch ") + std::string("\x01\x02\x03\x04", 4);
  ASSERT_EQ(EVP_PKEY_derive_init(ctx), 1);
  ASSERT_EQ(EVP_PKEY_CTX_set_hkdf_md(ctx, EVP_sha256()), 1);
  ASSERT_EQ(
      EVP_PKEY_CTX_set1_hkdf_salt(
          ctx, reinterpret_cast<const uint8_t*>(salt.data()), int(salt.size())),
      1);
  ASSERT_EQ(EVP_PKEY_CTX_set1_hkdf_key(ctx, secret.data(), int(secret.size())),
            1);
  ASSERT_EQ(
      EVP_PKEY_CTX_add1_hkdf_info(
          ctx, reinterpret_cast<const uint8_t*>(info.data()), int(info.size())),
      1);
  uint8_t want[16];
  size_t len = sizeof want;
  ASSERT_EQ(EVP_PKEY_derive(ctx, want, &len), 1);
  EVP_PKEY_CTX_free(ctx);
  EXPECT_EQ(std::vector<uint8_t>(k.bytes.begin(), k.bytes.end()),
            std::vector<uint8_t>(want, want + 16));
}

TEST(FleetKeys, SecretFileErrorsNameTheFile) {
  const auto short_file = temp_file("short", "tooshort");
  try {
    dc::fleet_secret::from_file(short_file);
    FAIL() << "a short secret was accepted";
  } catch (const dc::error& e) {
    EXPECT_NE(std::string(e.what()).find(short_file.string()),
              std::string::npos);
    EXPECT_NE(std::string(e.what()).find("at least 16"), std::string::npos);
  }
  const auto missing = short_file.parent_path() / "does-not-exist";
  try {
    dc::fleet_secret::from_file(missing);
    FAIL() << "a missing secret file was accepted";
  } catch (const dc::error& e) {
    EXPECT_NE(std::string(e.what()).find(missing.string()), std::string::npos);
  }
  try {
    dc::fleet_secret::from_file(short_file.parent_path());
    FAIL() << "a directory was accepted as a secret file";
  } catch (const dc::error& e) {
    EXPECT_NE(std::string(e.what()).find("is a directory"), std::string::npos);
  }
  const auto good = temp_file("good", std::string(32, 'k'));
  EXPECT_EQ(dc::fleet_secret::from_file(good).derive(5),
            dc::fleet_secret(std::vector<uint8_t>(32, 'k')).derive(5));
  std::filesystem::remove_all(short_file.parent_path());
}

TEST(FleetKeys, EpochArithmetic) {
  using tp = std::chrono::system_clock::time_point;
  EXPECT_EQ(dc::fleet_secret::epoch_at(tp(7199s), 3600s), 1u);
  EXPECT_EQ(dc::fleet_secret::epoch_at(tp(7200s), 3600s), 2u);
  EXPECT_THROW(dc::fleet_secret::epoch_at(tp(1s), 0s), dc::error);
}

}  // namespace

namespace {

std::chrono::system_clock::time_point fake_now;
std::chrono::system_clock::time_point fake_clock() { return fake_now; }

TEST(FleetKeys, KeySourceFollowsTheClock) {
  const dc::fleet_secret secret(std::vector<uint8_t>(24, 7));
  dc::fleet_key_source source(secret, 60s, &fake_clock);
  fake_now = std::chrono::system_clock::time_point(6000s);
  const auto first = source.keys();
  EXPECT_EQ(first.current()->generation, 100u);
  fake_now += 59s;
  EXPECT_EQ(source.keys(), first);
  fake_now += 1s;
  const auto second = source.keys();
  EXPECT_EQ(second.current()->generation, 101u);
  EXPECT_EQ(*second.previous(), *first.current());
  EXPECT_EQ(second, secret.key_set_at(fake_now, 60s));
}

}  // namespace
