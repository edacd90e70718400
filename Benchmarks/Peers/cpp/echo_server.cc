// gRPC C++ peer: echo.Echo (Protos/echo.proto) with the same semantics as Breakwater's EchoProvider.
//   Get     returns the text unchanged.
//   Expand  splits the text on single spaces, one response per word.
//   Collect joins the texts received with single spaces.
//   Update  echoes each message as it arrives.
// Callback (reactor) API, the one gRPC recommends for new C++ servers.
// Usage: echo_server [--host H] [--port N]   (port 0 picks one; prints "PORT <n>" once listening)
#include <grpcpp/grpcpp.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "echo.grpc.pb.h"

using echo::EchoRequest;
using echo::EchoResponse;

namespace {

std::vector<std::string> SplitOnSpace(const std::string& s) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    size_t pos = s.find(' ', start);
    if (pos == std::string::npos) {
      parts.push_back(s.substr(start));
      return parts;
    }
    parts.push_back(s.substr(start, pos - start));
    start = pos + 1;
  }
}

class ExpandReactor : public grpc::ServerWriteReactor<EchoResponse> {
 public:
  explicit ExpandReactor(const std::string& text) : words_(SplitOnSpace(text)) { Next(); }
  void OnWriteDone(bool ok) override {
    if (!ok) { Finish(grpc::Status(grpc::StatusCode::UNKNOWN, "write failed")); return; }
    Next();
  }
  void OnDone() override { delete this; }

 private:
  void Next() {
    if (index_ == words_.size()) { Finish(grpc::Status::OK); return; }
    response_.set_text(words_[index_++]);
    StartWrite(&response_);
  }
  std::vector<std::string> words_;
  size_t index_ = 0;
  EchoResponse response_;
};

class CollectReactor : public grpc::ServerReadReactor<EchoRequest> {
 public:
  explicit CollectReactor(EchoResponse* response) : response_(response) { StartRead(&request_); }
  void OnReadDone(bool ok) override {
    if (!ok) {
      response_->set_text(joined_);
      Finish(grpc::Status::OK);
      return;
    }
    if (!first_) joined_.push_back(' ');
    first_ = false;
    joined_ += request_.text();
    StartRead(&request_);
  }
  void OnDone() override { delete this; }

 private:
  EchoResponse* response_;
  EchoRequest request_;
  std::string joined_;
  bool first_ = true;
};

// Reads and writes overlap: a read may complete while a write is in flight, so pending replies queue.
class UpdateReactor : public grpc::ServerBidiReactor<EchoRequest, EchoResponse> {
 public:
  UpdateReactor() {
    StartSendInitialMetadata();
    StartRead(&request_);
  }
  void OnReadDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    if (!ok) {
      reads_done_ = true;
      MaybeFinishLocked();
      return;
    }
    pending_.push_back(request_.text());
    if (!writing_) WriteNextLocked();
    StartRead(&request_);
  }
  void OnWriteDone(bool ok) override {
    std::lock_guard<std::mutex> lock(mu_);
    writing_ = false;
    if (!ok) {
      if (!finished_) { finished_ = true; Finish(grpc::Status(grpc::StatusCode::UNKNOWN, "write failed")); }
      return;
    }
    if (!pending_.empty()) WriteNextLocked(); else MaybeFinishLocked();
  }
  void OnDone() override { delete this; }

 private:
  void WriteNextLocked() {
    response_.set_text(pending_.front());
    pending_.pop_front();
    writing_ = true;
    StartWrite(&response_);
  }
  void MaybeFinishLocked() {
    if (reads_done_ && !writing_ && pending_.empty() && !finished_) {
      finished_ = true;
      Finish(grpc::Status::OK);
    }
  }
  std::mutex mu_;
  EchoRequest request_;
  EchoResponse response_;
  std::deque<std::string> pending_;
  bool writing_ = false, reads_done_ = false, finished_ = false;
};

class EchoService final : public echo::Echo::CallbackService {
  grpc::ServerUnaryReactor* Get(grpc::CallbackServerContext* context, const EchoRequest* request,
                                EchoResponse* response) override {
    response->set_text(request->text());
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  grpc::ServerWriteReactor<EchoResponse>* Expand(grpc::CallbackServerContext*, const EchoRequest* request) override {
    return new ExpandReactor(request->text());
  }
  grpc::ServerReadReactor<EchoRequest>* Collect(grpc::CallbackServerContext*, EchoResponse* response) override {
    return new CollectReactor(response);
  }
  grpc::ServerBidiReactor<EchoRequest, EchoResponse>* Update(grpc::CallbackServerContext*) override {
    return new UpdateReactor();
  }
};

}  // namespace

int main(int argc, char** argv) {
  std::string host = "127.0.0.1";
  int port = 50051;
  for (int i = 1; i < argc; ++i) {
    if (!strcmp(argv[i], "--port") && i + 1 < argc) port = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--host") && i + 1 < argc) host = argv[++i];
    else { fprintf(stderr, "usage: %s [--host H] [--port N]\n", argv[0]); return 2; }
  }
  EchoService service;
  grpc::ServerBuilder builder;
  int bound = 0;
  builder.AddListeningPort(host + ":" + std::to_string(port), grpc::InsecureServerCredentials(), &bound);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || bound == 0) { fprintf(stderr, "echo_server: cannot listen on %s:%d\n", host.c_str(), port); return 1; }
  printf("PORT %d\n", bound);
  fflush(stdout);
  server->Wait();
  return 0;
}
