// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The XDP DTLS cookie responder. This first form parses up to the UDP
 * destination port and counts what it sees; everything is passed.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "dtls_cookie/abi/abi.h"

const volatile struct dc_config dc_cfg = {
	.server_version = DC_VERSION_DTLS10,
};

/* Per-CPU, so a plain increment cannot race with another CPU. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DC_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} dc_counters SEC(".maps");

static __always_inline void count(__u32 idx)
{
	__u64 *c = bpf_map_lookup_elem(&dc_counters, &idx);

	if (c)
		*c += 1;
}

static __always_inline int port_configured(__u16 port)
{
	return (dc_cfg.port_bitmap[port >> 6] >> (port & 63)) & 1;
}

SEC("xdp")
int dc_responder(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct udphdr *udp;
	__u8 proto;

	if ((void *)(eth + 1) > data_end)
		goto other;
	if (eth->h_proto == bpf_htons(ETH_P_IP)) {
		struct iphdr *ip = (void *)(eth + 1);

		if ((void *)(ip + 1) > data_end)
			goto other;
		proto = ip->protocol;
		udp = (void *)ip + ip->ihl * 4;
	} else if (eth->h_proto == bpf_htons(ETH_P_IPV6)) {
		struct ipv6hdr *ip6 = (void *)(eth + 1);

		if ((void *)(ip6 + 1) > data_end)
			goto other;
		proto = ip6->nexthdr;
		udp = (void *)(ip6 + 1);
	} else {
		goto other;
	}
	if (proto != IPPROTO_UDP || (void *)(udp + 1) > data_end ||
	    !port_configured(bpf_ntohs(udp->dest)))
		goto other;

	count(DC_CNT_MALFORMED);
	count(DC_CNT_XDP_PASS);
	return XDP_PASS;
other:
	count(DC_CNT_NOT_OURS);
	count(DC_CNT_XDP_PASS);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
