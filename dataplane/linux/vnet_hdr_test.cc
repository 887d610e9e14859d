#include "dataplane/linux/vnet_hdr.h"

#include <cstring>

#include "gtest/gtest.h"

namespace veb {
namespace {

virtio_net_hdr Read(const uint8_t* p) {
  virtio_net_hdr h;
  std::memcpy(&h, p, sizeof(h));
  return h;
}

TEST(VnetHdrTest, NoIngressHeaderWritesZeroes) {
  uint8_t frame[60] = {};
  TxFrame f{frame, sizeof(frame), TagOp::kKeep, 0, OffloadInfo{}};
  uint8_t out[kVnetHdrLen];
  std::memset(out, 0xaa, sizeof(out));
  WriteVnetHdr(f, sizeof(frame), /*full_linear=*/false, out);
  virtio_net_hdr h = Read(out);
  EXPECT_EQ(h.flags, 0);
  EXPECT_EQ(h.gso_type, VIRTIO_NET_HDR_GSO_NONE);
  EXPECT_EQ(h.hdr_len, 0);
}

TEST(VnetHdrTest, PushedTagMovesChecksumStart) {
  virtio_net_hdr in{};
  in.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  in.gso_type = VIRTIO_NET_HDR_GSO_TCPV4;
  in.gso_size = 1448;
  in.hdr_len = 66;
  in.csum_start = 34;
  in.csum_offset = 16;
  uint8_t frame[3000] = {};
  TxFrame f{frame, sizeof(frame), TagOp::kPush, 5,
            OffloadInfo{true, reinterpret_cast<const uint8_t*>(&in)}};
  uint8_t out[kVnetHdrLen];
  WriteVnetHdr(f, TxFrameLength(f), /*full_linear=*/false, out);
  virtio_net_hdr h = Read(out);
  EXPECT_EQ(h.csum_start, 38);
  EXPECT_EQ(h.hdr_len, 70);
  EXPECT_EQ(h.csum_offset, 16);
  EXPECT_EQ(h.gso_size, 1448);
  EXPECT_TRUE(VnetIsGso(h));

  WriteVnetHdr(f, TxFrameLength(f), /*full_linear=*/true, out);
  EXPECT_EQ(Read(out).hdr_len, sizeof(frame) + kVlanTagLen);
}

TEST(VnetHdrTest, StrippedTagMovesChecksumStartBack) {
  virtio_net_hdr in{};
  in.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  in.csum_start = 38;
  in.csum_offset = 6;
  uint8_t frame[100] = {};
  frame[12] = 0x81;
  TxFrame f{frame, sizeof(frame), TagOp::kStrip, 0,
            OffloadInfo{false, reinterpret_cast<const uint8_t*>(&in)}};
  uint8_t out[kVnetHdrLen];
  WriteVnetHdr(f, TxFrameLength(f), /*full_linear=*/false, out);
  EXPECT_EQ(Read(out).csum_start, 34);
  EXPECT_FALSE(VnetIsGso(Read(out)));
}

}  // namespace
}  // namespace veb
