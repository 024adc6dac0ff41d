#include "core/tensor_object.h"

#include <ATen/ATen.h>

#include "core/addon_env.h"
#include "core/js_error.h"
#include "core/tensor_bridge.h"

namespace lemur {

void TensorObject::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(
      env, "Tensor",
      {StaticMethod<&TensorObject::FromTypedArray>("fromTypedArray"),
       StaticMethod<&TensorObject::BridgeStats>("bridgeStats"),
       InstanceAccessor<&TensorObject::Shape>("shape"),
       InstanceAccessor<&TensorObject::DType>("dtype"),
       InstanceAccessor<&TensorObject::Device>("device"),
       InstanceAccessor<&TensorObject::IsContiguous>("isContiguous"),
       InstanceMethod<&TensorObject::View>("view"),
       InstanceMethod<&TensorObject::Copy>("copy"),
       InstanceMethod<&TensorObject::To>("to"),
       InstanceMethod<&TensorObject::Transpose>("transpose"),
       InstanceMethod<&TensorObject::Fill>("fill_"),
       InstanceMethod<&TensorObject::AddScalar>("add_"),
       InstanceMethod<&TensorObject::Sum>("sum"),
       InstanceMethod<&TensorObject::ToString>("toString")});
  AddonEnv::of(env).tensor_ctor = Napi::Persistent(ctor);
  exports.Set("Tensor", ctor);
}

Napi::Object TensorObject::Wrap(Napi::Env env, at::Tensor tensor) {
  auto* holder = new at::Tensor(std::move(tensor));
  Napi::Object obj = AddonEnv::of(env).tensor_ctor.New(
      {Napi::External<at::Tensor>::New(env, holder, [](Napi::Env, at::Tensor* t) { delete t; })});
  return obj;
}

bool TensorObject::IsTensor(Napi::Env env, const Napi::Value& value) {
  return value.IsObject() &&
         value.As<Napi::Object>().InstanceOf(AddonEnv::of(env).tensor_ctor.Value());
}

at::Tensor TensorObject::TensorOf(Napi::Env env, const Napi::Value& value, const std::string& what) {
  if (IsTensor(env, value)) return ObjectWrap::Unwrap(value.As<Napi::Object>())->tensor_;
  if (value.IsTypedArray())
    return borrow_typed_array(env, value.As<Napi::TypedArray>(), {}, std::nullopt, what);
  throw UserError(what + ": expected a Tensor or a TypedArray");
}

TensorObject::TensorObject(const Napi::CallbackInfo& info) : Napi::ObjectWrap<TensorObject>(info) {
  if (info.Length() != 1 || !info[0].IsExternal())
    throw Napi::TypeError::New(info.Env(),
                               "Tensor cannot be constructed directly: use Tensor.fromTypedArray()");
  tensor_ = *info[0].As<Napi::External<at::Tensor>>().Data();
  count_wrapped(+1);
}

TensorObject::~TensorObject() { count_wrapped(-1); }

Napi::Value TensorObject::FromTypedArray(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return js_call(env, [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsTypedArray())
      throw UserError("Tensor.fromTypedArray: argument 1 must be a TypedArray");
    std::vector<int64_t> shape;
    std::optional<at::ScalarType> dtype;
    if (info.Length() > 1 && info[1].IsObject()) {
      Napi::Object opts = info[1].As<Napi::Object>();
      if (opts.Has("shape") && !opts.Get("shape").IsUndefined()) {
        if (!opts.Get("shape").IsArray()) throw UserError("Tensor.fromTypedArray: shape must be an array");
        Napi::Array s = opts.Get("shape").As<Napi::Array>();
        for (uint32_t i = 0; i < s.Length(); ++i) {
          Napi::Value v = s.Get(i);
          if (!v.IsNumber()) throw UserError("Tensor.fromTypedArray: shape[" + std::to_string(i) + "] is not a number");
          double d = v.As<Napi::Number>().DoubleValue();
          if (d != static_cast<double>(static_cast<int64_t>(d)))
            throw UserError("Tensor.fromTypedArray: shape[" + std::to_string(i) + "] is not an integer");
          shape.push_back(static_cast<int64_t>(d));
        }
      }
      if (opts.Has("dtype") && opts.Get("dtype").IsString())
        dtype = parse_dtype(opts.Get("dtype").As<Napi::String>());
    }
    return Wrap(env, borrow_typed_array(env, info[0].As<Napi::TypedArray>(), shape, dtype,
                                        "Tensor.fromTypedArray"));
  });
}

Napi::Value TensorObject::BridgeStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  drain_released_borrows(env);
  auto c = bridge_counts();
  Napi::Object o = Napi::Object::New(env);
  o.Set("borrowed", static_cast<double>(c.borrowed));
  o.Set("exported", static_cast<double>(c.exported));
  o.Set("wrapped", static_cast<double>(c.wrapped));
  return o;
}

Napi::Value TensorObject::Shape(const Napi::CallbackInfo& info) {
  Napi::Array a = Napi::Array::New(info.Env(), tensor_.dim());
  for (int64_t i = 0; i < tensor_.dim(); ++i) a.Set(static_cast<uint32_t>(i), static_cast<double>(tensor_.size(i)));
  return a;
}

Napi::Value TensorObject::DType(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), dtype_name(tensor_.scalar_type()));
}

Napi::Value TensorObject::Device(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), tensor_.device().str());
}

Napi::Value TensorObject::IsContiguous(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), tensor_.is_contiguous());
}

Napi::Value TensorObject::View(const Napi::CallbackInfo& info) {
  return js_call(info.Env(), [&] { return export_tensor(info.Env(), tensor_); });
}

Napi::Value TensorObject::Copy(const Napi::CallbackInfo& info) {
  return js_call(info.Env(), [&] {
    return export_tensor(info.Env(), tensor_.detach().to(at::kCPU).clone(at::MemoryFormat::Contiguous));
  });
}

Napi::Value TensorObject::To(const Napi::CallbackInfo& info) {
  return js_call(info.Env(), [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsString()) throw UserError("Tensor.to: expected a device or dtype string");
    std::string s = info[0].As<Napi::String>();
    if (s == "cpu" || s.rfind("cuda", 0) == 0) return Wrap(info.Env(), tensor_.to(at::Device(s)));
    return Wrap(info.Env(), tensor_.to(parse_dtype(s)));
  });
}

Napi::Value TensorObject::Transpose(const Napi::CallbackInfo& info) {
  return js_call(info.Env(), [&]() -> Napi::Value {
    int64_t a = info[0].As<Napi::Number>().Int64Value(), b = info[1].As<Napi::Number>().Int64Value();
    return Wrap(info.Env(), tensor_.transpose(a, b));
  });
}

Napi::Value TensorObject::Fill(const Napi::CallbackInfo& info) {
  return js_call(info.Env(), [&]() -> Napi::Value {
    tensor_.fill_(info[0].As<Napi::Number>().DoubleValue());
    return info.This();
  });
}

Napi::Value TensorObject::AddScalar(const Napi::CallbackInfo& info) {
  return js_call(info.Env(), [&]() -> Napi::Value {
    tensor_.add_(info[0].As<Napi::Number>().DoubleValue());
    return info.This();
  });
}

Napi::Value TensorObject::Sum(const Napi::CallbackInfo& info) {
  return js_call(info.Env(), [&]() -> Napi::Value {
    return Napi::Number::New(info.Env(), tensor_.sum(at::kDouble).item<double>());
  });
}

Napi::Value TensorObject::ToString(const Napi::CallbackInfo& info) {
  std::string s = "Tensor(" + dtype_name(tensor_.scalar_type()) + ", [";
  for (int64_t i = 0; i < tensor_.dim(); ++i) s += (i ? ", " : "") + std::to_string(tensor_.size(i));
  return Napi::String::New(info.Env(), s + "], " + tensor_.device().str() + ")");
}

}  // namespace lemur
