// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * The end-to-end benchmark's counter on the client end of the veth: every
 * UDP datagram from the server's port is an answer, counted and dropped,
 * so each responder under test is counted in the same place the same way.
 * Every Nth answer can go on to the stack instead, for a packet capture.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "dtls_cookie/abi/abi.h"

/* Set before load, network order. */
const volatile __be16 server_port = 0;
/* Set before load: pass every Nth answer, counted all the same (0: none). */
const volatile __u32 pass_every = 0;

struct sink_counts {
	__u64 answers; /* UDP from the server's port */
	__u64 hvr;     /* of which a DTLS HelloVerifyRequest record */
	__u64 others;  /* anything else, passed to the stack */
};

/* Per CPU: the answers arrive on whichever CPU ran the peer's NAPI. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sink_counts);
} counts SEC(".maps");

SEC("xdp")
int sink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *udp = (void *)(ip + 1);
	__u8 *dtls = (void *)(udp + 1);
	struct sink_counts *c;
	__u32 zero = 0;

	c = bpf_map_lookup_elem(&counts, &zero);
	if (!c)
		return XDP_PASS;
	/* Replies carry no IPv4 options, so UDP sits at a fixed offset. */
	if ((void *)(udp + 1) > data_end ||
	    eth->h_proto != bpf_htons(ETH_P_IP) || *(__u8 *)ip != 0x45 ||
	    ip->protocol != IPPROTO_UDP || udp->source != server_port) {
		c->others++;
		return XDP_PASS;
	}
	c->answers++;
	if ((void *)(dtls + DC_RECORD_HEADER_LEN + 1) <= data_end &&
	    dtls[0] == DC_CONTENT_HANDSHAKE &&
	    dtls[DC_RECORD_HEADER_LEN] == DC_HS_HELLO_VERIFY_REQUEST)
		c->hvr++;
	if (pass_every && c->answers % pass_every == 0)
		return XDP_PASS;
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
