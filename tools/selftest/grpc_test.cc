// Self-test: protobuf messages (with a well-known type), protobuf JSON, gRPC
// stubs from //tools:grpc.bzl, and an in-process grpc::Server on a unix socket
// with server reflection and the standard health service.
//
// The socket lives in a fresh directory under /tmp, not under $TEST_TMPDIR:
// Bazel's test temp paths can exceed the 107-byte sun_path limit.
#include <stdlib.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/time_util.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/impl/client_unary_call.h"
#include "grpcpp/impl/rpc_method.h"
#include "grpcpp/support/sync_stream.h"
#include "gtest/gtest.h"
#include "tools/selftest/selftest.grpc.pb.h"
#include "tools/selftest/selftest.pb.h"
#include "tools/selftest/selftest_mock.grpc.pb.h"

namespace veb::selftest {
namespace {

using ::veb::selftest::v1::Echo;
using ::veb::selftest::v1::EchoReply;
using ::veb::selftest::v1::EchoRequest;

class EchoService final : public Echo::Service {
 public:
  grpc::Status Say(grpc::ServerContext* /*context*/, const EchoRequest* request,
                   EchoReply* reply) override {
    reply->set_text(absl::StrCat("echo: ", request->text()));
    reply->set_length(static_cast<int>(request->text().size()));
    *reply->mutable_sent() = request->sent();
    return grpc::Status::OK;
  }
};

grpc::ByteBuffer ToBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

std::string FromBuffer(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  EXPECT_TRUE(buffer.Dump(&slices).ok());
  std::string out;
  for (const grpc::Slice& slice : slices) {
    out.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  return out;
}

// A unary call with a pre-serialized request; returns the serialized reply.
std::string RawUnaryCall(const std::shared_ptr<grpc::Channel>& channel,
                         const char* method, const std::string& request) {
  grpc::ClientContext context;
  grpc::ByteBuffer reply;
  grpc::Status status =
      grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
          channel.get(),
          grpc::internal::RpcMethod(method, grpc::internal::RpcMethod::NORMAL_RPC),
          &context, ToBuffer(request), &reply);
  EXPECT_TRUE(status.ok()) << method << ": " << status.error_message();
  return FromBuffer(reply);
}

// One request, one reply on a bidirectional stream.
std::string RawBidiCall(const std::shared_ptr<grpc::Channel>& channel,
                        const char* method, const std::string& request) {
  grpc::ClientContext context;
  std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>>
      stream(grpc::internal::ClientReaderWriterFactory<
             grpc::ByteBuffer, grpc::ByteBuffer>::
                 Create(channel.get(),
                        grpc::internal::RpcMethod(
                            method, grpc::internal::RpcMethod::BIDI_STREAMING),
                        &context));
  EXPECT_TRUE(stream->Write(ToBuffer(request)));
  EXPECT_TRUE(stream->WritesDone());
  grpc::ByteBuffer reply;
  EXPECT_TRUE(stream->Read(&reply));
  grpc::Status status = stream->Finish();
  EXPECT_TRUE(status.ok()) << method << ": " << status.error_message();
  return FromBuffer(reply);
}

TEST(ProtobufTest, SerializesAndConvertsToJson) {
  EchoRequest request;
  request.set_text("hello");
  *request.mutable_sent() =
      google::protobuf::util::TimeUtil::SecondsToTimestamp(1700000000);

  std::string wire;
  ASSERT_TRUE(request.SerializeToString(&wire));
  EchoRequest parsed;
  ASSERT_TRUE(parsed.ParseFromString(wire));
  EXPECT_EQ(parsed.text(), "hello");
  EXPECT_EQ(parsed.sent().seconds(), 1700000000);

  std::string json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(parsed, &json).ok());
  EXPECT_EQ(json, R"({"text":"hello","sent":"2023-11-14T22:13:20Z"})");
}

TEST(GrpcTest, ServesOnUnixSocketWithReflectionAndHealth) {
  char dir_template[] = "/tmp/veb-selftest-XXXXXX";
  ASSERT_NE(mkdtemp(dir_template), nullptr);
  const std::string dir = dir_template;
  const std::string address = "unix:" + dir + "/grpc.sock";

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  EchoService service;
  grpc::ServerBuilder builder;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials());
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  ASSERT_NE(server->GetHealthCheckService(), nullptr);

  auto channel =
      grpc::CreateChannel(address, grpc::InsecureChannelCredentials());
  std::unique_ptr<Echo::Stub> stub = Echo::NewStub(channel);
  EchoRequest request;
  request.set_text("ping");
  EchoReply reply;
  grpc::ClientContext context;
  grpc::Status status = stub->Say(&context, request, &reply);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(reply.text(), "echo: ping");
  EXPECT_EQ(reply.length(), 4);

  // Health and reflection, as grpcurl sees them: raw messages over the generic
  // API (no grpc.health.v1 / reflection stubs needed).
  // grpc.health.v1.HealthCheckRequest{} -> HealthCheckResponse{status: SERVING}.
  std::string health = RawUnaryCall(channel, "/grpc.health.v1.Health/Check", "");
  EXPECT_EQ(health, std::string("\x08\x01", 2));
  // ServerReflectionRequest{list_services: ""} (field 7) -> service names.
  std::string services = RawBidiCall(
      channel, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
      std::string("\x3a\x00", 2));
  EXPECT_THAT(services, ::testing::HasSubstr("veb.selftest.v1.Echo"));
  EXPECT_THAT(services, ::testing::HasSubstr("grpc.health.v1.Health"));
  EXPECT_THAT(services, ::testing::HasSubstr("grpc.reflection.v1alpha"));

  server->Shutdown();
  server->Wait();
  unlink((dir + "/grpc.sock").c_str());
  rmdir(dir.c_str());
}

TEST(GrpcTest, GeneratesMockStub) {
  v1::MockEchoStub stub;
  EchoReply canned;
  canned.set_text("mocked");
  EXPECT_CALL(stub, Say(::testing::_, ::testing::_, ::testing::_))
      .WillOnce(::testing::DoAll(::testing::SetArgPointee<2>(canned),
                                 ::testing::Return(grpc::Status::OK)));
  grpc::ClientContext context;
  EchoReply reply;
  EXPECT_TRUE(stub.Say(&context, EchoRequest(), &reply).ok());
  EXPECT_EQ(reply.text(), "mocked");
}

}  // namespace
}  // namespace veb::selftest
