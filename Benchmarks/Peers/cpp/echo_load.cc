// gRPC C++ peer: closed-loop unary load client for echo.Echo/Get over one channel (one connection).
// Usage: echo_load --target host:port [--concurrency C] (--requests N | --duration S) [--payload BYTES]
//                  [--warmup S]
// Prints one line: qps=... p50_us=... p90_us=... p99_us=... max_us=... calls=... errors=... concurrency=...
// Every response is checked: a non-OK status or a text other than the one sent counts as an error.
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "echo.grpc.pb.h"

using Clock = std::chrono::steady_clock;

namespace {

struct Shared {
  std::unique_ptr<echo::Echo::Stub> stub;
  std::string text;
  echo::EchoRequest request;
  long requests = 0;              // > 0: total calls to make (requests mode)
  Clock::time_point deadline;     // duration mode: no new call after this
  bool record = true;
  std::atomic<long> issued{0};
  std::atomic<long> errors{0};
  std::mutex mu;
  std::condition_variable cv;
  int active = 0;
};

// One closed-loop caller: starts the next call from the completion of the previous one.
struct Slot {
  Shared* shared;
  std::vector<int64_t> latencies_ns;
  std::unique_ptr<grpc::ClientContext> context;
  echo::EchoResponse response;
  Clock::time_point started;

  bool MayStart() {
    if (shared->requests > 0) return shared->issued.fetch_add(1) < shared->requests;
    return Clock::now() < shared->deadline;
  }

  void Start() {
    if (!MayStart()) { Done(); return; }
    context = std::make_unique<grpc::ClientContext>();
    response.Clear();
    started = Clock::now();
    shared->stub->async()->Get(context.get(), &shared->request, &response, [this](grpc::Status status) {
      auto elapsed = Clock::now() - started;
      if (!status.ok() || response.text() != shared->text) shared->errors.fetch_add(1);
      if (shared->record) latencies_ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count());
      Start();
    });
  }

  void Done() {
    std::lock_guard<std::mutex> lock(shared->mu);
    if (--shared->active == 0) shared->cv.notify_all();
  }
};

// Runs `concurrency` closed-loop callers until the requests or the duration are used up.
double Run(Shared& shared, std::vector<Slot>& slots) {
  shared.active = static_cast<int>(slots.size());
  auto t0 = Clock::now();
  for (auto& slot : slots) slot.Start();
  std::unique_lock<std::mutex> lock(shared.mu);
  shared.cv.wait(lock, [&] { return shared.active == 0; });
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

void Usage(const char* argv0) {
  fprintf(stderr,
          "usage: %s --target host:port [--concurrency C] (--requests N | --duration S) [--payload BYTES] "
          "[--warmup S]\n",
          argv0);
  exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  std::string target;
  int concurrency = 1;
  long requests = 0;
  double duration = 0, warmup = 0.2;
  int payload = 16;
  for (int i = 1; i < argc; ++i) {
    auto next = [&]() -> const char* { if (i + 1 >= argc) Usage(argv[0]); return argv[++i]; };
    if (!strcmp(argv[i], "--target")) target = next();
    else if (!strcmp(argv[i], "--concurrency")) concurrency = atoi(next());
    else if (!strcmp(argv[i], "--requests")) requests = atol(next());
    else if (!strcmp(argv[i], "--duration")) duration = atof(next());
    else if (!strcmp(argv[i], "--payload")) payload = atoi(next());
    else if (!strcmp(argv[i], "--warmup")) warmup = atof(next());
    else Usage(argv[0]);
  }
  if (target.empty() || concurrency < 1 || payload < 0 || (requests > 0) == (duration > 0)) Usage(argv[0]);

  Shared shared;
  // Same 16-byte text as Breakwater's echo-bench, repeated or cut to --payload bytes.
  const std::string base = "breakwater-bench";
  for (int i = 0; i < payload; ++i) shared.text.push_back(base[i % base.size()]);
  shared.request.set_text(shared.text);
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  auto channel = grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args);
  if (!channel->WaitForConnected(std::chrono::system_clock::now() + std::chrono::seconds(5))) {
    fprintf(stderr, "echo_load: cannot connect to %s\n", target.c_str());
    return 1;
  }
  shared.stub = echo::Echo::NewStub(channel);

  std::vector<Slot> slots(concurrency);
  for (auto& slot : slots) slot.shared = &shared;

  if (warmup > 0) {  // same concurrency, not recorded
    shared.record = false;
    shared.deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(warmup));
    Run(shared, slots);
    shared.errors = 0;
  }
  shared.record = true;
  shared.requests = requests;
  shared.issued = 0;
  for (auto& slot : slots) slot.latencies_ns.reserve(requests > 0 ? requests / concurrency + 1 : 1 << 16);
  shared.deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(duration));
  double elapsed = Run(shared, slots);

  std::vector<int64_t> all;
  for (auto& slot : slots) all.insert(all.end(), slot.latencies_ns.begin(), slot.latencies_ns.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double q) -> double {
    if (all.empty()) return 0;
    size_t idx = std::min(all.size() - 1, static_cast<size_t>(q * (all.size() - 1) + 0.5));
    return all[idx] / 1000.0;
  };
  printf("qps=%.1f p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f calls=%zu errors=%ld concurrency=%d payload=%d\n",
         all.size() / elapsed, pct(0.5), pct(0.9), pct(0.99), all.empty() ? 0.0 : all.back() / 1000.0, all.size(),
         shared.errors.load(), concurrency, payload);
  return shared.errors.load() > 0 ? 1 : 0;
}
