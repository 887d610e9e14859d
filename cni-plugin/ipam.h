// Delegation to another CNI plugin (the IPAM plugin) by the spec's rules: the
// binary named by ipam.type is found in CNI_PATH and executed with the same
// environment (CNI_COMMAND possibly changed) and the same configuration on
// stdin. Thread-safety: stateless.
#ifndef VEB_CNI_PLUGIN_IPAM_H_
#define VEB_CNI_PLUGIN_IPAM_H_

#include <optional>
#include <string>

#include "cni-plugin/cni.h"

namespace veb::cni {

// Runs plugin `type` with CNI_COMMAND=`command`. On exit 0, `*stdout_text`
// holds its output. On failure returns the delegate's own CNI error (its code
// and msg, prefixed with the plugin name), or code 5 when it cannot be run.
std::optional<Error> ExecPlugin(const Env& env, const std::string& command,
                                const std::string& type, const std::string& stdin_text,
                                std::string* stdout_text);

}  // namespace veb::cni

#endif  // VEB_CNI_PLUGIN_IPAM_H_
