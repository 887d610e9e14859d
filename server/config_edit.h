// Edits of an exported AgentConfig: the change a mutation is about to make,
// applied to the configuration before it is saved (durable or refused,
// docs/design.md §6). Each mirrors what ExportConfig would produce after
// the mutation, so saving before applying writes the same file as saving
// after.
//
// Thread-safety: pure functions over the caller's message.
#ifndef VEB_SERVER_CONFIG_EDIT_H_
#define VEB_SERVER_CONFIG_EDIT_H_

#include <cstdint>
#include <optional>
#include <string>

#include "server/agent_config.pb.h"

namespace veb::server {

// Puts the lists in the order ExportConfig writes them: bridges by name;
// ports, span ports and vports by (bridge, name); rules by (bridge, port),
// keeping their order; static addresses by (bridge, vid, mac).
void Canonicalize(AgentConfig* c);

// The bridge and everything on it.
void EraseBridge(AgentConfig* c, const std::string& bridge);
// A member port, span port or vport, with its rules and static addresses.
void ErasePort(AgentConfig* c, const std::string& bridge, const std::string& port);
void EraseRules(AgentConfig* c, const std::string& bridge, const std::string& port);
// Static entries of `mac` (one VID, or every VID).
void EraseStatic(AgentConfig* c, const std::string& bridge, const std::string& mac,
                 std::optional<uint32_t> vid);
// Static entries of the bridge, or only of `port` when not empty.
void EraseStatics(AgentConfig* c, const std::string& bridge, const std::string& port);
void SetBridgeSettings(AgentConfig* c, const std::string& bridge,
                       const v1::BridgeSettings& settings);
// The settings of a member port or vport.
void SetPortSettings(AgentConfig* c, const std::string& bridge, const std::string& port,
                     const v1::PortSettings& settings);

}  // namespace veb::server

#endif  // VEB_SERVER_CONFIG_EDIT_H_
