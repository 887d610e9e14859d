// veb-node-config: the init container's per-node step (see node_config.h).
//   veb-node-config --node_name=N --node_ip=IP [--node_json=FILE]
//     --conflist_in=F --conflist_out=F --config_in=F --config_out=F
// Everything is rendered before anything is written, and each output is
// written under a temporary name and renamed: on an error (printed, exit 1)
// no output changed.
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "cni-plugin/node_config.h"

ABSL_FLAG(std::string, node_name, "", "this node's name (the downward API's spec.nodeName)");
ABSL_FLAG(std::string, node_ip, "", "this node's IP (status.hostIP): the underlay and tunnel source");
ABSL_FLAG(std::string, node_json, "",
          "the Node object (API JSON); when set, the IPAM range comes from its spec.podCIDR");
ABSL_FLAG(std::string, conflist_in, "", "the chart's conflist (cluster-wide)");
ABSL_FLAG(std::string, conflist_out, "", "the node's conflist to write");
ABSL_FLAG(std::string, config_in, "", "the chart's vebd startup file (AgentConfig JSON)");
ABSL_FLAG(std::string, config_out, "", "the node's vebd startup file to write");

namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot be read"));
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

absl::Status Run() {
  for (const auto* f : {&FLAGS_node_name, &FLAGS_node_ip, &FLAGS_conflist_in, &FLAGS_conflist_out,
                        &FLAGS_config_in, &FLAGS_config_out}) {
    if (absl::GetFlag(*f).empty()) {
      return absl::InvalidArgumentError(
          "--node_name, --node_ip, --conflist_in, --conflist_out, --config_in and --config_out "
          "are required");
    }
  }
  veb::cni::NodeFacts node;
  node.node_name = absl::GetFlag(FLAGS_node_name);
  node.node_ip = absl::GetFlag(FLAGS_node_ip);
  absl::StatusOr<veb::cni::Underlay> underlay = veb::cni::FindUnderlay(node.node_ip);
  if (!underlay.ok()) return underlay.status();
  node.underlay = *underlay;
  if (!absl::GetFlag(FLAGS_node_json).empty()) {
    absl::StatusOr<std::string> text = ReadFile(absl::GetFlag(FLAGS_node_json));
    if (!text.ok()) return text.status();
    absl::StatusOr<std::string> cidr = veb::cni::PodCidrOfNode(*text);
    if (!cidr.ok()) return cidr.status();
    node.pod_cidr = *cidr;
  }
  absl::StatusOr<std::string> config_in = ReadFile(absl::GetFlag(FLAGS_config_in));
  if (!config_in.ok()) return config_in.status();
  absl::StatusOr<std::string> conflist_in = ReadFile(absl::GetFlag(FLAGS_conflist_in));
  if (!conflist_in.ok()) return conflist_in.status();
  bool tunnel = false;
  absl::StatusOr<std::string> config = veb::cni::RenderAgentConfig(*config_in, node, &tunnel);
  if (!config.ok()) return config.status();
  absl::StatusOr<std::string> conflist = veb::cni::RenderConflist(*conflist_in, node, tunnel);
  if (!conflist.ok()) return conflist.status();
  if (absl::Status s = veb::cni::WriteFileAtomically(absl::GetFlag(FLAGS_config_out), *config, 0644);
      !s.ok()) {
    return s;
  }
  if (absl::Status s =
          veb::cni::WriteFileAtomically(absl::GetFlag(FLAGS_conflist_out), *conflist, 0644);
      !s.ok()) {
    return s;
  }
  std::cout << "veb-node-config: node " << node.node_name << ": underlay " << node.underlay.name
            << " (MTU " << node.underlay.mtu << ")"
            << (node.pod_cidr ? absl::StrCat(", podCIDR ", *node.pod_cidr) : "")
            << (tunnel ? ", tunnel vport" : "") << "; wrote " << absl::GetFlag(FLAGS_config_out)
            << " and " << absl::GetFlag(FLAGS_conflist_out) << "\n";
  return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage("renders this node's conflist and vebd startup file");
  absl::ParseCommandLine(argc, argv);
  if (absl::Status s = Run(); !s.ok()) {
    std::cerr << "veb-node-config: " << s.message() << "\n";
    return 1;
  }
  return 0;
}
