/* L2 rules (S5): first match of a port's in or out list decides, no match
 * passes. As RuleMatches/RulesBlock in dataplane/rule.cc. A list is a range of
 * veb_rules (start | count << 16), walked with bpf_loop. */
#ifndef VEB_DATAPLANE_EBPF_RULES_BPF_H_
#define VEB_DATAPLANE_EBPF_RULES_BPF_H_

#include "dataplane/ebpf/parse.bpf.h"

static __always_inline int veb_rule_matches(const struct veb_rule *r, const struct veb_frame *f) {
  const __u32 fl = r->flags;
  if ((fl & VEB_RF_SRC) && r->src != f->src) return 0;
  if ((fl & VEB_RF_DST) && r->dst != f->dst) return 0;
  if ((fl & VEB_RF_VID) && r->vid != f->vid) return 0;
  if (!(fl & (VEB_RF_ARP | VEB_RF_RARP))) return 1;
  /* Only Ethernet/IPv4 ARP (hrd 1, pro 0x0800, hln 6, pln 4) matches. */
  if (!f->arp_ok) return 0;
  if (fl & VEB_RF_ARP) {
    if (f->arp_op != 1 && f->arp_op != 2) return 0;
  } else {
    if (f->arp_op != 3 && f->arp_op != 4) return 0;
  }
  if (r->arp_op != 0 && r->arp_op != f->arp_op) return 0;
  if ((fl & VEB_RF_SHA) && r->sha != f->sha) return 0;
  if ((fl & VEB_RF_SPA) && r->spa != f->spa) return 0;
  if ((fl & VEB_RF_THA) && r->tha != f->tha) return 0;
  if ((fl & VEB_RF_TPA) && r->tpa != f->tpa) return 0;
  return 1;
}

struct veb_rules_ctx {
  const struct veb_frame *f;
  __u32 start;
  int block;
};

static long veb_rule_step(__u32 i, void *data) {
  struct veb_rules_ctx *c = data;
  __u32 idx = c->start + i;
  const struct veb_rule *r = bpf_map_lookup_elem(&veb_rules, &idx);
  if (!r) return 1;
  if (veb_rule_matches(r, c->f)) {
    c->block = !(r->flags & VEB_RF_PASS);
    return 1;
  }
  return 0;
}

/* True when the list `range` (start | count << 16) blocks the frame. */
static __always_inline int veb_rules_block(__u32 range, const struct veb_frame *f) {
  const __u32 count = range >> 16;
  if (count == 0) return 0;
  struct veb_rules_ctx c = {.f = f, .start = range & 0xffff, .block = 0};
  bpf_loop(count > VEB_MAX_RULES_PER_LIST ? VEB_MAX_RULES_PER_LIST : count, veb_rule_step, &c, 0);
  return c.block;
}

#endif /* VEB_DATAPLANE_EBPF_RULES_BPF_H_ */
