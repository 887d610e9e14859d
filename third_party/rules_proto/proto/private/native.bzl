"""Re-exports the native ProtoInfo under another name (see ../defs.bzl)."""

NativeProtoInfo = ProtoInfo
