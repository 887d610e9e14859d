/* Per-CPU counters (S11): one cell per port slot per CPU, and the bridge's
 * learning counters. Nothing here takes a lock or an atomic instruction: a
 * TC program runs with preemption disabled, so a CPU's cell has one writer. */
#ifndef VEB_DATAPLANE_EBPF_COUNTERS_BPF_H_
#define VEB_DATAPLANE_EBPF_COUNTERS_BPF_H_

#include "dataplane/ebpf/maps.bpf.h"

static __always_inline struct veb_port_counters *veb_port_cells(__u32 slot) {
  return bpf_map_lookup_elem(&veb_counters, &slot);
}

static __always_inline struct veb_bridge_counters *veb_bridge_cells(void) {
  __u32 zero = 0;
  return bpf_map_lookup_elem(&veb_bcounters, &zero);
}

/* A frame ends on input under `reason` (S11). */
static __always_inline void veb_count_in(struct veb_port_counters *c, __u32 reason) {
  if (c && reason < VEB_NUM_DROP_REASONS) c->in[reason] += 1;
}

/* A copy the port would have sent is not sent, for `reason` (S11). */
static __always_inline void veb_count_out(struct veb_port_counters *c, __u32 reason) {
  if (c && reason < VEB_NUM_DROP_REASONS) c->out[reason] += 1;
}

static __always_inline void veb_count_refused(struct veb_bridge_counters *b, __u32 why) {
  if (b && why < VEB_NUM_LEARN_REFUSALS) b->refused[why] += 1;
}

#endif /* VEB_DATAPLANE_EBPF_COUNTERS_BPF_H_ */
