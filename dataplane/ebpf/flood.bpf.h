/* Output (S1, S2, S3, S4, S5, S8, S9, S10, S11): the output checks of one copy
 * in the order of Bridge::Egress (link_down, protected, tagged_out,
 * blocknonip_out, rules_out, too_big, then the transmit's tx_error), span
 * copies, and the flood over the member list with bpf_loop (a flood reaches
 * every port of a 4,096-port bridge).
 *
 * Transmission: known unicast leaves with bpf_redirect_peer (veth host ends:
 * straight into the pod's namespace) or bpf_redirect; span and flood copies
 * with bpf_clone_redirect. The test variant (VEB_TEST_HOOK) records each copy
 * in veb_test_copies instead, since BPF_PROG_TEST_RUN performs no redirect; the
 * tag operations are still applied to the skb, and the recorded length is
 * measured on it. */
#ifndef VEB_DATAPLANE_EBPF_FLOOD_BPF_H_
#define VEB_DATAPLANE_EBPF_FLOOD_BPF_H_

#include <linux/pkt_cls.h>

#include "dataplane/ebpf/counters.bpf.h"
#include "dataplane/ebpf/parse.bpf.h"
#include "dataplane/ebpf/rules.bpf.h"
#include "dataplane/ebpf/vlan.bpf.h"

#define VEB_PACKET_HOST 0

/* One received frame on its way out. */
struct veb_fwd {
  struct __sk_buff *skb;
  struct veb_frame f;
  struct veb_tag_state cur;
  __u32 rslot;
  __u32 rp_protected;
};

/* Sends one copy; returns < 0 on failure, else the TC verdict to return when
 * this was the frame itself (clone == 0). */
static __always_inline long veb_xmit(struct veb_fwd *w, __u32 slot, const struct veb_port *tp,
                                     int op, __u16 tci, __u8 span, int clone) {
#ifdef VEB_TEST_HOOK
  __u32 zero = 0;
  struct veb_test_out *out = bpf_map_lookup_elem(&veb_test_out, &zero);
  if (!out) return -1;
  __u32 n = out->n_copies;
  struct veb_test_copy *c = bpf_map_lookup_elem(&veb_test_copies, &n);
  if (!c) return -1;
  c->slot = slot;
  c->span = span;
  c->tag_op = (__u8)op;
  c->tci = tci;
  c->len = w->skb->len + (w->skb->vlan_present ? 4 : 0);
  out->n_copies = n + 1;
  return TC_ACT_SHOT;
#else
  if (clone) return bpf_clone_redirect(w->skb, tp->ifindex, 0);
  if (tp->flags & VEB_PF_VETH) {
    /* Before Linux 6.15 redirect_peer keeps the ingress pkt_type
     * (PACKET_OTHERHOST for a frame to another MAC), which the pod's IP stack
     * drops. The destination was learned behind this port: it is the pod's. */
    bpf_skb_change_type(w->skb, VEB_PACKET_HOST);
    return bpf_redirect_peer(tp->ifindex, 0);
  }
  return bpf_redirect(tp->ifindex, 0);
#endif
}

/* The output checks and transmission of one copy to member port `tslot`.
 * Returns < 0 when the copy is not sent. */
static __always_inline long veb_egress(struct veb_fwd *w, __u32 tslot,
                                       const struct veb_port *tp, int clone) {
  struct veb_port_hot *tc = veb_port_cells(tslot);
  if (!tc) return -1;
  if (!(tp->flags & VEB_PF_RUNNING)) {  /* S1 */
    veb_count_out(tslot, VEB_DROP_LINK_DOWN);
    return -1;
  }
  if (w->rp_protected & tp->protected_domains) {  /* S10 (and S8) */
    veb_count_out(tslot, VEB_DROP_PROTECTED);
    return -1;
  }
  __u16 tci = 0;
  const int op = veb_vlan_out(tslot, tp, &w->f, &tci);  /* S3 */
  if (op < 0) {
    veb_count_out(tslot, VEB_DROP_TAGGED_OUT);
    return -1;
  }
  if ((tp->flags & VEB_PF_BLOCKNONIP) && !veb_ip_like(w->f.ether_type)) {  /* S4 */
    veb_count_out(tslot, VEB_DROP_BLOCKNONIP_OUT);
    return -1;
  }
  if ((tp->rules_out >> 16) && veb_rules_block(tp->rules_out, &w->f)) {  /* S5 */
    veb_count_out(tslot, VEB_DROP_RULES_OUT);
    return -1;
  }
  if (!w->f.gso && w->f.len - w->f.l2_len > tp->mtu) {
    veb_count_out(tslot, VEB_DROP_TOO_BIG);
    return -1;
  }
  if (veb_apply_tag(w->skb, &w->f, &w->cur, op, tci)) {
    veb_count_out(tslot, VEB_DROP_TX_ERROR);
    return -1;
  }
  const long rc = veb_xmit(w, tslot, tp, op, tci, 0, clone);
  if (rc < 0) {
    veb_count_out(tslot, VEB_DROP_TX_ERROR);
    return -1;
  }
  tc->tx_packets += 1;
  tc->tx_bytes += veb_tx_len(&w->f, op);
  return rc;
}

/* S2: one span copy, exactly as the frame arrived. */
static long veb_span_step(__u32 i, void *data) {
  struct veb_fwd *w = data;
  __u32 idx = i;
  __u32 *s = bpf_map_lookup_elem(&veb_spans, &idx);
  if (!s) return 1;
  __u32 slot = *s;
  const struct veb_port *sp = bpf_map_lookup_elem(&veb_ports, &slot);
  if (!sp || !(sp->flags & VEB_PF_SPAN)) return 0;
  struct veb_port_hot *c = veb_port_cells(slot);
  if (!c) return 0;
  if (!(sp->flags & VEB_PF_RUNNING)) {  /* S1, S11: a copy not sent is counted */
    veb_count_out(slot, VEB_DROP_LINK_DOWN);
    return 0;
  }
  if (veb_xmit(w, slot, sp, VEB_TAG_KEEP, 0, 1, 1) < 0) {
    veb_count_out(slot, VEB_DROP_TX_ERROR);
    return 0;
  }
  c->tx_packets += 1;
  c->tx_bytes += w->f.len;
  return 0;
}

/* S9: one flood candidate. Never the receiving port; unknown unicast only to
 * ports with discover. */
static long veb_flood_step(__u32 i, void *data) {
  struct veb_fwd *w = data;
  __u32 idx = i;
  __u32 *s = bpf_map_lookup_elem(&veb_members, &idx);
  if (!s) return 1;
  __u32 slot = *s;
  if (slot == w->rslot) return 0;
  const struct veb_port *tp = bpf_map_lookup_elem(&veb_ports, &slot);
  if (!tp || !(tp->flags & VEB_PF_MEMBER)) return 0;
  if (!w->f.multicast && !(tp->flags & VEB_PF_DISCOVER)) return 0;
  veb_egress(w, slot, tp, 1);
  return 0;
}

#endif /* VEB_DATAPLANE_EBPF_FLOOD_BPF_H_ */
