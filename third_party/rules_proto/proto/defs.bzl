"""Local stand-in for @rules_proto//proto:defs.bzl: the native proto rules.

The protoc and C++ runtime behind them are Debian's, through the local
@com_google_protobuf repository (see //:WORKSPACE, //third_party/protobuf).
`load("@rules_proto//proto:defs.bzl", "proto_library")` and plain `proto_library`
are the same rule.
"""

load("//proto/private:native.bzl", "NativeProtoInfo")

_MIGRATION_TAG = "__PROTO_RULES_MIGRATION_DO_NOT_USE_WILL_BREAK__"

def _add_tags(attrs):
    attrs = dict(attrs)
    tags = list(attrs.get("tags", []))
    if _MIGRATION_TAG not in tags:
        tags.append(_MIGRATION_TAG)
    attrs["tags"] = tags
    return attrs

def proto_library(**attrs):
    native.proto_library(**_add_tags(attrs))

def proto_lang_toolchain(**attrs):
    native.proto_lang_toolchain(**_add_tags(attrs))

ProtoInfo = NativeProtoInfo
