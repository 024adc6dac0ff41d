// Turning C++ and torch failures into JavaScript exceptions. Every function JavaScript can
// call runs its body through js_call, so nothing thrown in C++ can abort the Node process.
#pragma once
#include <napi.h>

#include <exception>
#include <string>

namespace lemur {

// The message of an exception as a user should read it: torch's C++ backtrace is dropped.
std::string describe_exception(const std::exception& e);
std::string describe_current_exception();

// An error whose message is already written for the user (bad argument, wrong shape...).
struct UserError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

template <typename Body>
auto js_call(Napi::Env env, Body&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    throw Napi::Error::New(env, describe_current_exception());
  }
}

}  // namespace lemur
