// Addressing inside a pod's network namespace with libnl: addresses and routes
// from the IPAM result on the pod interface (ADD) and their verification
// (CHECK). Each call runs on a short-lived thread that enters the namespace
// with setns, so the caller's thread never changes namespace.
// Thread-safety: stateless; safe from any thread.
#ifndef VEB_CNI_PLUGIN_NETNS_H_
#define VEB_CNI_PLUGIN_NETNS_H_

#include <optional>
#include <string>

#include "cni-plugin/cni.h"

namespace veb::cni {

// Adds `result.ips` (those for interface index `itf_index`, or without an
// index) and `result.routes` to `ifname` in `netns`, and sets it up. A route
// without a gateway goes via the gateway of the same family in `ips`.
std::optional<Error> ConfigureInterface(const std::string& netns, const std::string& ifname,
                                        const Result& result, int itf_index);

// Verifies `ifname` exists in `netns` with `mac` (if not empty), the
// addresses and routes of `result`; the error names what differs.
std::optional<Error> CheckInterface(const std::string& netns, const std::string& ifname,
                                    const std::string& mac, const Result& result,
                                    int itf_index);

bool NetnsExists(const std::string& netns);

}  // namespace veb::cni

#endif  // VEB_CNI_PLUGIN_NETNS_H_
