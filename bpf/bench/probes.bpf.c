// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Single operations of the responder's answer path, each alone in an XDP
 * program that passes the frame, so the benchmark can say which of them
 * the answer path's cost is made of.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>

#include "dtls_cookie/abi/abi.h"
#include "dtls_cookie/abi/siphash.h"
#include "../packet.h"

/* The reply's UDP header and HelloVerifyRequest, as the responder sums. */
#define PROBE_UDP_LEN (sizeof(struct udphdr) + DC_HVR_LEN)

/*
 * Inputs and outputs live in a map, so clang can neither fold the work
 * into constants nor drop it as dead. The inputs are 8-byte aligned like
 * the responder's stack copies of key and client identity, so clang merges
 * SipHash's byte loads into word loads here as it does there.
 */
__u8 probe_key[DC_KEY_LEN] __attribute__((aligned(8)));
__u8 probe_msg[DC_MAC_INPUT_LEN] __attribute__((aligned(8)));
__u64 probe_sink;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DC_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} probe_counters SEC(".maps");

/* The cookie tag: SipHash-2-4 over the 22-byte client identity. */
SEC("xdp")
int probe_siphash(struct xdp_md *ctx)
{
	probe_sink = dc_siphash24_22(probe_key, probe_msg);
	return XDP_PASS;
}

/*
 * The two checksums of a reply, from scratch with bpf_csum_diff: the IPv4
 * header and the UDP datagram, over the frame's bytes at the same offsets.
 */
SEC("xdp")
int probe_csum_diff(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + ETH_HLEN;
	void *udp = ip + 1;
	__u64 sum;

	if (udp + PROBE_UDP_LEN > data_end)
		return XDP_ABORTED;
	sum = dc_csum_fold16(
	    bpf_csum_diff(NULL, 0, (__be32 *)ip, sizeof(*ip), 0));
	sum += dc_csum_fold16(bpf_csum_diff(NULL, 0, udp, PROBE_UDP_LEN,
					    dc_csum_fold32(probe_sink)));
	probe_sink = sum;
	return XDP_PASS;
}

/*
 * The same two checksums summed inline, 32-bit words into 64 bits: what
 * the helper calls would cost without the calls.
 */
SEC("xdp")
int probe_csum_inline(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + ETH_HLEN;
	const __u32 *w = (const __u32 *)ip;
	__u64 ip_sum = 0, udp_sum = probe_sink;
	int i;

	if ((void *)(ip + 1) + PROBE_UDP_LEN > data_end)
		return XDP_ABORTED;
#pragma unroll
	for (i = 0; i < sizeof(*ip) / 4; i++)
		ip_sum += w[i];
	w = (const __u32 *)(ip + 1);
#pragma unroll
	for (i = 0; i < PROBE_UDP_LEN / 4; i++)
		udp_sum += w[i];
	probe_sink = dc_csum_fold16(ip_sum) + dc_csum_fold16(udp_sum);
	return XDP_PASS;
}

/* One reason and one verdict counter, as every packet bumps. */
SEC("xdp")
int probe_counters_2(struct xdp_md *ctx)
{
	__u32 idx[2] = {DC_CNT_NOT_OURS, DC_CNT_XDP_PASS};
	int i;

#pragma unroll
	for (i = 0; i < 2; i++) {
		__u64 *c = bpf_map_lookup_elem(&probe_counters, &idx[i]);

		if (c)
			*c += 1;
	}
	return XDP_PASS;
}

/* The clock read of the reply rate limit (the reply clock, abi.h). */
SEC("xdp")
int probe_ktime(struct xdp_md *ctx)
{
	probe_sink += bpf_ktime_get_coarse_ns();
	return XDP_PASS;
}

/* A bucket map like the responder's, with probe_reply_key in it. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, DC_REPLY_TABLE_DEFAULT);
	__type(key, struct dc_reply_key);
	__type(value, struct dc_reply_bucket);
} probe_reply_limit SEC(".maps");

/* Bytes, not struct dc_reply_key: the skeleton knows no project types. */
__u8 probe_reply_key[16] __attribute__((aligned(8)));

/* The lookup of a destination's bucket, which the benchmark inserted. */
SEC("xdp")
int probe_reply_lookup(struct xdp_md *ctx)
{
	struct dc_reply_bucket *b;

	b = bpf_map_lookup_elem(&probe_reply_limit, probe_reply_key);
	if (!b)
		return XDP_ABORTED;
	probe_sink += b->tokens;
	return XDP_PASS;
}

/* Zero: the resize below keeps the frame as it is, run after run. */
__s32 probe_scale;

/*
 * The resize to the reply's length: the same two helper calls, with an
 * offset of zero that clang cannot see.
 */
SEC("xdp")
int probe_adjust_tail(struct xdp_md *ctx)
{
	int len = (int)bpf_xdp_get_buff_len(ctx);

	if (bpf_xdp_adjust_tail(ctx, probe_scale * len))
		return XDP_ABORTED;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
