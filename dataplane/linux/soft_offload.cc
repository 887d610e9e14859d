#include "dataplane/linux/soft_offload.h"

#include <algorithm>
#include <cstring>

#include "dataplane/frame.h"

namespace veb {
namespace {

constexpr uint8_t kProtoTcp = 6;
constexpr uint8_t kProtoUdp = 17;
constexpr uint8_t kTcpFin = 0x01;
constexpr uint8_t kTcpPsh = 0x08;
constexpr uint8_t kTcpCwr = 0x80;

uint64_t PartialSum(const uint8_t* d, uint32_t len, uint64_t acc) {
  for (; len >= 2; d += 2, len -= 2) acc += static_cast<uint32_t>(d[0] << 8 | d[1]);
  if (len != 0) acc += static_cast<uint32_t>(d[0] << 8);
  return acc;
}

uint16_t Load16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
void Store16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}
uint32_t Load32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 |
         static_cast<uint32_t>(p[2]) << 8 | p[3];
}
void Store32(uint8_t* p, uint32_t v) {
  Store16(p, static_cast<uint16_t>(v >> 16));
  Store16(p + 2, static_cast<uint16_t>(v));
}

// Where the headers of a GSO frame are.
struct Layout {
  uint32_t l3 = 0;   // IP header
  uint32_t l4 = 0;   // TCP/UDP header
  uint32_t hdr = 0;  // first payload byte
  bool v4 = false;
  uint8_t proto = 0;
};

SoftOffloadResult ParseLayout(const uint8_t* f, uint32_t len, Layout* out) {
  if (len < kEtherHeaderLen) return SoftOffloadResult::kMalformed;
  uint32_t l3 = kEtherHeaderLen;
  uint16_t type = Load16(f + 12);
  if (type == kEtherTypeVlan) {
    if (len < kEtherHeaderLen + kVlanTagLen) return SoftOffloadResult::kMalformed;
    l3 += kVlanTagLen;
    type = Load16(f + 16);
  }
  if (type == kEtherTypeIpv4) {
    if (len < l3 + 20 || (f[l3] >> 4) != 4) return SoftOffloadResult::kMalformed;
    const uint32_t ihl = (f[l3] & 0xfu) * 4u;
    if (ihl < 20 || len < l3 + ihl) return SoftOffloadResult::kMalformed;
    out->v4 = true;
    out->proto = f[l3 + 9];
    out->l4 = l3 + ihl;
  } else if (type == kEtherTypeIpv6) {
    if (len < l3 + 40 || (f[l3] >> 4) != 6) return SoftOffloadResult::kMalformed;
    out->v4 = false;
    out->proto = f[l3 + 6];
    out->l4 = l3 + 40;
    if (out->proto != kProtoTcp && out->proto != kProtoUdp) {
      return SoftOffloadResult::kUnsupported;  // extension headers
    }
  } else {
    return SoftOffloadResult::kUnsupported;
  }
  out->l3 = l3;
  if (out->proto == kProtoTcp) {
    if (len < out->l4 + 20) return SoftOffloadResult::kMalformed;
    const uint32_t thl = (f[out->l4 + 12] >> 4) * 4u;
    if (thl < 20 || len < out->l4 + thl) return SoftOffloadResult::kMalformed;
    out->hdr = out->l4 + thl;
  } else if (out->proto == kProtoUdp) {
    if (len < out->l4 + 8) return SoftOffloadResult::kMalformed;
    out->hdr = out->l4 + 8;
  } else {
    return SoftOffloadResult::kUnsupported;
  }
  return SoftOffloadResult::kOk;
}

// Pseudo-header sum for a transport segment of `l4_len` bytes.
uint64_t PseudoSum(const uint8_t* f, const Layout& l, uint32_t l4_len) {
  uint64_t acc = l.v4 ? PartialSum(f + l.l3 + 12, 8, 0) : PartialSum(f + l.l3 + 8, 32, 0);
  return acc + l.proto + (l4_len >> 16) + (l4_len & 0xffff);
}

uint16_t Fold(uint64_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<uint16_t>(~acc & 0xffff);
}

// Rewrites lengths, IDs, sequence numbers, flags and checksums of segment
// `i` (already holding headers + payload, `seg_len` bytes).
void FixSegment(uint8_t* s, uint32_t seg_len, const Layout& l, uint32_t i,
                bool last, uint32_t mss) {
  if (l.v4) {
    Store16(s + l.l3 + 2, static_cast<uint16_t>(seg_len - l.l3));
    Store16(s + l.l3 + 4, static_cast<uint16_t>(Load16(s + l.l3 + 4) + i));
    Store16(s + l.l3 + 10, 0);
    Store16(s + l.l3 + 10, Fold(PartialSum(s + l.l3, l.l4 - l.l3, 0)));
  } else {
    Store16(s + l.l3 + 4, static_cast<uint16_t>(seg_len - l.l4));
  }
  const uint32_t l4_len = seg_len - l.l4;
  uint32_t csum_at;
  if (l.proto == kProtoTcp) {
    Store32(s + l.l4 + 4, Load32(s + l.l4 + 4) + i * mss);
    uint8_t flags = s[l.l4 + 13];
    if (!last) flags &= static_cast<uint8_t>(~(kTcpFin | kTcpPsh));
    if (i != 0) flags &= static_cast<uint8_t>(~kTcpCwr);
    s[l.l4 + 13] = flags;
    csum_at = l.l4 + 16;
  } else {
    Store16(s + l.l4 + 4, static_cast<uint16_t>(l4_len));
    csum_at = l.l4 + 6;
  }
  Store16(s + csum_at, 0);
  uint16_t c = Fold(PartialSum(s + l.l4, l4_len, PseudoSum(s, l, l4_len)));
  if (c == 0 && l.proto == kProtoUdp) c = 0xffff;
  Store16(s + csum_at, c);
}

}  // namespace

bool CompletePartialChecksum(uint8_t* f, uint32_t len) {
  Layout l;
  if (ParseLayout(f, len, &l) != SoftOffloadResult::kOk) return false;
  uint32_t l4_len;
  if (l.v4) {
    if ((Load16(f + l.l3 + 6) & 0x3fff) != 0) return false;  // a fragment
    const uint32_t total = Load16(f + l.l3 + 2);
    if (total < l.l4 - l.l3 || l.l3 + total > len) return false;
    l4_len = total - (l.l4 - l.l3);
  } else {
    l4_len = Load16(f + l.l3 + 4);
    if (l.l4 + l4_len > len) return false;
  }
  const uint32_t at = l.l4 + (l.proto == kProtoTcp ? 16 : 6);
  if (at + 2 > l.l4 + l4_len) return false;
  const uint16_t field = Load16(f + at);
  if (l.proto == kProtoUdp && field == 0) return false;  // no checksum (IPv4)
  const uint64_t pseudo = PseudoSum(f, l, l4_len);
  if (Fold(PartialSum(f + l.l4, l4_len, pseudo)) == 0) return false;  // verifies
  if (field != static_cast<uint16_t>(~Fold(pseudo))) return false;  // not partial
  uint16_t c = Fold(PartialSum(f + l.l4, l4_len, 0));
  if (c == 0 && l.proto == kProtoUdp) c = 0xffff;
  Store16(f + at, c);
  return true;
}

uint16_t InternetChecksum(const uint8_t* data, uint32_t len, uint32_t initial) {
  return Fold(PartialSum(data, len, initial));
}

SoftOffloadResult SoftOffload(const uint8_t* frame, uint32_t len,
                              const virtio_net_hdr& vh, SegmentBufferFn buffer,
                              SegmentDoneFn done) {
  const uint8_t gso = vh.gso_type & static_cast<uint8_t>(~VIRTIO_NET_HDR_GSO_ECN);
  if (gso == VIRTIO_NET_HDR_GSO_NONE) {
    const bool csum = (vh.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) != 0;
    if (csum && (vh.csum_start >= len ||
                 uint32_t{vh.csum_start} + vh.csum_offset + 2 > len)) {
      return SoftOffloadResult::kMalformed;
    }
    uint8_t* out = buffer(len);
    if (out == nullptr) return SoftOffloadResult::kNoBuffer;
    std::memcpy(out, frame, len);
    if (csum) {
      // The field holds the pseudo-header sum; the sum over [start, end)
      // including it, folded and complemented, is the checksum.
      uint8_t* field = out + vh.csum_start + vh.csum_offset;
      uint16_t c = Fold(PartialSum(out + vh.csum_start, len - vh.csum_start, 0));
      if (c == 0 && vh.csum_offset == 6) c = 0xffff;  // UDP: 0 means none
      Store16(field, c);
    }
    done(out, len);
    return SoftOffloadResult::kOk;
  }
  Layout l;
  if (auto r = ParseLayout(frame, len, &l); r != SoftOffloadResult::kOk) return r;
  const bool tcp = gso == VIRTIO_NET_HDR_GSO_TCPV4 || gso == VIRTIO_NET_HDR_GSO_TCPV6;
  if (gso == VIRTIO_NET_HDR_GSO_UDP) return SoftOffloadResult::kUnsupported;  // UFO
  if (tcp ? (l.proto != kProtoTcp || l.v4 != (gso == VIRTIO_NET_HDR_GSO_TCPV4))
          : (gso != VIRTIO_NET_HDR_GSO_UDP_L4 || l.proto != kProtoUdp)) {
    return tcp ? SoftOffloadResult::kMalformed : SoftOffloadResult::kUnsupported;
  }
  const uint32_t mss = vh.gso_size;
  if (mss == 0) return SoftOffloadResult::kMalformed;
  const uint32_t payload = len - l.hdr;
  const uint32_t count = payload == 0 ? 1 : (payload + mss - 1) / mss;
  for (uint32_t i = 0; i < count; ++i) {
    const uint32_t off = i * mss;
    const uint32_t plen = std::min(mss, payload - off);
    const uint32_t seg_len = l.hdr + plen;
    uint8_t* s = buffer(seg_len);
    if (s == nullptr) return SoftOffloadResult::kNoBuffer;
    std::memcpy(s, frame, l.hdr);
    std::memcpy(s + l.hdr, frame + l.hdr + off, plen);
    FixSegment(s, seg_len, l, i, i + 1 == count, mss);
    done(s, seg_len);
  }
  return SoftOffloadResult::kOk;
}

}  // namespace veb
