/* Parsing (S3's tag rules, S11's runt/too_big), as ParseFrame in
 * dataplane/frame.cc. At TC ingress the kernel has already moved the outer
 * 802.1Q or 802.1ad tag into skb metadata (skb_vlan_untag), so the outer tag
 * is read from there when present and from the frame otherwise (frames given
 * to BPF_PROG_TEST_RUN keep it in the data). Lengths are counted with the tag,
 * as the userspace engine sees the frame. */
#ifndef VEB_DATAPLANE_EBPF_PARSE_BPF_H_
#define VEB_DATAPLANE_EBPF_PARSE_BPF_H_

#include <linux/if_ether.h>
#include <bpf/bpf_endian.h>

#include "dataplane/ebpf/maps.bpf.h"

#define VEB_ETH_P_8021Q 0x8100
#define VEB_ETH_P_8021AD 0x88a8
#define VEB_ETH_P_IP 0x0800
#define VEB_ETH_P_ARP 0x0806
#define VEB_ETH_P_RARP 0x8035
#define VEB_ETH_P_IPV6 0x86dd
#define VEB_ARP_BODY 28

struct veb_frame {
  __u64 dst;
  __u64 src;
  __u64 sha;        /* ARP fields, valid when arp_ok */
  __u64 tha;
  __u32 spa;
  __u32 tpa;
  __u32 len;        /* with the outer tag */
  __u16 ether_type; /* after an 802.1Q tag, if any */
  __u16 tci;        /* the wire tag's TCI when wire_tagged */
  __u16 vid;        /* the frame's VLAN (S3), assigned after parsing */
  __u16 l2_len;     /* 14 or 18 */
  __u16 arp_op;
  __u8 wire_tagged; /* an 802.1Q C-tag */
  __u8 multicast;
  __u8 arp_ok;      /* Ethernet/IPv4 ARP or RARP */
  __u8 gso;         /* a GSO super-frame: no MTU check on output */
};

static __always_inline __u64 veb_load_mac(const __u8 *p) {
  return ((__u64)p[0] << 40) | ((__u64)p[1] << 32) | ((__u64)p[2] << 24) |
         ((__u64)p[3] << 16) | ((__u64)p[4] << 8) | (__u64)p[5];
}

static __always_inline __u16 veb_load16(const __u8 *p) {
  return (__u16)(((__u16)p[0] << 8) | p[1]);
}

static __always_inline __u32 veb_load32(const __u8 *p) {
  return ((__u32)p[0] << 24) | ((__u32)p[1] << 16) | ((__u32)p[2] << 8) | p[3];
}

/* Returns -1 when the frame parses, else the drop reason. */
static __always_inline int veb_parse(struct __sk_buff *skb,
                                     const struct veb_bridge_cfg *cfg,
                                     struct veb_frame *f) {
  __u8 hdr[18] = {};
  const __u32 accel = skb->vlan_present ? 4 : 0;
  const __u32 len = skb->len + accel;
  f->len = len;
  f->gso = skb->gso_size != 0;
  if (len < ETH_HLEN) return VEB_DROP_RUNT;
  if (len > VEB_MAX_FRAME_LEN) return VEB_DROP_TOO_BIG;
  if (skb->len >= 18) {
    if (bpf_skb_load_bytes(skb, 0, hdr, 18)) return VEB_DROP_RUNT;
  } else {
    if (bpf_skb_load_bytes(skb, 0, hdr, 14)) return VEB_DROP_RUNT;
  }
  f->dst = veb_load_mac(hdr);
  f->src = veb_load_mac(hdr + 6);
  f->multicast = (hdr[0] & 1) != 0;
  __u16 type = veb_load16(hdr + 12);
  f->wire_tagged = 0;
  f->tci = 0;
  f->l2_len = ETH_HLEN;
  if (accel) {
    const __u16 proto = bpf_ntohs((__u16)skb->vlan_proto);
    if (proto == VEB_ETH_P_8021AD) {
      /* The outer tag is an S-tag: opaque when allowed (S3). */
      if (!cfg->allow_svlan) return VEB_DROP_SVLAN;
      type = VEB_ETH_P_8021AD;
    } else {
      f->wire_tagged = 1;
      f->tci = (__u16)skb->vlan_tci;
      f->l2_len = ETH_HLEN + 4;
      if (type == VEB_ETH_P_8021Q || type == VEB_ETH_P_8021AD) return VEB_DROP_DOUBLE_TAGGED;
    }
  } else if (type == VEB_ETH_P_8021Q) {
    if (len < ETH_HLEN + 4) return VEB_DROP_RUNT;
    f->wire_tagged = 1;
    f->tci = veb_load16(hdr + 14);
    type = veb_load16(hdr + 16);
    f->l2_len = ETH_HLEN + 4;
    if (type == VEB_ETH_P_8021Q || type == VEB_ETH_P_8021AD) return VEB_DROP_DOUBLE_TAGGED;
  } else if (type == VEB_ETH_P_8021AD && !cfg->allow_svlan) {
    return VEB_DROP_SVLAN;
  }
  f->ether_type = type;
  f->arp_ok = 0;
  if (type == VEB_ETH_P_ARP || type == VEB_ETH_P_RARP) {
    if (len < (__u32)f->l2_len + VEB_ARP_BODY) return VEB_DROP_RUNT;
    __u8 a[VEB_ARP_BODY];
    /* The body starts after the L2 header as it is in the skb's data. */
    const __u32 off = accel ? ETH_HLEN : f->l2_len;
    if (bpf_skb_load_bytes(skb, off, a, VEB_ARP_BODY)) return VEB_DROP_RUNT;
    if (veb_load16(a) == 1 && veb_load16(a + 2) == VEB_ETH_P_IP && a[4] == 6 && a[5] == 4) {
      f->arp_ok = 1;
      f->arp_op = veb_load16(a + 6);
      f->sha = veb_load_mac(a + 8);
      f->spa = veb_load32(a + 14);
      f->tha = veb_load_mac(a + 18);
      f->tpa = veb_load32(a + 24);
    }
  }
  return -1;
}

/* S4: the ether types blocknonip lets through. */
static __always_inline int veb_ip_like(__u16 type) {
  return type == VEB_ETH_P_IP || type == VEB_ETH_P_ARP || type == VEB_ETH_P_RARP ||
         type == VEB_ETH_P_IPV6;
}

/* S9: 01:80:c2:00:00:00 to 01:80:c2:00:00:0f. */
static __always_inline int veb_reserved_8021(__u64 dst) {
  return (dst & ~0xfULL) == 0x0180c2000000ULL;
}

#endif /* VEB_DATAPLANE_EBPF_PARSE_BPF_H_ */
