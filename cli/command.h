// vebctl's command line, ifconfig(8)-style with veb's words, parsed into the
// veb.v1 request of one RPC. Parsing is separate from execution so every
// command's translation is tested without a server. Only syntax is checked
// here (words, numbers, lists); the agent validates values and states, and its
// message is what the user sees.
// Thread-safety: pure functions.
#ifndef VEB_CLI_COMMAND_H_
#define VEB_CLI_COMMAND_H_

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

// `args` are the words after the global flags, e.g. {"veb0", "add", "eth1"}.
absl::StatusOr<Invocation> ParseCommand(const std::vector<std::string>& args);

// The usage text printed for -h and after a syntax error.
const char* Usage();

}  // namespace veb::cli

#endif  // VEB_CLI_COMMAND_H_
