#include "dataplane/linux/soft_offload.h"

#include <cstring>
#include <vector>

#include "gtest/gtest.h"

namespace veb {
namespace {

// Reference one's-complement sum (independent of the implementation).
uint32_t RefSum(const std::vector<uint8_t>& d, size_t from, size_t to, uint32_t acc = 0) {
  for (size_t i = from; i < to; i += 2) {
    acc += static_cast<uint32_t>(d[i] << 8) + (i + 1 < to ? d[i + 1] : 0);
  }
  return acc;
}
uint16_t RefFold(uint32_t acc) {
  while (acc >> 16) acc = (acc & 0xffff) + (acc >> 16);
  return static_cast<uint16_t>(acc);
}
uint16_t Get16(const std::vector<uint8_t>& d, size_t at) {
  return static_cast<uint16_t>(d[at] << 8 | d[at + 1]);
}
uint32_t Get32(const std::vector<uint8_t>& d, size_t at) {
  return static_cast<uint32_t>(Get16(d, at)) << 16 | Get16(d, at + 2);
}

// Ethernet + IPv4/IPv6 + TCP(20)/UDP(8) with `payload` bytes 0,1,2,...
std::vector<uint8_t> MakeFrame(bool v4, bool tcp, uint32_t payload, bool vlan = false) {
  std::vector<uint8_t> f;
  for (int i = 0; i < 12; ++i) f.push_back(static_cast<uint8_t>(i + 1));
  if (vlan) f.insert(f.end(), {0x81, 0x00, 0x00, 0x0a});
  f.insert(f.end(), {static_cast<uint8_t>(v4 ? 0x08 : 0x86), static_cast<uint8_t>(v4 ? 0x00 : 0xdd)});
  const uint8_t proto = tcp ? 6 : 17;
  const uint32_t l4_len = (tcp ? 20 : 8) + payload;
  if (v4) {
    const uint32_t tot = 20 + l4_len;
    f.insert(f.end(), {0x45, 0, static_cast<uint8_t>(tot >> 8), static_cast<uint8_t>(tot),
                       0x12, 0x34, 0x40, 0, 64, proto, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2});
  } else {
    f.insert(f.end(), {0x60, 0, 0, 0, static_cast<uint8_t>(l4_len >> 8),
                       static_cast<uint8_t>(l4_len), proto, 64});
    for (int i = 0; i < 32; ++i) f.push_back(static_cast<uint8_t>(0xf0 + (i % 16)));
  }
  if (tcp) {
    f.insert(f.end(), {0x30, 0x39, 0x14, 0x51, 0x00, 0x00, 0x10, 0x00, 0, 0, 0, 1,
                       0x50, static_cast<uint8_t>(0x80 | 0x10 | 0x08 | 0x01), 0xff, 0xff, 0, 0, 0, 0});
  } else {
    f.insert(f.end(), {0x30, 0x39, 0x14, 0x51, static_cast<uint8_t>(l4_len >> 8),
                       static_cast<uint8_t>(l4_len), 0, 0});
  }
  for (uint32_t i = 0; i < payload; ++i) f.push_back(static_cast<uint8_t>(i * 7));
  if (v4) {  // the sender's IPv4 header checksum
    const size_t l3 = vlan ? 18 : 14;
    const uint16_t c = static_cast<uint16_t>(~RefFold(RefSum(f, l3, l3 + 20)));
    f[l3 + 10] = static_cast<uint8_t>(c >> 8);
    f[l3 + 11] = static_cast<uint8_t>(c);
  }
  return f;
}

struct Out {
  std::vector<std::vector<uint8_t>> frames;
  std::vector<uint8_t> arena = std::vector<uint8_t>(70000 * 4);
  size_t used = 0;
  int limit = 1000;
};

SoftOffloadResult Offload(const std::vector<uint8_t>& f, const virtio_net_hdr& vh, Out* o) {
  return SoftOffload(
      f.data(), static_cast<uint32_t>(f.size()), vh,
      [&](uint32_t len) -> uint8_t* {
        if (o->limit-- <= 0 || o->used + len > o->arena.size()) return nullptr;
        uint8_t* p = o->arena.data() + o->used;
        o->used += len;
        return p;
      },
      [&](uint8_t* buf, uint32_t len) { o->frames.emplace_back(buf, buf + len); });
}

// Checks that `s` is a valid wire segment: lengths, IP and L4 checksums.
void ExpectValid(const std::vector<uint8_t>& s, bool v4, bool tcp, uint32_t l3 = 14) {
  const uint32_t l4 = l3 + (v4 ? 20 : 40);
  const uint32_t l4_len = static_cast<uint32_t>(s.size()) - l4;
  uint32_t pseudo;
  if (v4) {
    EXPECT_EQ(Get16(s, l3 + 2), s.size() - l3);
    EXPECT_EQ(RefFold(RefSum(s, l3, l4)), 0xffff) << "IPv4 header checksum";
    pseudo = RefSum(s, l3 + 12, l3 + 20);
  } else {
    EXPECT_EQ(Get16(s, l3 + 4), l4_len);
    pseudo = RefSum(s, l3 + 8, l3 + 40);
  }
  pseudo += (tcp ? 6 : 17) + l4_len;
  if (!tcp) EXPECT_EQ(Get16(s, l4 + 4), l4_len);
  EXPECT_EQ(RefFold(RefSum(s, l4, s.size(), pseudo)), 0xffff) << "L4 checksum";
}

TEST(SoftOffloadTest, Tcpv4SegmentsCarryValidHeadersAndThePayloadInOrder) {
  const auto f = MakeFrame(true, true, 3500);
  virtio_net_hdr vh{};
  vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV4 | VIRTIO_NET_HDR_GSO_ECN;
  vh.gso_size = 1000;
  vh.hdr_len = 54;
  vh.csum_start = 34;
  vh.csum_offset = 16;
  Out o;
  ASSERT_EQ(Offload(f, vh, &o), SoftOffloadResult::kOk);
  ASSERT_EQ(o.frames.size(), 4u);
  std::vector<uint8_t> payload;
  for (size_t i = 0; i < 4; ++i) {
    const auto& s = o.frames[i];
    EXPECT_EQ(s.size(), 54u + (i < 3 ? 1000u : 500u));
    ExpectValid(s, true, true);
    EXPECT_EQ(Get16(s, 18), 0x1234 + i) << "IP ID";
    EXPECT_EQ(Get32(s, 38), 0x1000u + 1000u * i) << "sequence";
    const uint8_t flags = s[47];
    EXPECT_EQ((flags & 0x80) != 0, i == 0) << "CWR on the first only";
    EXPECT_EQ((flags & 0x09) != 0, i == 3) << "FIN/PSH on the last only";
    EXPECT_TRUE(flags & 0x10) << "ACK everywhere";
    payload.insert(payload.end(), s.begin() + 54, s.end());
  }
  EXPECT_EQ(payload, std::vector<uint8_t>(f.begin() + 54, f.end()));
}

TEST(SoftOffloadTest, Tcpv6BehindAVlanTagAndUdpL4) {
  const auto f = MakeFrame(false, true, 2000, /*vlan=*/true);
  virtio_net_hdr vh{};
  vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;
  vh.gso_size = 1440;
  Out o;
  ASSERT_EQ(Offload(f, vh, &o), SoftOffloadResult::kOk);
  ASSERT_EQ(o.frames.size(), 2u);
  for (const auto& s : o.frames) ExpectValid(s, false, true, 18);
  EXPECT_EQ(o.frames[1].size(), 18u + 40 + 20 + 560);

  const auto u = MakeFrame(true, false, 2500);
  vh = virtio_net_hdr{};
  vh.gso_type = VIRTIO_NET_HDR_GSO_UDP_L4;
  vh.gso_size = 1200;
  Out ou;
  ASSERT_EQ(Offload(u, vh, &ou), SoftOffloadResult::kOk);
  ASSERT_EQ(ou.frames.size(), 3u);
  for (const auto& s : ou.frames) ExpectValid(s, true, false);
  EXPECT_EQ(ou.frames[2].size(), 14u + 20 + 8 + 100);
}

TEST(SoftOffloadTest, PartialChecksumIsCompletedLikeTheKernel) {
  for (bool tcp : {true, false}) {
    auto f = MakeFrame(true, tcp, 333);
    const uint32_t l4_len = static_cast<uint32_t>(f.size()) - 34;
    const size_t at = 34 + (tcp ? 16 : 6);
    // The sender's convention: the field holds the folded pseudo-header sum.
    const uint16_t pseudo = RefFold(RefSum(f, 26, 34) + (tcp ? 6 : 17) + l4_len);
    f[at] = static_cast<uint8_t>(pseudo >> 8);
    f[at + 1] = static_cast<uint8_t>(pseudo);
    virtio_net_hdr vh{};
    vh.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    vh.csum_start = 34;
    vh.csum_offset = tcp ? 16 : 6;
    Out o;
    ASSERT_EQ(Offload(f, vh, &o), SoftOffloadResult::kOk);
    ASSERT_EQ(o.frames.size(), 1u);
    ExpectValid(o.frames[0], true, tcp);
  }
}

TEST(SoftOffloadTest, CompletesOnlyChecksumsLeftPartial) {
  for (bool tcp : {true, false}) {
    auto f = MakeFrame(true, tcp, 101);
    const uint32_t l4_len = static_cast<uint32_t>(f.size()) - 34;
    const size_t at = 34 + (tcp ? 16 : 6);
    const uint16_t pseudo = RefFold(RefSum(f, 26, 34) + (tcp ? 6 : 17) + l4_len);
    f[at] = static_cast<uint8_t>(pseudo >> 8);
    f[at + 1] = static_cast<uint8_t>(pseudo);
    f.resize(f.size() + 7, 0);  // Ethernet padding beyond the IP length
    ASSERT_TRUE(CompletePartialChecksum(f.data(), static_cast<uint32_t>(f.size())));
    f.resize(f.size() - 7);
    ExpectValid(f, true, tcp);
    // Complete now: left alone.
    const auto before = f;
    EXPECT_FALSE(CompletePartialChecksum(f.data(), static_cast<uint32_t>(f.size())));
    EXPECT_EQ(f, before);
    // Corrupt (neither valid nor partial): left alone.
    f[60] ^= 0xff;
    const auto corrupt = f;
    EXPECT_FALSE(CompletePartialChecksum(f.data(), static_cast<uint32_t>(f.size())));
    EXPECT_EQ(f, corrupt);
  }
  auto v6 = MakeFrame(false, true, 50);
  const uint32_t l4_len = static_cast<uint32_t>(v6.size()) - 54;
  const uint16_t pseudo = RefFold(RefSum(v6, 22, 54) + 6 + l4_len);
  v6[54 + 16] = static_cast<uint8_t>(pseudo >> 8);
  v6[54 + 17] = static_cast<uint8_t>(pseudo);
  ASSERT_TRUE(CompletePartialChecksum(v6.data(), static_cast<uint32_t>(v6.size())));
  ExpectValid(v6, false, true);
  // A truncated frame claiming more than it has: untouched.
  auto runt = MakeFrame(true, true, 100);
  runt.resize(60);
  EXPECT_FALSE(CompletePartialChecksum(runt.data(), static_cast<uint32_t>(runt.size())));
}

TEST(SoftOffloadTest, PlainFrameIsCopiedUnchanged) {
  const auto f = MakeFrame(true, false, 10);
  Out o;
  ASSERT_EQ(Offload(f, virtio_net_hdr{}, &o), SoftOffloadResult::kOk);
  ASSERT_EQ(o.frames.size(), 1u);
  EXPECT_EQ(o.frames[0], f);
}

TEST(SoftOffloadTest, RefusedAndMalformedInputWritesNothingOrStopsCleanly) {
  const auto f = MakeFrame(true, true, 3000);
  virtio_net_hdr vh{};
  vh.gso_type = VIRTIO_NET_HDR_GSO_UDP;  // UFO
  vh.gso_size = 1000;
  Out o;
  EXPECT_EQ(Offload(f, vh, &o), SoftOffloadResult::kUnsupported);
  vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV6;  // says v6, frame is v4
  EXPECT_EQ(Offload(f, vh, &o), SoftOffloadResult::kMalformed);
  vh.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
  vh.gso_size = 0;
  EXPECT_EQ(Offload(f, vh, &o), SoftOffloadResult::kMalformed);
  const std::vector<uint8_t> runt(f.begin(), f.begin() + 40);
  vh.gso_size = 1000;
  EXPECT_EQ(Offload(runt, vh, &o), SoftOffloadResult::kMalformed);
  virtio_net_hdr csum{};
  csum.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  csum.csum_start = 60000;
  EXPECT_EQ(Offload(f, csum, &o), SoftOffloadResult::kMalformed);
  EXPECT_TRUE(o.frames.empty());
  o.limit = 1;  // room for one segment of three
  EXPECT_EQ(Offload(f, vh, &o), SoftOffloadResult::kNoBuffer);
  EXPECT_EQ(o.frames.size(), 1u);
}

}  // namespace
}  // namespace veb
