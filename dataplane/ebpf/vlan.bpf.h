/* VLANs (S3): membership on input, the tag operation on output, and applying
 * it to the skb with bpf_skb_vlan_pop/push. As the ingress and egress halves
 * of the VLAN code in dataplane/bridge.cc. */
#ifndef VEB_DATAPLANE_EBPF_VLAN_BPF_H_
#define VEB_DATAPLANE_EBPF_VLAN_BPF_H_

#include "dataplane/ebpf/parse.bpf.h"

static __always_inline int veb_port_has_vid(__u32 slot, const struct veb_port *p, __u16 vid) {
  if (!(p->flags & VEB_PF_TAGGED)) return 0;
  struct veb_vlan_bitmap *bm = bpf_map_lookup_elem(&veb_vlans, &slot);
  if (!bm) return 0;
  const __u32 v = vid & 0xfff;
  return (bm->bits[v >> 6] >> (v & 63)) & 1;
}

/* S3 on input: assigns f->vid; returns -1 or the drop reason. */
static __always_inline int veb_vlan_in(__u32 slot, const struct veb_port *rp, struct veb_frame *f) {
  if (f->wire_tagged) {
    const __u16 vid = f->tci & 0xfff;
    if (vid == 0) {  /* priority tag: belongs to the PVID */
      if (rp->pvid == 0) return VEB_DROP_UNTAGGED;
      f->vid = rp->pvid;
    } else if (!veb_port_has_vid(slot, rp, vid)) {
      return VEB_DROP_TAGGED_IN;
    } else {
      f->vid = vid;
    }
  } else {
    if (rp->pvid == 0) return VEB_DROP_UNTAGGED;
    f->vid = rp->pvid;
  }
  return -1;
}

/* The tag the skb carries now (it changes as copies are made). */
struct veb_tag_state {
  __u8 tagged;
  __u16 tci;
};

/* S3 on output: the tag operation for port `tp`, or -1 (tagged_out). */
static __always_inline int veb_vlan_out(__u32 tslot, const struct veb_port *tp,
                                        const struct veb_frame *f, __u16 *tci) {
  *tci = 0;
  if (tp->pvid == f->vid) return f->wire_tagged ? VEB_TAG_STRIP : VEB_TAG_KEEP;
  if (!veb_port_has_vid(tslot, tp, f->vid)) return -1;
  if (!f->wire_tagged) {
    *tci = f->vid;
    return VEB_TAG_PUSH;
  }
  if ((f->tci & 0xfff) != f->vid) {
    *tci = (__u16)((f->tci & 0xf000) | f->vid);
    return VEB_TAG_REWRITE;
  }
  return VEB_TAG_KEEP;
}

/* Brings the skb's tag to what `op` asks for (relative to the frame as it
 * arrived). Returns 0 or a negative error. */
static __always_inline int veb_apply_tag(struct __sk_buff *skb, const struct veb_frame *f,
                                         struct veb_tag_state *cur, int op, __u16 tci) {
  __u8 want_tagged;
  __u16 want_tci;
  switch (op) {
    case VEB_TAG_STRIP:
      want_tagged = 0;
      want_tci = 0;
      break;
    case VEB_TAG_PUSH:
    case VEB_TAG_REWRITE:
      want_tagged = 1;
      want_tci = tci;
      break;
    default:
      want_tagged = f->wire_tagged;
      want_tci = f->tci;
      break;
  }
  if (cur->tagged == want_tagged && (!want_tagged || cur->tci == want_tci)) return 0;
  if (cur->tagged) {
    if (bpf_skb_vlan_pop(skb)) return -1;
    cur->tagged = 0;
  }
  if (want_tagged) {
    if (bpf_skb_vlan_push(skb, bpf_htons(VEB_ETH_P_8021Q), want_tci)) return -1;
    cur->tagged = 1;
    cur->tci = want_tci;
  }
  return 0;
}

static __always_inline __u32 veb_tx_len(const struct veb_frame *f, int op) {
  if (op == VEB_TAG_STRIP) return f->len - 4;
  if (op == VEB_TAG_PUSH) return f->len + 4;
  return f->len;
}

#endif /* VEB_DATAPLANE_EBPF_VLAN_BPF_H_ */
