/* The kernel engine's shared layout: the keys and values of every BPF map of
 * one kernel bridge, read by the BPF program (veb.bpf.c) and written by its
 * control plane (kernel_bridge.cc). Plain C with fixed-width types, so both
 * compilers lay the structs out the same way; the reason indices come from
 * dataplane/drop_reason_list.h, the list the userspace engine uses.
 *
 * Bump VEB_LAYOUT_VERSION on any change to a struct or map below: a restarted
 * vebd adopts pinned maps only when the pinned version matches.
 *
 * Thread-safety: declarations only. In the maps, the program reads while the
 * control plane writes; see kernel_bridge.h for the update rules. */
#ifndef VEB_DATAPLANE_EBPF_VEB_LAYOUT_H_
#define VEB_DATAPLANE_EBPF_VEB_LAYOUT_H_

#include <linux/types.h>

#include "dataplane/drop_reason_list.h"

#define VEB_LAYOUT_VERSION 2

#define VEB_MAX_PORTS 4096       /* member + span port slots per bridge */
#define VEB_MAX_RULES 16384      /* rule entries per bridge (in and out lists) */
#define VEB_MAX_RULES_PER_LIST 1024
#define VEB_MAX_FRAME_LEN 65553  /* kMaxFrameLen: 64 KiB + Ethernet + 802.1Q */
#define VEB_EVENTS_BYTES (256 * 1024) /* ring buffer of address events */

/* Drop reasons and learn refusals: VEB_DROP_LINK_DOWN, ..., VEB_NUM_DROP_REASONS;
 * VEB_REFUSED_TABLE_FULL, ..., VEB_NUM_LEARN_REFUSALS. Same order as the C++
 * enums (the C++ side checks it at compile time). */
#define VEB_C_DROP_(e, name, proto) VEB_DROP_##proto,
#define VEB_C_REFUSED_(e, name, proto) VEB_REFUSED_##proto,
enum veb_drop_reason { VEB_DROP_REASONS(VEB_C_DROP_) VEB_NUM_DROP_REASONS };
enum veb_learn_refusal { VEB_LEARN_REFUSALS(VEB_C_REFUSED_) VEB_NUM_LEARN_REFUSALS };
#undef VEB_C_DROP_
#undef VEB_C_REFUSED_

/* A port is named by slot and generation (PortRef): gen << 32 | slot. */
#define VEB_PORT_REF(slot, gen) (((__u64)(gen) << 32) | (__u32)(slot))
#define VEB_REF_SLOT(ref) ((__u32)(ref))

/* ---- bridge: ARRAY[1] "veb_cfg" ------------------------------------------ */
struct veb_bridge_cfg {
  __u32 version;          /* VEB_LAYOUT_VERSION */
  __u8 up;                /* S1 */
  __u8 allow_svlan;       /* S3 */
  __u8 allow_reserved;    /* S9 */
  __u8 pad0;
  __u32 max_addresses;    /* S7: static + dynamic */
  __u32 n_members;        /* valid entries of veb_members */
  __u32 n_spans;          /* valid entries of veb_spans */
  __u32 pad1;
  __u64 timeout_ns;       /* S7: dynamic entry lifetime */
  /* A dynamic entry's last-seen time is rewritten only when it is older than
   * this (0: on every frame), so the fast path does not dirty the entry's
   * cache line on every frame. */
  __u64 refresh_ns;
};

/* ---- ports: ARRAY[VEB_MAX_PORTS] "veb_ports", by slot --------------------- */
enum veb_port_flags {
  VEB_PF_MEMBER = 1u << 0,
  VEB_PF_SPAN = 1u << 1,
  VEB_PF_RUNNING = 1u << 2,    /* S1: carrier and operational state */
  VEB_PF_LEARNING = 1u << 3,   /* S7 */
  VEB_PF_DISCOVER = 1u << 4,   /* S9 */
  VEB_PF_BLOCKNONIP = 1u << 5, /* S4 */
  VEB_PF_LOCKED = 1u << 6,     /* S6 */
  VEB_PF_VETH = 1u << 7,       /* known unicast uses bpf_redirect_peer */
  VEB_PF_TAGGED = 1u << 8,     /* has tagged VIDs: veb_vlans has its bitmap */
};

struct veb_port {
  __u32 ifindex;
  __u32 gen;                /* 0: free slot */
  __u32 flags;              /* enum veb_port_flags */
  __u16 pvid;               /* 0: none (S3) */
  __u16 pad0;
  __u32 protected_domains;  /* S10: bit d = domain d */
  __u32 max_addresses;      /* S7: the port's own limit, 0 = none */
  __u32 mtu;                /* payload after the L2 header */
  /* Rule lists (S5) as start | count << 16 into veb_rules: one 32-bit word
   * each, so a list is replaced with one store. */
  __u32 rules_in;
  __u32 rules_out;
};

/* ---- VLAN membership: HASH slot -> bitmap "veb_vlans" (ports with tagged VIDs) */
struct veb_vlan_bitmap {
  __u64 bits[4096 / 64];
};

/* ---- ifindex -> slot: HASH "veb_ifindex" ---------------------------------- */
/* key: __u32 ifindex; value: __u32 slot */

/* ---- flood and span lists: ARRAY[VEB_MAX_PORTS] of __u32 slot ------------- */

/* ---- FDB: HASH (VID, MAC) -> entry "veb_fdb" ------------------------------ */
struct veb_fdb_key {
  __u16 vid;
  __u8 mac[6];
};

struct veb_fdb_entry {
  __u64 port;          /* VEB_PORT_REF */
  __u64 last_seen_ns;  /* dynamic entries (bpf_ktime_get_ns clock) */
  __u32 is_static;
  __u32 pad;
};

/* ---- entry counts: mmapable ARRAY[VEB_MAX_PORTS + 1] of __u64 "veb_fdb_counts"
 * index slot: entries (static + dynamic) on the port; index VEB_MAX_PORTS:
 * entries in the table. Updated with atomic adds by both sides; a learn
 * reserves its table place with a fetch-add first, so a flood of new sources
 * from many CPUs never takes the table past max_addresses. */
#define VEB_COUNT_TOTAL VEB_MAX_PORTS

/* ---- rules: ARRAY[VEB_MAX_RULES] "veb_rules" ----------------------------- */
enum veb_rule_flags {
  VEB_RF_PASS = 1u << 0, /* else block */
  VEB_RF_SRC = 1u << 1,
  VEB_RF_DST = 1u << 2,
  VEB_RF_VID = 1u << 3,
  VEB_RF_ARP = 1u << 4,  /* ARP match (opcodes 1/2) */
  VEB_RF_RARP = 1u << 5, /* RARP match (opcodes 3/4) */
  VEB_RF_SHA = 1u << 6,
  VEB_RF_SPA = 1u << 7,
  VEB_RF_THA = 1u << 8,
  VEB_RF_TPA = 1u << 9,
};

struct veb_rule {
  __u32 flags;
  __u16 vid;
  __u16 arp_op;  /* 0: any opcode of the kind */
  __u64 src;     /* MACs as 48-bit numbers, first octet most significant */
  __u64 dst;
  __u64 sha;
  __u64 tha;
  __u32 spa;     /* host order */
  __u32 tpa;
};

/* ---- counters, by slot (S11) -------------------------------------------------
 * What every frame touches, PERCPU_ARRAY[VEB_MAX_PORTS] "veb_hot" (an index,
 * no hashing), and the per-reason drops, touched only on a drop,
 * PERCPU_HASH slot -> veb_port_drops "veb_counters" (allocated per port). */
struct veb_port_hot {
  __u64 rx_packets;
  __u64 rx_bytes;
  __u64 tx_packets;
  __u64 tx_bytes;
  __u64 unicast;
  __u64 flooded;
};

struct veb_port_drops {
  __u64 in[VEB_NUM_DROP_REASONS];
  __u64 out[VEB_NUM_DROP_REASONS];
};

/* ---- bridge counters: PERCPU_ARRAY[1] "veb_bcounters" --------------------- */
struct veb_bridge_counters {
  __u64 learned;
  __u64 moved;
  __u64 expired;  /* expired entries relearned before the sweep removed them */
  __u64 refused[VEB_NUM_LEARN_REFUSALS];
  __u64 flooded;
  __u64 events_lost;  /* ring buffer full: the sweep reconciles */
};

/* ---- address events: RINGBUF "veb_events" --------------------------------- */
enum veb_event_kind {
  VEB_EV_LEARNED = 0,
  VEB_EV_MOVED = 1,
  VEB_EV_EXPIRED = 2,
};

struct veb_event {
  __u32 kind;
  __u16 vid;
  __u8 mac[6];
  __u64 port;
  __u64 old_port;   /* VEB_EV_MOVED */
  __u64 age_ns;     /* VEB_EV_EXPIRED */
};

/* ---- test hook (veb_test.bpf.o only) ------------------------------------- */
/* ARRAY[1] "veb_test_ctl": what a BPF_PROG_TEST_RUN frame arrives on. */
struct veb_test_ctl {
  __u32 rx_slot;
  __u32 pad;
  __u64 now_ns;
};

enum veb_test_verdict {
  VEB_TV_DROP = 0,
  VEB_TV_UNICAST = 1,
  VEB_TV_FLOOD = 2,
  VEB_TV_NOT_SWITCHED = 3,
};

enum veb_tag_op { VEB_TAG_KEEP = 0, VEB_TAG_STRIP = 1, VEB_TAG_PUSH = 2, VEB_TAG_REWRITE = 3 };

/* ARRAY[2 * VEB_MAX_PORTS] "veb_test_copies": every copy the frame produced,
 * in order (span copies first). */
struct veb_test_copy {
  __u32 slot;
  __u8 span;
  __u8 tag_op;   /* enum veb_tag_op */
  __u16 tci;
  __u32 len;     /* as it leaves: the length of the egress frame */
  __u32 pad;
};

/* ARRAY[1] "veb_test_out": the outcome of the last test run. */
struct veb_test_out {
  __u32 verdict;  /* enum veb_test_verdict */
  __u32 reason;   /* VEB_TV_DROP: enum veb_drop_reason */
  __u32 n_copies;
  __u32 pad;
};

#endif /* VEB_DATAPLANE_EBPF_VEB_LAYOUT_H_ */
