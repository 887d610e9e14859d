/* Per-CPU counters (S11): one cell per port slot per CPU, and the bridge's
 * learning counters. Nothing here takes a lock or an atomic instruction: a
 * TC program runs with preemption disabled, so a CPU's cell has one writer. */
#ifndef VEB_DATAPLANE_EBPF_COUNTERS_BPF_H_
#define VEB_DATAPLANE_EBPF_COUNTERS_BPF_H_

#include "dataplane/ebpf/maps.bpf.h"

/* The per-frame counters of a port (an array index, no hashing). */
static __always_inline struct veb_port_hot *veb_port_cells(__u32 slot) {
  return bpf_map_lookup_elem(&veb_hot, &slot);
}

static __always_inline struct veb_bridge_counters *veb_bridge_cells(void) {
  __u32 zero = 0;
  return bpf_map_lookup_elem(&veb_bcounters, &zero);
}

/* A frame ends on input on port `slot` under `reason` (S11). */
static __always_inline void veb_count_in(__u32 slot, __u32 reason) {
  struct veb_port_drops *c = bpf_map_lookup_elem(&veb_counters, &slot);
  if (c && reason < VEB_NUM_DROP_REASONS) c->in[reason] += 1;
}

/* A copy port `slot` would have sent is not sent, for `reason` (S11). */
static __always_inline void veb_count_out(__u32 slot, __u32 reason) {
  struct veb_port_drops *c = bpf_map_lookup_elem(&veb_counters, &slot);
  if (c && reason < VEB_NUM_DROP_REASONS) c->out[reason] += 1;
}

static __always_inline void veb_count_refused(struct veb_bridge_counters *b, __u32 why) {
  if (b && why < VEB_NUM_LEARN_REFUSALS) b->refused[why] += 1;
}

#endif /* VEB_DATAPLANE_EBPF_COUNTERS_BPF_H_ */
