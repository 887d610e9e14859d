#include "dataplane/frame.h"

#include <cstring>

namespace veb {
namespace {

inline uint16_t Load16(const uint8_t* p) {
  return static_cast<uint16_t>((p[0] << 8) | p[1]);
}
inline uint32_t Load32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) |
         (uint32_t{p[2]} << 8) | p[3];
}
inline void Store16(uint16_t v, uint8_t* p) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

}  // namespace

uint32_t TxFrameLength(const TxFrame& frame) {
  switch (frame.op) {
    case TagOp::kStrip:
      return frame.len - kVlanTagLen;
    case TagOp::kPush:
      return frame.len + kVlanTagLen;
    default:
      return frame.len;
  }
}

uint32_t WriteTxFrame(const TxFrame& frame, uint8_t* out) {
  const uint8_t* in = frame.data;
  switch (frame.op) {
    case TagOp::kKeep:
      if (frame.len != 0) std::memcpy(out, in, frame.len);  // S2: a span copy may be empty
      return frame.len;
    case TagOp::kStrip:
      std::memcpy(out, in, 12);
      std::memcpy(out + 12, in + 16, frame.len - 16);
      return frame.len - kVlanTagLen;
    case TagOp::kPush:
      std::memcpy(out, in, 12);
      Store16(kEtherTypeVlan, out + 12);
      Store16(frame.tci, out + 14);
      std::memcpy(out + 16, in + 12, frame.len - 12);
      return frame.len + kVlanTagLen;
    case TagOp::kRewrite:
      std::memcpy(out, in, frame.len);
      Store16(frame.tci, out + 14);
      return frame.len;
  }
  return 0;
}

std::optional<DropReason> ParseFrame(const uint8_t* data, uint32_t len,
                                     bool allow_svlan, ParsedFrame* out) {
  if (len < kEtherHeaderLen) return DropReason::kRunt;
  if (len > kMaxFrameLen) return DropReason::kTooBig;
  out->dst = LoadMac(data);
  out->src = LoadMac(data + 6);
  uint16_t type = Load16(data + 12);
  out->wire_tagged = false;
  out->tci = 0;
  out->l2_len = kEtherHeaderLen;
  if (type == kEtherTypeVlan) {
    if (len < kEtherHeaderLen + kVlanTagLen) return DropReason::kRunt;
    out->wire_tagged = true;
    out->tci = Load16(data + 14);
    type = Load16(data + 16);
    out->l2_len = kEtherHeaderLen + kVlanTagLen;
    if (type == kEtherTypeVlan || type == kEtherTypeSvlan) {
      return DropReason::kDoubleTagged;
    }
  } else if (type == kEtherTypeSvlan && !allow_svlan) {
    return DropReason::kSvlan;
  }
  out->ether_type = type;
  if ((type == kEtherTypeArp || type == kEtherTypeRarp) &&
      len < out->l2_len + kArpBodyLen) {
    return DropReason::kRunt;
  }
  return std::nullopt;
}

bool ParseArp(const uint8_t* data, uint32_t len, const ParsedFrame& frame,
              ArpFields* out) {
  if (frame.ether_type != kEtherTypeArp && frame.ether_type != kEtherTypeRarp) {
    return false;
  }
  if (len < frame.l2_len + kArpBodyLen) return false;
  const uint8_t* a = data + frame.l2_len;
  if (Load16(a) != 1 || Load16(a + 2) != kEtherTypeIpv4 || a[4] != 6 ||
      a[5] != 4) {
    return false;
  }
  out->op = Load16(a + 6);
  out->sha = LoadMac(a + 8);
  out->spa = Load32(a + 14);
  out->tha = LoadMac(a + 18);
  out->tpa = Load32(a + 24);
  return true;
}

}  // namespace veb
