// Software offloads for egress backends that carry no virtio_net_hdr (AF_XDP):
// a frame received with a vnet header (AF_PACKET, TAP) may be a GSO
// super-frame or carry a partial checksum, and must leave such a port as the
// wire frames the sending stack meant: segmented and checksummed in software
// (docs/design.md §4, "Linux backends").
//
// Supported: GSO TCPv4/TCPv6 (with ECN: CWR on the first segment only) and
// UDP_L4 (UDP_SEGMENT) over IPv4/IPv6 without extension headers, behind at
// most one 802.1Q tag; any NEEDS_CSUM frame. Legacy UFO (IP fragmentation)
// and IPv6 extension headers are refused (the caller counts a tx_error).
//
// Thread-safety: pure functions on caller-owned memory.
#ifndef VEB_DATAPLANE_LINUX_SOFT_OFFLOAD_H_
#define VEB_DATAPLANE_LINUX_SOFT_OFFLOAD_H_

#include <cstdint>

#include "absl/functional/function_ref.h"
#include "dataplane/linux/vnet_hdr.h"

namespace veb {

// Returns a buffer of at least `len` bytes for the next wire frame, or
// nullptr when there is no room (the rest of the frame is then dropped).
using SegmentBufferFn = absl::FunctionRef<uint8_t*(uint32_t len)>;
// Called after each wire frame has been written into its buffer.
using SegmentDoneFn = absl::FunctionRef<void(uint8_t* buf, uint32_t len)>;

enum class SoftOffloadResult {
  kOk,           // every wire frame was written and reported
  kNoBuffer,     // the buffer function ran out after some frames
  kUnsupported,  // a GSO type or header layout listed above as refused
  kMalformed,    // headers inconsistent with the vnet header or the length
};

// Writes the wire frames of `frame` (`len` bytes, described by `vh`):
// unchanged when `vh` asks for nothing, checksum completed for NEEDS_CSUM,
// segmented to at most gso_size payload bytes per frame for GSO.
SoftOffloadResult SoftOffload(const uint8_t* frame, uint32_t len,
                              const virtio_net_hdr& vh, SegmentBufferFn buffer,
                              SegmentDoneFn done);

// A received wire frame whose TCP/UDP checksum is still partial: veth hands
// XDP the sender's CHECKSUM_PARTIAL frames as they are (the checksum field
// holds the pseudo-header sum; nothing in XDP says so). Completes the
// checksum in place when it does not verify and the field holds exactly the
// pseudo-header sum of the frame's addresses and length; returns whether it
// did. Valid checksums, other protocols, fragments and IPv6 extension
// headers are left alone. Bounds-checked against `len` and the IP length.
bool CompletePartialChecksum(uint8_t* frame, uint32_t len);

// The Internet checksum of `len` bytes starting from `initial` (an unfolded
// 32-bit partial sum), folded and complemented.
uint16_t InternetChecksum(const uint8_t* data, uint32_t len, uint32_t initial);

}  // namespace veb

#endif  // VEB_DATAPLANE_LINUX_SOFT_OFFLOAD_H_
