// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The end-to-end benchmark's load: run through BPF_PROG_TEST_RUN with
 * BPF_F_TEST_XDP_LIVE_FRAMES on the client end of a veth, it writes a
 * ClientHello frame from a fresh source address and port and sends it out.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "../packet.h"

#define FLOOD_MAX_FRAME_LEN 512
#define FLOOD_L3	    ETH_HLEN
#define FLOOD_L4	    (FLOOD_L3 + sizeof(struct iphdr))

/* Set before load, so the copy below has a size the verifier knows. */
const volatile __u32 frame_len = FLOOD_L4 + sizeof(struct udphdr);
/* Source addresses base .. base + count - 1 (host order), likewise ports. */
const volatile __u32 addr_base = 0;
const volatile __u32 addr_count = 1;
const volatile __u16 port_base = 1024;
const volatile __u16 port_count = 1;

/*
 * Written by userspace after load: the frame with source address, source
 * port and both checksums zero, and the 32-bit one's-complement sums of
 * the IPv4 header and of the UDP pseudo-header and datagram over that
 * frame (native-endian words, as the program adds them).
 */
__u8 frame[FLOOD_MAX_FRAME_LEN];
__u32 ip_sum;
__u32 udp_sum;

/* Per CPU, so two senders never share a cache line. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} sequence SEC(".maps");

SEC("xdp")
int flood(struct xdp_md *ctx)
{
	__u32 len = frame_len, zero = 0, saddr;
	struct iphdr *ip;
	struct udphdr *udp;
	__u16 sport, check;
	__u64 *seq, h;
	void *data, *data_end;

	if (len < FLOOD_L4 + sizeof(*udp) || len > FLOOD_MAX_FRAME_LEN)
		return XDP_ABORTED;
	/*
	 * The page comes back after the peer's program may have rewritten
	 * it, and the kernel restores neither its bytes nor, unless this
	 * program moved a bound, the length it sends. Userspace passes a
	 * frame one byte longer than the ClientHello; trimming it on every
	 * run makes the kernel reset the length before the next one.
	 */
	if (bpf_xdp_adjust_tail(ctx, -1))
		return XDP_ABORTED;
	if (bpf_xdp_store_bytes(ctx, 0, frame, len))
		return XDP_ABORTED;

	seq = bpf_map_lookup_elem(&sequence, &zero);
	if (!seq)
		return XDP_ABORTED;
	/* A multiplicative hash spreads consecutive runs over both ranges. */
	h = ++*seq * 0x9e3779b97f4a7c15ull;
	saddr = bpf_htonl(addr_base + (__u32)((h >> 32) % addr_count));
	sport =
	    bpf_htons(port_base + (__u16)(((h >> 16) & 0xffff) % port_count));

	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	ip = data + FLOOD_L3;
	udp = data + FLOOD_L4;
	if ((void *)(udp + 1) > data_end)
		return XDP_ABORTED;
	ip->saddr = saddr;
	ip->check = dc_csum_fold16((__u64)ip_sum + saddr);
	udp->source = sport;
	check = dc_csum_fold16((__u64)udp_sum + saddr + sport);
	udp->check = check ? check : 0xffff;
	return XDP_TX;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
