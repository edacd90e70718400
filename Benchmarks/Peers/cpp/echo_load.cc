// gRPC C++ peer: closed-loop load client for echo.Echo over one channel (one connection).
// Usage: echo_load --target host:port [--concurrency C] (--requests N | --duration S) [--payload BYTES]
//                  [--warmup S] [--mode unary|expand] [--stream-messages M]
//   unary  (default): each caller makes Get calls with a --payload-byte text, one after another.
//   expand: each caller makes server-streaming Expand calls whose text is M copies of "breakwater-bench" joined
//           by single spaces (M = --stream-messages, default 1000); a call is correct when it ends OK with exactly
//           M responses, each "breakwater-bench". --payload must be 16 (the size of each streamed message).
// Prints one line: qps=... p50_us=... p90_us=... p99_us=... max_us=... calls=... errors=... concurrency=...
//   payload=... cpu_s=... peak_rss_kb=...   and in expand mode also  msgs_per_s=... stream_messages=...
// qps and the latencies are per call (per whole stream in expand mode); msgs_per_s counts the streamed
// messages of the measured calls. cpu_s is the process's user+sys CPU time over the measured phase (getrusage
// delta, warm-up excluded); peak_rss_kb is ru_maxrss at exit.
// Every response is checked: a non-OK status or a text other than the one sent counts as an error.
#include <grpcpp/grpcpp.h>
#include <sys/resource.h>

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

const char kWord[] = "breakwater-bench";  // 16 bytes

struct Shared {
  std::unique_ptr<echo::Echo::Stub> stub;
  bool expand = false;
  long stream_messages = 0;       // expand mode: responses expected per call
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

struct Slot;

// One server-streaming Expand call; deletes itself when gRPC is done with it, then lets its slot go on.
class ExpandCall : public grpc::ClientReadReactor<echo::EchoResponse> {
 public:
  ExpandCall(Slot* slot, Shared* shared) : slot_(slot), shared_(shared), started_(Clock::now()) {
    shared_->stub->async()->Expand(&context_, &shared_->request, this);
    StartRead(&response_);
    StartCall();
  }
  void OnReadDone(bool ok) override {
    if (!ok) return;  // end of stream; OnDone follows with the status
    if (response_.text() != kWord) bad_ = true;
    ++received_;
    StartRead(&response_);
  }
  void OnDone(const grpc::Status& status) override;

 private:
  Slot* slot_;
  Shared* shared_;
  Clock::time_point started_;
  grpc::ClientContext context_;
  echo::EchoResponse response_;
  long received_ = 0;
  bool bad_ = false;
};

// One closed-loop caller: starts the next call from the completion of the previous one.
struct Slot {
  Shared* shared;
  std::vector<int64_t> latencies_ns;
  long messages = 0;  // expand mode: streamed messages of the recorded, correct calls
  std::unique_ptr<grpc::ClientContext> context;
  echo::EchoResponse response;
  Clock::time_point started;

  bool MayStart() {
    if (shared->requests > 0) return shared->issued.fetch_add(1) < shared->requests;
    return Clock::now() < shared->deadline;
  }

  void Start() {
    if (!MayStart()) { Done(); return; }
    if (shared->expand) { new ExpandCall(this, shared); return; }
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

void ExpandCall::OnDone(const grpc::Status& status) {
  auto elapsed = Clock::now() - started_;
  bool correct = status.ok() && !bad_ && received_ == shared_->stream_messages;
  if (!correct) shared_->errors.fetch_add(1);
  if (shared_->record) {
    slot_->latencies_ns.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(elapsed).count());
    if (correct) slot_->messages += received_;
  }
  Slot* slot = slot_;
  delete this;
  slot->Start();
}

double CpuSeconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

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
          "[--warmup S] [--mode unary|expand] [--stream-messages M]\n",
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
  std::string mode = "unary";
  long stream_messages = 1000;
  for (int i = 1; i < argc; ++i) {
    auto next = [&]() -> const char* { if (i + 1 >= argc) Usage(argv[0]); return argv[++i]; };
    if (!strcmp(argv[i], "--target")) target = next();
    else if (!strcmp(argv[i], "--concurrency")) concurrency = atoi(next());
    else if (!strcmp(argv[i], "--requests")) requests = atol(next());
    else if (!strcmp(argv[i], "--duration")) duration = atof(next());
    else if (!strcmp(argv[i], "--payload")) payload = atoi(next());
    else if (!strcmp(argv[i], "--warmup")) warmup = atof(next());
    else if (!strcmp(argv[i], "--mode")) mode = next();
    else if (!strcmp(argv[i], "--stream-messages")) stream_messages = atol(next());
    else Usage(argv[0]);
  }
  if (target.empty() || concurrency < 1 || payload < 0 || (requests > 0) == (duration > 0)) Usage(argv[0]);
  if (mode != "unary" && mode != "expand") Usage(argv[0]);
  if (mode == "expand" && (stream_messages < 1 || payload != 16)) {
    fprintf(stderr, "echo_load: expand mode needs --stream-messages >= 1 and --payload 16 (each message is \"%s\")\n",
            kWord);
    return 2;
  }

  Shared shared;
  if (mode == "expand") {
    shared.expand = true;
    shared.stream_messages = stream_messages;
    shared.text.reserve(stream_messages * 17);
    for (long i = 0; i < stream_messages; ++i) {
      if (i > 0) shared.text.push_back(' ');
      shared.text += kWord;
    }
  } else {
    // Same 16-byte text as Breakwater's echo-bench, repeated or cut to --payload bytes.
    const std::string base = kWord;
    for (int i = 0; i < payload; ++i) shared.text.push_back(base[i % base.size()]);
  }
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
  double cpu0 = CpuSeconds();
  shared.deadline = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(duration));
  double elapsed = Run(shared, slots);
  double cpu_s = CpuSeconds() - cpu0;
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  long messages = 0;
  for (auto& slot : slots) messages += slot.messages;

  std::vector<int64_t> all;
  for (auto& slot : slots) all.insert(all.end(), slot.latencies_ns.begin(), slot.latencies_ns.end());
  std::sort(all.begin(), all.end());
  auto pct = [&](double q) -> double {
    if (all.empty()) return 0;
    size_t idx = std::min(all.size() - 1, static_cast<size_t>(q * (all.size() - 1) + 0.5));
    return all[idx] / 1000.0;
  };
  printf("qps=%.1f p50_us=%.1f p90_us=%.1f p99_us=%.1f max_us=%.1f calls=%zu errors=%ld concurrency=%d payload=%d "
         "cpu_s=%.3f peak_rss_kb=%ld",
         all.size() / elapsed, pct(0.5), pct(0.9), pct(0.99), all.empty() ? 0.0 : all.back() / 1000.0, all.size(),
         shared.errors.load(), concurrency, payload, cpu_s, static_cast<long>(ru.ru_maxrss));
  if (shared.expand) printf(" msgs_per_s=%.1f stream_messages=%ld", messages / elapsed, stream_messages);
  printf("\n");
  return shared.errors.load() > 0 ? 1 : 0;
}
