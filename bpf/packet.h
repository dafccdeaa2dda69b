/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Bounded access to the frame and the checksum arithmetic of the XDP
 * responder: the two places where the verifier's rules shape the code.
 */
#ifndef DC_BPF_PACKET_H
#define DC_BPF_PACKET_H

#include <linux/bpf.h>
#include <linux/types.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

/*
 * Parsing helpers return an enum dc_counter reason that ends the packet's
 * journey, or DC_NEXT to keep going.
 */
#define DC_NEXT DC_CNT_MAX

/*
 * Every variable offset into the frame is capped here before it is added
 * to the frame pointer: the verifier grants a packet range (after the
 * comparison with data_end) only to a pointer whose variable part it can
 * bound by MAX_PACKET_OFF (0xffff), and the accesses add up to 12 bytes.
 */
#define DC_MAX_FRAME_OFF 0xff00

struct dc_frame {
	void *data;
	void *data_end;
};

static __always_inline void dc_frame_load(struct dc_frame *f,
					  const struct xdp_md *ctx)
{
	f->data = (void *)(long)ctx->data;
	f->data_end = (void *)(long)ctx->data_end;
}

/*
 * The len bytes at off, or NULL when they are not all in the frame. len is
 * a constant at every call site, so the comparison with data_end is
 * against a pointer that shares its id with the one returned.
 */
static __always_inline void *dc_bytes(const struct dc_frame *f, __u64 off,
				      const __u64 len)
{
	void *p;

	/*
	 * XXX: a frame longer than DC_MAX_FRAME_OFF (only generic XDP on a
	 * device with a 64 KiB MTU, like lo, can deliver one) reads as
	 * truncated from this offset on, so such a ClientHello is MALFORMED.
	 */
	/*
	 * Without the barrier clang 14 compares one copy of off (reloaded
	 * from the stack) and adds another to the pointer, so the verifier
	 * never links the bound to the access ("R2 offset is outside of the
	 * packet"). The barrier pins both to one register. A constant off,
	 * known after inlining, needs neither: the verifier knows it exactly.
	 */
	if (!__builtin_constant_p(off)) {
		barrier_var(off);
		if (off > DC_MAX_FRAME_OFF)
			return NULL;
	}
	p = f->data + off;
	if (p + len > f->data_end)
		return NULL;
	/* data is never NULL: the caller's NULL test is the one above. */
	__builtin_assume(p != NULL);
	return p;
}

/*
 * Big-endian fields of the frame, at any alignment. A whole load and a
 * byte swap: the verifier allows unaligned packet access where the CPU
 * has it cheaply (x86-64, arm64), and clang 14 splits a load it knows to
 * be unaligned into single bytes, so the pointer is cast.
 */
static __always_inline __u16 dc_be16(const __u8 *p)
{
	return bpf_ntohs(*(const __be16 *)p);
}

static __always_inline __u32 dc_be24(const __u8 *p)
{
	return (__u32)dc_be16(p) << 8 | p[2];
}

static __always_inline __u32 dc_be32(const __u8 *p)
{
	return bpf_ntohl(*(const __be32 *)p);
}

/*
 * One's-complement sums. Native-endian 32-bit words summed into 64 bits
 * and folded give the same 16-bit sum as the big-endian 16-bit words of
 * RFC 1071, so pseudo-header words can be added straight from memory.
 */
static __always_inline __u32 dc_csum_fold32(__u64 sum)
{
	sum = (sum & 0xffffffff) + (sum >> 32);
	sum = (sum & 0xffffffff) + (sum >> 32);
	return (__u32)sum;
}

/* A 64-bit word's two halves, each a pair of 16-bit words of the sum. */
static __always_inline __u64 dc_csum_add64(__u64 sum, __u64 w)
{
	return sum + (w & 0xffffffff) + (w >> 32);
}

/*
 * The checksum field's value from a 64-bit sum. bpf_csum_diff returns an
 * unfolded 32-bit sum on some architectures and kernels and a folded one
 * on others; folding again is harmless.
 */
static __always_inline __u16 dc_csum_fold16(__u64 sum)
{
	__u32 s = dc_csum_fold32(sum);

	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

#endif /* DC_BPF_PACKET_H */
