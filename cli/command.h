// vebctl's command line, ifconfig(8)-style with veb's words, parsed into the
// veb.v1 request of one RPC. Parsing is separate from execution so every
// command's translation is tested without a server. Only syntax (words,
// numbers, lists) and lengths are checked here: a 3 MB name is refused before
// it is sent, not echoed back by the agent. The agent validates values and
// states, and its message is what the user sees.
// Thread-safety: pure functions.
#ifndef VEB_CLI_COMMAND_H_
#define VEB_CLI_COMMAND_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "google/protobuf/message.h"

namespace veb::cli {

struct Invocation {
  // The veb.v1.Switch method, or "Show" (GetBridge + ListPorts +
  // ListSpanPorts), "Health" (grpc.health.v1), "ListAllAddresses" (every page).
  std::string rpc;
  std::unique_ptr<google::protobuf::Message> request;
};

// Bridge, port, vport and interface names: the Linux interface-name limit
// the agent applies (veb.v1 types.proto), checked here too so an over-long name
// is refused with a clear message instead of being sent (and echoed back).
inline constexpr size_t kMaxNameBytes = 15;
// Any word: the longest value the API takes is a netns path (4095 bytes).
inline constexpr size_t kMaxWordBytes = 4096;
// Syntax errors quote at most this many bytes of a word.
inline constexpr size_t kMaxQuoted = 64;

// `args` are the words after the global flags, e.g. {"veb0", "add", "eth1"}.
// A first word "--" (the end of the options) makes the next word a bridge
// name even if it is an agent command: {"--", "create", "show"}.
absl::StatusOr<Invocation> ParseCommand(const std::vector<std::string>& args);

// The usage text printed for -h and after a syntax error.
const char* Usage();

}  // namespace veb::cli

#endif  // VEB_CLI_COMMAND_H_
