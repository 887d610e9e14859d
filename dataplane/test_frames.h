// Builders for test frames (Ethernet, 802.1Q/802.1ad tags, ARP) so tests read as
// the frames they send. Test-only.
#ifndef VEB_DATAPLANE_TEST_FRAMES_H_
#define VEB_DATAPLANE_TEST_FRAMES_H_

#include <cstdint>
#include <optional>
#include <vector>

#include "dataplane/mac_address.h"

namespace veb {

struct FrameSpec {
  Mac dst = 0;
  Mac src = 0;
  std::optional<uint16_t> ctag;  // 802.1Q TCI
  std::optional<uint16_t> stag;  // 802.1ad TCI (outermost)
  uint16_t ether_type = 0x0800;
  size_t payload = 46;
};

std::vector<uint8_t> MakeFrame(const FrameSpec& spec);

struct ArpSpec {
  Mac dst = 0xffffffffffffULL;
  Mac src = 0;
  std::optional<uint16_t> ctag;
  uint16_t ether_type = 0x0806;
  uint16_t op = 1;
  Mac sha = 0;
  uint32_t spa = 0;
  Mac tha = 0;
  uint32_t tpa = 0;
  uint16_t hrd = 1;
  uint8_t hln = 6;
  uint8_t pln = 4;
};

std::vector<uint8_t> MakeArp(const ArpSpec& spec);

// 10.0.0.x in host order.
inline constexpr uint32_t Ip(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  return (uint32_t{a} << 24) | (uint32_t{b} << 16) | (uint32_t{c} << 8) | d;
}

}  // namespace veb

#endif  // VEB_DATAPLANE_TEST_FRAMES_H_
