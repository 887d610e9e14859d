#include "dataplane/test_frames.h"

namespace veb {
namespace {

void Put16(std::vector<uint8_t>& v, uint16_t x) {
  v.push_back(static_cast<uint8_t>(x >> 8));
  v.push_back(static_cast<uint8_t>(x));
}
void PutMac(std::vector<uint8_t>& v, Mac m) {
  uint8_t b[6];
  StoreMac(m, b);
  v.insert(v.end(), b, b + 6);
}
void Put32(std::vector<uint8_t>& v, uint32_t x) {
  Put16(v, static_cast<uint16_t>(x >> 16));
  Put16(v, static_cast<uint16_t>(x));
}

}  // namespace

std::vector<uint8_t> MakeFrame(const FrameSpec& spec) {
  std::vector<uint8_t> f;
  PutMac(f, spec.dst);
  PutMac(f, spec.src);
  if (spec.stag) {
    Put16(f, 0x88a8);
    Put16(f, *spec.stag);
  }
  if (spec.ctag) {
    Put16(f, 0x8100);
    Put16(f, *spec.ctag);
  }
  Put16(f, spec.ether_type);
  for (size_t i = 0; i < spec.payload; ++i) f.push_back(static_cast<uint8_t>(i));
  return f;
}

std::vector<uint8_t> MakeArp(const ArpSpec& spec) {
  std::vector<uint8_t> f;
  PutMac(f, spec.dst);
  PutMac(f, spec.src);
  if (spec.ctag) {
    Put16(f, 0x8100);
    Put16(f, *spec.ctag);
  }
  Put16(f, spec.ether_type);
  Put16(f, spec.hrd);
  Put16(f, 0x0800);
  f.push_back(spec.hln);
  f.push_back(spec.pln);
  Put16(f, spec.op);
  PutMac(f, spec.sha);
  Put32(f, spec.spa);
  PutMac(f, spec.tha);
  Put32(f, spec.tpa);
  return f;
}

}  // namespace veb
