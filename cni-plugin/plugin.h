// The veb CNI plugin's commands (ADD, DEL, CHECK, GC, STATUS, VERSION) as one
// function of environment and stdin, so tests drive it without a process.
//
// ADD creates the pod vport first (undone on any later failure), then runs
// IPAM, then configures the pod side; so a failing agent allocates no address
// and a failing IPAM leaves no interface. The pod's port is hardened by default
// (NetConf: locked with the MAC pinned, ARP guard rules installed before the
// pod's addresses exist, an address limit); CHECK re-applies what is missing.
// DEL is idempotent and always calls IPAM DEL. Thread-safety: one invocation at a time per process.
#ifndef VEB_CNI_PLUGIN_PLUGIN_H_
#define VEB_CNI_PLUGIN_PLUGIN_H_

#include <string>

#include "cni-plugin/cni.h"

namespace veb::cni {

// Returns the exit status; `out` gets what goes to stdout (a result, version
// JSON, or CNI error JSON).
int Run(const Env& env, const std::string& stdin_text, std::string* out);

}  // namespace veb::cni

#endif  // VEB_CNI_PLUGIN_PLUGIN_H_
