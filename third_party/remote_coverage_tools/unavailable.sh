#!/bin/sh
# Stand-in for Bazel's coverage tools, which would have to be downloaded.
echo "remote_coverage_tools: not available in this offline build (bazel coverage unsupported)" >&2
exit 1
