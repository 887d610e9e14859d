#include "dataplane/mac_address.h"

#include <cstdio>

namespace veb {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<Mac> ParseMac(absl::string_view text) {
  if (text.size() != 17) return std::nullopt;
  Mac m = 0;
  for (int i = 0; i < 6; ++i) {
    const int hi = HexValue(text[i * 3]);
    const int lo = HexValue(text[i * 3 + 1]);
    if (hi < 0 || lo < 0) return std::nullopt;
    if (i < 5 && text[i * 3 + 2] != ':') return std::nullopt;
    m = (m << 8) | static_cast<Mac>(hi * 16 + lo);
  }
  return m;
}

std::string FormatMac(Mac m) {
  char buf[18];
  std::snprintf(buf, sizeof(buf), "%02x:%02x:%02x:%02x:%02x:%02x",
                static_cast<unsigned>((m >> 40) & 0xff),
                static_cast<unsigned>((m >> 32) & 0xff),
                static_cast<unsigned>((m >> 24) & 0xff),
                static_cast<unsigned>((m >> 16) & 0xff),
                static_cast<unsigned>((m >> 8) & 0xff),
                static_cast<unsigned>(m & 0xff));
  return buf;
}

}  // namespace veb
