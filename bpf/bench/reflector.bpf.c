// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The benchmark's baseline for the answer path: the least an XDP program
 * must do to send a UDP datagram back where it came from.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "../packet.h"

/*
 * Swaps the MAC addresses, the IPv4 addresses and the UDP ports and
 * computes the IPv4 header checksum from scratch, then XDP_TX. The UDP
 * checksum covers both addresses and both ports, so the swap keeps it
 * valid. The checksum is summed inline rather than with bpf_csum_diff:
 * the cheapest honest reflector makes the strictest baseline.
 */
SEC("xdp")
int bench_reflector(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);
	__u8 mac[ETH_ALEN];
	__be32 addr;
	__be16 port;
	__u32 *w;
	__u64 sum;
	int i;

	if ((void *)(udp + 1) > data_end)
		return XDP_PASS;
	if (eth->h_proto != bpf_htons(ETH_P_IP) || *(__u8 *)ip != 0x45 ||
	    ip->protocol != IPPROTO_UDP)
		return XDP_PASS;

	__builtin_memcpy(mac, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, mac, ETH_ALEN);

	addr = ip->saddr;
	ip->saddr = ip->daddr;
	ip->daddr = addr;
	port = udp->source;
	udp->source = udp->dest;
	udp->dest = port;

	ip->check = 0;
	w = (__u32 *)ip;
	sum = 0;
#pragma unroll
	for (i = 0; i < 5; i++)
		sum += w[i];
	ip->check = dc_csum_fold16(sum);
	return XDP_TX;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
