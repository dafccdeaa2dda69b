/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Every constant and layout that the XDP responder and the C++ library
 * share: DTLS wire offsets, the cookie, the key-map value, counters and
 * load-time configuration. Freestanding C, included by BPF and by C++.
 */
#ifndef DTLS_COOKIE_ABI_H
#define DTLS_COOKIE_ABI_H

#include <linux/types.h>

/* DTLS record layer (RFC 6347 section 4.1). */
#define DC_CONTENT_CHANGE_CIPHER_SPEC 20
#define DC_CONTENT_ALERT	      21
#define DC_CONTENT_HANDSHAKE	      22
#define DC_CONTENT_APPLICATION_DATA   23
#define DC_CONTENT_HEARTBEAT	      24
#define DC_CONTENT_TLS12_CID	      25
/* DTLS 1.3 ciphertext records start with 0b001xxxxx (RFC 9147 4.1). */
#define DC_DTLS13_UNIFIED_MASK 0xe0
#define DC_DTLS13_UNIFIED_BITS 0x20

#define DC_VERSION_DTLS10 0xfeff
#define DC_VERSION_DTLS12 0xfefd
#define DC_VERSION_DTLS13 0xfefc

#define DC_HS_CLIENT_HELLO	   1
#define DC_HS_HELLO_VERIFY_REQUEST 3

#define DC_EXT_SUPPORTED_VERSIONS 43

#define DC_RECORD_HEADER_LEN	13
#define DC_HANDSHAKE_HEADER_LEN 12
#define DC_RANDOM_LEN		32
#define DC_MAX_SESSION_ID_LEN	32
#define DC_MAX_COOKIE_LEN	255

/* Offsets from the start of a datagram that begins with a ClientHello. */
#define DC_OFF_RECORD_SEQ     5
#define DC_OFF_MESSAGE_SEQ    17
#define DC_OFF_CLIENT_VERSION 25
#define DC_OFF_SESSION_ID_LEN 59
/* Smallest ClientHello: empty session_id, cookie, one suite, one method. */
#define DC_MIN_CLIENT_HELLO_LEN (DC_OFF_SESSION_ID_LEN + 1 + 1 + 2 + 2 + 1 + 1)

/*
 * Bounds on the walk through a ClientHello's extensions. Both the kernel
 * and the library classify a ClientHello beyond them as malformed, so the
 * two never disagree; real clients send far fewer (about 10 to 20).
 * XXX: a legitimate ClientHello beyond these bounds is treated as malformed
 * (dropped under the default policy).
 */
#define DC_MAX_EXTENSIONS	  48
#define DC_MAX_SUPPORTED_VERSIONS 16

struct dc_record_header {
	__u8 content_type;
	__be16 version;
	__be16 epoch;
	__u8 sequence[6];
	__be16 length;
} __attribute__((packed));

struct dc_handshake_header {
	__u8 msg_type;
	__u8 length[3];
	__be16 message_seq;
	__u8 fragment_offset[3];
	__u8 fragment_length[3];
} __attribute__((packed));

/*
 * The cookie. The generation picks the key out of {current, previous}
 * without trying both; the tag is SipHash-2-4 over struct dc_mac_input.
 */
#define DC_KEY_LEN 16
#define DC_TAG_LEN 8

struct dc_cookie {
	__be32 key_generation;
	__u8 tag[DC_TAG_LEN];
} __attribute__((packed));

#define DC_COOKIE_LEN 12

/*
 * What the tag is computed over: the canonical client identity and the
 * key generation. An IPv4 client is written as its IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d), so a dual-stack server socket that sees the mapped form
 * derives the same bytes as the kernel does from the IPv4 packet. 22 bytes
 * on purpose: SipHash then runs two full message words and a final word
 * that carries the last six bytes, ten rounds instead of the twelve that 24
 * bytes would cost.
 * XXX: the ClientHello's parameters (random, cipher suites) are not bound:
 * a cookie is valid for any ClientHello from the same address and port.
 */
struct dc_mac_input {
	__u8 addr[16];
	__be16 port;
	__be32 key_generation;
} __attribute__((packed));

#define DC_MAC_INPUT_LEN 22

/* The whole HelloVerifyRequest datagram that both sides emit. */
struct dc_hello_verify_request {
	struct dc_record_header record;
	struct dc_handshake_header handshake;
	__be16 server_version;
	__u8 cookie_len;
	struct dc_cookie cookie;
} __attribute__((packed));

#define DC_HVR_BODY_LEN (2 + 1 + DC_COOKIE_LEN)
#define DC_HVR_LEN                                                             \
	(DC_RECORD_HEADER_LEN + DC_HANDSHAKE_HEADER_LEN + DC_HVR_BODY_LEN)

/*
 * Key map value. A published key set is never written again: userspace
 * builds a new inner map, freezes it and swaps it into the outer map, so a
 * packet sees either the old set or the new one, never a mix.
 */
#define DC_KEY_VALID 1u

struct dc_key {
	__u32 generation;
	__u32 flags;
	__u64 created_unix_ns;
	__u8 bytes[DC_KEY_LEN];
};

struct dc_key_set {
	struct dc_key current;
	struct dc_key previous;
};

/* What to do with a datagram on a configured port that is not answered. */
enum dc_policy {
	DC_POLICY_PASS = 0,
	DC_POLICY_DROP = 1,
	/* DTLS 1.3 ClientHellos only: answer as DTLS 1.2 would. */
	DC_POLICY_ANSWER = 2,
};

/*
 * Per-CPU counters, indexed by this enum. Each packet bumps exactly one
 * reason counter and exactly one verdict counter.
 */
enum dc_counter {
	/* Verdicts. */
	DC_CNT_XDP_PASS,
	DC_CNT_XDP_DROP,
	DC_CNT_XDP_TX,
	DC_CNT_XDP_ABORTED,
	/* Reasons. */
	DC_CNT_NOT_OURS, /* not UDP to a configured port */
	DC_CNT_ANSWERED_NO_COOKIE,
	DC_CNT_ANSWERED_BAD_COOKIE,
	DC_CNT_VALID_COOKIE_CURRENT,
	DC_CNT_VALID_COOKIE_PREVIOUS,
	DC_CNT_BAD_SOURCE,   /* multicast, broadcast, loopback, own... */
	DC_CNT_ESTABLISHED,  /* other records of a session in progress */
	DC_CNT_FRAGMENTED,   /* ClientHello split over several records */
	DC_CNT_DTLS13,	     /* ClientHello offering DTLS 1.3 */
	DC_CNT_MALFORMED,    /* on our port, not a parseable DTLS record */
	DC_CNT_NO_KEYS,	     /* key map empty: passed to the server */
	DC_CNT_TX_FAILED,    /* the rewrite could not be done */
	DC_CNT_RATE_LIMITED, /* answer withheld: its destination's rate spent */
	DC_CNT_MAX,
};

/*
 * The counters map has one entry per CPU holding all of them, so a packet
 * bumps its reason and its verdict after a single map lookup.
 */
struct dc_counters {
	__u64 c[DC_CNT_MAX];
};

/*
 * Reply rate limit: a token bucket per reply destination (the ClientHello's
 * source) masked to a prefix, so that spoofed ClientHellos cannot aim a
 * stream of HelloVerifyRequests at a victim. A bucket counts in units of
 * 1/DC_REPLY_TOKEN reply: refilling at rate replies per second then adds
 * exactly elapsed_ns * rate units, with no division and no rounding, so
 * the kernel and the model agree to the unit.
 */
#define DC_REPLY_TOKEN 1000000000ull /* units per reply: ns per second */

#define DC_REPLY_RATE_DEFAULT	 1000 /* replies per second per prefix */
#define DC_REPLY_BURST_DEFAULT	 2000 /* replies a full bucket holds */
#define DC_REPLY_PREFIX4_DEFAULT 32
#define DC_REPLY_PREFIX6_DEFAULT 64
#define DC_REPLY_TABLE_DEFAULT	 65536 /* buckets */

/*
 * Upper bounds: burst * DC_REPLY_TOKEN and the largest refill added to a
 * bucket (below fill_ns * rate) stay far below 2^64.
 */
#define DC_REPLY_RATE_MAX  10000000
#define DC_REPLY_BURST_MAX 10000000
#define DC_REPLY_TABLE_MAX (1u << 22)

/*
 * Key of the bucket map: the destination with the bits past its prefix
 * cleared, IPv4 as ::ffff:a.b.c.d. The families cannot share a key: the
 * ::ffff:0:0/96 bits survive any IPv4 prefix, and an IPv6 source in that
 * range is never answered (a bad source).
 */
struct dc_reply_key {
	__u8 addr[16];
};

/*
 * The reply clock: bpf_ktime_get_coarse_ns() in the program,
 * CLOCK_MONOTONIC_COARSE in userspace (model::reply_clock_ns()), one clock
 * that advances once a kernel tick. Half the cost of bpf_ktime_get_ns() on
 * the answer path, and a bucket only needs the time between refills, which
 * it keeps exactly: tokens arrive a tick's worth at a time.
 */
struct dc_reply_bucket {
	__u64 tokens;  /* in 1/DC_REPLY_TOKEN replies */
	__u64 last_ns; /* the reply clock at the last refill */
};

/* The limit's load-time settings; rate 0 turns it off (all fields 0). */
struct dc_reply_limit {
	__u32 rate;	  /* HelloVerifyRequests per second per prefix */
	__u32 burst;	  /* replies a full bucket holds, 1 or more */
	__u32 table_size; /* buckets the LRU map holds (its max_entries) */
	__u8 prefix4;	  /* leading bits of an IPv4 destination, 1-32 */
	__u8 prefix6;	  /* leading bits of an IPv6 destination, 1-128 */
	__u8 pad[2];
	/* Derived by to_config() from the fields above, for the program. */
	__u64 fill_ns;	/* an empty bucket is full after this long */
	__u8 mask4[16]; /* 96 + prefix4 leading one bits */
	__u8 mask6[16]; /* prefix6 leading one bits */
};

/* Host addresses the responder never answers, set at load time. */
#define DC_MAX_LOCAL_ADDRS   16
#define DC_PORT_BITMAP_WORDS (65536 / 64)

/*
 * Load-time configuration, a const volatile global in the program so the
 * verifier prunes what is off.
 */
struct dc_config {
	__u64 port_bitmap[DC_PORT_BITMAP_WORDS];
	__u8 local_addrs[DC_MAX_LOCAL_ADDRS][16]; /* IPv6 or IPv4-mapped */
	__u32 local_addr_count;
	__u16 server_version;	 /* in the HelloVerifyRequest */
	__u8 policy_established; /* PASS or DROP */
	__u8 policy_fragmented;	 /* PASS or DROP */
	__u8 policy_dtls13;	 /* PASS, DROP or ANSWER */
	__u8 policy_malformed;	 /* PASS or DROP */
	__u8 policy_no_keys;	 /* PASS or DROP */
	__u8 pad[5];
	struct dc_reply_limit reply_limit;
};

#endif /* DTLS_COOKIE_ABI_H */
