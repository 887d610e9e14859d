// The `veb` CNI plugin binary: reads the configuration from stdin and CNI_*
// from the environment, prints the result or a CNI error to stdout.
#include <iostream>
#include <iterator>
#include <string>

#include "cni-plugin/plugin.h"

int main() {
  std::string in((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  std::string out;
  const int rc = veb::cni::Run(veb::cni::Env::FromProcess(), in, &out);
  std::cout << out << std::endl;
  return rc;
}
