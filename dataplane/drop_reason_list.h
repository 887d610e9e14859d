// The reason lists of drop_reason.h as bare X-macros, with no C++ in them, so
// that the kernel engine's BPF C (dataplane/ebpf/) expands the same lists into
// its counter indices: one source of truth, indices cannot drift.
//
// Thread-safety: preprocessor definitions only.
#ifndef VEB_DATAPLANE_DROP_REASON_LIST_H_
#define VEB_DATAPLANE_DROP_REASON_LIST_H_

// X(enumerator, name, proto value suffix: DROP_REASON_<suffix> /
// LEARN_REFUSED_REASON_<suffix>, used only by the server)
#define VEB_DROP_REASONS(X)                                                   \
  X(kLinkDown, "link_down", LINK_DOWN)                                        \
  X(kUntagged, "untagged", UNTAGGED)                                          \
  X(kTaggedIn, "tagged_in", TAGGED_IN)                                        \
  X(kTaggedOut, "tagged_out", TAGGED_OUT)                                     \
  X(kDoubleTagged, "double_tagged", DOUBLE_TAGGED)                            \
  X(kSvlan, "svlan", SVLAN)                                                   \
  X(kBlockNonIpIn, "blocknonip_in", BLOCKNONIP_IN)                            \
  X(kBlockNonIpOut, "blocknonip_out", BLOCKNONIP_OUT)                         \
  X(kLocked, "locked", LOCKED)                                                \
  X(kRulesIn, "rules_in", RULES_IN)                                           \
  X(kRulesOut, "rules_out", RULES_OUT)                                        \
  X(kHairpin, "hairpin", HAIRPIN)                                             \
  X(kProtected, "protected", PROTECTED)                                       \
  X(kReservedAddress, "reserved_address", RESERVED_ADDRESS)                   \
  X(kRunt, "runt", RUNT)                                                      \
  X(kTooBig, "too_big", TOO_BIG)                                              \
  X(kTxError, "tx_error", TX_ERROR)                                           \
  X(kNoBuffer, "no_buffer", NO_BUFFER)

// X(enumerator, name, proto value suffix)
#define VEB_LEARN_REFUSALS(X)                                                 \
  /* max_addresses reached (S7) */                                            \
  X(kTableFull, "table_full", TABLE_FULL)                                     \
  /* the MAC is pinned by a static entry on another port (S7) */              \
  X(kStatic, "static_entry", STATIC_ENTRY)                                    \
  /* multicast or all-zero source MAC on a learning port: never learned */    \
  X(kInvalidSource, "invalid_source", INVALID_SOURCE)                         \
  /* the port holds its own max_addresses entries (S7) */                     \
  X(kPortFull, "port_full", PORT_FULL)

#endif  // VEB_DATAPLANE_DROP_REASON_LIST_H_
