// Queue: a serialized native work queue (one worker thread) exposed to JS. Models own one
// each; this standalone class runs ops asynchronously and measures the machine.
#include <ATen/ATen.h>

#include <chrono>
#include <memory>

#include "bindings/bindings.h"
#include "core/js_error.h"
#include "core/serial_executor.h"
#include "core/tensor_object.h"
#include "ops/ragged_mean_pool/ragged_mean_pool.h"

namespace lemur {
namespace {

class QueueObject : public Napi::ObjectWrap<QueueObject> {
 public:
  static void Init(Napi::Env env, Napi::Object exports) {
    exports.Set("Queue", DefineClass(env, "Queue",
                                     {InstanceMethod<&QueueObject::RaggedMeanPool>("raggedMeanPool"),
                                      InstanceMethod<&QueueObject::Matmul>("matmul"),
                                      InstanceMethod<&QueueObject::Trace>("trace"),
                                      InstanceAccessor<&QueueObject::Pending>("pending")}));
  }

  explicit QueueObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<QueueObject>(info) {
    std::string name = info.Length() > 0 && info[0].IsString() ? info[0].As<Napi::String>().Utf8Value() : "queue";
    executor_ = std::make_unique<SerialExecutor>(info.Env(), name);
  }

 private:
  Napi::Value RaggedMeanPool(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return js_call(env, [&]() -> Napi::Value {
      if (info.Length() < 2) throw UserError("Queue.raggedMeanPool: expected (values, offsets)");
      at::Tensor values = TensorObject::TensorOf(env, info[0], "Queue.raggedMeanPool: values");
      at::Tensor offsets = TensorObject::TensorOf(env, info[1], "Queue.raggedMeanPool: offsets");
      auto out = std::make_shared<at::Tensor>();
      return executor_->submit(
          env, Value(), "raggedMeanPool",
          [values, offsets, out] { *out = ops::ragged_mean_pool(values, offsets); },
          [out](Napi::Env e) -> Napi::Value { return TensorObject::Wrap(e, *out); });
    });
  }

  // matmul(size, repeats): repeated size x size float32 products; resolves with
  // { seconds, gflops }. A measure of the machine and of the thread settings.
  Napi::Value Matmul(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    return js_call(env, [&]() -> Napi::Value {
      int64_t size = info.Length() > 0 ? info[0].As<Napi::Number>().Int64Value() : 512;
      int64_t reps = info.Length() > 1 ? info[1].As<Napi::Number>().Int64Value() : 10;
      if (size < 1 || reps < 1) throw UserError("Queue.matmul: size and repeats must be positive");
      auto seconds = std::make_shared<double>(0);
      return executor_->submit(
          env, Value(), "matmul",
          [size, reps, seconds] {
            at::Tensor a = at::randn({size, size}), b = at::randn({size, size});
            auto t0 = std::chrono::steady_clock::now();
            for (int64_t i = 0; i < reps; ++i) a = at::tanh(at::mm(a, b) * (1.0 / size));
            (void)a.sum().item<float>();
            *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
          },
          [size, reps, seconds](Napi::Env e) -> Napi::Value {
            Napi::Object o = Napi::Object::New(e);
            o.Set("seconds", *seconds);
            o.Set("gflops", 2.0 * size * size * size * reps / *seconds / 1e9);
            return o;
          });
    });
  }

  Napi::Value Trace(const Napi::CallbackInfo& info) {
    return executor_->trace_js(info.Env());
  }

  Napi::Value Pending(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(executor_->pending()));
  }

  std::unique_ptr<SerialExecutor> executor_;
};

}  // namespace

void init_queue_binding(Napi::Env env, Napi::Object exports) { QueueObject::Init(env, exports); }

}  // namespace lemur
