"""cc_grpc_library: gRPC C++ stubs from a proto_library, with Debian's gRPC.

    load("//tools:grpc.bzl", "cc_grpc_library")

    proto_library(name = "x_proto", srcs = ["x.proto"], deps = [...])
    cc_proto_library(name = "x_cc_proto", deps = [":x_proto"])
    cc_grpc_library(
        name = "x_cc_grpc",
        srcs = [":x_proto"],
        deps = [":x_cc_proto"],
        # generate_mocks = True,  # also x_mock.grpc.pb.h (MockFooStub, for gmock)
    )

For proto/veb/v1/veb.proto this gives `#include "proto/veb/v1/veb.grpc.pb.h"`
(next to cc_proto_library's "proto/veb/v1/veb.pb.h"). Runs /usr/bin/protoc with
--plugin=protoc-gen-grpc=/usr/bin/grpc_cpp_plugin over the proto_library's
transitive descriptor sets (so imports such as google/protobuf/timestamp.proto
resolve exactly as for cc_proto_library), and wraps the generated .cc in a
cc_library that depends on `deps` and @system//:grpc++.

Only the services of `srcs`' own files are generated (a proto_library with
`deps` only — an alias — generates nothing). When the proto sits in the same
package as this rule and uses no import prefix stripping (the usual case), the
outputs sit next to the .pb.h; otherwise they go under _grpc/<name>/ and that
directory is added to the include path, so the include path is still the proto's
import path.
"""

def _import_path(src, proto_source_root):
    """The path by which protoc knows `src` (its import path)."""
    path = src.path
    root = proto_source_root
    if root in ("", "."):
        # Sources of the main repository without a prefix; external ones carry
        # external/<repo>/.
        if src.owner.workspace_root and path.startswith(src.owner.workspace_root + "/"):
            return path[len(src.owner.workspace_root) + 1:]
        if src.root.path and path.startswith(src.root.path + "/"):
            return path[len(src.root.path) + 1:]
        return path
    if path.startswith(root + "/"):
        return path[len(root) + 1:]
    fail("%s is not under its proto_source_root %s" % (path, root))

def _package_dir(label):
    if label.workspace_root:
        return label.workspace_root + "/" + label.package if label.package else label.workspace_root
    return label.package

def _cc_grpc_codegen_impl(ctx):
    protoc = ctx.executable._protoc
    plugin = ctx.executable._plugin
    out_files = []

    for target in ctx.attr.srcs:
        info = target[ProtoInfo]
        root = info.proto_source_root
        pkg_dir = _package_dir(ctx.label)
        direct = info.direct_sources
        if not direct:
            continue
        import_paths = [_import_path(src, root) for src in direct]

        # Outputs next to the .pb.h when the import path starts with this package.
        in_place = all([
            (p.startswith(ctx.label.package + "/") if ctx.label.package else True)
            for p in import_paths
        ]) and not ctx.label.workspace_root
        if in_place:
            prefix_len = len(ctx.label.package) + 1 if ctx.label.package else 0
            out_prefix = ""
            out_dir = ctx.bin_dir.path
        else:
            out_prefix = ctx.attr.out_subdir + "/"
            out_dir = ctx.bin_dir.path + "/" + pkg_dir + "/" + ctx.attr.out_subdir
            prefix_len = 0

        outs = []
        for p in import_paths:
            stem = p[prefix_len:][:-len(".proto")]
            outs.append(ctx.actions.declare_file(out_prefix + stem + ".grpc.pb.h"))
            outs.append(ctx.actions.declare_file(out_prefix + stem + ".grpc.pb.cc"))
            if ctx.attr.generate_mocks:
                outs.append(ctx.actions.declare_file(out_prefix + stem + "_mock.grpc.pb.h"))

        descriptor_sets = info.transitive_descriptor_sets
        args = ctx.actions.args()
        args.add("--plugin=protoc-gen-grpc=" + plugin.path)
        if ctx.attr.generate_mocks:
            args.add("--grpc_out=generate_mock_code=true:" + out_dir)
        else:
            args.add("--grpc_out=" + out_dir)
        args.add_joined(
            "--descriptor_set_in",
            descriptor_sets,
            join_with = ctx.configuration.host_path_separator,
        )
        args.add_all(import_paths)

        ctx.actions.run(
            executable = protoc,
            tools = [plugin],
            inputs = descriptor_sets,
            outputs = outs,
            arguments = [args],
            mnemonic = "GrpcCppCodegen",
            progress_message = "Generating gRPC C++ stubs for %s" % target.label,
        )
        out_files.extend(outs)

    hdrs = [f for f in out_files if f.path.endswith(".h")]
    srcs = [f for f in out_files if f.path.endswith(".cc")]
    return [
        DefaultInfo(files = depset(out_files)),
        OutputGroupInfo(
            hdrs = depset(hdrs),
            srcs = depset(srcs),
        ),
    ]

_cc_grpc_codegen = rule(
    implementation = _cc_grpc_codegen_impl,
    attrs = {
        "srcs": attr.label_list(providers = [ProtoInfo], mandatory = True),
        "generate_mocks": attr.bool(default = False),
        # Where outputs go when they cannot sit next to the .pb.h; must match the
        # cc_library's `includes`.
        "out_subdir": attr.string(mandatory = True),
        "_protoc": attr.label(
            default = "@com_google_protobuf//:protoc",
            executable = True,
            cfg = "host",
            allow_single_file = True,
        ),
        "_plugin": attr.label(
            default = "@system//:grpc_cpp_plugin",
            executable = True,
            cfg = "host",
            allow_single_file = True,
        ),
    },
)

def cc_grpc_library(
        name,
        srcs,
        deps,
        generate_mocks = False,
        visibility = None,
        testonly = None,
        tags = None,
        **kwargs):
    """gRPC C++ stubs of the services in `srcs`.

    Args:
      name: the cc_library; `<name>_codegen` holds the generated files.
      srcs: proto_library targets whose own .proto files declare the services.
      deps: the cc_proto_library targets of `srcs` (the messages).
      generate_mocks: also generate `<stem>_mock.grpc.pb.h` (needs @system//:gmock
        in the test that includes it).
      visibility, testonly, tags, **kwargs: passed to the cc_library.
    """
    codegen = name + "_codegen"
    out_subdir = "_grpc/" + name
    _cc_grpc_codegen(
        name = codegen,
        srcs = srcs,
        out_subdir = out_subdir,
        generate_mocks = generate_mocks,
        visibility = ["//visibility:private"],
        testonly = testonly,
        tags = tags,
    )
    native.filegroup(
        name = codegen + "_hdrs",
        srcs = [":" + codegen],
        output_group = "hdrs",
        visibility = ["//visibility:private"],
        testonly = testonly,
        tags = tags,
    )
    native.filegroup(
        name = codegen + "_srcs",
        srcs = [":" + codegen],
        output_group = "srcs",
        visibility = ["//visibility:private"],
        testonly = testonly,
        tags = tags,
    )
    native.cc_library(
        name = name,
        srcs = [":" + codegen + "_srcs"],
        hdrs = [":" + codegen + "_hdrs"],
        # Only used when the stubs cannot sit next to the .pb.h (see above).
        includes = [out_subdir],
        deps = deps + ["@system//:grpc++"],
        visibility = visibility,
        testonly = testonly,
        tags = tags,
        **kwargs
    )
