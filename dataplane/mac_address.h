// MAC addresses held as 48-bit integers (aa:bb:cc:dd:ee:ff -> 0xaabbccddeeff) so
// the hot path compares and hashes them in one instruction; text only at the edges.
// Thread-safety: pure functions.
#ifndef VEB_DATAPLANE_MAC_ADDRESS_H_
#define VEB_DATAPLANE_MAC_ADDRESS_H_

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace veb {

using Mac = uint64_t;

inline constexpr Mac kBroadcastMac = 0xffffffffffffULL;

inline constexpr bool IsMulticast(Mac m) { return ((m >> 40) & 1) != 0; }
inline constexpr bool IsBroadcast(Mac m) { return m == kBroadcastMac; }
// 802.1 reserved group addresses 01:80:c2:00:00:00..0f (S9).
inline constexpr bool IsReserved8021(Mac m) {
  return (m & ~Mac{0xf}) == 0x0180c2000000ULL;
}

// Reads/writes 6 bytes in network order.
inline Mac LoadMac(const uint8_t* p) {
  Mac m = 0;
  for (int i = 0; i < 6; ++i) m = (m << 8) | p[i];
  return m;
}
inline void StoreMac(Mac m, uint8_t* p) {
  for (int i = 5; i >= 0; --i) {
    p[i] = static_cast<uint8_t>(m);
    m >>= 8;
  }
}

// Accepts "aa:bb:cc:dd:ee:ff" (hex digits in either case, two per octet).
std::optional<Mac> ParseMac(absl::string_view text);
// Lower case "aa:bb:cc:dd:ee:ff".
std::string FormatMac(Mac m);

}  // namespace veb

#endif  // VEB_DATAPLANE_MAC_ADDRESS_H_
