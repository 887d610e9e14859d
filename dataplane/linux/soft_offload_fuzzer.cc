// libFuzzer harness for the software offloads, which parse frames straight
// from pods: input = a 10-byte virtio_net_hdr + a frame. Checks, besides
// ASan/UBSan: SoftOffload writes only inside the buffers it asked for (each
// exactly as long as asked) and reports each one once with its length; every
// GSO segment's checksum is complete (CompletePartialChecksum finds nothing
// to do); a frame whose partial checksum was completed is left alone the
// second time.
//   bazel build --config=fuzz //dataplane/linux:soft_offload_fuzzer
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "dataplane/linux/soft_offload.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace veb;
  if (size < kVnetHdrLen || size > kVnetHdrLen + 70000) return 0;
  virtio_net_hdr vh;
  std::memcpy(&vh, data, sizeof(vh));
  std::vector<uint8_t> frame(data + kVnetHdrLen, data + size);
  const uint32_t len = static_cast<uint32_t>(frame.size());

  std::vector<std::vector<uint8_t>> segs;
  const SoftOffloadResult r = SoftOffload(
      frame.data(), len, vh,
      [&](uint32_t want) -> uint8_t* {
        if (segs.size() >= 256) return nullptr;
        segs.emplace_back(want);  // exact size: ASan catches any overrun
        return segs.back().data();
      },
      [&](uint8_t* buf, uint32_t n) {
        if (buf != segs.back().data() || n != segs.back().size()) std::abort();
      });
  if (r == SoftOffloadResult::kOk) {
    for (std::vector<uint8_t>& s : segs) {
      if (CompletePartialChecksum(s.data(), static_cast<uint32_t>(s.size())) &&
          ((vh.gso_type & 0x7f) != 0)) {
        std::abort();  // a GSO segment left with an incomplete checksum
      }
    }
  }
  if (CompletePartialChecksum(frame.data(), len) &&
      CompletePartialChecksum(frame.data(), len)) {
    std::abort();  // completing is not idempotent
  }
  return 0;
}
