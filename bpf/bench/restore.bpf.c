// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * Lets BPF_PROG_TEST_RUN time a program that rewrites its frame with
 * repeat > 1: every repetition first restores the pristine request, then
 * tail-calls the program under test. The benchmark subtracts this cost.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define BENCH_MAX_FRAME_LEN 512
/*
 * Every repetition trims the frame to this length before growing it back,
 * so the restore does the same work whatever length the previous
 * repetition left (the kernel zeroes every byte a frame grows by). It is
 * below any frame the programs under test leave: their shortest, an IPv4
 * HelloVerifyRequest, is 82 bytes.
 */
#define BENCH_FLOOR_LEN 60

/* Set before load; the verifier then knows the copy's exact size. */
const volatile __u32 frame_len = BENCH_FLOOR_LEN;

/* The request, written by userspace after load. */
__u8 pristine[BENCH_MAX_FRAME_LEN];

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} next_prog SEC(".maps");

SEC("xdp")
int bench_restore(struct xdp_md *ctx)
{
	__u32 len = frame_len;
	int cur = (int)bpf_xdp_get_buff_len(ctx);

	if (len < BENCH_FLOOR_LEN || len > BENCH_MAX_FRAME_LEN)
		return XDP_ABORTED;
	if (bpf_xdp_adjust_tail(ctx, BENCH_FLOOR_LEN - cur))
		return XDP_ABORTED;
	if (bpf_xdp_adjust_tail(ctx, (int)len - BENCH_FLOOR_LEN))
		return XDP_ABORTED;
	if (bpf_xdp_store_bytes(ctx, 0, pristine, len))
		return XDP_ABORTED;
	/* A constant index: the JIT turns the tail call into a direct jump. */
	bpf_tail_call(ctx, &next_prog, 0);
	return XDP_ABORTED; /* empty slot */
}

/*
 * The calibration target: restore followed by this costs the restore, the
 * tail call and a program that does nothing, which is what the benchmark
 * subtracts. Run directly it is the cost of any program that sends its
 * frame back unchanged.
 */
SEC("xdp")
int bench_tx(struct xdp_md *ctx)
{
	return XDP_TX;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
