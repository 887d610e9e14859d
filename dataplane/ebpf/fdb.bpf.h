/* The forwarding database (S6, S7, S8): lookups that treat an expired dynamic
 * entry as a miss, and learning with its refusals. As MacTable::Lookup/Learn
 * (dataplane/mac_table.cc). The table cap is a reservation on the shared entry
 * count (a fetch-add before the insert), so concurrent learners never take the
 * table past max_addresses and nothing is ever evicted. Learn, move and
 * expired-relearn events go to the ring buffer; a full ring loses the event
 * (counted) and never blocks forwarding. */
#ifndef VEB_DATAPLANE_EBPF_FDB_BPF_H_
#define VEB_DATAPLANE_EBPF_FDB_BPF_H_

#include "dataplane/ebpf/counters.bpf.h"
#include "dataplane/ebpf/parse.bpf.h"

static __always_inline void veb_fdb_key_of(struct veb_fdb_key *k, __u16 vid, __u64 mac) {
  k->vid = vid;
  k->mac[0] = mac >> 40;
  k->mac[1] = mac >> 32;
  k->mac[2] = mac >> 24;
  k->mac[3] = mac >> 16;
  k->mac[4] = mac >> 8;
  k->mac[5] = mac;
}

static __always_inline int veb_fdb_expired(const struct veb_bridge_cfg *cfg,
                                           const struct veb_fdb_entry *e, __u64 now) {
  return !e->is_static && (__s64)(now - e->last_seen_ns) > (__s64)cfg->timeout_ns;
}

/* The live entry for (vid, mac), or NULL (S7: an expired entry is a miss). */
static __always_inline struct veb_fdb_entry *veb_fdb_lookup(const struct veb_bridge_cfg *cfg,
                                                            __u16 vid, __u64 mac, __u64 now) {
  struct veb_fdb_key k;
  veb_fdb_key_of(&k, vid, mac);
  struct veb_fdb_entry *e = bpf_map_lookup_elem(&veb_fdb, &k);
  if (!e || veb_fdb_expired(cfg, e, now)) return 0;
  return e;
}

static __always_inline void veb_fdb_count_add(__u32 idx, __u64 delta) {
  __u64 *c = bpf_map_lookup_elem(&veb_fdb_counts, &idx);
  if (c) __sync_fetch_and_add(c, delta);
}

static __always_inline int veb_port_full(const struct veb_port *rp, __u32 slot) {
  if (rp->max_addresses == 0) return 0;
  __u64 *c = bpf_map_lookup_elem(&veb_fdb_counts, &slot);
  return c && *c >= rp->max_addresses;
}

static __always_inline void veb_event(struct veb_bridge_counters *b, __u32 kind,
                                      const struct veb_fdb_key *k, __u64 port,
                                      __u64 old_port, __u64 age_ns) {
  struct veb_event ev = {.kind = kind, .vid = k->vid, .port = port,
                         .old_port = old_port, .age_ns = age_ns};
  __builtin_memcpy(ev.mac, k->mac, 6);
  if (bpf_ringbuf_output(&veb_events, &ev, sizeof(ev), 0) && b) b->events_lost += 1;
}

/* S7: maps f->src to the receiving port in f->vid, or refreshes it. */
static __always_inline void veb_learn(const struct veb_bridge_cfg *cfg,
                                      struct veb_bridge_counters *b,
                                      const struct veb_port *rp, __u32 slot,
                                      __u64 ref, const struct veb_frame *f, __u64 now) {
  struct veb_fdb_key k;
  veb_fdb_key_of(&k, f->vid, f->src);
  struct veb_fdb_entry *e = bpf_map_lookup_elem(&veb_fdb, &k);
  if (e) {
    const __u64 old = e->port;
    if (e->is_static) {  /* a static entry never moves */
      if (old != ref) veb_count_refused(b, VEB_REFUSED_STATIC_ENTRY);
      return;
    }
    const __u64 last = e->last_seen_ns;
    const int expired = (__s64)(now - last) > (__s64)cfg->timeout_ns;
    if (old == ref && !expired) {
      /* The common case: refresh, only when stale by refresh_ns. */
      if ((__s64)(now - last) > (__s64)cfg->refresh_ns) e->last_seen_ns = now;
      return;
    }
    /* A move onto a full port is refused too (else a flooder could take its
     * neighbours' entries). */
    if (old != ref && veb_port_full(rp, slot)) {
      veb_count_refused(b, VEB_REFUSED_PORT_FULL);
      return;
    }
    e->last_seen_ns = now;
    e->port = ref;
    if (old != ref) {
      veb_fdb_count_add(VEB_REF_SLOT(old) & (VEB_MAX_PORTS - 1), (__u64)-1);
      veb_fdb_count_add(slot, 1);
    }
    if (expired) {  /* expired, not yet swept: gone, then learned afresh */
      if (b) {
        b->expired += 1;
        b->learned += 1;
      }
      veb_event(b, VEB_EV_EXPIRED, &k, old, 0, now - last);
      veb_event(b, VEB_EV_LEARNED, &k, ref, 0, 0);
    } else {
      if (b) b->moved += 1;
      veb_event(b, VEB_EV_MOVED, &k, ref, old, 0);
    }
    return;
  }
  /* A new entry: reserve its place in the table first. */
  const __u32 total_idx = VEB_COUNT_TOTAL;
  __u64 *total = bpf_map_lookup_elem(&veb_fdb_counts, &total_idx);
  if (!total) return;
  if (__sync_fetch_and_add(total, 1) >= cfg->max_addresses) {
    __sync_fetch_and_add(total, (__u64)-1);
    veb_count_refused(b, VEB_REFUSED_TABLE_FULL);
    return;
  }
  if (veb_port_full(rp, slot)) {
    __sync_fetch_and_add(total, (__u64)-1);
    veb_count_refused(b, VEB_REFUSED_PORT_FULL);
    return;
  }
  struct veb_fdb_entry ne = {.port = ref, .last_seen_ns = now, .is_static = 0};
  const long err = bpf_map_update_elem(&veb_fdb, &k, &ne, BPF_NOEXIST);
  if (err) {
    __sync_fetch_and_add(total, (__u64)-1);
    /* -EEXIST: another CPU learned it first; else the map itself is full. */
    if (err != -17) veb_count_refused(b, VEB_REFUSED_TABLE_FULL);
    return;
  }
  veb_fdb_count_add(slot, 1);
  if (b) b->learned += 1;
  veb_event(b, VEB_EV_LEARNED, &k, ref, 0, 0);
}

#endif /* VEB_DATAPLANE_EBPF_FDB_BPF_H_ */
