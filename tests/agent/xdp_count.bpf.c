// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Another tenant of the interface for the multiprog test: passes every
 * frame and counts the untagged IPv4 UDP datagrams to port 7777, so the
 * test can tell that what the responder passes on reaches the next program.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define COUNTED_PORT 7777

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
	/* xdp-loader load --pin-path DIR pins it as DIR/count_udp. */
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} count_udp SEC(".maps");

SEC("xdp")
int xdp_count(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);
	__u32 zero = 0;
	__u64 *n;

	if ((void *)(udp + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP) || ip->ihl != 5 ||
	    ip->protocol != IPPROTO_UDP || udp->dest != bpf_htons(COUNTED_PORT))
		return XDP_PASS;
	n = bpf_map_lookup_elem(&count_udp, &zero);
	if (n)
		__sync_fetch_and_add(n, 1);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
