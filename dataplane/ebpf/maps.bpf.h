/* The maps of one kernel bridge (layout: veb_layout.h). The loader
 * (kernel_bridge.cc) sizes veb_fdb to the bridge's max_addresses and pins every
 * map under <pin_root>/<bridge>/. */
#ifndef VEB_DATAPLANE_EBPF_MAPS_BPF_H_
#define VEB_DATAPLANE_EBPF_MAPS_BPF_H_

#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "dataplane/ebpf/veb_layout.h"

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct veb_bridge_cfg);
} veb_cfg SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, VEB_MAX_PORTS);
  __type(key, __u32);
  __type(value, struct veb_port);
} veb_ports SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, VEB_MAX_PORTS);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, __u32);
  __type(value, struct veb_vlan_bitmap);
} veb_vlans SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, VEB_MAX_PORTS);
  __type(key, __u32);
  __type(value, __u32);
} veb_ifindex SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, VEB_MAX_PORTS);
  __type(key, __u32);
  __type(value, __u32);
} veb_members SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, VEB_MAX_PORTS);
  __type(key, __u32);
  __type(value, __u32);
} veb_spans SEC(".maps");

/* max_entries is set by the loader (the bridge's max_addresses or more). */
struct {
  __uint(type, BPF_MAP_TYPE_HASH);
  __uint(max_entries, 1);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, struct veb_fdb_key);
  __type(value, struct veb_fdb_entry);
} veb_fdb SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, VEB_MAX_PORTS + 1);
  __uint(map_flags, BPF_F_MMAPABLE);
  __type(key, __u32);
  __type(value, __u64);
} veb_fdb_counts SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, VEB_MAX_RULES);
  __type(key, __u32);
  __type(value, struct veb_rule);
} veb_rules SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, VEB_MAX_PORTS);
  __type(key, __u32);
  __type(value, struct veb_port_hot);
} veb_hot SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_HASH);
  __uint(max_entries, VEB_MAX_PORTS);
  __uint(map_flags, BPF_F_NO_PREALLOC);
  __type(key, __u32);
  __type(value, struct veb_port_drops);
} veb_counters SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct veb_bridge_counters);
} veb_bcounters SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_RINGBUF);
  __uint(max_entries, VEB_EVENTS_BYTES);
} veb_events SEC(".maps");

#ifdef VEB_TEST_HOOK
struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct veb_test_ctl);
} veb_test_ctl SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 1);
  __type(key, __u32);
  __type(value, struct veb_test_out);
} veb_test_out SEC(".maps");

struct {
  __uint(type, BPF_MAP_TYPE_ARRAY);
  __uint(max_entries, 2 * VEB_MAX_PORTS);
  __type(key, __u32);
  __type(value, struct veb_test_copy);
} veb_test_copies SEC(".maps");
#endif

#endif /* VEB_DATAPLANE_EBPF_MAPS_BPF_H_ */
