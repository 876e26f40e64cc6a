// SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
/*
 * xlat64's XDP steering program: redirect to the AF_XDP socket of the receive queue only what the appliance
 * translates, XDP_PASS everything else to the kernel (ARP, ND, routing protocols, SSH, pings to the box).
 *
 * Per interface, userspace (dataplane/src/io/afxdp.rs) fills the maps from the compiled config:
 *   conf[0]  bit 0: steer IPv6, bit 1: steer IPv4 (from the interface's role)
 *   pfx6     LPM: every tenant's pool6 and EAM IPv6 prefixes
 *   pfx4     LPM: every tenant's EAM IPv4 prefixes, every NAT64 tenant's pool4 addresses (/32), and
 *            0.0.0.0/0 when a SIIT tenant has a pool6
 *   local6/4 the box's own addresses (and IPv4 broadcast addresses): always passed
 *   xsks     receive queue -> AF_XDP socket
 * Multicast, IPv4 limited broadcast and IPv6 link-local destinations are always passed.
 *
 * Self-contained (no bpf_helpers.h): build with
 *   clang -O2 -g -target bpf -I/usr/include/x86_64-linux-gnu -c steer.bpf.c -o steer.bpf.o
 */
#include <linux/bpf.h>
#include <linux/types.h>

#define SEC(name) __attribute__((section(name), used))
#define __uint(name, val) int(*name)[val]
#define __type(name, val) typeof(val) *name

static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)BPF_FUNC_map_lookup_elem;
static long (*bpf_redirect_map)(void *map, __u64 key, __u64 flags) = (void *)BPF_FUNC_redirect_map;

#define CONF_STEER_V6 1
#define CONF_STEER_V4 2

#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100

struct lpm6_key {
	__u32 prefixlen;
	__u8 addr[16];
};

struct lpm4_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct addr6 {
	__u8 addr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} conf SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm6_key);
	__type(value, __u32);
} pfx6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct lpm4_key);
	__type(value, __u32);
} pfx4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct addr6);
	__type(value, __u32);
} local6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u32);
} local4 SEC(".maps");

static __always_inline __u16 load_be16(const __u8 *p)
{
	return ((__u16)p[0] << 8) | p[1];
}

SEC("xdp")
int xlat64_steer(struct xdp_md *ctx)
{
	const __u8 *data = (const __u8 *)(long)ctx->data;
	const __u8 *end = (const __u8 *)(long)ctx->data_end;
	__u32 zero = 0;
	__u32 *flags = bpf_map_lookup_elem(&conf, &zero);
	if (!flags)
		return XDP_PASS;

	__u32 l3 = 14;
	if (data + 18 > end)
		return XDP_PASS;
	__u16 proto = load_be16(data + 12);
	if (proto == ETH_P_8021Q) {
		proto = load_be16(data + 16);
		l3 = 18;
	}
	const __u8 *ip = data + l3;

	if (proto == ETH_P_IPV6) {
		if (!(*flags & CONF_STEER_V6))
			return XDP_PASS;
		if (ip + 40 > end)
			return XDP_PASS;
		const __u8 *dst = ip + 24;
		/* Multicast (ND, MLD) and link-local destinations belong to the kernel. */
		if (dst[0] == 0xff || (dst[0] == 0xfe && (dst[1] & 0xc0) == 0x80))
			return XDP_PASS;
		struct addr6 a;
		__builtin_memcpy(a.addr, dst, 16);
		if (bpf_map_lookup_elem(&local6, &a))
			return XDP_PASS;
		struct lpm6_key k = { .prefixlen = 128 };
		__builtin_memcpy(k.addr, dst, 16);
		if (!bpf_map_lookup_elem(&pfx6, &k))
			return XDP_PASS;
		return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
	}
	if (proto == ETH_P_IP) {
		if (!(*flags & CONF_STEER_V4))
			return XDP_PASS;
		if (ip + 20 > end)
			return XDP_PASS;
		const __u8 *dst = ip + 16;
		/* Multicast and the limited broadcast belong to the kernel. */
		if ((dst[0] & 0xf0) == 0xe0 || (dst[0] == 0xff && dst[1] == 0xff && dst[2] == 0xff && dst[3] == 0xff))
			return XDP_PASS;
		__u32 a;
		__builtin_memcpy(&a, dst, 4);
		if (bpf_map_lookup_elem(&local4, &a))
			return XDP_PASS;
		struct lpm4_key k = { .prefixlen = 32 };
		__builtin_memcpy(k.addr, dst, 4);
		if (!bpf_map_lookup_elem(&pfx4, &k))
			return XDP_PASS;
		return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
	}
	return XDP_PASS;
}

char _license[] SEC("license") = "Dual BSD/GPL";
