// virtio_net_hdr handling shared by the AF_PACKET and TAP backends. Both use
// the 10-byte header (no num_buffers field): PACKET_VNET_HDR's fixed size and
// TUNSETVNETHDRSZ 10, so a header received on one backend is written back
// unchanged by the other. The header travels through the pipeline as
// OffloadInfo::vnet_hdr (a pointer into backend memory valid for the batch).
//
// When the switch changes the frame's length in front of the L3 header (an
// 802.1Q tag pushed or stripped, S3), csum_start/hdr_len move by the same
// delta, so partial checksums and GSO still apply to the right bytes.
//
// Thread-safety: pure functions on caller-owned memory.
#ifndef VEB_DATAPLANE_LINUX_VNET_HDR_H_
#define VEB_DATAPLANE_LINUX_VNET_HDR_H_

#include <cstdint>
#include <cstring>

#include "dataplane/frame.h"

namespace veb {

// struct virtio_net_hdr (<linux/virtio_net.h> does not compile as C++: it has
// a member named `class`). Little-endian fields (x86; legacy virtio).
struct virtio_net_hdr {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
};
inline constexpr uint8_t VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
inline constexpr uint8_t VIRTIO_NET_HDR_F_DATA_VALID = 2;
inline constexpr uint8_t VIRTIO_NET_HDR_GSO_NONE = 0;
inline constexpr uint8_t VIRTIO_NET_HDR_GSO_TCPV4 = 1;
inline constexpr uint8_t VIRTIO_NET_HDR_GSO_UDP = 3;
inline constexpr uint8_t VIRTIO_NET_HDR_GSO_TCPV6 = 4;
inline constexpr uint8_t VIRTIO_NET_HDR_GSO_UDP_L4 = 5;
inline constexpr uint8_t VIRTIO_NET_HDR_GSO_ECN = 0x80;

inline constexpr uint32_t kVnetHdrLen = sizeof(virtio_net_hdr);  // 10
static_assert(sizeof(virtio_net_hdr) == 10, "virtio_net_hdr layout");

// True when the header describes a GSO super-frame (exempt from the MTU check).
inline bool VnetIsGso(const virtio_net_hdr& h) {
  return (h.gso_type & ~VIRTIO_NET_HDR_GSO_ECN) != VIRTIO_NET_HDR_GSO_NONE;
}

// Writes the header for `frame` as it leaves the switch into `out`
// (kVnetHdrLen bytes): the received header adjusted for the tag operation, or
// an all-zero header (no offload) when the ingress backend had none.
// `full_linear`: set hdr_len to the whole frame length so that the kernel
// copies the frame instead of referencing ring pages (AF_PACKET TX ring: a
// slot is released when the skb is orphaned, e.g. by the receiving stack's
// ip_rcv, which may be before its page fragments are consumed).
inline void WriteVnetHdr(const TxFrame& frame, uint32_t out_len, bool full_linear,
                         uint8_t* out) {
  virtio_net_hdr h{};
  if (frame.offload.vnet_hdr != nullptr) {
    std::memcpy(&h, frame.offload.vnet_hdr, sizeof(h));
    const int32_t delta =
        static_cast<int32_t>(out_len) - static_cast<int32_t>(frame.len);
    if (delta != 0) {
      if (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
        h.csum_start = static_cast<uint16_t>(h.csum_start + delta);
      }
      if (h.hdr_len != 0) h.hdr_len = static_cast<uint16_t>(h.hdr_len + delta);
    }
  }
  if (full_linear && out_len <= 0xffff) h.hdr_len = static_cast<uint16_t>(out_len);
  std::memcpy(out, &h, sizeof(h));
}

}  // namespace veb

#endif  // VEB_DATAPLANE_LINUX_VNET_HDR_H_
