// The `veb` CNI plugin binary: reads the configuration from stdin and CNI_*
// from the environment, prints the result or a CNI error to stdout.
// stdin is read up to one byte past kMaxConfigBytes (the parser refuses that
// size anyway), so a huge or endless stdin costs bounded memory.
#include <exception>
#include <iostream>
#include <string>

#include "cni-plugin/cni.h"
#include "cni-plugin/plugin.h"

int main() {
  std::string in;
  char buf[65536];
  while (in.size() <= veb::cni::kMaxConfigBytes && std::cin.read(buf, sizeof(buf)).gcount() > 0) {
    in.append(buf, static_cast<size_t>(std::cin.gcount()));
  }
  std::string out;
  int rc;
  try {
    rc = veb::cni::Run(veb::cni::Env::FromProcess(), in, &out);
  } catch (const std::exception& e) {
    // A bug, not an input the plugin refuses: still a CNI error, not an abort.
    out = veb::cni::Dump(
        veb::cni::Error{veb::cni::kAgentError, "internal error in the veb plugin", e.what()}
            .ToJson(""));
    rc = 1;
  }
  std::cout << out << std::endl;
  return rc;
}
