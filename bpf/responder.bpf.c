// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The XDP DTLS cookie responder: answers a ClientHello that carries no valid
 * cookie with a HelloVerifyRequest (XDP_TX), passes one with a valid cookie
 * to the server, and counts one reason and one verdict for every frame.
 */
#include <stdbool.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include <xdp/xdp_helpers.h>

#include "dtls_cookie/abi/abi.h"
#include "dtls_cookie/abi/siphash.h"
#include "packet.h"
#include "client_hello.h"

/*
 * Words of the frame are loaded, summed and stored as they lie in memory,
 * in layouts written for a little-endian target (x86-64, arm64).
 * XXX: the accesses are unaligned words, which the verifier accepts only
 * where unaligned access is cheap; elsewhere the program does not load.
 */
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the responder's word layouts assume a little-endian target"
#endif

const volatile struct dc_config dc_cfg = {
    .server_version = DC_VERSION_DTLS10,
    .policy_malformed = DC_POLICY_DROP,
};

/* Per-CPU, so a plain increment cannot race with another CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dc_counters);
} dc_counters SEC(".maps");

/*
 * The published key set lives in an inner map that nobody writes once it
 * is visible: userspace fills a new one, freezes it and swaps it into slot
 * 0, so a packet reads the old set or the new one whole. Empty slot: no
 * keys. Userspace must create inner maps with these exact attributes.
 */
struct dc_key_map {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__uint(map_flags, BPF_F_RDONLY_PROG);
	__type(key, __u32);
	__type(value, struct dc_key_set);
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 1);
	__type(key, __u32);
	__array(values, struct dc_key_map);
} dc_keys SEC(".maps");

/*
 * One token bucket per reply destination prefix (see struct dc_reply_key).
 * The loader sizes it from dc_cfg.reply_limit.table_size, and to a single
 * entry when the limit is off and the program never touches it. An LRU
 * hash, so a flood of new destinations evicts the buckets used least
 * recently instead of failing to insert, and shared by all CPUs, so that
 * a destination has one bucket whichever queue its ClientHellos reach.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, DC_REPLY_TABLE_DEFAULT);
	__type(key, struct dc_reply_key);
	__type(value, struct dc_reply_bucket);
} dc_reply_limit SEC(".maps");

#define DC_MAX_VLAN_TAGS 2
#define DC_MAX_L2_LEN	 (ETH_HLEN + DC_MAX_VLAN_TAGS * 4)
#define DC_REPLY_TTL	 64
/* From the kernel's net/ip.h; the UAPI headers do not export them. */
#define DC_IP_MF	 0x2000
#define DC_IP_OFFSET	 0x1fff
#define DC_REPLY_UDP_LEN (sizeof(struct udphdr) + DC_HVR_LEN)

struct dc_vlan_hdr {
	__be16 tci;
	__be16 proto;
};

union dc_addr {
	__u8 b[16];
	__be32 w[4];
	__u64 d[2];
};

/* What the parse learns about a frame on its way to the DTLS payload. */
struct dc_flow {
	union dc_addr saddr; /* IPv4 as ::ffff:a.b.c.d */
	union dc_addr daddr;
	__u64 l3_off;	  /* after Ethernet and VLAN tags: 14, 18 or 22 */
	__u64 l4_off;	  /* UDP header */
	__u64 l3_end;	  /* end of the IP packet by its own length field */
	__u64 ip_opt_len; /* IPv4 options, left out of the reply */
	__u64 pl_off;	  /* UDP payload: the DTLS datagram */
	__u64 pl_len;
	__be32 ip6_word0; /* version, traffic class, flow label */
	__be16 ip4_id;
	__u8 ip4_tos;
	bool ipv6;
	__be16 sport;
	__be16 dport;
};

/*
 * Bit port & 63 of word port >> 6 is, little-endian, bit port & 7 of byte
 * port >> 3: a byte load needs no 64-bit shift by a variable amount.
 */
static __always_inline bool dc_port_configured(__u16 port)
{
	const volatile __u8 *bitmap = (const volatile __u8 *)dc_cfg.port_bitmap;

	return (bitmap[port >> 3] >> (port & 7)) & 1;
}

static __always_inline bool dc_is_vlan(__be16 proto)
{
	return proto == bpf_htons(ETH_P_8021Q) ||
	       proto == bpf_htons(ETH_P_8021AD);
}

/*
 * Ethernet and up to two VLAN tags; *proto is the L3 protocol, *l3_off
 * where its header starts.
 */
static __always_inline int dc_parse_l2(const struct dc_frame *f, __u64 *l3_off,
				       __be16 *proto)
{
	struct ethhdr *eth = dc_bytes(f, 0, sizeof(*eth));
	struct dc_vlan_hdr *vh;
	int i;

	if (!eth)
		return DC_CNT_NOT_OURS;
	*proto = eth->h_proto;
	*l3_off = ETH_HLEN;
	/* Unrolled, so each tag sits at a constant offset. */
#pragma unroll
	for (i = 0; i < DC_MAX_VLAN_TAGS; i++) {
		if (!dc_is_vlan(*proto))
			return DC_NEXT;
		vh = dc_bytes(f, ETH_HLEN + i * sizeof(*vh), sizeof(*vh));
		if (!vh)
			return DC_CNT_NOT_OURS;
		*proto = vh->proto;
		*l3_off += sizeof(*vh);
	}
	if (dc_is_vlan(*proto))
		return DC_CNT_NOT_OURS; /* a third tag */
	return DC_NEXT;
}

/*
 * The IPv4 header at l3_off if it leads to UDP, else NULL; *l4_off is
 * where the UDP header starts.
 */
static __always_inline struct iphdr *dc_parse_ipv4(const struct dc_frame *f,
						   __u64 l3_off, __u64 *l4_off)
{
	struct iphdr *ip = dc_bytes(f, l3_off, sizeof(*ip));
	__u8 vihl;

	if (!ip)
		return NULL;
	vihl = *(__u8 *)ip;
	if (vihl >> 4 != 4 || (vihl & 0xf) < 5)
		return NULL;
	if (ip->protocol != IPPROTO_UDP)
		return NULL;
	/*
	 * XXX: IP fragments pass as not ours, so a flood of fragmented
	 * ClientHellos reaches the server; the kernel reassembles them.
	 */
	if (ip->frag_off & bpf_htons(DC_IP_MF | DC_IP_OFFSET))
		return NULL;
	*l4_off = l3_off + (vihl & 0xf) * 4;
	return ip;
}

/* The same for IPv6. */
static __always_inline struct ipv6hdr *
dc_parse_ipv6(const struct dc_frame *f, __u64 l3_off, __u64 *l4_off)
{
	struct ipv6hdr *ip6 = dc_bytes(f, l3_off, sizeof(*ip6));

	if (!ip6)
		return NULL;
	/*
	 * XXX: any extension header (hop-by-hop, destination options,
	 * routing, fragment) before UDP makes the frame NOT_OURS: such a
	 * ClientHello goes to the server unanswered and uncookied.
	 */
	if (ip6->nexthdr != IPPROTO_UDP)
		return NULL;
	*l4_off = l3_off + sizeof(*ip6);
	return ip6;
}

/* What the reply and the cookie need from the IPv4 header. */
static __always_inline void dc_flow_ipv4(struct dc_flow *fl,
					 const struct iphdr *ip)
{
	fl->l3_end = fl->l3_off + bpf_ntohs(ip->tot_len);
	fl->ip_opt_len = fl->l4_off - fl->l3_off - sizeof(*ip);
	fl->ip4_tos = ip->tos;
	fl->ip4_id = ip->id;
	fl->ipv6 = false;
	fl->saddr.d[0] = 0;
	fl->saddr.w[2] = bpf_htonl(0xffff);
	fl->saddr.w[3] = ip->saddr;
	fl->daddr.d[0] = 0;
	fl->daddr.w[2] = bpf_htonl(0xffff);
	fl->daddr.w[3] = ip->daddr;
}

static __always_inline void dc_flow_ipv6(struct dc_flow *fl,
					 const struct ipv6hdr *ip6)
{
	fl->l3_end = fl->l4_off + bpf_ntohs(ip6->payload_len);
	fl->ip_opt_len = 0;
	fl->ip6_word0 = *(__be32 *)ip6;
	fl->ipv6 = true;
	__builtin_memcpy(fl->saddr.b, &ip6->saddr, sizeof(fl->saddr));
	__builtin_memcpy(fl->daddr.b, &ip6->daddr, sizeof(fl->daddr));
}

static __always_inline bool dc_addr_eq(const union dc_addr *a,
				       const union dc_addr *b)
{
	return a->d[0] == b->d[0] && a->d[1] == b->d[1];
}

/*
 * Sources the responder must never answer: it would reflect to a group,
 * to itself, or to an address a spoofer picked to make it talk to itself.
 */
static __always_inline int dc_check_source(const struct dc_frame *f,
					   const struct dc_flow *fl)
{
	const struct ethhdr *eth = dc_bytes(f, 0, sizeof(*eth));
	const union dc_addr *s = &fl->saddr;
	union dc_addr local;
	__u32 i;

	if (!eth || (eth->h_source[0] & 1))
		return DC_CNT_BAD_SOURCE; /* group bit: multicast, broadcast */
	if (fl->sport == 0)
		return DC_CNT_BAD_SOURCE;
	if (fl->ipv6) {
		if (s->b[0] == 0xff)
			return DC_CNT_BAD_SOURCE; /* ff00::/8 */
		/* ::, ::1 and ::ffff:0:0/96 share their first 64 zero bits. */
		if (s->d[0] == 0 && s->w[2] == 0 &&
		    (s->w[3] == 0 || s->w[3] == bpf_htonl(1)))
			return DC_CNT_BAD_SOURCE;
		if (s->d[0] == 0 && s->w[2] == bpf_htonl(0xffff))
			return DC_CNT_BAD_SOURCE;
	} else {
		/* 0/8, 127/8, 224/4 and 240/4 (255.255.255.255 too). */
		if (s->b[12] == 0 || s->b[12] == 127 || s->b[12] >= 224)
			return DC_CNT_BAD_SOURCE;
	}
	if (dc_addr_eq(s, &fl->daddr))
		return DC_CNT_BAD_SOURCE;

	/*
	 * local_addr_count is read-only data the verifier knows, so it walks
	 * only that many iterations. The volatile reads keep clang from
	 * folding the compile-time zeros.
	 */
	for (i = 0; i < DC_MAX_LOCAL_ADDRS; i++) {
		if (i >= dc_cfg.local_addr_count)
			break;
		local.d[0] = *(const volatile __u64 *)&dc_cfg.local_addrs[i][0];
		local.d[1] = *(const volatile __u64 *)&dc_cfg.local_addrs[i][8];
		if (dc_addr_eq(s, &local))
			return DC_CNT_BAD_SOURCE;
	}
	return DC_NEXT;
}

/* The UDP header at l4_off if its port is one of ours, else NULL. */
static __always_inline struct udphdr *dc_udp_to_us(const struct dc_frame *f,
						   __u64 l4_off)
{
	struct udphdr *udp = dc_bytes(f, l4_off, sizeof(*udp));

	if (!udp || !dc_port_configured(bpf_ntohs(udp->dest)))
		return NULL;
	return udp;
}

/* What dc_parse_common() leaves to dc_parse_any(). */
#define DC_UNDECIDED (DC_NEXT + 1)

/*
 * Untagged IPv4 without options and untagged IPv6, the frames seen most,
 * at constant offsets and with one bounds check up to the UDP header:
 * NOT_OURS, or DC_NEXT with *udp to our port and the flow filled in, or
 * DC_UNDECIDED for any other frame.
 */
static __always_inline int dc_parse_common(const struct dc_frame *f,
					   struct dc_flow *fl,
					   struct udphdr **udp)
{
	const __u8 *eth = dc_bytes(f, 0, ETH_HLEN);
	struct ipv6hdr *ip6;
	struct iphdr *ip;
	__be16 proto;

	if (!eth)
		return DC_CNT_NOT_OURS;
	/* h_proto of the packed struct ethhdr would be two byte loads. */
	proto = *(const __be16 *)(eth + offsetof(struct ethhdr, h_proto));
	if (proto == bpf_htons(ETH_P_IP)) {
		ip = dc_bytes(f, ETH_HLEN, sizeof(*ip) + sizeof(**udp));
		if (!ip || *(const __u8 *)ip != 0x45)
			return DC_UNDECIDED;
		if (ip->protocol != IPPROTO_UDP ||
		    (ip->frag_off & bpf_htons(DC_IP_MF | DC_IP_OFFSET)))
			return DC_CNT_NOT_OURS;
		*udp = (void *)(ip + 1);
		if (!dc_port_configured(bpf_ntohs((*udp)->dest)))
			return DC_CNT_NOT_OURS;
		fl->l3_off = ETH_HLEN;
		fl->l4_off = ETH_HLEN + sizeof(*ip);
		dc_flow_ipv4(fl, ip);
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		ip6 = dc_bytes(f, ETH_HLEN, sizeof(*ip6) + sizeof(**udp));
		if (!ip6)
			return DC_UNDECIDED;
		if (ip6->nexthdr != IPPROTO_UDP)
			return DC_CNT_NOT_OURS;
		*udp = (void *)(ip6 + 1);
		if (!dc_port_configured(bpf_ntohs((*udp)->dest)))
			return DC_CNT_NOT_OURS;
		fl->l3_off = ETH_HLEN;
		fl->l4_off = ETH_HLEN + sizeof(*ip6);
		dc_flow_ipv6(fl, ip6);
	} else {
		return DC_UNDECIDED;
	}
	return DC_NEXT;
}

/*
 * Any other frame: VLAN tags, IPv4 options, frames too short. NOT_OURS or
 * DC_NEXT as dc_parse_common(); nothing is written to the flow before
 * the port check.
 */
static __always_inline int dc_parse_any(const struct dc_frame *f,
					struct dc_flow *fl, struct udphdr **udp)
{
	struct ipv6hdr *ip6;
	__u64 l3_off, l4_off;
	struct iphdr *ip;
	__be16 proto;
	int ret;

	ret = dc_parse_l2(f, &l3_off, &proto);
	if (ret != DC_NEXT)
		return ret;
	/*
	 * The port check is written out in both branches: joined, the
	 * branches would have to be told apart again afterwards, and the
	 * verifier follows such a test both ways.
	 */
	if (proto == bpf_htons(ETH_P_IP)) {
		ip = dc_parse_ipv4(f, l3_off, &l4_off);
		*udp = ip ? dc_udp_to_us(f, l4_off) : NULL;
		if (!*udp)
			return DC_CNT_NOT_OURS;
		fl->l3_off = l3_off;
		fl->l4_off = l4_off;
		dc_flow_ipv4(fl, ip);
	} else if (proto == bpf_htons(ETH_P_IPV6)) {
		ip6 = dc_parse_ipv6(f, l3_off, &l4_off);
		*udp = ip6 ? dc_udp_to_us(f, l4_off) : NULL;
		if (!*udp)
			return DC_CNT_NOT_OURS;
		fl->l3_off = l3_off;
		fl->l4_off = l4_off;
		dc_flow_ipv6(fl, ip6);
	} else {
		return DC_CNT_NOT_OURS;
	}
	return DC_NEXT;
}

/* Ethernet, IP, UDP, the port, the source and the UDP payload bounds. */
static __always_inline int dc_parse_headers(const struct dc_frame *f,
					    struct dc_flow *fl)
{
	struct udphdr *udp;
	__u64 udp_len;
	int ret;

	ret = dc_parse_common(f, fl, &udp);
	if (ret == DC_UNDECIDED)
		ret = dc_parse_any(f, fl, &udp);
	if (ret != DC_NEXT)
		return ret;
	fl->sport = udp->source;
	fl->dport = udp->dest;
	udp_len = bpf_ntohs(udp->len);

	ret = dc_check_source(f, fl);
	if (ret != DC_NEXT)
		return ret;

	/* The UDP length, not data_end, ends the payload: padding follows. */
	if (udp_len < sizeof(*udp) || fl->l4_off + udp_len > fl->l3_end)
		return DC_CNT_MALFORMED;
	fl->pl_off = fl->l4_off + sizeof(*udp);
	fl->pl_len = udp_len - sizeof(*udp);
	if (f->data + fl->pl_off + fl->pl_len > f->data_end)
		return DC_CNT_MALFORMED;
	return DC_NEXT;
}

/* The published key set, or NULL when the slot is empty. */
static __always_inline const struct dc_key_set *dc_key_set(void)
{
	__u32 zero = 0;
	void *inner = bpf_map_lookup_elem(&dc_keys, &zero);

	if (!inner)
		return NULL;
	return bpf_map_lookup_elem(inner, &zero);
}

/* SipHash-2-4 of the client identity under one key. */
static __always_inline __u64 dc_cookie_tag(const struct dc_key *k,
					   const struct dc_flow *fl)
{
	/*
	 * Both inputs are copied to 8-byte-aligned stack buffers: there
	 * clang 14 merges SipHash's byte-wise little-endian loads into one
	 * 64-bit load per word, which it may not do on the map value or on
	 * the packed struct (the BPF target has no unaligned loads).
	 */
	union {
		struct dc_mac_input in;
		__u8 bytes[sizeof(struct dc_mac_input)];
		__u64 align;
	} m;
	union {
		__u8 bytes[DC_KEY_LEN];
		__u64 align;
	} key;

	__builtin_memcpy(key.bytes, k->bytes, sizeof(key.bytes));
	__builtin_memcpy(m.in.addr, fl->saddr.b, sizeof(m.in.addr));
	m.in.port = fl->sport;
	m.in.key_generation = bpf_htonl(k->generation);
	return dc_siphash24_22(key.bytes, m.bytes);
}

/*
 * VALID_COOKIE_CURRENT or VALID_COOKIE_PREVIOUS, or DC_NEXT when the
 * cookie names no key or its tag does not verify. The generation picks
 * the key; all eight tag bytes are compared at once.
 *
 * A BPF-to-BPF call, for two reasons. Inlined into dc_handle() together
 * with dc_answer()'s SipHash, clang 14 spilled so much SipHash state that
 * the frame passed the 512-byte stack limit. And clang 14 writes the
 * map-in-map template's value type (struct dc_key_set) into BTF as a bare
 * forward declaration, which libbpf rejects ("can't determine value
 * size"), unless a function with BTF takes a pointer to it.
 */
static __noinline int dc_check_cookie(const struct dc_key_set *ks,
				      const struct dc_flow *fl,
				      const __u8 *cookie)
{
	__u32 gen = dc_be32(cookie);
	const struct dc_key *k;
	int valid;

	if (gen == ks->current.generation) {
		k = &ks->current;
		valid = DC_CNT_VALID_COOKIE_CURRENT;
	} else if ((ks->previous.flags & DC_KEY_VALID) &&
		   gen == ks->previous.generation) {
		k = &ks->previous;
		valid = DC_CNT_VALID_COOKIE_PREVIOUS;
	} else {
		return DC_NEXT;
	}
	/* The tag's bytes are little-endian, as the target's. */
	return dc_cookie_tag(k, fl) == *(const __u64 *)(cookie + 4) ? valid
								    : DC_NEXT;
}

/*
 * Whether the reply rate limit lets one more HelloVerifyRequest go to the
 * flow's source, taking its token if so. A bucket starts full (burst
 * replies) and refills continuously at rate replies per second; the
 * arithmetic is exact in units of 1/DC_REPLY_TOKEN reply (see abi.h), so
 * elapsed time is never lost to rounding, however often the bucket is hit.
 *
 * A refused reply writes nothing: the refill it would store is recomputed
 * the same later (the bucket is below one token, so far below its cap), and
 * a flood at a victim then only reads the bucket's cache line.
 *
 * XXX: concurrent updates from several CPUs race (read, refill, write
 * back): two CPUs may both take the last token, so the limit is
 * approximate, by at most one reply per CPU per race; per-CPU buckets
 * would multiply it by the CPUs.
 */
static __always_inline bool dc_reply_allowed(const struct dc_flow *fl)
{
	const volatile struct dc_reply_limit *lim = &dc_cfg.reply_limit;
	__u64 cap = (__u64)lim->burst * DC_REPLY_TOKEN;
	__u64 now = bpf_ktime_get_coarse_ns(); /* the reply clock, abi.h */
	const volatile __u64 *mask = (const volatile __u64 *)lim->mask4;
	struct dc_reply_bucket *b, fresh;
	union dc_addr key;
	__u64 tokens, last;

	if (fl->ipv6)
		mask = (const volatile __u64 *)lim->mask6;
	key.d[0] = fl->saddr.d[0] & mask[0];
	key.d[1] = fl->saddr.d[1] & mask[1];

	b = bpf_map_lookup_elem(&dc_reply_limit, &key);
	if (!b) {
		/*
		 * XXX: an evicted bucket comes back full: a destination whose
		 * bucket is pushed out by about table_size newer ones gets a
		 * new burst. That costs an attacker about table_size spoofed
		 * ClientHellos, each answered once, per burst at the victim,
		 * and a bucket in use goes last (lookups mark it referenced).
		 */
		fresh.tokens = cap - DC_REPLY_TOKEN;
		fresh.last_ns = now;
		/*
		 * An insert that fails lets the reply go; an LRU map makes
		 * room by evicting rather than fail.
		 */
		bpf_map_update_elem(&dc_reply_limit, &key, &fresh, BPF_ANY);
		return true;
	}
	tokens = b->tokens;
	last = b->last_ns;
	/* Another CPU may have stored a later time than this one read. */
	if (now > last) {
		/* From fill_ns on the bucket is full (and the product big). */
		if (now - last >= lim->fill_ns)
			tokens = cap;
		else
			tokens += (now - last) * lim->rate;
		if (tokens > cap)
			tokens = cap;
		last = now;
	}
	if (tokens < DC_REPLY_TOKEN)
		return false;
	b->tokens = tokens - DC_REPLY_TOKEN;
	b->last_ns = last;
	return true;
}

/*
 * The checksums are summed from the values the program writes, never read
 * back from the frame: summed inline they cost a few nanoseconds, where two
 * bpf_csum_diff calls cost tens.
 */

#define DC_HVR_WORDS (DC_HVR_LEN / 8)

/*
 * The HelloVerifyRequest as 64-bit words: byte i of it is bits
 * 8 * (i % 8) of word i / 8. Only the version, the record sequence and
 * the cookie vary; message_seq, epoch and fragment offset are 0. rec0 and
 * rec1 are the ClientHello's first 16 bytes, for its record sequence.
 */
static __always_inline void
dc_hello_verify_request_words(__u64 w[DC_HVR_WORDS], __u64 rec0, __u64 rec1,
			      __u32 generation, __u64 tag)
{
	__u64 version = bpf_htons(dc_cfg.server_version);

	/* content type, version, epoch, record sequence 0-2 */
	w[0] = DC_CONTENT_HANDSHAKE | version << 8 |
	       (rec0 & 0xffffff0000000000ull);
	/* record sequence 3-5, record length, msg_type, message length 0-1 */
	w[1] = (rec1 & 0xffffff) |
	       (__u64)(DC_HANDSHAKE_HEADER_LEN + DC_HVR_BODY_LEN) << 32 |
	       (__u64)DC_HS_HELLO_VERIFY_REQUEST << 40;
	/* message length 2, message_seq, fragment offset, its length 0-1 */
	w[2] = DC_HVR_BODY_LEN;
	/* fragment length 2, server_version, cookie length, key generation */
	w[3] = DC_HVR_BODY_LEN | version << 8 | DC_COOKIE_LEN << 24 |
	       (__u64)bpf_htonl(generation) << 32;
	w[4] = tag; /* the tag's bytes are little-endian */
}

/* The reply's IPv4 header; returns where the UDP header goes. */
static __always_inline struct udphdr *dc_write_ipv4(const struct dc_frame *f,
						    const struct dc_flow *fl)
{
	struct iphdr *ip =
	    dc_bytes(f, fl->l3_off, sizeof(*ip) + DC_REPLY_UDP_LEN);

	__u64 ttl_proto = DC_REPLY_TTL | IPPROTO_UDP << 8;
	__u64 head; /* version 4, 20-byte header, tos, tot_len */
	__u16 check;

	if (!ip)
		return NULL;
	head = 0x45 | (__u64)fl->ip4_tos << 8 |
	       (__u64)bpf_htons(sizeof(*ip) + DC_REPLY_UDP_LEN) << 16;
	check = dc_csum_fold16(head + fl->ip4_id + ttl_proto + fl->saddr.w[3] +
			       fl->daddr.w[3]);
	/* Whole words: see dc_answer() on unaligned stores. */
	*(__u64 *)ip = head | (__u64)fl->ip4_id << 32; /* frag_off 0 */
	*(__u64 *)&ip->ttl =
	    ttl_proto | (__u64)check << 16 | (__u64)fl->daddr.w[3] << 32;
	ip->daddr = fl->saddr.w[3];
	return (void *)(ip + 1);
}

/* The reply's IPv6 header; returns where the UDP header goes. */
static __always_inline struct udphdr *dc_write_ipv6(const struct dc_frame *f,
						    const struct dc_flow *fl)
{
	struct ipv6hdr *ip6 =
	    dc_bytes(f, fl->l3_off, sizeof(*ip6) + DC_REPLY_UDP_LEN);

	if (!ip6)
		return NULL;
	*(__be32 *)ip6 = fl->ip6_word0;
	ip6->payload_len = bpf_htons(DC_REPLY_UDP_LEN);
	ip6->nexthdr = IPPROTO_UDP;
	ip6->hop_limit = DC_REPLY_TTL;
	__builtin_memcpy(&ip6->saddr, fl->daddr.b, sizeof(ip6->saddr));
	__builtin_memcpy(&ip6->daddr, fl->saddr.b, sizeof(ip6->daddr));
	return (void *)(ip6 + 1);
}

/*
 * Turns the frame into the HelloVerifyRequest in place and returns reason,
 * or TX_FAILED when the frame cannot be resized (which cannot happen: the
 * reply is always shorter than the request).
 */
static __always_inline int dc_answer(struct xdp_md *ctx,
				     const struct dc_flow *fl,
				     const struct dc_key *k, int reason)
{
	__u64 hvr[DC_HVR_WORDS], *out;
	__u64 rec0, rec1, sum, tag;
	__u16 l2[DC_MAX_L2_LEN / 2];
	__u32 dst_lo, src_lo, i;
	__u16 dst_hi, src_hi;
	struct udphdr *udp;
	struct dc_frame f;
	__u32 new_len;
	__u16 check;
	__u64 *rec;
	__u8 *eth;
	int ret;

	/*
	 * The record sequence is read first: bpf_xdp_adjust_head/tail
	 * invalidate every packet pointer. The MAC addresses are swapped in
	 * place, where bpf_xdp_adjust_tail leaves them.
	 */
	dc_frame_load(&f, ctx);
	eth = dc_bytes(&f, 0, 2 * ETH_ALEN);
	rec = dc_bytes(&f, fl->pl_off, 2 * sizeof(*rec));
	if (!eth || !rec)
		return DC_CNT_TX_FAILED;
	rec0 = rec[0];
	rec1 = rec[1];
	dst_lo = *(__u32 *)eth;
	dst_hi = *(__u16 *)(eth + 4);
	src_lo = *(__u32 *)(eth + ETH_ALEN);
	src_hi = *(__u16 *)(eth + ETH_ALEN + 4);
	*(__u32 *)eth = src_lo;
	*(__u16 *)(eth + 4) = src_hi;
	*(__u32 *)(eth + ETH_ALEN) = dst_lo;
	*(__u16 *)(eth + ETH_ALEN + 4) = dst_hi;
	tag = dc_cookie_tag(k, fl);

	/*
	 * IPv4 options are dropped by moving the frame start past them and
	 * the Ethernet header and VLAN tags along with it, through the
	 * stack. The first DC_MAX_L2_LEN bytes are moved whatever the number
	 * of tags; the bytes past l3_off are overwritten by the IP header.
	 */
	if (fl->ip_opt_len) {
		eth = dc_bytes(&f, 0, DC_MAX_L2_LEN);
		if (!eth)
			return DC_CNT_TX_FAILED;
#pragma unroll
		for (i = 0; i < DC_MAX_L2_LEN / 2; i++)
			l2[i] = ((__u16 *)eth)[i];
		if (bpf_xdp_adjust_head(ctx, fl->ip_opt_len))
			return DC_CNT_TX_FAILED;
		dc_frame_load(&f, ctx);
		eth = dc_bytes(&f, 0, DC_MAX_L2_LEN);
		if (!eth)
			return DC_CNT_TX_FAILED;
#pragma unroll
		for (i = 0; i < DC_MAX_L2_LEN / 2; i++)
			((__u16 *)eth)[i] = l2[i];
	}
	new_len = fl->l3_off + DC_REPLY_UDP_LEN +
		  (fl->ipv6 ? sizeof(struct ipv6hdr) : sizeof(struct iphdr));
	ret = bpf_xdp_adjust_tail(ctx, (int)new_len -
					   (int)bpf_xdp_get_buff_len(ctx));
	if (ret)
		return DC_CNT_TX_FAILED;
	dc_frame_load(&f, ctx);

	if (fl->ipv6) {
		udp = dc_write_ipv6(&f, fl);
		/* Pseudo-header: addresses, upper-layer length, next header. */
		sum =
		    (__u64)bpf_htonl(DC_REPLY_UDP_LEN) + bpf_htonl(IPPROTO_UDP);
#pragma unroll
		for (i = 0; i < 4; i++)
			sum += (__u64)fl->saddr.w[i] + fl->daddr.w[i];
	} else {
		udp = dc_write_ipv4(&f, fl);
		sum = (__u64)fl->saddr.w[3] + fl->daddr.w[3] +
		      bpf_htons(IPPROTO_UDP) + bpf_htons(DC_REPLY_UDP_LEN);
	}
	if (!udp)
		return DC_CNT_TX_FAILED;

	/* The UDP header, then the HelloVerifyRequest; check itself is 0. */
	sum += (__u64)fl->dport + fl->sport + bpf_htons(DC_REPLY_UDP_LEN);
	dc_hello_verify_request_words(hvr, rec0, rec1, k->generation, tag);
#pragma unroll
	for (i = 0; i < DC_HVR_WORDS; i++)
		sum = dc_csum_add64(sum, hvr[i]);
	check = dc_csum_fold16(sum);

	/*
	 * Whole words, though the UDP header is only 2-byte aligned: the
	 * verifier allows unaligned packet access where the CPU has it
	 * cheaply (x86-64, arm64), and clang 14 would split a store it
	 * knew to be unaligned into single bytes.
	 */
	*(__u64 *)udp = fl->dport | (__u64)fl->sport << 16 |
			(__u64)bpf_htons(DC_REPLY_UDP_LEN) << 32 |
			(__u64)(check ? check : 0xffff) << 48;
	out = (__u64 *)(udp + 1);
#pragma unroll
	for (i = 0; i < DC_HVR_WORDS; i++)
		out[i] = hvr[i];
	return reason;
}

static __always_inline int dc_handle(struct xdp_md *ctx)
{
	const struct dc_key_set *ks;
	struct dc_client_hello ch;
	struct dc_flow fl;
	struct dc_frame f;
	const __u8 *cookie;
	int ret;

	dc_frame_load(&f, ctx);
	ret = dc_parse_headers(&f, &fl);
	if (ret != DC_NEXT)
		return ret;
	ret = dc_classify(&f, fl.pl_off, fl.pl_len, &ch);
	if (ret != DC_NEXT)
		return ret;

	ks = dc_key_set();
	if (!ks || !(ks->current.flags & DC_KEY_VALID))
		return DC_CNT_NO_KEYS;
	if (ch.cookie_len == DC_COOKIE_LEN) {
		cookie = dc_bytes(&f, ch.cookie_off, DC_COOKIE_LEN);
		if (!cookie)
			return DC_CNT_MALFORMED;
		ret = dc_check_cookie(ks, &fl, cookie);
		if (ret != DC_NEXT)
			return ret;
	}

	ret = dc_walk_rest(ctx, ch.cookie_off + ch.cookie_len, ch.end);
	if (ret == DC_CNT_DTLS13) {
		if (dc_cfg.policy_dtls13 != DC_POLICY_ANSWER)
			return ret;
	} else if (ret == DC_NEXT) {
		ret = ch.cookie_len ? DC_CNT_ANSWERED_BAD_COOKIE
				    : DC_CNT_ANSWERED_NO_COOKIE;
	} else {
		return ret;
	}
	/* A load-time constant: with the limit off the verifier drops this. */
	if (dc_cfg.reply_limit.rate && !dc_reply_allowed(&fl))
		return DC_CNT_RATE_LIMITED;
	return dc_answer(ctx, &fl, &ks->current, ret);
}

static __always_inline int dc_policy_action(__u8 policy)
{
	return policy == DC_POLICY_DROP ? XDP_DROP : XDP_PASS;
}

/* The verdict that goes with each reason. */
static __always_inline int dc_action(int reason)
{
	switch (reason) {
	case DC_CNT_ANSWERED_NO_COOKIE:
	case DC_CNT_ANSWERED_BAD_COOKIE:
		return XDP_TX;
	case DC_CNT_BAD_SOURCE:
	case DC_CNT_RATE_LIMITED: /* passed, the server would answer instead */
		return XDP_DROP;
	case DC_CNT_ESTABLISHED:
		return dc_policy_action(dc_cfg.policy_established);
	case DC_CNT_FRAGMENTED:
		return dc_policy_action(dc_cfg.policy_fragmented);
	case DC_CNT_DTLS13:
		if (dc_cfg.policy_dtls13 == DC_POLICY_ANSWER)
			return XDP_TX;
		return dc_policy_action(dc_cfg.policy_dtls13);
	case DC_CNT_MALFORMED:
		return dc_policy_action(dc_cfg.policy_malformed);
	case DC_CNT_NO_KEYS:
		return dc_policy_action(dc_cfg.policy_no_keys);
	case DC_CNT_TX_FAILED:
		return XDP_ABORTED;
	default: /* NOT_OURS, VALID_COOKIE_* */
		return XDP_PASS;
	}
}

static __always_inline __u32 dc_verdict_counter(int action)
{
	switch (action) {
	case XDP_DROP:
		return DC_CNT_XDP_DROP;
	case XDP_TX:
		return DC_CNT_XDP_TX;
	case XDP_ABORTED:
		return DC_CNT_XDP_ABORTED;
	default:
		return DC_CNT_XDP_PASS;
	}
}

static __always_inline struct dc_counters *dc_counters_of_cpu(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&dc_counters, &zero);
}

static __always_inline void dc_count(__u64 reason, __u32 verdict)
{
	struct dc_counters *c = dc_counters_of_cpu();

	/*
	 * The verifier does not know the range of what the global function
	 * dc_walk_rest() returns, so the index is bounded here. Without the
	 * barrier clang 14 bounds one zero-extended copy of reason and
	 * indexes with another.
	 */
	barrier_var(reason);
	if (c && reason < DC_CNT_MAX) {
		c->c[reason] += 1;
		c->c[verdict] += 1;
	}
}

SEC("xdp")
int dc_responder(struct xdp_md *ctx)
{
	__u64 reason = (__u32)dc_handle(ctx);
	struct dc_counters *c;
	int action;

	/* Most frames are not ours; theirs is the path to keep short. */
	if (reason == DC_CNT_NOT_OURS) {
		c = dc_counters_of_cpu();
		if (c) {
			c->c[DC_CNT_NOT_OURS] += 1;
			c->c[DC_CNT_XDP_PASS] += 1;
		}
		return XDP_PASS;
	}
	action = dc_action(reason);
	dc_count(reason, dc_verdict_counter(action));
	return action;
}

/*
 * Where the program runs in libxdp's dispatcher (dtls-cookie attach
 * --multiprog), read from this BTF by libxdp and xdp-loader wherever the
 * loaded program turns up. Priority 20: after a filter's deny list
 * (xdp-filter takes 10), so a blocked source gets no HelloVerifyRequest;
 * before programs without a run config (50), so a ClientHello is answered
 * before a load balancer or monitor acts on it. Only XDP_PASS goes on to
 * the next program: an answer (XDP_TX) or a drop ends the chain.
 */
struct {
	__uint(priority, 20);
	__uint(XDP_PASS, 1);
} XDP_RUN_CONFIG(dc_responder);

char LICENSE[] SEC("license") = "Dual BSD/GPL";
