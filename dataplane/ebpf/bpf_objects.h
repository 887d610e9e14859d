// The kernel engine's BPF objects, compiled from veb.bpf.c by the build and
// embedded in the binary: the program attached at TC ingress, and its test
// variant (VEB_TEST_HOOK) for BPF_PROG_TEST_RUN.
//
// Thread-safety: immutable data.
#ifndef VEB_DATAPLANE_EBPF_BPF_OBJECTS_H_
#define VEB_DATAPLANE_EBPF_BPF_OBJECTS_H_

#include <cstddef>

namespace veb::ebpf {

extern const unsigned char kVebBpfObject[];
extern const size_t kVebBpfObject_size;
extern const unsigned char kVebTestBpfObject[];
extern const size_t kVebTestBpfObject_size;

}  // namespace veb::ebpf

#endif  // VEB_DATAPLANE_EBPF_BPF_OBJECTS_H_
