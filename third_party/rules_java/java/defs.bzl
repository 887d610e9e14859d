"""Local stand-in for @rules_java//java:defs.bzl: the native Java rules, unchanged.

Loaded by @bazel_tools//tools/jdk (registered toolchains) in Bazel 4.2.3; the real
rules_java would be downloaded. The project builds no Java.
"""

_MIGRATION_TAG = "__JAVA_RULES_MIGRATION_DO_NOT_USE_WILL_BREAK__"

def _add_tags(attrs):
    attrs = dict(attrs)
    tags = list(attrs.get("tags", []))
    if _MIGRATION_TAG not in tags:
        tags.append(_MIGRATION_TAG)
    attrs["tags"] = tags
    return attrs

def java_binary(**attrs):
    native.java_binary(**_add_tags(attrs))

def java_import(**attrs):
    native.java_import(**_add_tags(attrs))

def java_library(**attrs):
    native.java_library(**_add_tags(attrs))

def java_lite_proto_library(**attrs):
    native.java_lite_proto_library(**_add_tags(attrs))

def java_proto_library(**attrs):
    native.java_proto_library(**_add_tags(attrs))

def java_test(**attrs):
    native.java_test(**_add_tags(attrs))

def java_package_configuration(**attrs):
    native.java_package_configuration(**_add_tags(attrs))

def java_plugin(**attrs):
    native.java_plugin(**_add_tags(attrs))

def java_runtime(**attrs):
    native.java_runtime(**_add_tags(attrs))

def java_toolchain(**attrs):
    native.java_toolchain(**_add_tags(attrs))
