// Frames as the pipeline sees them: a received frame is a view into the
// backend's buffer (never copied by the switch); a transmitted frame is that view
// plus the VLAN tag operation its egress port needs (S3), applied by the backend
// while it copies into its own TX buffer, so floods and tag changes never copy in
// the pipeline. Parsing is bounds-checked: every malformed frame is reported as a
// DropReason. Thread-safety: pure functions on caller-owned memory.
#ifndef VEB_DATAPLANE_FRAME_H_
#define VEB_DATAPLANE_FRAME_H_

#include <cstdint>
#include <optional>

#include "dataplane/drop_reason.h"
#include "dataplane/mac_address.h"

namespace veb {

inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr uint16_t kEtherTypeArp = 0x0806;
inline constexpr uint16_t kEtherTypeRarp = 0x8035;
inline constexpr uint16_t kEtherTypeIpv6 = 0x86dd;
inline constexpr uint16_t kEtherTypeVlan = 0x8100;  // 802.1Q C-tag
inline constexpr uint16_t kEtherTypeSvlan = 0x88a8;  // 802.1ad S-tag
inline constexpr uint32_t kEtherHeaderLen = 14;
inline constexpr uint32_t kVlanTagLen = 4;
inline constexpr uint32_t kArpBodyLen = 28;  // Ethernet/IPv4 ARP
// Largest frame the switch accepts (a GSO super-frame plus headers).
inline constexpr uint32_t kMaxFrameLen = 65535 + kEtherHeaderLen + kVlanTagLen;
inline constexpr uint16_t kVidMax = 4095;

// Opaque offload metadata from the receiving backend (virtio_net_hdr), carried
// through to the egress backend untouched.
struct OffloadInfo {
  bool gso = false;                  // a GSO super-frame: exempt from the MTU check
  const uint8_t* vnet_hdr = nullptr;  // backend-specific, may be null
};

struct RxFrame {
  const uint8_t* data = nullptr;
  uint32_t len = 0;
  OffloadInfo offload;
};

enum class TagOp : uint8_t {
  kKeep,     // leave the frame as received
  kStrip,    // remove the 802.1Q tag
  kPush,     // insert an 802.1Q tag with `tci`
  kRewrite,  // replace the VID of the existing tag (priority tag -> PVID)
};

struct TxFrame {
  const uint8_t* data = nullptr;
  uint32_t len = 0;
  TagOp op = TagOp::kKeep;
  uint16_t tci = 0;  // tag control info for kPush/kRewrite
  OffloadInfo offload;
};

// Length of the frame as it leaves the switch.
uint32_t TxFrameLength(const TxFrame& frame);
// Writes the egress frame into `out`, which must hold TxFrameLength() bytes.
// Returns the number of bytes written.
uint32_t WriteTxFrame(const TxFrame& frame, uint8_t* out);

// Layer 2 view of a received frame.
struct ParsedFrame {
  Mac dst = 0;
  Mac src = 0;
  uint16_t ether_type = 0;   // after an 802.1Q tag, if any
  uint16_t tci = 0;          // the wire tag's TCI when wire_tagged
  uint16_t vid = 0;          // the VLAN the frame belongs to (assigned later)
  uint16_t l2_len = 0;       // 14 or 18
  bool wire_tagged = false;  // carried an 802.1Q C-tag
};

// Parses Ethernet and at most one 802.1Q tag. Returns a drop reason for frames
// that are shorter than the headers they claim (runt), longer than
// kMaxFrameLen (too_big), double-tagged (a C-tag followed by a C- or S-tag),
// 802.1ad S-tagged when `allow_svlan` is false (svlan), or ARP/RARP frames
// whose body is truncated (runt). An allowed S-tagged frame is opaque: it is
// treated as untagged with ether_type 0x88a8.
std::optional<DropReason> ParseFrame(const uint8_t* data, uint32_t len,
                                     bool allow_svlan, ParsedFrame* out);

// True for the ether types blocknonip lets through (S4).
inline bool IsIpLike(uint16_t ether_type) {
  return ether_type == kEtherTypeIpv4 || ether_type == kEtherTypeArp ||
         ether_type == kEtherTypeRarp || ether_type == kEtherTypeIpv6;
}

// Ethernet/IPv4 ARP fields (S5). Only hrd 1, pro 0x0800, hln 6, pln 4 parse.
struct ArpFields {
  uint16_t op = 0;
  Mac sha = 0;
  uint32_t spa = 0;  // host order
  Mac tha = 0;
  uint32_t tpa = 0;  // host order
};
bool ParseArp(const uint8_t* data, uint32_t len, const ParsedFrame& frame,
              ArpFields* out);

}  // namespace veb

#endif  // VEB_DATAPLANE_FRAME_H_
