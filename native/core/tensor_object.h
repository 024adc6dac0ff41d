// `Tensor`: a JavaScript handle on a torch tensor. Created by fromTypedArray() (borrowing the
// array's memory) or returned by native functions; view() hands the memory back zero-copy.
#pragma once
#include <ATen/core/Tensor.h>
#include <napi.h>

namespace lemur {

class TensorObject : public Napi::ObjectWrap<TensorObject> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);
  static Napi::Object Wrap(Napi::Env env, at::Tensor tensor);
  // The tensor behind a JS value: a Tensor object, or a TypedArray (borrowed, 1-D).
  static at::Tensor TensorOf(Napi::Env env, const Napi::Value& value, const std::string& what);
  static bool IsTensor(Napi::Env env, const Napi::Value& value);

  explicit TensorObject(const Napi::CallbackInfo& info);
  ~TensorObject() override;
  const at::Tensor& tensor() const { return tensor_; }

 private:
  static Napi::Value FromTypedArray(const Napi::CallbackInfo& info);
  static Napi::Value BridgeStats(const Napi::CallbackInfo& info);
  Napi::Value Shape(const Napi::CallbackInfo& info);
  Napi::Value DType(const Napi::CallbackInfo& info);
  Napi::Value Device(const Napi::CallbackInfo& info);
  Napi::Value IsContiguous(const Napi::CallbackInfo& info);
  Napi::Value View(const Napi::CallbackInfo& info);
  Napi::Value Copy(const Napi::CallbackInfo& info);
  Napi::Value To(const Napi::CallbackInfo& info);
  Napi::Value Transpose(const Napi::CallbackInfo& info);
  Napi::Value Fill(const Napi::CallbackInfo& info);
  Napi::Value AddScalar(const Napi::CallbackInfo& info);
  Napi::Value Sum(const Napi::CallbackInfo& info);
  Napi::Value ToString(const Napi::CallbackInfo& info);

  at::Tensor tensor_;
};

}  // namespace lemur
