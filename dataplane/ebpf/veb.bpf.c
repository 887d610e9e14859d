/* The kernel engine: the veb forwarding contract (S1-S12, docs/design.md) as
 * one TC ingress program, attached to every port of a kernel bridge. Laid out
 * like Bridge::Input/ProcessFrame (dataplane/bridge.cc); one header per
 * concern: maps, counters, parse, vlan, rules, fdb, flood.
 *
 * Built twice by dataplane/ebpf/BUILD.bazel: veb.bpf.o (attached with
 * bpf_tc_attach) and veb_test.bpf.o (-DVEB_TEST_HOOK: the receiving port and
 * the clock come from veb_test_ctl, and copies are recorded instead of sent, for
 * BPF_PROG_TEST_RUN). */
#include <linux/bpf.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>

#include "dataplane/ebpf/fdb.bpf.h"
#include "dataplane/ebpf/flood.bpf.h"
#include "dataplane/ebpf/rules.bpf.h"
#include "dataplane/ebpf/vlan.bpf.h"

char LICENSE[] SEC("license") = "GPL";

#ifdef VEB_TEST_HOOK
static __always_inline void veb_verdict(__u32 verdict, __u32 reason) {
  __u32 zero = 0;
  struct veb_test_out *out = bpf_map_lookup_elem(&veb_test_out, &zero);
  if (out) {
    out->verdict = verdict;
    out->reason = reason;
  }
}
#else
#define veb_verdict(verdict, reason) ((void)0)
#endif

/* Ends the frame on input under `reason` (S11). */
static __always_inline int veb_drop_in(__u32 slot, int reason) {
  veb_count_in(slot, (__u32)reason);
  veb_verdict(VEB_TV_DROP, (__u32)reason);
  return TC_ACT_SHOT;
}

SEC("tc")
int veb_ingress(struct __sk_buff *skb) {
  __u32 zero = 0;
  const struct veb_bridge_cfg *cfg = bpf_map_lookup_elem(&veb_cfg, &zero);
  if (!cfg) return TC_ACT_SHOT;
#ifdef VEB_TEST_HOOK
  const struct veb_test_ctl *ctl = bpf_map_lookup_elem(&veb_test_ctl, &zero);
  struct veb_test_out *tout = bpf_map_lookup_elem(&veb_test_out, &zero);
  if (!ctl || !tout) return TC_ACT_SHOT;
  tout->verdict = VEB_TV_NOT_SWITCHED;
  tout->reason = 0;
  tout->n_copies = 0;
  __u32 slot = ctl->rx_slot;
  const __u64 now = ctl->now_ns;
#else
  __u32 ifindex = skb->ifindex;
  const __u32 *slotp = bpf_map_lookup_elem(&veb_ifindex, &ifindex);
  if (!slotp) return TC_ACT_SHOT;  /* a port being removed */
  __u32 slot = *slotp;
  const __u64 now = bpf_ktime_get_ns();
#endif
  const struct veb_port *rp = bpf_map_lookup_elem(&veb_ports, &slot);
  /* Input on a span port is not switched (a span port only transmits). */
  if (!rp || !(rp->flags & VEB_PF_MEMBER)) return TC_ACT_SHOT;
  struct veb_port_hot *rc = veb_port_cells(slot);
  if (!rc) return TC_ACT_SHOT;
  const __u64 ref = VEB_PORT_REF(slot, rp->gen);

  struct veb_fwd w = {};
  w.skb = skb;
  w.rslot = slot;
  w.rp_protected = rp->protected_domains;
  w.f.len = skb->len + (skb->vlan_present ? 4 : 0);
  rc->rx_packets += 1;
  rc->rx_bytes += w.f.len;
  if (!cfg->up || !(rp->flags & VEB_PF_RUNNING)) {  /* S1 */
    return veb_drop_in(slot, VEB_DROP_LINK_DOWN);
  }
  /* S2: span ports get every received frame before any filter. */
  if (cfg->n_spans) {
    bpf_loop(cfg->n_spans > VEB_MAX_PORTS ? VEB_MAX_PORTS : cfg->n_spans, veb_span_step, &w, 0);
  }
  int reason = veb_parse(skb, cfg, &w.f);
  if (reason >= 0) return veb_drop_in(slot, reason);
  w.cur.tagged = w.f.wire_tagged;
  w.cur.tci = w.f.tci;
  reason = veb_vlan_in(slot, rp, &w.f);  /* S3 */
  if (reason >= 0) return veb_drop_in(slot, reason);
  /* S9: 802.1 reserved group addresses stay on the link. */
  if (!cfg->allow_reserved && veb_reserved_8021(w.f.dst)) {
    return veb_drop_in(slot, VEB_DROP_RESERVED_ADDRESS);
  }
  if ((rp->flags & VEB_PF_BLOCKNONIP) && !veb_ip_like(w.f.ether_type)) {  /* S4 */
    return veb_drop_in(slot, VEB_DROP_BLOCKNONIP_IN);
  }
  if ((rp->rules_in >> 16) && veb_rules_block(rp->rules_in, &w.f)) {  /* S5 */
    return veb_drop_in(slot, VEB_DROP_RULES_IN);
  }
  if (rp->flags & VEB_PF_LOCKED) {  /* S6 */
    const struct veb_fdb_entry *owner = veb_fdb_lookup(cfg, w.f.vid, w.f.src, now);
    if (!owner || owner->port != ref) return veb_drop_in(slot, VEB_DROP_LOCKED);
  }
  struct veb_bridge_counters *bc = veb_bridge_cells();
  if (rp->flags & VEB_PF_LEARNING) {  /* S7 */
    if ((w.f.src >> 40) & 1 || w.f.src == 0) {
      veb_count_refused(bc, VEB_REFUSED_INVALID_SOURCE);
    } else {
      veb_learn(cfg, bc, rp, slot, ref, &w.f, now);
    }
  }
  /* S8: known unicast. */
  if (!w.f.multicast) {
    const struct veb_fdb_entry *e = veb_fdb_lookup(cfg, w.f.vid, w.f.dst, now);
    if (e) {
      const __u64 dref = e->port;
      __u32 tslot = VEB_REF_SLOT(dref);
      const struct veb_port *tp = bpf_map_lookup_elem(&veb_ports, &tslot);
      /* S12: an entry of a removed port (slot reused) is a miss. */
      if (tp && (tp->flags & VEB_PF_MEMBER) && tp->gen == (__u32)(dref >> 32)) {
        if (tslot == slot) return veb_drop_in(slot, VEB_DROP_HAIRPIN);
        rc->unicast += 1;
        veb_verdict(VEB_TV_UNICAST, 0);
        const long act = veb_egress(&w, tslot, tp, 0);
        return act < 0 ? TC_ACT_SHOT : (int)act;
      }
    }
  }
  /* S9: flood. Unknown unicast only to ports with discover. */
  rc->flooded += 1;
  if (bc) bc->flooded += 1;
  veb_verdict(VEB_TV_FLOOD, 0);
  if (cfg->n_members) {
    bpf_loop(cfg->n_members > VEB_MAX_PORTS ? VEB_MAX_PORTS : cfg->n_members, veb_flood_step, &w, 0);
  }
  return TC_ACT_SHOT;
}
