/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * SipHash-2-4 with a 64-bit tag, written once for the XDP program and the
 * C++ library. Freestanding: no libc, no loops the verifier cannot bound.
 */
#ifndef DTLS_COOKIE_SIPHASH_H
#define DTLS_COOKIE_SIPHASH_H

#include <linux/types.h>

#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif

static __always_inline __u64 dc_rotl64(__u64 x, int b)
{
	return (x << b) | (x >> (64 - b));
}

/* Little-endian load of eight bytes from any alignment. */
static __always_inline __u64 dc_load_le64(const __u8 *p)
{
	return (__u64)p[0] | (__u64)p[1] << 8 | (__u64)p[2] << 16 |
	       (__u64)p[3] << 24 | (__u64)p[4] << 32 | (__u64)p[5] << 40 |
	       (__u64)p[6] << 48 | (__u64)p[7] << 56;
}

static __always_inline void dc_store_le64(__u8 *p, __u64 v)
{
	p[0] = v;
	p[1] = v >> 8;
	p[2] = v >> 16;
	p[3] = v >> 24;
	p[4] = v >> 32;
	p[5] = v >> 40;
	p[6] = v >> 48;
	p[7] = v >> 56;
}

struct dc_sipstate {
	__u64 v0, v1, v2, v3;
};

static __always_inline void dc_sipround(struct dc_sipstate *s)
{
	s->v0 += s->v1;
	s->v1 = dc_rotl64(s->v1, 13);
	s->v1 ^= s->v0;
	s->v0 = dc_rotl64(s->v0, 32);
	s->v2 += s->v3;
	s->v3 = dc_rotl64(s->v3, 16);
	s->v3 ^= s->v2;
	s->v0 += s->v3;
	s->v3 = dc_rotl64(s->v3, 21);
	s->v3 ^= s->v0;
	s->v2 += s->v1;
	s->v1 = dc_rotl64(s->v1, 17);
	s->v1 ^= s->v2;
	s->v2 = dc_rotl64(s->v2, 32);
}

static __always_inline void dc_sip_init(struct dc_sipstate *s, __u64 k0,
					__u64 k1)
{
	s->v0 = 0x736f6d6570736575ULL ^ k0;
	s->v1 = 0x646f72616e646f6dULL ^ k1;
	s->v2 = 0x6c7967656e657261ULL ^ k0;
	s->v3 = 0x7465646279746573ULL ^ k1;
}

/* Two compression rounds per message word. */
static __always_inline void dc_sip_word(struct dc_sipstate *s, __u64 m)
{
	s->v3 ^= m;
	dc_sipround(s);
	dc_sipround(s);
	s->v0 ^= m;
}

/* Four finalization rounds. */
static __always_inline __u64 dc_sip_final(struct dc_sipstate *s)
{
	s->v2 ^= 0xff;
	dc_sipround(s);
	dc_sipround(s);
	dc_sipround(s);
	dc_sipround(s);
	return s->v0 ^ s->v1 ^ s->v2 ^ s->v3;
}

/*
 * SipHash-2-4 of exactly 22 bytes (struct dc_mac_input): the function both
 * the kernel and the library call for every cookie.
 */
static __always_inline __u64 dc_siphash24_22(const __u8 key[16],
					     const __u8 msg[22])
{
	struct dc_sipstate s;
	__u64 last = (__u64)22 << 56 | (__u64)msg[16] | (__u64)msg[17] << 8 |
		     (__u64)msg[18] << 16 | (__u64)msg[19] << 24 |
		     (__u64)msg[20] << 32 | (__u64)msg[21] << 40;

	dc_sip_init(&s, dc_load_le64(key), dc_load_le64(key + 8));
	dc_sip_word(&s, dc_load_le64(msg));
	dc_sip_word(&s, dc_load_le64(msg + 8));
	dc_sip_word(&s, last);
	return dc_sip_final(&s);
}

/*
 * SipHash-2-4 of any length, for userspace and tests. The loop runs
 * len / 8 times, so BPF code must not call it with an unbounded length.
 */
static inline __u64 dc_siphash24(const __u8 key[16], const __u8 *msg, __u64 len)
{
	struct dc_sipstate s;
	__u64 last = len << 56;
	__u64 i, tail = len & 7;

	dc_sip_init(&s, dc_load_le64(key), dc_load_le64(key + 8));
	for (i = 0; i + 8 <= len; i += 8)
		dc_sip_word(&s, dc_load_le64(msg + i));
	for (i = 0; i < tail; i++)
		last |= (__u64)msg[len - tail + i] << (8 * i);
	dc_sip_word(&s, last);
	return dc_sip_final(&s);
}

#endif /* DTLS_COOKIE_SIPHASH_H */
