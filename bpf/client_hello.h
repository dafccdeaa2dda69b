/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The DTLS side of the XDP responder: the classification of a UDP payload
 * and the ClientHello walk, bound for bound the same as userspace/lib/wire.cpp.
 */
#ifndef DC_BPF_CLIENT_HELLO_H
#define DC_BPF_CLIENT_HELLO_H

#include <stdbool.h>
#include <linux/types.h>

#include "dtls_cookie/abi/abi.h"
#include "packet.h"

/*
 * All positions are offsets from the start of the frame, held in __u64 so
 * that clang (BPF v1, no 32-bit subregisters) need not zero-extend them on
 * every use, and compared as "end - off < len" so that no sum can wrap:
 * off <= end holds from the first check on, and every advance was checked
 * to fit.
 */
struct dc_client_hello {
	__u64 end;	  /* just past the ClientHello body */
	__u64 cookie_off; /* the cookie bytes */
	__u64 cookie_len;
};

static __always_inline bool dc_is_dtls_version(__u16 v)
{
	return v == DC_VERSION_DTLS10 || v == DC_VERSION_DTLS12;
}

/*
 * Classifies the UDP payload [pl, pl + len), which the caller has checked
 * lies in the frame. DC_NEXT means a ClientHello parsed up to its cookie.
 * A NULL from dc_bytes() cannot happen below; it is MALFORMED so that the
 * verifier sees every access checked.
 */
static __always_inline int dc_classify(const struct dc_frame *f, __u64 pl,
				       __u64 len, struct dc_client_hello *ch)
{
	const __u8 *rec, *hs, *body, *p;
	__u64 hs_len, off;
	__u8 sid_len;

	if (len < DC_RECORD_HEADER_LEN)
		return DC_CNT_MALFORMED;
	rec = dc_bytes(f, pl, DC_RECORD_HEADER_LEN);
	if (!rec)
		return DC_CNT_MALFORMED;
	if ((rec[0] & DC_DTLS13_UNIFIED_MASK) == DC_DTLS13_UNIFIED_BITS)
		return DC_CNT_ESTABLISHED;
	switch (rec[0]) {
	case DC_CONTENT_CHANGE_CIPHER_SPEC:
	case DC_CONTENT_ALERT:
	case DC_CONTENT_APPLICATION_DATA:
	case DC_CONTENT_HEARTBEAT:
	case DC_CONTENT_TLS12_CID:
		return DC_CNT_ESTABLISHED;
	case DC_CONTENT_HANDSHAKE:
		break;
	default:
		return DC_CNT_MALFORMED;
	}
	if (dc_be16(rec + 3) != 0)
		return DC_CNT_ESTABLISHED; /* epoch */
	if (!dc_is_dtls_version(dc_be16(rec + 1)))
		return DC_CNT_MALFORMED;

	if (len < DC_RECORD_HEADER_LEN + DC_HANDSHAKE_HEADER_LEN)
		return DC_CNT_MALFORMED;
	hs = dc_bytes(f, pl + DC_RECORD_HEADER_LEN, DC_HANDSHAKE_HEADER_LEN);
	if (!hs)
		return DC_CNT_MALFORMED;
	if (hs[0] != DC_HS_CLIENT_HELLO)
		return DC_CNT_ESTABLISHED;
	hs_len = dc_be24(hs + 1);
	if (dc_be24(hs + 6) != 0 || dc_be24(hs + 9) != hs_len)
		return DC_CNT_FRAGMENTED;
	if (dc_be16(rec + 11) > len - DC_RECORD_HEADER_LEN)
		return DC_CNT_MALFORMED;
	if (DC_HANDSHAKE_HEADER_LEN + hs_len > dc_be16(rec + 11))
		return DC_CNT_MALFORMED;
	ch->end = pl + DC_OFF_CLIENT_VERSION + hs_len;

	/* client_version, random and the session_id length byte. */
	if (hs_len < 2 + DC_RANDOM_LEN + 1)
		return DC_CNT_MALFORMED;
	body = dc_bytes(f, pl + DC_OFF_CLIENT_VERSION, 2 + DC_RANDOM_LEN + 1);
	if (!body)
		return DC_CNT_MALFORMED;
	if (!dc_is_dtls_version(dc_be16(body)))
		return DC_CNT_MALFORMED;
	sid_len = body[2 + DC_RANDOM_LEN];
	/*
	 * This check also gives the verifier the bound on the variable
	 * offset of the cookie length byte below.
	 */
	if (sid_len > DC_MAX_SESSION_ID_LEN)
		return DC_CNT_MALFORMED;
	off = pl + DC_OFF_SESSION_ID_LEN + 1;
	if (ch->end - off < (__u64)sid_len + 1)
		return DC_CNT_MALFORMED;
	off += sid_len;

	p = dc_bytes(f, off, 1);
	if (!p)
		return DC_CNT_MALFORMED;
	off += 1;
	if (ch->end - off < p[0])
		return DC_CNT_MALFORMED;
	ch->cookie_off = off;
	ch->cookie_len = p[0];
	return DC_NEXT;
}

/* What dc_supported_versions() found. */
#define DC_SV_MALFORMED	     -1
#define DC_SV_WITHOUT_DTLS13 0
#define DC_SV_DTLS13	     1

/*
 * supported_versions (type 43) in its ClientHello form: a one-byte list
 * length, then two-byte versions; [off, off + len) was checked to lie in
 * the body. Returns one of DC_SV_*.
 *
 * A global function, so the verifier checks it once on its own rather
 * than at each of the DC_MAX_EXTENSIONS iterations of the caller's walk:
 * inlined, its loop multiplied the states of the walk past the
 * 1M-instruction budget (kernel 6.18). It runs once per ClientHello.
 */
__noinline int dc_supported_versions(struct xdp_md *ctx, __u64 off, __u64 len)
{
	struct dc_frame f;
	const __u8 *p;
	__u64 count, i;

	dc_frame_load(&f, ctx);
	if (len < 1)
		return DC_SV_MALFORMED;
	p = dc_bytes(&f, off, 1);
	if (!p)
		return DC_SV_MALFORMED;
	if (p[0] != len - 1 || (p[0] & 1))
		return DC_SV_MALFORMED;
	count = p[0] / 2;
	if (count > DC_MAX_SUPPORTED_VERSIONS)
		return DC_SV_MALFORMED;

	for (i = 0; i < DC_MAX_SUPPORTED_VERSIONS; i++) {
		if (i >= count)
			break;
		p = dc_bytes(&f, off + 1 + 2 * i, 2);
		if (!p)
			return DC_SV_MALFORMED;
		if (dc_be16(p) == DC_VERSION_DTLS13)
			return DC_SV_DTLS13;
	}
	return DC_SV_WITHOUT_DTLS13;
}

/*
 * The extension block [off, end): its length was checked to be exactly
 * end - off. A bounded loop (kernel 5.3+): the verifier walks each of the
 * DC_MAX_EXTENSIONS iterations, and every exit inside ends the walk.
 */
static __always_inline int dc_walk_extensions(struct xdp_md *ctx,
					      const struct dc_frame *f,
					      __u64 off, __u64 end)
{
	bool dtls13 = false;
	const __u8 *p;
	__u64 n, len;
	int ret;

	for (n = 0; n < DC_MAX_EXTENSIONS; n++) {
		if (off >= end)
			break;
		if (end - off < 4)
			return DC_CNT_MALFORMED;
		p = dc_bytes(f, off, 4);
		if (!p)
			return DC_CNT_MALFORMED;
		len = dc_be16(p + 2);
		off += 4;
		if (end - off < len)
			return DC_CNT_MALFORMED;
		if (dc_be16(p) == DC_EXT_SUPPORTED_VERSIONS) {
			ret = dc_supported_versions(ctx, off, len);
			if (ret == DC_SV_MALFORMED)
				return DC_CNT_MALFORMED;
			if (ret == DC_SV_DTLS13)
				dtls13 = true;
		}
		off += len;
	}
	if (off < end)
		return DC_CNT_MALFORMED; /* more than DC_MAX_EXTENSIONS */
	return dtls13 ? DC_CNT_DTLS13 : DC_NEXT;
}

/*
 * The rest of the ClientHello after its cookie, [off, end): cipher_suites,
 * compression_methods and the optional extensions. Returns MALFORMED,
 * DTLS13 for a well-formed ClientHello offering DTLS 1.3, or DC_NEXT.
 *
 * A global function, which the verifier checks once for any off and end
 * (kernel 5.6+). Inlined, the walk was verified anew for every state the
 * caller reaches it in (cookie of length 12 or not, the cookie check's
 * outcomes, each with its own ranges for off and end), and the
 * DC_MAX_EXTENSIONS iterations multiplied by those states exceeded the
 * verifier's 1M-instruction budget (kernel 6.18, clang 14).
 */
__noinline int dc_walk_rest(struct xdp_md *ctx, __u64 off, __u64 end)
{
	struct dc_frame f;
	const __u8 *p;
	__u64 len;

	dc_frame_load(&f, ctx);
	if (off > end || end - off < 2)
		return DC_CNT_MALFORMED;
	p = dc_bytes(&f, off, 2);
	if (!p)
		return DC_CNT_MALFORMED;
	len = dc_be16(p);
	off += 2;
	if (len == 0 || (len & 1) || end - off < len)
		return DC_CNT_MALFORMED;
	off += len;

	if (end - off < 1)
		return DC_CNT_MALFORMED;
	p = dc_bytes(&f, off, 1);
	if (!p)
		return DC_CNT_MALFORMED;
	len = p[0];
	off += 1;
	if (len == 0 || end - off < len)
		return DC_CNT_MALFORMED;
	off += len;

	if (off == end)
		return DC_NEXT; /* no extensions at all */
	if (end - off < 2)
		return DC_CNT_MALFORMED;
	p = dc_bytes(&f, off, 2);
	if (!p)
		return DC_CNT_MALFORMED;
	len = dc_be16(p);
	off += 2;
	if (end - off != len)
		return DC_CNT_MALFORMED;
	return dc_walk_extensions(ctx, &f, off, end);
}

#endif /* DC_BPF_CLIENT_HELLO_H */
